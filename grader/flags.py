"""What the hidden tests flag for the instructor's attention, gathered into the grade table.

A hidden test that notices something a score cannot express (e.g. a model record claiming a
higher accuracy than the grader measures) raises a flag (``Verdict.flag``). Flags travel in the
verdict output the grader writes into the cell (``VERDICT_MIME``), which nothing the kernel
prints or emits can produce.
"""

from pathlib import Path

import nbformat

from grader.trusted_tests import verdict_record


def flags_in_notebook(path):
    """The flags raised by the graded cells of an autograded notebook (see the module doc)."""
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # an unreadable output notebook has no flags to report
        return []
    found = []
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
            found += [str(f) for f in verdict_record(cell).get("flags", [])]
    return found


def flags_of_student(autograded_dir):
    """All flags in a student's autograded notebooks (``autograded/<id>/<assignment>/``), in file order."""
    return [f for path in sorted(Path(autograded_dir).glob("*.ipynb")) for f in flags_in_notebook(path)]
