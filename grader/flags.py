"""What the hidden tests flag for the instructor's attention, gathered into the grade table.

A hidden test that notices something a score cannot express (e.g. a model record claiming a
higher accuracy than the grader measures) raises a flag. Where hidden tests run in the grader
(``grader.trusted_tests``), flags travel in the verdict output the grader writes
(``VERDICT_MIME``), which nothing the kernel prints can produce. In notebooks still graded in
the kernel (``KERNEL_GRADED_NOTEBOOKS``), a flag is a printed line starting with ``FLAG:`` in a
graded cell.
"""

from pathlib import Path

import nbformat

from grader.trusted_tests import KERNEL_GRADED_NOTEBOOKS, VERDICT_MIME

FLAG_PREFIX = "FLAG:"


def flags_in_notebook(path):
    """The flags raised by the graded cells of an autograded notebook (see the module doc)."""
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # an unreadable output notebook has no flags to report
        return []
    found = []
    printed_flags = Path(path).stem in KERNEL_GRADED_NOTEBOOKS
    for cell in nb.cells:
        if cell.cell_type != "code" or not cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
            continue
        for out in cell.get("outputs", []):
            verdict = out.get("data", {}).get(VERDICT_MIME) if out.get("output_type") == "display_data" else None
            if isinstance(verdict, dict):
                found += [str(f) for f in verdict.get("flags", [])]
            elif printed_flags and out.get("output_type") == "stream":
                found += [line[len(FLAG_PREFIX):].strip() for line in out.get("text", "").splitlines()
                          if line.startswith(FLAG_PREFIX)]
    return found


def flags_of_student(autograded_dir):
    """All flags in a student's autograded notebooks (``autograded/<id>/<assignment>/``), in file order."""
    return [f for path in sorted(Path(autograded_dir).glob("*.ipynb")) for f in flags_in_notebook(path)]
