"""``python -m grader gradescope run``: grade the one submission of a Gradescope container.

Layout under ROOT (``/autograder`` on Gradescope, any folder in tests):

    ROOT/source/      the unpacked bundle (this package, helpers/, source/hw3, ...): hidden tests
    ROOT/submission/  what the student uploaded: the notebooks, or one zip (hw3_submission.zip)
    ROOT/results/     where results.json goes
    ROOT/grading/     the grading folder (made here; ``prepare`` builds it at image build time)

The submission is graded by ``grader.autograde.autograde``, the same engine and settings as local
grading, with its sandbox: run as root, each kernel runs as an unprivileged uid in namespaces
that hide ROOT/source and the grading folder. When the sandbox is weaker than ``min_isolation``
the student's code is not run, and results.json says why (the instructor can lower it).
results.json is always written, also when the upload is empty, broken or grading fails.
"""

import json
import os
import shutil
import time
import traceback
from pathlib import Path

from grader.gradescope_results import build_results, validate

ISOLATION_ORDER = ["none", "userns", "root"]
PREFERRED_ZIP = "hw3_submission.zip"
_IGNORED = {"__MACOSX", ".ipynb_checkpoints", "__pycache__", ".DS_Store", "helpers"}


def grading_dir(root):
    return Path(root) / "grading"


def prepare(root):
    """Build the grading folder (gradebook, release) ahead of time, e.g. in setup.sh."""
    from grader.autograde import prepare_grading_dir

    prepare_grading_dir(grading_dir(root))


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


def _isolation_ok(mode, min_isolation):
    return ISOLATION_ORDER.index(mode) >= ISOLATION_ORDER.index(min_isolation)


def grade(root, min_isolation="root", sandbox_mode="auto", limits=None, log=print):
    """Grade ROOT/submission into ROOT/results/results.json; returns the results dict.

    Args:
        root: the Gradescope root (see the module docstring).
        min_isolation: weakest sandbox mode allowed to run student code ("root", "userns", "none");
            "root" only applies when running as root (elsewhere "userns" is the strongest).
        sandbox_mode: passed to ``autograde`` ("auto": the strongest that works).
        limits: grader.autograde.Limits (None: the engine's defaults).
        log: progress lines (go to run_autograder's stdout, which only the instructor sees).
    """
    from grader import sandbox
    from grader.autograde import Limits, assignment_cells, autograde
    from grader.paths import ASSIGNMENT_ID

    start = time.monotonic()
    root = Path(root).resolve()
    out = grading_dir(root)
    results_dir = root / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    cells = assignment_cells()
    result, autograded, isolation = None, None, ""
    try:
        out.mkdir(parents=True, exist_ok=True)
        for stale in ("autograded", "submitted", "feedback", "incoming"):  # only this submission's files count
            shutil.rmtree(out / stale, ignore_errors=True)
        upload = choose_upload(root / "submission", out / "incoming")
        if upload is not None:
            (out / "work").mkdir(exist_ok=True)
            box = sandbox.detect(out / "work", sandbox_mode)
            isolation = box.description
            if os.geteuid() != 0 and min_isolation == "root":
                min_isolation = "userns"
            if not _isolation_ok(box.mode, min_isolation):
                from grader.report import StudentResult

                log(f"refusing to run student code: isolation {box.description}; "
                    f"required at least {min_isolation!r} (see --min-isolation)")
                result = StudentResult("submission", "grading error",
                                       "the grading environment could not isolate your code; "
                                       "your instructor has been told (nothing of yours was run)")
            else:
                results = autograde([upload], out, limits or Limits(), log=log, id_pattern="", workers=1,
                                    resume=False, sandbox=sandbox_mode, report=False, progress=False)
                result = results[0] if results else None
                if result is not None:
                    autograded = out / "autograded" / result.student_id / ASSIGNMENT_ID
    except Exception as exc:  # results.json must be written whatever happened
        from grader.report import StudentResult

        log(traceback.format_exc())
        result = StudentResult("submission", "grading error", f"the grader failed ({type(exc).__name__}); "
                                                              "your instructor has been told")
    results = build_results(result, cells, autograded, time.monotonic() - start, isolation)
    validate(results)
    target = results_dir / "results.json"
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1), encoding="utf-8")
    tmp.replace(target)
    log(f"wrote {target}: {sum(t['score'] for t in results['tests']):g}/"
        f"{sum(t['max_score'] for t in results['tests']):g} points, status {results['extra_data']['status']}")
    return results
