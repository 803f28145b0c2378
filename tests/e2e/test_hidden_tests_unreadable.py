"""No kernel can read a hidden test from disk: a student whose first answer cell of every notebook
reads every file its kernel can reach finds none of the course's hidden-test lines.

nbgrader's first pass writes each notebook with the course's test cells restored (hidden regions
included) into ``autograded/<id>/hw3`` before the second pass runs it, and the submission's earlier
notebooks lie there graded: a kernel that ran in that folder could read them all. The scan proves the
kernel runs elsewhere; a line planted in the submission's own ``results/`` proves the scan finds what
is there to find.
"""

import hashlib
import json
import shutil

import nbformat
import pytest

from grader.authoring.demo import make_student
from grader.cells import (
    HIDDEN_BEGIN,
    HIDDEN_END,
    SOLUTION_BEGIN,
    SOLUTION_END,
    is_solution,
    nbgrader_meta,
    reference_answers,
    region_lines,
    strip_regions,
)
from grader.course import ASSIGNMENT_ID, HELPERS_DIR, RELEASE_DIR, SOURCE_DIR, source_notebook_names
from grader.grading import Limits, autograde
from grader.isolation.sandbox import detect

LIMITS = Limits(cell_s=60, memory_bytes=4 << 30, submission_s=900)
PLANTED = "results/notes.txt"

# Reads every file the kernel can open, but for the system folders and the Python installation
# (read-only, the same on every machine), and reports the files that hold a hidden-test line or marker.
SCAN = '''
def _scan_for_hidden_tests(wanted):
    import hashlib, json, os, sys
    marker = ("BEGIN HIDDEN" + " TESTS").encode()  # split, so that this notebook does not hold it
    system = {"/proc", "/sys", "/dev", "/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/etc",
              "/boot", *(os.path.realpath(p) for p in (sys.prefix, sys.base_prefix))}
    hits, files, folders = [], 0, []
    for top, dirs, names in os.walk("/"):
        dirs[:] = [d for d in dirs if os.path.realpath(os.path.join(top, d)) not in system]
        folders.append(top)
        for name in names:
            path = os.path.join(top, name)
            try:
                if os.path.islink(path) or not os.path.isfile(path) or os.path.getsize(path) > 64 << 20:
                    continue
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            files += 1
            text = data.decode("utf-8", "ignore")
            lines = text.splitlines()
            try:  # a notebook's cells, as their source reads
                lines += [l for c in json.loads(text)["cells"] for l in "".join(c["source"]).splitlines()]
            except Exception:
                pass
            if marker in data or any(hashlib.sha256(l.strip().encode()).hexdigest() in wanted for l in lines):
                hits.append(os.path.relpath(path, os.getcwd()) if path.startswith(os.getcwd()) else path)
    print("SCAN " + json.dumps({"hits": sorted(hits), "files": files, "cwd": os.getcwd(),
                                "home": os.path.realpath(os.environ["HOME"]),
                                "cwd_files": sorted(os.listdir()),
                                "folders": sorted({os.path.realpath(f) for f in folders})}))
_scan_for_hidden_tests(set(WANTED))
'''
# Part 0's kernel leaves an IPython startup file in its home and a file in its folder: neither may
# reach a later notebook's kernel (the startup file would run there before the grader's guard).
PLANT = """
import os as _os
_startup = _os.path.join(_os.environ["IPYTHONDIR"], "profile_default", "startup")
_os.makedirs(_startup, exist_ok=True)
with open(_os.path.join(_startup, "00-planted.py"), "w") as _f:
    _f.write("open('startup_ran.txt', 'w').close()\\n")
open("left_by_part0.txt", "w").close()
"""


def hidden_test_lines():
    """Distinctive lines of the hidden regions that occur nowhere a student can see them (release,
    solutions the student may have written, helpers)."""
    hidden, elsewhere = set(), set()
    for path in sorted(SOURCE_DIR.glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            hidden.update(line.strip() for line in region_lines(cell.source, HIDDEN_BEGIN, HIDDEN_END))
            elsewhere.update(line.strip() for line in region_lines(cell.source, SOLUTION_BEGIN, SOLUTION_END))
            elsewhere.update(line.strip() for line in strip_regions(cell.source).splitlines())
    for path in HELPERS_DIR.rglob("*.py"):
        elsewhere.update(line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return sorted(line for line in hidden - elsewhere if len(line) >= 20 and not line.startswith("#"))


def first_answer_ids():
    ids = []
    for name in source_notebook_names():
        cells = nbformat.read(RELEASE_DIR / name, as_version=4).cells
        ids.append(next(nbgrader_meta(c)["grade_id"] for c in cells if is_solution(c) and c.cell_type == "code"))
    return ids


def scans(graded_notebook):
    found = [o.get("text", "") for c in graded_notebook.cells if c.cell_type == "code" for o in c.outputs
             if o.get("output_type") == "stream" and o.get("text", "").startswith("SCAN ")]
    return [json.loads(text[len("SCAN "):].splitlines()[0]) for text in found]


def test_no_kernel_reads_a_hidden_test_from_any_file_it_can_reach(tmp_path):
    box = detect(tmp_path / "out")
    if box.mode not in ("root", "userns"):
        pytest.skip(f"the kernel sees the host's files in the {box.mode} mode; the Gradescope container test "
                    "covers the uid mode")
    lines = hidden_test_lines()
    assert len(lines) > 400  # the four notebooks' hidden tests, not a stray few
    wanted = [hashlib.sha256(line.encode()).hexdigest() for line in lines]
    reference = {}
    for name in source_notebook_names():
        reference.update(reference_answers(SOURCE_DIR / name))
    scan, answers = f"WANTED = {wanted!r}\n{SCAN}\n", dict(reference)
    for grade_id in first_answer_ids():
        answers[grade_id] = scan + answers[grade_id]
    answers[first_answer_ids()[0]] += PLANT
    student = make_student(RELEASE_DIR, tmp_path / "class" / "scanner", answers)
    shutil.rmtree(student / "helpers")
    (student / PLANTED).parent.mkdir(exist_ok=True)
    (student / PLANTED).write_text(f"the scan finds what is there:\n{lines[0]}\n")  # the positive control
    make_student(RELEASE_DIR, tmp_path / "class" / "plain", reference)

    results = {r.student_id: r for r in autograde([tmp_path / "class"], tmp_path / "out", LIMITS,
                                                   log=lambda _: None, report=False)}
    result = results["scanner"]

    graded = tmp_path / "out" / "autograded" / "scanner" / ASSIGNMENT_ID
    seen = {name: scans(nbformat.read(graded / name, as_version=4)) for name in source_notebook_names()}
    assert all(seen.values()), (result.status, result.detail)
    for name, found in ((name, f) for name, many in seen.items() for f in many):
        assert found["hits"] == [PLANTED], f"{name}: a kernel read hidden tests in {found['hits']}"
        assert found["cwd"] in found["folders"] and found["home"] in found["folders"]
        assert set(source_notebook_names()) | {"helpers"} <= set(found["cwd_files"])  # the student's own notebooks
        assert found["files"] > 20  # helpers/, the submitted notebooks, the home's settings, ...
        assert not {"left_by_part0.txt", "startup_ran.txt"} & set(found["cwd_files"]), name  # a fresh folder and home
    # The scans cost nothing: the kernels ran the notebooks as usual, in their own folder.
    assert result.scores == results["plain"].scores, result.detail
    assert result.total > 30
