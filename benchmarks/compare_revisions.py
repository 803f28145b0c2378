"""Grade one batch with an earlier revision of the grader and with the working tree, alternating, in
one run; print both times, the ratio, and whether every student's scores and status are identical.

Usage: python benchmarks/compare_revisions.py BASELINE_REV [--count 10] [--rounds 1] [--workers N]
                                              [--keep DIR]

The batch is the one ``benchmarks/autograde_batch.py`` grades (reference, partial and broken
submissions carrying results/, figures/ and smoke-trained models/). Each side runs
``python -m grader autograde BATCH --out OUT --no-resume`` in a subprocess from its own tree (the
baseline from a temporary ``git worktree``). The release must be the same in both revisions (the
batch is built from the working tree's). Set HW3_DATA_DIR where there is no internet.
"""

import argparse
import csv
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from autograde_batch import finished_work, make_batch  # noqa: E402
from revisions import baseline_worktree  # noqa: E402

from grader.course import RELEASE_DIR, source_notebook_names  # noqa: E402

SCORE_SKIP = ("detail", "seconds")


def grade(tree, batch, out, workers):
    """Wall seconds of one ``grader autograde`` run of ``tree`` over ``batch`` into ``out``."""
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "grader", "autograde", str(batch), "--out", str(out), "--no-resume",
               "--id-pattern", "", "--no-progress"] + (["--workers", str(workers)] if workers else [])
    start = time.perf_counter()
    done = subprocess.run(command, cwd=tree, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):  # 1: some submissions had problems (the broken ones)
        raise SystemExit(f"{tree}: autograde failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds


def scores(out):
    """student -> {column: value} of grades.csv, without the columns that legitimately differ."""
    with open(out / "grades.csv", newline="") as f:
        return {row["student_id"]: {k: v for k, v in row.items() if k not in SCORE_SKIP} for row in csv.DictReader(f)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("baseline", help="git revision to compare with (e.g. HEAD~3)")
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--keep", type=Path, help="keep the batch and outputs here")
    args = parser.parse_args()
    tmp = Path(args.keep or tempfile.mkdtemp(prefix="hw3-revisions-"))
    notebooks = [n for n in source_notebook_names() if (RELEASE_DIR / n).exists()]
    if not (tmp / "batch").exists():
        make_batch(tmp / "batch", args.count, notebooks, finished_work(tmp / "finished", notebooks), None)
    count = len(list((tmp / "batch").iterdir()))
    times = {"baseline": [], "current": []}
    with baseline_worktree(args.baseline, tmp, keep=bool(args.keep)) as baseline_tree:
        for round_no in range(1, args.rounds + 1):
            for side, tree in (("baseline", baseline_tree), ("current", REPO)):
                times[side].append(grade(tree, tmp / "batch", tmp / side, args.workers))
            b, c = times["baseline"][-1], times["current"][-1]
            print(f"round {round_no}: baseline {b:.1f} s ({b / count:.1f} s per submission), current {c:.1f} s "
                  f"({c / count:.1f} s per submission): current / baseline {c / b:.3f}", flush=True)
        same = scores(tmp / "baseline") == scores(tmp / "current")
        b, c = sum(times["baseline"]), sum(times["current"])
        print(f"{count} submissions, {args.rounds} round(s): current / baseline {c / b:.3f} "
              f"({b / args.rounds / count:.1f} -> {c / args.rounds / count:.1f} s per submission); "
              f"scores and statuses identical: {same}")
        if not same:
            old, new = scores(tmp / "baseline"), scores(tmp / "current")
            for sid in sorted(set(old) | set(new)):
                if old.get(sid) != new.get(sid):
                    diff = {k: (old.get(sid, {}).get(k), v) for k, v in new.get(sid, {}).items()
                            if old.get(sid, {}).get(k) != v}
                    print(f"  {sid}: {diff}")


if __name__ == "__main__":
    main()
