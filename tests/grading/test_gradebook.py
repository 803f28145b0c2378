"""grader.grading.gradebook: a worker's gradebook into the course gradebook, and the scores read back.

Real nbgrader gradebooks (sqlite), built with nbgrader's own API: one notebook with a test cell,
a second test cell and a written answer.
"""

import os
import sys

import nbformat
import pytest
from nbgrader.api import Gradebook

from grader.course import ASSIGNMENT_ID
from grader.grading.gradebook import merge_submission, read_scores, submission_scores
from grader.grading.trusted_tests import VERDICT_MIME

NB = "part0_filters"
pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")  # nbgrader's own session notes


@pytest.fixture(autouse=True)
def alembic_on_path(monkeypatch):
    """nbgrader creates a gradebook with the ``alembic`` command beside this Python, by name."""
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))


def make_gradebook(path, student=None, auto=None):
    """A gradebook with the assignment's cells; with ``student``, their submission and auto scores."""
    url = f"sqlite:///{path}"
    with Gradebook(url) as gb:
        gb.add_assignment(ASSIGNMENT_ID)
        gb.add_notebook(NB, ASSIGNMENT_ID)
        gb.add_grade_cell("test_box", NB, ASSIGNMENT_ID, max_score=2, cell_type="code")
        gb.add_grade_cell("test_lap", NB, ASSIGNMENT_ID, max_score=3, cell_type="code")
        gb.add_grade_cell("written", NB, ASSIGNMENT_ID, max_score=2, cell_type="markdown")
        if student:
            gb.add_student(student)
            gb.add_submission(ASSIGNMENT_ID, student)
            for cell, score in (auto or {}).items():
                grade = gb.find_grade(cell, NB, ASSIGNMENT_ID, student)
                grade.auto_score = score
                grade.needs_manual_grade = score is None
            gb.db.commit()
    return url


@pytest.fixture
def worker_gradebook(tmp_path):
    return make_gradebook(tmp_path / "worker.db", "ann", {"test_box": 2.0, "test_lap": 1.5, "written": None})


def test_scores_and_pending_written_answers(worker_gradebook):
    scores, pending = read_scores(worker_gradebook, "ann")
    assert scores == {f"{NB}/test_box": 2.0, f"{NB}/test_lap": 1.5, f"{NB}/written": 0.0}
    assert pending == {f"{NB}/written"}
    assert read_scores(worker_gradebook, "nobody") == ({}, set())


def test_merge_copies_scores_forces_deleted_cells_to_zero_and_flags_ungraded_ones(worker_gradebook, tmp_path):
    course = make_gradebook(tmp_path / "course.db")
    assert merge_submission(worker_gradebook, course, "ann", zero_cells=[(NB, "test_box")],
                            ungraded_cells=[(NB, "test_lap")])
    with Gradebook(course) as gb:
        grades = {g.name: g for nb in gb.find_submission(ASSIGNMENT_ID, "ann").notebooks for g in nb.grades}
        assert grades["test_box"].auto_score == 0 and not grades["test_box"].needs_manual_grade
        assert grades["test_lap"].auto_score is None and grades["test_lap"].needs_manual_grade
        assert grades["written"].needs_manual_grade
    assert not merge_submission(worker_gradebook, course, "nobody")


def _autograded_notebook(folder, not_graded_cell):
    """An autograded notebook whose ``not_graded_cell`` carries the grader's not-graded verdict."""
    cells = []
    for grade_id in ("test_box", "test_lap"):
        cell = nbformat.v4.new_code_cell("pass", metadata={"nbgrader": {"grade": True, "grade_id": grade_id,
                                                                        "points": 2}})
        if grade_id == not_graded_cell:
            cell.outputs = [nbformat.v4.new_output("display_data", data={
                VERDICT_MIME: {"flags": [], "measured": {}, "not_graded": "the grader lacked the CIFAR-10 test set"}})]
        cells.append(cell)
    folder.mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(cells=cells), folder / f"{NB}.ipynb")


def test_submission_scores_leave_out_what_has_no_score_yet(tmp_path):
    make_gradebook(tmp_path / "gradebook.db", "ann", {"test_box": 2.0, "test_lap": 0.0, "written": None})
    _autograded_notebook(tmp_path / "autograded" / "ann" / ASSIGNMENT_ID, "test_lap")
    scores, pending, ungraded = submission_scores(tmp_path, "ann")
    assert scores == {f"{NB}/test_box": 2.0}  # the written answer and the ungraded cell: no score, not 0
    assert pending == {f"{NB}/written"}
    assert ungraded == {f"{NB}/test_lap": "the grader lacked the CIFAR-10 test set"}


def test_a_deleted_test_cell_scores_zero_and_is_not_pending(tmp_path):
    make_gradebook(tmp_path / "gradebook.db", "ann", {"test_box": None, "test_lap": 3.0, "written": None})
    scores, pending, _ = submission_scores(tmp_path, "ann", zero_cells=[(NB, "test_box")])
    assert scores[f"{NB}/test_box"] == 0.0 and f"{NB}/test_box" not in pending
