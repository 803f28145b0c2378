"""Lines the hidden tests print for the instructor's attention, gathered into the grade table.

A hidden test that notices something a score cannot express (e.g. a model record claiming a
higher accuracy than the grader measures) prints a line starting with ``FLAG:``. Only graded
cells' outputs are read, so a student's own prints cannot add flags.
"""

from pathlib import Path

import nbformat

FLAG_PREFIX = "FLAG:"


def flags_in_notebook(path):
    """``FLAG:`` lines printed by the graded cells of an autograded notebook (text after the prefix)."""
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # an unreadable output notebook has no flags to report
        return []
    found = []
    for cell in nb.cells:
        if cell.cell_type != "code" or not cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                found += [line[len(FLAG_PREFIX):].strip() for line in out.get("text", "").splitlines()
                          if line.startswith(FLAG_PREFIX)]
    return found


def flags_of_student(autograded_dir):
    """All flags in a student's autograded notebooks (``autograded/<id>/<assignment>/``), in file order."""
    return [f for path in sorted(Path(autograded_dir).glob("*.ipynb")) for f in flags_in_notebook(path)]
