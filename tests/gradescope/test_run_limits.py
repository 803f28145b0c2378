"""How ``gradescope run`` sizes itself from the container: its time from the assignment's timeout,
and a grader killed by the OOM killer read as the autograder's failure, never the student's."""

from grader.gradescope import run
from grader.results import Status, StudentResult


def test_grading_stops_before_gradescopes_timeout():
    assert run.submission_limits({}).submission_s == run.DEFAULT_TIMEOUT_S - run.TIMEOUT_MARGIN_S == 510
    assert run.submission_limits({run.TIMEOUT_ENV: "2400"}).submission_s == 2400 - run.TIMEOUT_MARGIN_S
    assert run.submission_limits({run.TIMEOUT_ENV: "100"}).submission_s == 60  # never less than a minute
    for nonsense in ("", "ten minutes", "-5", "0"):
        assert run.submission_limits({run.TIMEOUT_ENV: nonsense}).submission_s == 510


def test_too_little_memory_names_the_setting():
    assert run.too_little_memory(None) == "" and run.too_little_memory(run.MIN_MEMORY_BYTES) == ""
    why = run.too_little_memory(768 << 20)
    assert "768 MB" in why and "Autograder Settings" in why and run.RECOMMENDED_MEMORY in why


def test_a_grader_killed_for_memory_is_not_the_students_error(monkeypatch):
    failed = StudentResult("s", Status.GRADING_ERROR, "nbgrader failed: Traceback ...")
    monkeypatch.setattr("grader.isolation.machine.oom_kills", lambda: 3)
    said = run._out_of_memory(failed, 1, log=lambda line: None)
    assert said.status == Status.GRADING_ERROR and "ran out of memory" in said.detail
    assert "not your error" in said.detail and "Traceback" not in said.detail
    assert run._out_of_memory(failed, 3, log=print) is failed  # no kill meanwhile: left as it is
    graded = StudentResult("s", Status.KERNEL_DIED, "killed for running out of memory")
    assert run._out_of_memory(graded, 1, log=print) is graded  # the kernel's death is the student's status
