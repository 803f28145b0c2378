"""``python -m grader autograde``: grade submissions into ``grades.csv``.

One submission at a time goes through: unpack -> match notebooks -> drop unreadable ones
-> stage into the grading folder -> nbgrader autograde in a worker process (killed with
its kernel after a time limit) -> scores read from the gradebook. Any failure is recorded
as that student's status and the batch goes on. ``grade_submission`` is the unit a
parallel or sandboxed runner would distribute.
"""

import json
import os
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from grader import intake, staging
from grader.course_dir import copy_source, generate_assignment, source_fingerprint
from grader.feedback import write_feedback
from grader.nbgrader_settings import CELL_TIMEOUT_S
from grader.notebook_cells import graded_cells
from grader.paths import REPO_ROOT, SOURCE_DIR, source_notebook_names
from grader.report import StudentResult, read_grades_csv, write_grades_csv
from grader.scores import gradebook_scores

FINGERPRINT_FILE = ".source_fingerprint"


@dataclass(frozen=True)
class Limits:
    """What one submission may use while it is graded.

    submission_s: wall-clock seconds for all its notebooks, kernel start included; past it the
        worker and its kernel are killed and the submission gets the ``timeout`` status.
    cell_s: seconds one cell may run; past it the cell is interrupted and scores 0, and
        grading goes on with the next cell.
    memory_bytes: address-space cap (RLIMIT_AS) of the worker and its kernel: a cell that
        asks for more gets a MemoryError (that cell scores 0) instead of starving the machine.
    """

    submission_s: float = 600
    cell_s: float = CELL_TIMEOUT_S
    memory_bytes: int = 6 << 30


def assignment_cells():
    """Every graded cell of the assignment, in notebook and cell order."""
    return [cell for name in source_notebook_names() for cell in graded_cells(SOURCE_DIR / name)]


def prepare_grading_dir(out_dir):
    """Make ``out_dir`` an nbgrader course folder for the current source.

    The source and gradebook are rebuilt when the source changed since the last run
    (the old gradebook is kept beside it, renamed), and reused otherwise, so earlier
    results stay in the gradebook for formgrader and ``nbgrader export``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    marker = out_dir / FINGERPRINT_FILE
    fingerprint = source_fingerprint()
    gradebook = out_dir / "gradebook.db"
    up_to_date = marker.exists() and marker.read_text().strip() == fingerprint and gradebook.exists()
    copy_source(out_dir)
    if not up_to_date:
        if gradebook.exists():
            old = marker.read_text().strip()[:12] if marker.exists() else "unknown"
            gradebook.rename(out_dir / f"gradebook.{old}.db")
        generate_assignment(out_dir)
        marker.write_text(fingerprint + "\n")


def _limit_memory(memory_bytes):
    """preexec_fn for the worker: cap its address space, which its kernel inherits."""
    return lambda: resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))


def run_worker(course_root, student_id, limits):
    """Autograde one staged student in a child process, within ``limits``.

    Returns:
        (status, detail): ``graded``/"" on success, else ``timeout`` or ``grading error``.
    """
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "grader.worker", str(course_root), student_id, str(limits.cell_s)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,  # its own process group, so the kernel dies with it
        preexec_fn=_limit_memory(limits.memory_bytes),
    )
    try:
        out, err = proc.communicate(timeout=limits.submission_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return intake.TIMEOUT, f"grading took longer than {limits.submission_s:g} s and was stopped"
    finally:
        try:  # a kernel left behind by a crashed worker
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        reply = json.loads(out.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        reply = {"success": False, "error": (err or out or "worker died")[-2000:]}
    if reply["success"]:
        return intake.GRADED, ""
    last_line = next((ln for ln in reversed(reply["error"].splitlines()) if ln.strip()), "unknown")
    return intake.GRADING_ERROR, f"nbgrader failed: {last_line.strip()[:300]}"


def grade_submission(sub, out_dir, notebook_names, limits=Limits()):
    """Grade one submission end to end; never raises for bad input.

    Returns:
        StudentResult; scores are empty only when the submission could not be graded
        at all (duplicate id), 0 for cells whose notebook is missing or unreadable.
    """
    start = time.monotonic()
    out_dir = Path(out_dir)
    zero = {c.column: 0.0 for c in assignment_cells()}
    if sub.status == intake.DUPLICATE_ID:
        return StudentResult(sub.student_id, sub.status, sub.detail)
    intake.unpack(sub, out_dir / "intake" / sub.student_id)
    if sub.root is not None:
        intake.match_notebooks(sub, notebook_names)
        staging.drop_unreadable_notebooks(sub)
    scores, pending = dict(zero), set()
    if sub.notebooks:
        staging.stage(sub, out_dir)
        status, detail = run_worker(out_dir, sub.student_id, limits)
        if status != intake.GRADED:
            sub.add_problem(status, detail)
        if status == intake.GRADED:
            graded, pending = gradebook_scores(out_dir, sub.student_id)
            scores.update(graded)
            try:
                write_feedback(out_dir, sub.student_id, scores, assignment_cells())
            except Exception as exc:  # feedback is a courtesy: never lose a grade over it
                sub.add_problem(intake.GRADED, f"no feedback written ({type(exc).__name__}: {exc})")
    return StudentResult(sub.student_id, sub.status, sub.detail, scores, sorted(pending),
                         time.monotonic() - start)


def autograde(paths, out_dir, limits=Limits(), log=print):
    """Grade every submission found in ``paths`` and write ``out_dir/grades.csv``.

    Args:
        paths: zips and folders, as described in ``grader.intake``.
        out_dir: the grading folder (an nbgrader course folder, created if needed).
        limits: Limits for each submission (time, per cell time, memory).
        log: called with one progress line per submission.
    Returns:
        list of StudentResult, in the order the submissions were found. ``grades.csv``
        also keeps the rows of students graded in earlier runs into the same folder.
    """
    out_dir = Path(out_dir).resolve()
    submissions = intake.discover(paths)
    prepare_grading_dir(out_dir)
    names, cells = source_notebook_names(), assignment_cells()
    table = out_dir / "grades.csv"
    this_run = {s.student_id for s in submissions}
    earlier = [row for row in read_grades_csv(table, cells) if row["student_id"] not in this_run]
    results = []
    for i, sub in enumerate(submissions, 1):
        result = grade_submission(sub, out_dir, names, limits)
        results.append(result)
        log(f"[{i}/{len(submissions)}] {result.student_id}: {result.status}, "
            f"{result.total:g}/{sum(c.points for c in cells):g} points ({result.seconds:.1f} s)")
        write_grades_csv(results, cells, table, earlier)  # after each one, so nothing is lost
    if not submissions:
        write_grades_csv([], cells, table, earlier)
    return results
