"""grader.grading.submission: one submission's steps, in order; a step that fails ends the pipeline with
the student's status, never a worker started for nothing, never a leftover folder."""

import zipfile

import pytest

from grader import intake
from grader.cells import assignment_cells
from grader.course import source_notebook_names
from grader.grading import submission
from grader.grading.folders import prepare_grading_dir
from grader.isolation.sandbox import Sandbox
from grader.results import Status


def test_the_steps_are_declared_in_grading_order():
    assert [step.__name__ for step in submission.STEPS] == [
        "unpack", "vet", "stage", "run_in_worker", "read_scores", "collect_results", "note_ungraded_cells",
        "note_flags"]


@pytest.fixture(scope="module")
def grading_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("grading")
    prepare_grading_dir(out)
    return out


@pytest.fixture
def no_worker(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a worker was started for a submission with nothing to grade")
    monkeypatch.setattr(submission, "run_worker", refuse)


def _grade(path, grading_dir):
    sub = intake.discover([path])[0]
    box = Sandbox("none", "test: no isolation needed, no student code runs")
    return submission.grade_submission(sub, grading_dir, source_notebook_names(), box=box)


def test_a_broken_zip_scores_zero_everywhere_and_starts_nothing(tmp_path, grading_dir, no_worker):
    broken = tmp_path / "alice.zip"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    result = _grade(broken, grading_dir)
    assert result.status == Status.UNREADABLE_ZIP and "alice.zip" in result.detail
    assert result.scores == {c.column: 0.0 for c in assignment_cells()}
    assert not (grading_dir / "work" / "alice").exists()


def test_a_zip_without_notebooks_is_missing_every_notebook(tmp_path, grading_dir, no_worker):
    path = tmp_path / "bob.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("hw3/notes.txt", "I ran out of time")
    result = _grade(path, grading_dir)
    assert result.status == Status.MISSING_NOTEBOOK
    assert result.detail.count("not found") == len(source_notebook_names())
    assert result.total == 0 and result.pending_manual == []
    assert not (grading_dir / "work" / "bob").exists()
