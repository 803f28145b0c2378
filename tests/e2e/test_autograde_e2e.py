"""End to end: real submissions, real nbgrader, real kernels, one batch with good and bad input."""

import csv
import shutil

import nbformat
import pytest

from grader.authoring.demo import zip_folder
from grader.cells import assignment_cells, fill_answers, reference_answers
from grader.course import ASSIGNMENT_ID, RELEASE_DIR, SOURCE_DIR, source_notebook_names
from grader.grading import Limits, autograde
from grader.results import Status

NB = "part0_filters.ipynb"
# Notebooks students have (a notebook still being written may be in source/ but not released yet).
RELEASED = [name for name in source_notebook_names() if (RELEASE_DIR / name).exists()]
REFERENCE = {k: v for name in RELEASED for k, v in reference_answers(SOURCE_DIR / name).items()}
CELLS = assignment_cells()
# The PyTorch notebook's accuracy tests need trained checkpoints (models/), which these submissions
# do not carry: totals here count the autograded cells of the other released notebooks.
COUNTED = [c for c in CELLS if not c.manual and f"{c.notebook}.ipynb" in RELEASED and c.notebook != "part3_pytorch_cnn"]
AUTO_MAX = sum(c.points for c in COUNTED)
# A complete submission's status: "missing notebook" while a source notebook is not released yet.
COMPLETE = "graded" if len(RELEASED) == len(source_notebook_names()) else "missing notebook"


def make_student(release_dir, dest, answers, notebooks=RELEASED):
    """The release (helpers included, as students have it) with ``answers`` filled in, holding only
    ``notebooks`` (all released ones by default)."""
    shutil.copytree(release_dir, dest)
    for name in RELEASED:
        if name in notebooks:
            nbformat.write(fill_answers(nbformat.read(dest / name, as_version=4), answers), dest / name)
        else:
            (dest / name).unlink()
    return dest


def part0_student(dest, answers):
    """A submission of Part 0 only: the cases below that concern one notebook need no more (and
    every missing notebook makes the status "missing notebook"), which keeps this batch fast."""
    return make_student(RELEASE_DIR, dest, answers, notebooks=[NB])


def counted_total(scores):
    return sum(float(scores[c.column]) for c in COUNTED)
BOX, LAP = "part0_filters/test_box_kernel", "part0_filters/test_laplacian_kernel"
# The infinite loop's cell limit is generous for every other cell on a busy machine; the memory cap
# is far below what the memory hog asks for and far above what a real notebook needs.
LIMITS = Limits(cell_s=10, memory_bytes=3 << 30)

WRONG_LAPLACIAN = "def laplacian_kernel():\n    return np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])\n"
WRONG_BOX = "def box_kernel(n):\n    return np.ones((n, n))\n"
NOOP_CHECKS = (
    "import numpy as np\n"
    "def as_float_array(value, name, shape=None):\n    return np.zeros(shape or (1,))\n"
    "def assert_close(*args, **kwargs):\n    pass\n"
    "def passed(message):\n    print(message)\n"
)
WARNING_BOX = (
    "import sys, warnings\n"
    "def box_kernel(n):\n"
    "    warnings.warn('deprecated, but harmless')\n"
    "    print('debug output on stderr', file=sys.stderr)\n"
    "    return np.ones((n, n)) / n**2\n"
)
LOOPING_LAPLACIAN = "def laplacian_kernel():\n    while True:\n        pass\n"
MEMORY_HOG_BOX = (  # 8 GB: would fit in this machine's memory, but not under the cap
    "def box_kernel(n):\n    hog = np.ones(10**9)\n    return np.ones((n, n)) / n**2 + 0 * hog[0]\n"
)

PART0_ONLY = "missing notebook"
EXPECTED = {  # student -> (status, box points, laplacian points)
    "reference": (COMPLETE, 2, 3),
    "untouched": (COMPLETE, 0, 0),
    "wrong_laplacian": (COMPLETE, 2, 0),
    "own_helpers": (PART0_ONLY, 0, 3),
    "warnings": (PART0_ONLY, 2, 3),
    "infinite_loop": (PART0_ONLY, 2, 0),
    "memory_hog": (PART0_ONLY, 0, 3),
    "renamed": (PART0_ONLY, 2, 3),
    "shadows_numpy": (PART0_ONLY, 2, 3),
    "missing": ("missing notebook", 0, 0),
    "corrupt": ("unreadable notebook", 0, 0),
    "broken_zip": ("unreadable zip", 0, 0),
}


def build_class(folder):
    """A class folder with one submission per case in EXPECTED."""
    folder.mkdir()
    make_student(RELEASE_DIR, folder / "reference", REFERENCE)
    untouched = make_student(RELEASE_DIR, folder.parent / "tmp" / "untouched", {})
    zip_folder(untouched, folder / "untouched.zip")
    make_student(RELEASE_DIR, folder / "wrong_laplacian", {**REFERENCE, "laplacian_kernel": WRONG_LAPLACIAN})
    own = part0_student(folder / "own_helpers", {**REFERENCE, "box_kernel": WRONG_BOX})
    (own / "helpers" / "checks.py").write_text(NOOP_CHECKS)  # would pass everything if used
    part0_student(folder / "warnings", {**REFERENCE, "box_kernel": WARNING_BOX})
    part0_student(folder / "infinite_loop", {**REFERENCE, "laplacian_kernel": LOOPING_LAPLACIAN})
    part0_student(folder / "memory_hog", {**REFERENCE, "box_kernel": MEMORY_HOG_BOX})
    renamed = part0_student(folder / "renamed", REFERENCE)
    (renamed / NB).rename(renamed / f"Copy of {NB}")
    shadow = part0_student(folder / "shadows_numpy", REFERENCE)
    (shadow / "numpy.py").write_text("raise SystemExit('student numpy')\n")
    (folder / "missing").mkdir()
    (folder / "missing" / "README.txt").write_text("I forgot the notebook")
    corrupt = part0_student(folder / "corrupt", REFERENCE)
    (corrupt / NB).write_text((corrupt / NB).read_text()[:500])
    (folder / "broken_zip.zip").write_bytes(b"PK\x03\x04 truncated upload")
    return folder


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    submissions = build_class(tmp / "class")
    out = tmp / "out"
    results = autograde([submissions], out, LIMITS, log=lambda _: None)
    return {r.student_id: r for r in results}, out, submissions


def test_every_submission_gets_the_expected_status_and_scores(graded):
    results, _, _ = graded
    assert set(results) == set(EXPECTED)
    got = {sid: (r.status, r.scores.get(BOX), r.scores.get(LAP)) for sid, r in results.items()}
    assert got == EXPECTED


def test_problems_are_explained(graded):
    results, _, _ = graded
    assert "not found" in results["missing"].detail
    assert "cannot be read" in results["corrupt"].detail
    assert "broken_zip.zip" in results["broken_zip"].detail
    assert "Copy of part0_filters.ipynb" in results["renamed"].detail


def test_grades_csv_has_a_row_per_student_and_a_column_per_graded_cell(graded):
    results, out, _ = graded
    with open(out / "grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [c.column for c in CELLS][:2] == [BOX, LAP]
    assert list(rows[0]) == ["student_id", "status", *[c.column for c in CELLS], "total", "max",
                             "manual_pending", "detail"]
    by_id = {row["student_id"]: row for row in rows}
    assert set(by_id) == set(EXPECTED)
    assert counted_total(by_id["reference"]) == AUTO_MAX
    assert float(by_id["reference"]["max"]) == sum(c.points for c in CELLS)
    assert counted_total(by_id["wrong_laplacian"]) == AUTO_MAX - 3
    assert float(by_id["untouched"]["total"]) == 0
    assert by_id["broken_zip"]["status"] == "unreadable zip"


def test_grading_used_the_course_helpers_not_the_submitted_ones(graded):
    _, out, _ = graded
    graded_checks = out / "autograded" / "own_helpers" / ASSIGNMENT_ID / "helpers" / "checks.py"
    assert graded_checks.read_text() == (RELEASE_DIR / "helpers" / "checks.py").read_text()
    assert not (out / "submitted" / "shadows_numpy" / ASSIGNMENT_ID / "numpy.py").exists()


def test_warnings_are_kept_as_text_in_the_graded_notebook(graded):
    _, out, _ = graded
    nb = nbformat.read(out / "autograded" / "warnings" / ASSIGNMENT_ID / NB, as_version=4)
    texts = [o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert any("[stderr]" in t and "debug output on stderr" in t for t in texts)


def test_gradebook_holds_the_results(graded):
    from nbgrader.api import Gradebook

    _, out, _ = graded
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gb:
        for student, expected in (("reference", AUTO_MAX), ("wrong_laplacian", AUTO_MAX - 3)):
            notebooks = gb.find_submission(ASSIGNMENT_ID, student).notebooks
            assert sum(g.score for nb in notebooks for g in nb.grades
                       if f"{nb.name}/{g.name}" in {c.column for c in COUNTED}) == expected


def test_regrading_is_deterministic_and_keeps_other_rows(graded):
    results, out, submissions = graded
    again = autograde([submissions / "wrong_laplacian"], out, LIMITS, log=lambda _: None, resume=False)
    assert again[0].scores == results["wrong_laplacian"].scores
    with open(out / "grades.csv", newline="") as f:
        assert {row["student_id"] for row in csv.DictReader(f)} == set(EXPECTED)


def test_submission_over_its_time_limit_is_stopped(graded, tmp_path):
    _, _, submissions = graded
    shutil.copytree(submissions / "infinite_loop", tmp_path / "slow")
    result = autograde([tmp_path / "slow"], tmp_path / "out", Limits(submission_s=8), log=lambda _: None)[0]
    assert result.status == Status.TIMEOUT
    assert result.total == 0 and "longer than 8 s" in result.detail


def test_feedback_shows_failures_but_never_hidden_tests(graded):
    from grader.cells import secret_lines
    from grader.outputs.feedback import _release_sources, sanitize

    _, out, _ = graded
    html = (out / "feedback" / "wrong_laplacian" / "part0_filters.html").read_text()
    assert "the response must change sign across the edge" in html  # why the test failed
    assert "test_laplacian_kernel" in html and "0 / 3" in html  # the points summary
    for name in [n.replace(".ipynb", ".html") for n in RELEASED]:
        text = (out / "feedback" / "reference" / name).read_text()
        assert "HIDDEN TESTS" not in text and "_ref_" not in text, name
    secrets = secret_lines(sorted(SOURCE_DIR.glob("*.ipynb")))
    graded_dir = out / "autograded" / "wrong_laplacian" / ASSIGNMENT_ID
    for path in sorted(graded_dir.glob("*.ipynb")):
        answers_free = {line.strip() for line in REFERENCE.get("laplacian_kernel", "").splitlines()}
        nb = sanitize(nbformat.read(path, as_version=4), _release_sources(out / "release" / ASSIGNMENT_ID / path.name))
        for cell in nb.cells:
            if cell.cell_type != "code" or cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
                continue  # the student's own answers may of course be shown
            shown = cell.source + "".join(str(o.get("traceback", "")) + o.get("text", "") for o in cell.outputs)
            leaked = sorted((secrets - answers_free) & {line.strip() for line in shown.splitlines()})
            assert not leaked, f"{path.name}: {leaked[:3]}"
            for output in cell.outputs:
                if output.get("output_type") == "error":
                    assert len(output["traceback"]) == 1
