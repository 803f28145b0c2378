"""What the hidden tests report besides scores, gathered for the grade table.

* Flags for the instructor's attention: a hidden test that notices something a score cannot
  express (e.g. a model record claiming a higher accuracy than the grader measures) raises a
  flag (``Verdict.flag``).
* Cells not graded because the grader lacked something (``trusted_tests.GRADER_LACKS``).

Both travel in the verdict output the grader writes into the cell (``VERDICT_MIME``), which
nothing the kernel prints or emits can produce.
"""

from pathlib import Path

import nbformat

from grader.grading.trusted_tests import verdict_record


def _verdicts(path):
    """(grade_id, verdict record) of each graded code cell of an autograded notebook."""
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # an unreadable output notebook has nothing to report
        return []
    meta = [(c, c.get("metadata", {}).get("nbgrader", {})) for c in nb.cells if c.cell_type == "code"]
    return [(m.get("grade_id"), verdict_record(c)) for c, m in meta if m.get("grade")]


def _notebooks(autograded_dir):
    return sorted(Path(autograded_dir).glob("*.ipynb"))


def flags_in_notebook(path):
    """The flags raised by the graded cells of an autograded notebook (see the module doc)."""
    return [str(f) for _, record in _verdicts(path) for f in record.get("flags", [])]


def flags_of_student(autograded_dir):
    """All flags in a student's autograded notebooks (``autograded/<id>/<assignment>/``), in file order."""
    return [f for path in _notebooks(autograded_dir) for f in flags_in_notebook(path)]


def not_graded_of_student(autograded_dir):
    """{column ``notebook/grade_id``: why it was not graded} for a student's autograded notebooks."""
    return {f"{path.stem}/{grade_id}": str(record["not_graded"])[:200]
            for path in _notebooks(autograded_dir) for grade_id, record in _verdicts(path)
            if record.get("not_graded")}
