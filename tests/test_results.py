"""grader.results: the status order, and the guard's events read back into statuses and notes."""

import json

from grader.results import (
    Status,
    kernel_died_event,
    leftover_processes_event,
    links_removed_event,
    memory_limit_event,
    problems_of_events,
    restored_event,
    time_limit_event,
)


def test_statuses_are_the_words_grades_csv_writes():
    assert f"{Status.TEST_CELLS_CHANGED}" == str(Status.TEST_CELLS_CHANGED) == "test cells changed"
    assert json.dumps(Status.DUPLICATE_ID) == '"duplicate student id"'
    assert Status.GRADED == "graded" and Status("timeout") is Status.TIMEOUT


def test_the_most_severe_status_wins():
    assert Status.most_severe([]) is Status.GRADED
    assert Status.most_severe([Status.GRADED, Status.MISSING_NOTEBOOK]) is Status.MISSING_NOTEBOOK
    assert Status.most_severe(["missing notebook", "kernel died", "graded"]) is Status.KERNEL_DIED
    assert Status.most_severe([Status.TAMPERING, Status.TIMEOUT, Status.INCOMPLETE]) is Status.INCOMPLETE
    assert Status.most_severe([Status.GRADING_ERROR, Status.REFUSED_ZIP]) is Status.REFUSED_ZIP


def _events_file(*events, notebook="part0_filters.ipynb"):
    return "".join(json.dumps(dict(e, notebook=notebook)) + "\n" for e in events)


def test_each_event_becomes_its_status_and_a_readable_note():
    text = _events_file(
        kernel_died_event("test_box", 7, RuntimeError("boom")),
        time_limit_event("test_lap", 10),
        memory_limit_event("test_lap"),
        restored_event("test_box", "during", ["numpy.allclose"], tool=True),
        restored_event("test_box", "before", ["np"], tool=True),
        restored_event("test_lap", "before", ["my_helper"], tool=False),
        leftover_processes_event(3),
        links_removed_event(["a", "b"], 2),
    )
    problems = problems_of_events(text)
    assert [status for status, _ in problems] == [
        Status.KERNEL_DIED, Status.GRADED, Status.GRADED, Status.TAMPERING, Status.TAMPERING, Status.GRADED,
        Status.GRADED, Status.GRADED]
    notes = [note for _, note in problems]
    assert notes[0] == ("the kernel died in part0_filters.ipynb/test_box (cell 7); the cells after it were not run")
    assert notes[1] == "part0_filters.ipynb/test_lap was stopped by the time limit (10 s a cell)"
    assert "ran out of memory" in notes[2]
    assert notes[3] == "changed part0_filters.ipynb/test_box: numpy.allclose (that cell scores 0)"
    assert notes[4] == "restored before part0_filters.ipynb/test_box: np"
    assert notes[5] == "rebound names restored before part0_filters.ipynb/test_lap: my_helper"
    assert "left 3 process(es) running" in notes[6]
    assert "2 link(s) or special file(s) the kernel made were removed (a, b)" in notes[7]


def test_a_cut_or_foreign_line_is_skipped_not_fatal():
    text = _events_file(time_limit_event("c", 5)) + '{"cell": "x", "lim' + "\n[1, 2]\n42\n"
    note = "part0_filters.ipynb/c was stopped by the time limit (5 s a cell)"
    assert problems_of_events(text) == [(Status.GRADED, note)]
    assert problems_of_events("") == []
