"""Part-0-only student submissions (the fast notebook) and process lookups, shared by the
end-to-end, isolation and Gradescope tests."""

import os
import shutil

import nbformat

from grader.authoring.demo import make_student
from grader.cells import fill_answers, reference_answers
from grader.course import RELEASE_DIR, SOURCE_DIR

NB = PART0 = "part0_filters.ipynb"
REF = reference_answers(SOURCE_DIR / NB)
BOX, LAP = "part0_filters/test_box_kernel", "part0_filters/test_laplacian_kernel"
# A student cell that tries to read the hidden tests; the sandbox must stop it.
PROBE = """import glob, os
_found = [p for p in glob.glob({pattern!r}, recursive=True) if os.access(p, os.R_OK)]
print("SOURCE_PROBE", "visible" if _found else "hidden")
"""


def student(folder, answers=REF, name=NB):
    """A part-0-only submission folder (with the released helpers, as students have them)."""
    folder.mkdir(parents=True)
    shutil.copytree(RELEASE_DIR / "helpers", folder / "helpers")
    nb = nbformat.read(RELEASE_DIR / NB, as_version=4)
    nbformat.write(fill_answers(nb, answers), folder / name)
    return folder


def part0_student(dest, answers, probe_root=None):
    """A student folder holding only part0 (and the released helpers/, as students have them)."""
    make_student(RELEASE_DIR, dest, answers)
    for path in dest.glob("*.ipynb"):
        if path.name != PART0:
            path.unlink()
    if probe_root is not None:
        nb = nbformat.read(dest / PART0, as_version=4)
        pattern = str(probe_root / "**" / "part0_filters.ipynb")
        nb.cells.append(nbformat.v4.new_code_cell(PROBE.format(pattern=pattern)))
        nbformat.write(nb, dest / PART0)
    return dest


def pids_with(marker):
    """Pids of live processes whose command line contains ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        found.append(int(entry))
            except OSError:
                pass
    return found
