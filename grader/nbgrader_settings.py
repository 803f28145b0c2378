"""The nbgrader configuration every command uses, built in code so it does not depend on cwd.

``nbgrader_config.py`` at the repository root loads the same settings, so plain ``nbgrader``
commands (e.g. ``nbgrader formgrader``) run from the repository root behave the same way.
"""

from pathlib import Path

from traitlets.config import Config

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

    from grader.guard import GuardedExecute
    from grader.preprocessors import StderrAsText

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
