"""``python -m grader gradescope run``: grade the one submission of a Gradescope container.

Layout under ROOT (``/autograder`` on Gradescope, any folder in tests):

    ROOT/source/      the unpacked bundle (this package, helpers/, source/hw3, ...): hidden tests
    ROOT/submission/  what the student uploaded: the notebooks, or one zip (hw3_submission.zip)
    ROOT/results/     where results.json goes
    ROOT/grading/     the grading folder (made here; ``prepare`` builds it at image build time)

The submission is graded by ``grader.grading.batch.autograde``, the same engine and settings as local
grading, with its sandbox (``grader.isolation.sandbox``): run as root, each kernel runs as a fresh
unprivileged uid, in namespaces with an allow-list root where the container allows them, else
("uid" mode, Docker's default profile) without them, ROOT/source, ROOT/submission, ROOT/results,
``submission_metadata.json`` and the grading folder made root-only first. When the sandbox is
weaker than ``min_isolation`` the student's code is not run, and results.json says why (the
instructor can lower it). results.json is always written, also when the upload is empty, broken
or grading fails, and only once every process of the submission is gone (``autograde`` kills and
waits for them), into ROOT/results (root's), never through a link.
"""

import json
import os
import shutil
import stat
import time
import traceback
from dataclasses import replace
from pathlib import Path

from grader.gradescope.results import build_results, validate
from grader.intake import IGNORED_PARTS
from grader.results import Status
from helpers.submission import SUBMISSION_NAME

ISOLATION_ORDER = ["none", "uid", "userns", "root"]
# The container's size, read from its cgroup (``grader.isolation.machine``). Grading needs
# MIN_MEMORY_BYTES: measured in a real container (``benchmarks/gradescope_container.py``), the
# reference submission is graded in full with 1 GB (at its peak 873 MB of the cgroup's memory is
# the processes' own: the kernel 411, the worker 388, this process 56) and is not with Gradescope's
# default 768 MB, where the OOM killer ends both the kernel and the worker. With less, no student
# code is run and the student is told it was not graded. The kernel fork server saves seconds per
# notebook but costs memory: only with PRELOAD_MEMORY_BYTES or more.
MIN_MEMORY_BYTES = 1 << 30
RECOMMENDED_MEMORY = "2 GB"  # room for students' own models, larger than the reference
PRELOAD_MEMORY_BYTES = 3 << 30
# Gradescope stops run_autograder at the assignment's timeout (10 minutes unless raised, at most 40)
# and then shows a 0 with no tests: grading stops TIMEOUT_MARGIN_S earlier, so results.json is written.
TIMEOUT_ENV = "GRADESCOPE_TIMEOUT_S"  # the assignment's timeout, set in run_autograder
DEFAULT_TIMEOUT_S = 600
TIMEOUT_MARGIN_S = 90
# What a kernel must not read in "uid" mode (no mount namespace): made root-only before grading.
ROOT_ONLY = ("source", "submission", "results", "submission_metadata.json", "grading")
PREFERRED_ZIP = SUBMISSION_NAME  # what the submission cell writes
_IGNORED = IGNORED_PARTS | {"helpers"}


def grading_dir(root):
    return Path(root) / "grading"


def prepare(root):
    """Build the grading folder (gradebook, release) and the kernels' copy of CIFAR-10 ahead of time,
    in setup.sh, so that grading a submission does neither."""
    from grader.grading.folders import prepare_grading_dir
    from grader.isolation.sandbox import share_data_cache

    prepare_grading_dir(grading_dir(root))
    share_data_cache(grading_dir(root))


def choose_upload(submission_dir, staging_dir):
    """What to hand to ``autograde`` for this upload, or None when it holds nothing gradable.

    Notebooks at the top (or one folder down) are copied into ``staging_dir/submission``
    without any ``helpers/`` (the course's helpers are always used); otherwise the zip
    (``hw3_submission.zip`` preferred, else the only one) is graded as uploaded.
    """
    submission_dir = Path(submission_dir)
    if not submission_dir.is_dir():
        return None
    files = [p for p in submission_dir.rglob("*") if p.is_file() and not _IGNORED & set(p.parts)]
    notebooks = [p for p in files if p.suffix == ".ipynb" and len(p.relative_to(submission_dir).parts) <= 2]
    if notebooks:
        dest = Path(staging_dir) / "submission"
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(submission_dir, dest, symlinks=False, ignore=shutil.ignore_patterns(*_IGNORED))
        return dest
    zips = sorted(p for p in files if p.suffix.lower() == ".zip")
    preferred = [p for p in zips if p.name == PREFERRED_ZIP]
    if preferred or len(zips) == 1:
        return (preferred or zips)[0]
    return None


def submission_limits(environ=None):
    """Limits for grading inside Gradescope's container: the submission's time from the
    assignment's timeout (``GRADESCOPE_TIMEOUT_S``, default 600 s) minus ``TIMEOUT_MARGIN_S``."""
    from grader.grading import Limits

    text = (environ if environ is not None else os.environ).get(TIMEOUT_ENV, "")
    timeout = float(text) if text.replace(".", "", 1).isdigit() and float(text) > 0 else DEFAULT_TIMEOUT_S
    return Limits(submission_s=max(60.0, timeout - TIMEOUT_MARGIN_S))


def too_little_memory(available):
    """Why this container cannot grade (a sentence for the instructor), or '' when it can."""
    if available is None or available >= MIN_MEMORY_BYTES:
        return ""
    return (f"the container has {available >> 20} MB of memory; grading needs at least {MIN_MEMORY_BYTES >> 20} MB: "
            f"set the assignment's memory in Gradescope's Autograder Settings to {RECOMMENDED_MEMORY}")


def _out_of_memory(result, kills_before, log):
    """``result``, or, when the grader itself failed after the container's OOM killer struck (it
    ends the kernel first, and the worker when that was not enough), the grader's failure said as
    such: not graded, never the student's error."""
    from grader.isolation.machine import oom_kills

    kills = oom_kills()
    if result.status != Status.GRADING_ERROR or kills is None or kills <= (kills_before or 0):
        return result
    log(f"the container ran out of memory while grading ({kills - (kills_before or 0)} process(es) killed): "
        f"set the assignment's memory in Gradescope's Autograder Settings to {RECOMMENDED_MEMORY}")
    return replace(result, detail="the autograder ran out of memory while grading, so this submission was not "
                                  "graded; this is not your error, and your instructor has been told")


def _isolation_ok(mode, min_isolation):
    return ISOLATION_ORDER.index(mode) >= ISOLATION_ORDER.index(min_isolation)


def _hide_from_kernels(root):
    """Make ROOT's grader-side folders and files root-only (before any kernel exists)."""
    for name in ROOT_ONLY:
        path = Path(root) / name
        if path.exists() and not path.is_symlink():
            os.chmod(path, path.stat().st_mode & 0o7700)


def _write_results(results_dir, results):
    """results.json, atomically, in a folder that must be root's (when run as root), never through a link."""
    info = os.lstat(results_dir)
    if os.geteuid() == 0 and (not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022):
        raise OSError(f"{results_dir} must be a folder only root can write")
    tmp = os.path.join(results_dir, f".results.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(results, indent=1))
    os.replace(tmp, os.path.join(results_dir, "results.json"))


def grade(root, min_isolation="uid", sandbox_mode="auto", limits=None, log=print, memory=None):
    """Grade ROOT/submission into ROOT/results/results.json; returns the results dict.

    Args:
        root: the Gradescope root (see the module docstring).
        min_isolation: weakest sandbox mode allowed to run student code ("root", "userns", "uid",
            "none"); "root" and "uid" only apply when running as root (elsewhere "userns" is the strongest).
        sandbox_mode: passed to ``autograde`` ("auto": the strongest that works).
        limits: grader.grading.batch.Limits (None: ``submission_limits()``).
        log: progress lines (go to run_autograder's stdout, which only the instructor sees).
        memory: the container's memory in bytes (None: read from its cgroup).
    """
    from grader.cells import assignment_cells
    from grader.course import ASSIGNMENT_ID
    from grader.grading import GraderLacksData, autograde
    from grader.isolation import sandbox
    from grader.isolation.machine import memory_bytes, oom_kills
    from grader.results import StudentResult

    start = time.monotonic()
    root = Path(root).resolve()
    out = grading_dir(root)
    results_dir = root / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        _hide_from_kernels(root)
    cells = assignment_cells()
    result, autograded, isolation = None, None, ""
    try:
        out.mkdir(parents=True, exist_ok=True)
        for stale in ("autograded", "submitted", "feedback", "incoming"):  # only this submission's files count
            shutil.rmtree(out / stale, ignore_errors=True)
        upload = choose_upload(root / "submission", out / "incoming")
        memory = memory if memory is not None else memory_bytes()
        small = too_little_memory(memory)
        if upload is not None and small:
            log(f"refusing to grade: {small}")
            result = StudentResult("submission", Status.GRADING_ERROR,
                                   "the autograder has too little memory to grade this assignment, so nothing of "
                                   "yours was run; your instructor has been told")
        elif upload is not None:
            (out / "work").mkdir(exist_ok=True)
            box = sandbox.detect(out, sandbox_mode)
            isolation = box.description
            if os.geteuid() != 0 and min_isolation in ("root", "uid"):
                min_isolation = "userns"
            if not _isolation_ok(box.mode, min_isolation):
                log(f"refusing to run student code: isolation {box.description}; "
                    f"required at least {min_isolation!r} (see --min-isolation)")
                result = StudentResult("submission", Status.GRADING_ERROR,
                                       "the grading environment could not isolate your code; "
                                       "your instructor has been told (nothing of yours was run)")
            else:
                kills = oom_kills()
                results = autograde([upload], out, limits or submission_limits(), log=log, id_pattern="", workers=1,
                                    resume=False, sandbox=sandbox_mode, report=False, progress=False,
                                    preload_kernels=memory is None or memory >= PRELOAD_MEMORY_BYTES)
                result = _out_of_memory(results[0], kills, log) if results else None
                if result is not None:
                    autograded = out / "autograded" / result.student_id / ASSIGNMENT_ID
    except GraderLacksData as exc:  # the image was built without CIFAR-10: the instructor must fix it
        log(f"error: {exc}")
        result = StudentResult("submission", Status.GRADING_ERROR, "the autograder lacks the CIFAR-10 data set, so "
                               "nothing was graded; your instructor has been told (this is not your error)")
    except Exception as exc:  # results.json must be written whatever happened
        log(traceback.format_exc())
        result = StudentResult("submission", Status.GRADING_ERROR, f"the grader failed ({type(exc).__name__}); "
                                                              "your instructor has been told")
    results = build_results(result, cells, autograded, time.monotonic() - start, isolation)
    validate(results)
    _write_results(results_dir, results)
    log(f"wrote {results_dir / 'results.json'}: {sum(t['score'] for t in results['tests']):g}/"
        f"{sum(t['max_score'] for t in results['tests']):g} points, status {results['extra_data']['status']}")
    return results
