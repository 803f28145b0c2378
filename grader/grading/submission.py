"""Grading one submission end to end, as a list of steps (``STEPS``), like nbgrader's list of
preprocessors: each step reads and updates one ``SubmissionGrading`` and says whether grading goes on.

unpack -> vet (notebooks found and readable, test cells, shipped helpers) -> stage into its own
course folder -> run the worker (nbgrader autograde, its kernels sandboxed and guarded) -> read the
scores -> collect the results into the grading folder -> note ungraded cells and flags. Any failure
is that student's status; nothing here raises for bad input.
"""

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from grader import intake
from grader.cells import assignment_cells
from grader.course import ASSIGNMENT_ID
from grader.grading.folders import collect, student_course
from grader.grading.gradebook import submission_scores
from grader.grading.grading_data import shared_cache
from grader.grading.options import Limits
from grader.grading.worker import WorkerOptions
from grader.grading.worker_process import run_worker
from grader.isolation import sandbox
from grader.isolation.forkserver_client import Zygotes
from grader.isolation.kernel_folders import KernelFolders
from grader.outputs.flags import flags_of_student
from grader.results import Status, StudentResult, problems_of_events


@dataclass
class SubmissionGrading:
    """One submission while it is graded: where, with what, and what is known so far."""

    sub: intake.Submission
    out_dir: Path  # the grading folder
    work: Path  # the submission's own course folder (``work/<id>``), removed when done
    notebook_names: list
    limits: Limits
    box: sandbox.Sandbox
    threads: int | None
    zygotes: Zygotes
    scores: dict = field(default_factory=dict)  # column -> points; every cell starts at 0
    pending: list = field(default_factory=list)  # written answers waiting for a person
    ungraded: dict = field(default_factory=dict)  # column -> why the grader could not grade it
    deleted: list = field(default_factory=list)  # (notebook, grade_id) test cells the student deleted
    worker_options: WorkerOptions | None = None


def unpack(job):
    intake.unpack(job.sub, job.work / "intake")
    return job.sub.root is not None


def vet(job):
    intake.match_notebooks(job.sub, job.notebook_names)
    intake.drop_unreadable_notebooks(job.sub)
    if not job.sub.notebooks:
        return False
    job.deleted = intake.check_test_cells(job.sub, job.out_dir / "release" / ASSIGNMENT_ID)
    intake.note_submitted_helpers(job.sub)
    return True


def stage(job):
    intake.stage(job.sub, job.work)
    return True


def run_in_worker(job):
    """nbgrader autograde in a worker process; the guard's events become problems."""
    job.worker_options = _worker_options(job)
    status, detail = run_worker(job.work, job.sub.student_id, job.limits, job.worker_options, job.threads,
                                job.zygotes.worker)
    events = job.work / "events.jsonl"
    for problem in problems_of_events(events.read_text(encoding="utf-8") if events.exists() else ""):
        job.sub.add_problem(*problem)
    if status != Status.GRADED:
        job.sub.add_problem(status, detail)
        return False
    if detail:
        job.sub.add_problem(Status.GRADED, f"no feedback written ({detail})")
    return True


def read_scores(job):
    graded, pending, job.ungraded = submission_scores(job.work, job.sub.student_id, job.deleted)
    job.scores.update(graded)
    job.pending = sorted(pending)
    for column in [*pending, *job.ungraded]:  # no score yet: empty, not 0
        job.scores.pop(column, None)
    return True


def collect_results(job):
    collect(job.work, job.out_dir, job.sub.student_id, job.deleted,
            [tuple(c.split("/", 1)) for c in job.ungraded])
    return True


def note_ungraded_cells(job):
    for reason in sorted(set(job.ungraded.values())):
        columns = [c for c, r in job.ungraded.items() if r == reason]
        job.sub.add_problem(Status.INCOMPLETE, f"not graded, {reason}: {', '.join(columns)}; "
                                               "grade again once the grader has it")
    return True


def note_flags(job):
    for flag in flags_of_student(job.out_dir / "autograded" / job.sub.student_id / ASSIGNMENT_ID):
        job.sub.add_problem(Status.GRADED, f"flag: {flag}")
    return True


# The pipeline: a step that returns False ends it (the submission keeps the scores it has: 0s).
STEPS = (unpack, vet, stage, run_in_worker, read_scores, collect_results, note_ungraded_cells, note_flags)


def grade_submission(sub, out_dir, notebook_names, limits=None, box=None, threads=None, zygotes=None):
    """Grade one submission end to end (``STEPS``); never raises for bad input.

    Args:
        sub: intake.Submission.
        out_dir: the grading folder (prepared by ``grader.grading.folders.prepare_grading_dir``).
        notebook_names: the assignment's notebook file names.
        limits: Limits.
        box: sandbox.Sandbox for the kernels (None: detected).
        threads: math-library threads for its kernels (see ``worker_process.thread_env``).
        zygotes: the batch's ``grader.isolation.forkserver_client.Zygotes``, or None.
    Returns:
        StudentResult; scores are empty only when the submission could not be graded
        at all (duplicate id), 0 for cells whose notebook is missing or unreadable. Cells with no
        score yet are left out: written answers waiting for a person (``pending_manual``) and
        cells the grader could not grade (status ``incomplete``).
    """
    start = time.monotonic()
    out_dir, limits = Path(out_dir), limits or Limits()
    if sub.status == Status.DUPLICATE_ID:
        return StudentResult(sub.student_id, sub.status, sub.detail)
    job = SubmissionGrading(sub, out_dir, student_course(out_dir, sub.student_id), notebook_names, limits,
                            box or sandbox.detect(out_dir), threads, zygotes or Zygotes(),
                            scores={c.column: 0.0 for c in assignment_cells()})
    try:
        for step in STEPS:
            if not step(job):
                break
    finally:
        runtime = job.worker_options and job.worker_options.runtime_dir
        if runtime:  # nothing of this submission runs on once it is done
            _report_leftovers(sub, sandbox.kill_submission_uids(runtime))
            shutil.rmtree(runtime, ignore_errors=True)
        shutil.rmtree(job.work, ignore_errors=True)
    return StudentResult(sub.student_id, sub.status, sub.detail, job.scores, job.pending,
                         time.monotonic() - start)


def _worker_options(job):
    """The worker's settings: sandboxed kernelspec, runtime folder for sockets, events file, the
    kernel fork server, and the feedback to write (in parallel with other workers)."""
    runtime = sandbox.runtime_folder()
    # The kernels run in a folder of their own, never in nbgrader's autograded folder, which holds
    # the restored (hidden) test cells: a copy of the staged submission and the course's helpers.
    folders = KernelFolders(str(job.work / "kernel" / ASSIGNMENT_ID), str(job.work / "home"),
                            (str(job.work / "submitted" / job.sub.student_id / ASSIGNMENT_ID),
                             str(job.work / "source" / ASSIGNMENT_ID)))
    zygote = job.zygotes.kernel_socket()
    cfg = sandbox.kernel_config(job.box, folders, runtime, data_cache=shared_cache(job.out_dir),
                                open_from=job.out_dir)
    spec_root = sandbox.write_kernelspec(job.work / "kernelspec", zygote=bool(zygote))
    return WorkerOptions(sandbox=cfg, spec_root=str(spec_root), runtime_dir=str(runtime),
                         events=str(job.work / "events.jsonl"), zygote=zygote or None, feedback_zero=job.deleted,
                         kernel_folders=folders.to_dict())


def _report_leftovers(sub, killed):
    """Processes of the submission's kernels still alive once it was done (the sandbox should have
    ended them with their kernels): killed, and said."""
    if killed:
        sub.add_problem(Status.GRADED, f"{killed} process(es) of this submission outlived its kernels; killed")
