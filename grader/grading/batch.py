"""``python -m grader autograde``: grade a class's submissions into grades.csv, feedback and a report.

Submissions are found by ``grader.intake``; each is graded by ``grader.grading.submission`` (its
steps: unpack, vet, stage, a worker process with sandboxed kernels, scores, results), by
``workers`` threads (default: one per core), each driving one worker process at a time. Finished
submissions are remembered (``grader.grading.resume``), so an interrupted run picks up where it
stopped, and ``grades.csv`` is rewritten atomically after every submission. Any failure is that
student's status and the batch goes on.
"""

import os
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path

from grader import intake
from grader.cells import assignment_cells
from grader.course import source_fingerprint, source_notebook_names
from grader.grading.folders import prepare_grading_dir
from grader.grading.grading_data import check_grading_data, shared_cache
from grader.grading.options import Limits, Options
from grader.grading.resume import ResumeState, content_size, submission_key
from grader.grading.submission import grade_submission
from grader.grading.worker_process import (
    Interrupted,
    interrupt_all,
    interrupted,
    reset_interruption,
    thread_env,
    worker_env,
)
from grader.isolation import sandbox
from grader.isolation.forkserver_client import Zygotes
from grader.isolation.machine import whole_cpus
from grader.outputs.grades_csv import read_grades_csv, write_grades_csv
from grader.results import Status


def _expand_groups(result, sub):
    """One row per member of a group submission (Gradescope), the same grade for each."""
    rows = [result]
    for member in sub.members:
        note = f"graded with {sub.student_id}'s group submission"
        rows.append(replace(result, student_id=member, detail="; ".join(d for d in (result.detail, note) if d)))
    return rows



def _progress_bar(total, enabled):
    from tqdm import tqdm

    return tqdm(total=total, unit="submission", disable=not enabled, file=sys.stderr, dynamic_ncols=True,
                smoothing=0.1)



def _start_zygotes(options, submissions, workers, threads, limits, log):
    """The batch's fork servers (``grader.isolation.forkserver_client``), or none when preloading is
    off or nothing is to grade."""
    candidates = sum(sub.status != Status.DUPLICATE_ID for sub in submissions)
    if not (options.preload_kernels and candidates):
        return Zygotes()
    # The worker zygote only pays off for workers started after it is ready, not for the first ones.
    return Zygotes.start(thread_env(threads), worker_env(threads) if candidates > workers else None,
                         limits.memory_bytes, log)



def autograde(paths, out_dir, limits=None, log=print, options=None, **option_kwargs):
    """Grade every submission found in ``paths`` and write ``out_dir/grades.csv`` (and a report).

    Args:
        paths: zips and folders, as described in ``grader.intake``.
        out_dir: the grading folder (an nbgrader course folder, created if needed).
        limits: Limits for each submission (time, per cell time, memory).
        log: called with one line per finished submission (and one about the sandbox).
        options: Options for the batch; keyword arguments override its fields
            (e.g. ``workers=2, resume=False``).
    Returns:
        list of StudentResult, in the order the submissions were found (group members after
        their submission). ``grades.csv`` also keeps the rows of students graded in earlier
        runs into the same folder.
    """
    options, limits = replace(options or Options(), **option_kwargs), limits or Limits()
    out_dir = Path(out_dir).resolve()
    submissions = intake.discover(paths, options.id_pattern)
    # No more workers than submissions; they share the cores: each kernel's PyTorch/BLAS gets its
    # share, not one thread per core (oversubscribed threads slow every worker down).
    cores = whole_cpus()  # the container's CPU quota, not the host's core count
    workers = max(1, min(options.workers or cores, len(submissions)))
    threads = max(1, cores // workers)
    # The zygotes preload (seconds of imports) while the grading folder is prepared; stopped below
    # if resuming leaves nothing to grade.
    zygotes = _start_zygotes(options, submissions, workers, threads, limits, log)
    umask = None  # the grader's own, while it is 077 ("uid" mode)
    try:
        prepare_grading_dir(out_dir)
        # Before the workers start: CIFAR-10 decoded at most once, here; none: stop, or say so.
        check_grading_data(out_dir, options.without_data, log)
        (out_dir / "work").mkdir(exist_ok=True)
        box = sandbox.detect(out_dir, options.sandbox)
        log(f"isolation: {box.description}")
        if box.mode == "uid":  # no mount namespace: the kernels' uids must find nothing readable here
            sandbox.restrict_to_root(out_dir, except_for=shared_cache(out_dir))
            umask = os.umask(0o077)  # and nothing the grader writes later
        names, cells = source_notebook_names(), assignment_cells()
        table = out_dir / "grades.csv"
        this_run = {s.student_id for s in submissions} | {m for s in submissions for m in s.members}
        earlier = [row for row in read_grades_csv(table, cells) if row["student_id"] not in this_run]
        state = ResumeState(out_dir / "state")
        fingerprint = source_fingerprint()
        keys = [submission_key(sub, fingerprint, limits) if sub.status != Status.DUPLICATE_ID else None
                for sub in submissions]
        stored = [state.load(sub.student_id, key) if options.resume and key else None
                  for sub, key in zip(submissions, keys, strict=True)]
    except BaseException:
        zygotes.stop(log)
        if umask is not None:
            os.umask(umask)
        raise
    if all(key is None or result is not None for key, result in zip(keys, stored, strict=True)):
        zygotes.stop(log)  # everything is resumed: nothing will fork from them
        zygotes = Zygotes()
    results = {}
    max_points = sum(c.points for c in cells)

    def run_one(index, sub):
        key = keys[index]
        if stored[index] is not None:
            return index, sub, stored[index], True
        result = grade_submission(sub, out_dir, names, limits, box, threads, zygotes)
        if interrupted():
            raise Interrupted()
        if key and result.status == Status.INCOMPLETE:
            state.forget(sub.student_id)  # graded while the grader lacked something: never reused
        elif key:
            state.save(result, key)
        return index, sub, result, False

    counts = {}
    bar = _progress_bar(len(submissions), options.progress)
    reset_interruption()
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        # Largest first (bytes as the expected work: no checkpoints or a missing notebook make a
        # quicker submission), so the batch does not end with one core grading a long one alone.
        order = sorted(range(len(submissions)), key=lambda i: -content_size(submissions[i].origin))
        futures = [pool.submit(run_one, i, submissions[i]) for i in order]
        for future in as_completed(futures):
            index, sub, result, reused = future.result()
            results[index] = _expand_groups(result, sub)
            counts[result.status] = counts.get(result.status, 0) + 1
            line = (f"{result.student_id}: {result.status}, {result.total:g}/{max_points:g} points "
                    + ("(unchanged since the last run, not regraded)" if reused else f"({result.seconds:.1f} s)"))
            bar.write(line) if options.progress else log(line)
            bar.set_postfix_str(", ".join(f"{k} {v}" for k, v in sorted(counts.items())), refresh=False)
            bar.update(1)
            ordered = [r for i in sorted(results) for r in results[i]]
            write_grades_csv(ordered, cells, table, earlier)  # after each one, so nothing is lost
    except BaseException:  # Ctrl-C: stop the workers; finished results are already on disk
        interrupt_all()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)
        bar.close()
        zygotes.stop(log)
        if umask is not None:
            os.umask(umask)
    ordered = [r for i in sorted(results) for r in results[i]]
    write_grades_csv(ordered, cells, table, earlier)
    if options.report:
        from grader.outputs.class_report import write_class_report

        write_class_report(out_dir, table, cells, box.description)
    return ordered
