"""Setting up nbgrader course folders: the assignment's source, its gradebook, the helpers."""

import hashlib
import os
import shutil
import sys
from pathlib import Path

from grader.paths import ASSIGNMENT_ID, HELPERS_DIR, HELPERS_IGNORE, SOURCE_DIR


class NbgraderFailed(RuntimeError):
    """An nbgrader step reported failure; the message carries its log."""


def copy_helpers(dest_assignment_dir):
    """Put a clean copy of the repository's ``helpers/`` in an assignment folder.

    Any ``helpers`` already there (a symlink, or a copy that came with a submission) is
    removed first, so the notebooks import exactly the course's version.
    """
    target = Path(dest_assignment_dir) / "helpers"
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.exists():
        shutil.rmtree(target)
    shutil.copytree(HELPERS_DIR, target, ignore=shutil.ignore_patterns(*HELPERS_IGNORE))


def copy_source(course_root, source_dir=SOURCE_DIR):
    """Copy the assignment's source folder into ``course_root/source/hw3`` (helpers as a real copy).

    Returns:
        Path of the copied assignment folder.
    """
    dest = Path(course_root) / "source" / ASSIGNMENT_ID
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(
        source_dir, dest, symlinks=True,
        ignore=shutil.ignore_patterns("helpers", "figures", ".ipynb_checkpoints", "__pycache__"),
    )
    copy_helpers(dest)
    return dest


def _put_interpreter_bin_on_path():
    """nbgrader runs the ``alembic`` command (installed beside this Python) by name, so the
    interpreter's bin folder must be on PATH even when the venv is not activated."""
    bin_dir = os.path.dirname(sys.executable)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def nbgrader_api(course_root, cell_timeout_s=None):
    """An ``NbGraderAPI`` bound to ``course_root`` with the course's settings."""
    _put_interpreter_bin_on_path()
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    from grader.nbgrader_settings import CELL_TIMEOUT_S, nbgrader_config

    config = nbgrader_config(course_root, cell_timeout_s or CELL_TIMEOUT_S)
    coursedir = CourseDirectory(config=config)
    return NbGraderAPI(coursedir=coursedir, config=config)


def generate_assignment(course_root):
    """Run nbgrader's generate_assignment in ``course_root``.

    Writes ``release/hw3`` (without helpers) and records the assignment's cells and points
    in ``gradebook.db``, which autograding needs.
    """
    result = nbgrader_api(course_root).generate_assignment(ASSIGNMENT_ID, force=True, create=True)
    if not result["success"]:
        raise NbgraderFailed(
            "nbgrader generate_assignment failed:\n" + result.get("error", "") + result.get("log", "")
        )


def source_fingerprint(source_dir=SOURCE_DIR):
    """SHA-256 over the source notebooks and helpers: changes whenever grading would change."""
    digest = hashlib.sha256()
    files = sorted(Path(source_dir).glob("*.ipynb")) + sorted(Path(HELPERS_DIR).rglob("*.py"))
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
