"""A corpus of hostile and broken submissions, graded in one parallel batch: each gets its status and
loses only the points its attempt aimed at; the batch goes on.

Submissions hold only part0_filters.ipynb (fast), so a benign one has the ``missing notebook``
status (the other notebooks are absent) and full part-0 points.
"""

import csv
import shutil
import zipfile

import nbformat
import pytest
from part0 import BOX, LAP, NB, REF, student

from grader.cells import assignment_cells, nbgrader_meta
from grader.course import ASSIGNMENT_ID, SOURCE_DIR, source_fingerprint
from grader.grading import Limits, autograde
from grader.isolation.sandbox import detect
from grader.results import Status

LIMITS = Limits(cell_s=10, memory_bytes=3 << 30, submission_s=300)
WRONG_BOX = "def box_kernel(n):\n    return np.ones((n, n))\n"
WRONG_LAP = "def laplacian_kernel():\n    return np.zeros((3, 3))\n"
LOOPING_LAP = "def laplacian_kernel():\n    while True:\n        pass\n"
MEMORY_HOG_BOX = "def box_kernel(n):\n    return np.ones(10**9)[:n * n].reshape(n, n)\n"  # 8 GB > the 3 GiB cap
SNOOP = (  # what a curious student tries: every line prints what it found
    "import os, socket, sqlite3\n"
    "def _try(label, fn):\n"
    "    try:\n        print('SNOOP', label, fn())\n"
    "    except Exception as exc:\n        print('SNOOP', label, 'blocked:', type(exc).__name__)\n"
    "_try('source', lambda: os.listdir({source!r}))\n"
    "_try('course', lambda: os.listdir({course!r}))\n"
    "_try('gradebook', lambda: open('../../../gradebook.db', 'rb').read(16))\n"
    "_try('write gradebook', lambda: sqlite3.connect('../../../gradebook.db').execute('create table x (y)'))\n"
    "_try('write outside', lambda: open('../../../../pwned.txt', 'w').write('x'))\n"
    "_try('network', lambda: socket.create_connection(('1.1.1.1', 53), timeout=2))\n"
    "_try('loopback', lambda: socket.create_connection(('127.0.0.1', 22), timeout=2))\n"
)

EXPECTED = {  # student -> (status, box points, laplacian points)
    "reference": (Status.MISSING_NOTEBOOK, 2, 3),
    "corrupt_zip": (Status.UNREADABLE_ZIP, 0, 0),
    "zip_bomb": (Status.REFUSED_ZIP, 0, 0),
    "path_traversal": (Status.MISSING_NOTEBOOK, 2, 3),
    "no_notebook": (Status.MISSING_NOTEBOOK, 0, 0),
    "renamed": (Status.MISSING_NOTEBOOK, 2, 3),
    "invalid_json": (Status.UNREADABLE_NOTEBOOK, 0, 0),
    "test_cell_deleted": (Status.TEST_CELLS_CHANGED, 2, 0),
    "test_cell_edited": (Status.TEST_CELLS_CHANGED, 0, 3),
    "infinite_loop": (Status.MISSING_NOTEBOOK, 2, 0),
    "memory_hog": (Status.MISSING_NOTEBOOK, 0, 3),
    "os_exit": (Status.KERNEL_DIED, 2, 0),
    "patches_numpy": (Status.TAMPERING, 2, 0),
    "patches_test_helpers": (Status.TAMPERING, 0, 3),
    "swallows_exceptions": (Status.TAMPERING, 0, 0),
    "rewrites_test_cells": (Status.TAMPERING, 0, 3),
    "ships_helpers": (Status.MISSING_NOTEBOOK, 0, 3),
    "prints_fake_results": (Status.MISSING_NOTEBOOK, 0, 3),
    "snoops": (Status.MISSING_NOTEBOOK, 2, 3),
}


def edit_cells(path, change):
    nb = nbformat.read(path, as_version=4)
    nb.cells = [c for c in (change(c) for c in nb.cells) if c is not None]
    nbformat.write(nb, path)


def build_corpus(cls, course):
    student(cls / "reference")
    (cls / "corrupt_zip.zip").write_bytes(b"PK\x03\x04 not a zip at all")
    with zipfile.ZipFile(cls / "zip_bomb.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(student(cls.parent / "tmp" / "bomb") / NB, f"hw3/{NB}")
        zf.writestr("hw3/results/huge.bin", b"\0" * (40 << 20))
    with zipfile.ZipFile(cls / "path_traversal.zip", "w") as zf:
        zf.write(student(cls.parent / "tmp" / "trav") / NB, f"hw3/{NB}")
        zf.writestr("../../../escaped.txt", "x")
        zf.writestr("/etc/cron.d/evil", "x")
    (cls / "no_notebook").mkdir()
    (cls / "no_notebook" / "answers.pdf").write_bytes(b"%PDF")
    renamed = student(cls / "renamed")
    (renamed / NB).rename(renamed / "Copy of part0_filters (1).ipynb")
    bad = student(cls / "invalid_json")
    (bad / NB).write_text((bad / NB).read_text()[:300])
    edit_cells(student(cls / "test_cell_deleted") / NB,
               lambda c: None if nbgrader_meta(c).get("grade_id") == "test_laplacian_kernel" else c)

    def weaken(cell):
        if nbgrader_meta(cell).get("grade_id") == "test_box_kernel":
            cell.source = "print('all good')"
        return cell

    edit_cells(student(cls / "test_cell_edited", {**REF, "box_kernel": WRONG_BOX}) / NB, weaken)
    student(cls / "infinite_loop", {**REF, "laplacian_kernel": LOOPING_LAP})
    student(cls / "memory_hog", {**REF, "box_kernel": MEMORY_HOG_BOX})
    student(cls / "os_exit", {**REF, "laplacian_kernel": "import os\nos._exit(0)\n"})
    student(cls / "patches_numpy", {**REF, "laplacian_kernel": "np.allclose = lambda *a, **k: True\n" + WRONG_LAP})
    student(cls / "patches_test_helpers", {**REF, "box_kernel": (
        "import helpers.checks\n"
        "def assert_close(*args, **kwargs):\n    pass\n"
        "helpers.checks.assert_close = assert_close\n" + WRONG_BOX)})
    student(cls / "swallows_exceptions", {"box_kernel": (
        "get_ipython().set_custom_exc((Exception,), lambda *args, **kwargs: None)\n" + WRONG_BOX),
        "laplacian_kernel": WRONG_LAP})
    student(cls / "rewrites_test_cells", {**REF, "box_kernel": (
        "get_ipython().input_transformers_post.append(\n"
        "    lambda lines: ['pass\\n'] if any('box_kernel(' in line for line in lines) else lines)\n" + WRONG_BOX)})
    shipped = student(cls / "ships_helpers", {**REF, "box_kernel": WRONG_BOX})
    (shipped / "helpers" / "checks.py").write_text(
        "def as_float_array(value, name, shape=None):\n    return value\n"
        "def assert_close(*args, **kwargs):\n    pass\n"
        "def passed(message):\n    print(message)\n")
    student(cls / "prints_fake_results", {**REF, "box_kernel": (
        "print('\\u2713 all tests passed: 5/5 points')\n" + WRONG_BOX)})
    snoop = SNOOP.format(source=str(SOURCE_DIR), course=str(course))
    student(cls / "snoops", {**REF, "laplacian_kernel": snoop + REF["laplacian_kernel"]})


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    build_corpus(tmp / "class", tmp / "out")
    shutil.rmtree(tmp / "tmp")
    (tmp / "fingerprint").write_text(source_fingerprint())
    results = autograde([tmp / "class"], tmp / "out", LIMITS, log=lambda _: None, workers=2)
    return {r.student_id: r for r in results}, tmp


def test_every_hostile_submission_gets_its_status_and_loses_only_the_attacked_points(graded):
    results, _ = graded
    got = {sid: (r.status, r.scores.get(BOX), r.scores.get(LAP)) for sid, r in results.items()}
    assert got == EXPECTED


def test_statuses_say_what_happened(graded):
    results, tmp = graded
    assert "zip bomb" in results["zip_bomb"].detail
    assert "outside" in results["path_traversal"].detail and "absolute" in results["path_traversal"].detail
    assert not (tmp / "escaped.txt").exists() and not (tmp.parent / "escaped.txt").exists()
    assert "test_laplacian_kernel" in results["test_cell_deleted"].detail
    assert "edited (test_box_kernel)" in results["test_cell_edited"].detail
    assert "kernel died" in results["os_exit"].detail
    assert "numpy.allclose" in results["patches_numpy"].detail
    assert "assert_close" in results["patches_test_helpers"].detail
    assert "set_custom_exc" in results["swallows_exceptions"].detail
    assert "input_transformers_post" in results["rewrites_test_cells"].detail
    assert "helpers/ differs" in results["ships_helpers"].detail
    assert "Copy of part0_filters (1).ipynb" in results["renamed"].detail
    assert "test_laplacian_kernel was stopped by the time limit" in results["infinite_loop"].detail
    assert "test_box_kernel ran out of memory" in results["memory_hog"].detail


def test_student_code_cannot_see_or_touch_the_course_when_namespaces_exist(graded):
    results, tmp = graded
    box = detect(tmp / "out")
    nb = nbformat.read(tmp / "out" / "autograded" / "snoops" / ASSIGNMENT_ID / NB, as_version=4)
    lines = [line for c in nb.cells if c.cell_type == "code" for o in c.outputs
             for line in o.get("text", "").splitlines() if line.startswith("SNOOP")]
    assert len(lines) == 7, lines
    if box.mode == "none":
        pytest.skip(f"no namespaces here: {box.description}")
    course = next(line for line in lines if line.startswith("SNOOP course"))
    # The course folder is an empty tmpfs but for the path down to the kernel's own folder.
    assert course == "SNOOP course ['work']" or "blocked" in course, course
    reads = [line for line in lines if "write" not in line and line != course]
    assert all("blocked" in line for line in reads), reads
    if box.mode == "root":  # in "userns" mode writes land in the kernel's private, throwaway tmpfs
        assert all("blocked" in line for line in lines if line != course), lines


def test_grades_csv_report_and_gradebook_cover_the_whole_class(graded):
    from nbgrader.api import Gradebook

    results, tmp = graded
    with open(tmp / "out" / "grades.csv", newline="") as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f)}
    assert set(rows) == set(EXPECTED)
    assert rows["reference"]["total"] == "5"
    report = (tmp / "out" / "report.html").read_text()
    assert "kernel died" in report and report.count("<svg") == len(assignment_cells()) + 1  # and the total
    with Gradebook(f"sqlite:///{tmp / 'out' / 'gradebook.db'}") as gb:
        graded_ids = {s.student.id for s in gb.find_assignment(ASSIGNMENT_ID).submissions}
        assert graded_ids == {sid for sid, (status, _, _) in EXPECTED.items()
                              if status not in (Status.UNREADABLE_ZIP, Status.REFUSED_ZIP, Status.UNREADABLE_NOTEBOOK)
                              and sid != "no_notebook"}
        assert gb.find_submission(ASSIGNMENT_ID, "reference").score == 5
        assert gb.find_submission(ASSIGNMENT_ID, "patches_numpy").score == 2


def test_feedback_never_shows_hidden_tests_even_when_a_test_cell_was_edited(graded):
    _, tmp = graded
    html = (tmp / "out" / "feedback" / "test_cell_edited" / "part0_filters.html").read_text()
    assert "HIDDEN TESTS" not in html and "_rng" not in html and "print(&#39;all good&#39;)" not in html


def test_rerun_reuses_finished_results_and_regrades_only_what_changed(graded):
    results, tmp = graded
    messages = []
    again = autograde([tmp / "class"], tmp / "out", LIMITS, log=messages.append, workers=2)
    assert {r.student_id: (r.status, r.scores) for r in again} == \
        {sid: (r.status, r.scores) for sid, r in results.items()}
    reused = [m for m in messages if "not regraded" in m]
    if source_fingerprint() != (tmp / "fingerprint").read_text():
        pytest.skip("source/ or helpers/ was edited while this test ran: everything is regraded, as it should")
    assert len(reused) == len(EXPECTED)  # every submission, even those with statuses
    # Same bytes graded from scratch: the same score (grading is deterministic).
    fresh = autograde([tmp / "class" / "patches_numpy"], tmp / "out", LIMITS, log=lambda _: None, resume=False)
    assert fresh[0].scores == results["patches_numpy"].scores and fresh[0].status == Status.TAMPERING
