"""The course: where things live, the assignment's fixed names, nbgrader's settings, course folders.

Everything here is a fact about the course, shared by release, grading and Gradescope:
``REPO_ROOT``, ``SOURCE_DIR``..., the nbgrader ``Config`` (``nbgrader_settings``; the root
``nbgrader_config.py`` loads the same, so plain ``nbgrader`` commands behave the same way), copies
of the source into an nbgrader course folder, ``generate_assignment``, and the source fingerprint
that says when grading would change.
"""

import hashlib
import os
import shutil
import sys
from pathlib import Path

from traitlets.config import Config

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT_ID = "hw3"
SOURCE_DIR = REPO_ROOT / "source" / ASSIGNMENT_ID
RELEASE_DIR = REPO_ROOT / "release" / ASSIGNMENT_ID
HELPERS_DIR = REPO_ROOT / "helpers"
DEFAULT_GRADING_DIR = REPO_ROOT / "autograded"

# Files never copied from helpers/ into a release or a grading folder.
HELPERS_IGNORE = ("__pycache__", "*.pyc", ".*")


def source_notebook_names(source_dir=SOURCE_DIR):
    """File names of the assignment's notebooks, sorted (e.g. ``["part0_filters.ipynb"]``)."""
    return sorted(p.name for p in Path(source_dir).glob("*.ipynb"))


COURSE_ID = "hw3-course"
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"
# Seconds one cell may run during autograding before it is interrupted and scores 0.
CELL_TIMEOUT_S = 120


def nbgrader_config(course_root, cell_timeout_s=CELL_TIMEOUT_S):
    """nbgrader settings for a course folder that holds ``source/``, ``release/``, ``submitted/``...

    Args:
        course_root: folder used as nbgrader's ``CourseDirectory.root``; nbgrader keeps
            its gradebook there as ``gradebook.db``.
        cell_timeout_s: seconds one cell may run when autograding.
    Returns:
        traitlets Config.
    """
    # Imported here so that loading nbgrader_config.py stays cheap and import-cycle free.
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        LimitOutput,
        SaveAutoGrades,
    )

    from grader.grading.preprocessors import StderrAsText
    from grader.isolation.guard import GuardedExecute

    root = Path(course_root).resolve()
    c = Config()
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.course_id = COURSE_ID
    # Never copied between nbgrader's folders (source -> release, submitted -> autograded).
    c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*"]
    c.ClearSolutions.code_stub = {"python": CODE_STUB}
    c.ClearSolutions.text_stub = TEXT_STUB
    c.Execute.timeout = int(cell_timeout_s)
    # Once the last cell's outputs are in, the kernel is killed rather than asked to exit: a
    # graceful exit (atexit hooks, tearing down PyTorch) costs about 1.8 s per notebook and
    # nothing it does reaches the grade.
    c.Execute.shutdown_kernel = "immediate"
    # nbgrader scores a test cell 0 when it wrote anything to stderr. Libraries print warnings
    # there (numpy, PyTorch), and a correct answer must not lose points for that, so stderr is
    # relabelled as ordinary text right after execution, before grades are determined.
    # GuardedExecute is nbgrader's Execute plus the guard against tampering and kernel deaths.
    c.Autograde.autograde_preprocessors = [
        GuardedExecute,
        StderrAsText,
        ClearMetadataPreprocessor,
        LimitOutput,
        SaveAutoGrades,
        AssignLatePenalties,
        CheckCellMetadata,
    ]
    return c


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
