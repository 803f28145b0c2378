"""Putting one unpacked submission where nbgrader expects it: ``submitted/<id>/hw3/``.

Only the matched notebooks (under their expected names) and plain data files (figures,
saved results) are staged. Nothing importable is: no ``helpers/`` copy, no ``.py`` file,
no extension module, so a submission cannot replace the course's code or numpy's.
"""

import shutil
from pathlib import Path

from grader.course import ASSIGNMENT_ID
from grader.intake.unpacking import IGNORED_PARTS

IMPORTABLE_SUFFIXES = {".py", ".pyc", ".pyo", ".pyd", ".so", ".pth", ".dll", ".dylib"}
NEVER_STAGED_DIRS = IGNORED_PARTS | {"helpers"}  # the course's helpers are used, never a shipped copy


def _is_data_file(rel):
    return (
        rel.suffix.lower() not in IMPORTABLE_SUFFIXES | {".ipynb"}
        and not NEVER_STAGED_DIRS & set(rel.parts[:-1])
        and not any(part.startswith(".") for part in rel.parts)
    )


def stage(sub, course_root):
    """Copy a submission into ``course_root/submitted/<id>/hw3`` and clear old results.

    Returns:
        Path of the staged assignment folder.
    """
    course_root = Path(course_root)
    dest = course_root / "submitted" / sub.student_id / ASSIGNMENT_ID
    for stale in (dest.parent, course_root / "autograded" / sub.student_id):
        if stale.exists():
            shutil.rmtree(stale)
    dest.mkdir(parents=True)
    # Data files are taken relative to the folder that holds the notebooks.
    base = next(iter(sub.notebooks.values())).parent if sub.notebooks else sub.root
    for path in sorted(base.rglob("*")):
        rel = path.relative_to(base)
        if path.is_file() and not path.is_symlink() and _is_data_file(rel):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest / rel)
    for name, path in sub.notebooks.items():
        shutil.copyfile(path, dest / name)
    return dest
