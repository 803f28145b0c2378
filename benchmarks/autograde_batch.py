"""Grade a batch of full submissions with ``python -m grader autograde`` and with plain sequential
``nbgrader autograde``, on the same machine in one run; print both times, the ratio and seconds
per submission.

Usage: python benchmarks/autograde_batch.py [--count 20] [--workers N] [--models DIR]
                                            [--only part0_filters.ipynb ...] [--keep DIR] [--rounds N]

The batch mixes reference submissions (every answer right), partial ones (one or two answers
wrong) and broken ones (a notebook missing, one not valid JSON), all carrying the results/,
figures/ and models/ a finished notebook saves (made once by running the source notebooks, Part 3
in the "smoke" setting unless HW3_SETTING says otherwise), so nothing is retrained. ``--models DIR``
puts trained checkpoints (base, batchnorm_dropout, own; e.g. from benchmarks/train_reference.py)
in every submission instead of the smoke ones: the grader then evaluates real models, as for a
real class. Plain nbgrader grades the same staged submissions in a course folder of its own (one
process, one student after another, as ``nbgrader autograde hw3`` does).
Set HW3_DATA_DIR (e.g. ../shared/data) where there is no internet.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import nbformat  # noqa: E402

from grader import intake  # noqa: E402
from grader.cells import fill_answers, reference_answers  # noqa: E402
from grader.course import (  # noqa: E402  # noqa: E402
    ASSIGNMENT_ID,
    RELEASE_DIR,
    SOURCE_DIR,
    copy_helpers,
    copy_source,
    generate_assignment,
    source_notebook_names,
)
from grader.grading import autograde  # noqa: E402

WRONG = {
    "box_kernel": "def box_kernel(n):\n    return np.ones((n, n))\n",
    "laplacian_kernel": "def laplacian_kernel():\n    return np.zeros((3, 3))\n",
}


def finished_work(folder, notebooks):
    """Run the source notebooks once (reference answers) for the results/ and figures/ they save."""
    from nbclient import NotebookClient

    folder.mkdir(parents=True)
    copy_helpers(folder)
    os.environ.setdefault("HW3_SETTING", "smoke")  # Part 3: one short epoch per model, not a real run
    for name in notebooks:
        shutil.copy(SOURCE_DIR / name, folder / name)
        nb = nbformat.read(folder / name, as_version=4)
        NotebookClient(nb, timeout=1200, allow_errors=True, resources={"metadata": {"path": str(folder)}}).execute()
    return folder


def make_batch(dest, count, notebooks, work, models=None):
    """``count`` submission folders: 60% reference, 25% partial, 15% broken; ``models``: a folder
    of trained checkpoints to submit instead of those in ``work``."""
    answers = {}
    for name in notebooks:
        answers.update(reference_answers(SOURCE_DIR / name))
    for i in range(count):
        kind = "reference" if i % 20 < 12 else "partial" if i % 20 < 17 else "broken"
        folder = dest / f"{kind}{i:03d}"
        folder.mkdir(parents=True)
        for extra in ("results", "figures", "models"):
            if (work / extra).exists():
                shutil.copytree(work / extra, folder / extra)
        if models is not None:
            shutil.copytree(models, folder / "models", dirs_exist_ok=True)
        mine = dict(answers)
        if kind == "partial":
            mine.update(dict(list(WRONG.items())[: 1 + i % 2]))
        for name in notebooks:
            nb = fill_answers(nbformat.read(RELEASE_DIR / name, as_version=4), mine)
            nbformat.write(nb, folder / name)
        if kind == "broken":
            victim = folder / notebooks[i % len(notebooks)]
            if i % 2:
                victim.unlink()
            else:
                victim.write_text(victim.read_text()[:400])


def plain_nbgrader(batch, course):
    """Stage the batch into a fresh course folder and time one ``nbgrader autograde hw3``;
    returns (wall seconds, CPU seconds)."""
    copy_source(course)
    generate_assignment(course)
    for sub in intake.discover([batch], id_pattern=""):
        intake.unpack(sub, course / "intake" / sub.student_id)
        intake.match_notebooks(sub, source_notebook_names())
        intake.drop_unreadable_notebooks(sub)
        if sub.notebooks:
            intake.stage(sub, course)
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    # Staging above is not timed (the tool's own intake is part of its time).
    (seconds, cpu), _ = timed(lambda: subprocess.run(
        [sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT_ID, "--force", f"--CourseDirectory.root={course}",
         "--Execute.timeout=600"], cwd=course, env=env, capture_output=True, text=True))
    return seconds, cpu


def run_ours(tmp, workers):
    """Grade the batch with this tool into ``tmp/ours``; returns its status counts."""
    results = autograde([tmp / "batch"], tmp / "ours", log=lambda _: None, workers=workers, resume=False,
                        id_pattern="")
    statuses = {}
    for r in results:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    return statuses


def timed(work):
    """((wall seconds, CPU seconds of this process and every child it waited for), work's result)."""
    before, start = os.times(), time.perf_counter()
    result = work()
    wall, after = time.perf_counter() - start, os.times()
    cpu = sum(getattr(after, f) - getattr(before, f) for f in ("user", "system", "children_user", "children_system"))
    return (wall, cpu), result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--models", type=Path, help="trained checkpoints for every submission's models/")
    parser.add_argument("--only", nargs="*", help="notebooks to include (default: every released notebook)")
    parser.add_argument("--keep", type=Path, help="keep the batch and outputs here")
    parser.add_argument("--rounds", type=int, default=1,
                        help="grade the batch this many times, alternating tool and plain nbgrader "
                             "(a shared machine's noise comes and goes: compare the rounds)")
    args = parser.parse_args()
    notebooks = args.only or [n for n in source_notebook_names() if (RELEASE_DIR / n).exists()]
    tmp = Path(args.keep or tempfile.mkdtemp(prefix="hw3-batch-"))
    t = time.perf_counter()
    if not (tmp / "batch").exists():  # --keep DIR from an earlier run: the same batch again
        work = finished_work(tmp / "finished", notebooks)
        make_batch(tmp / "batch", args.count, notebooks, work, args.models)
    args.count = len(list((tmp / "batch").iterdir()))
    print(f"batch of {args.count} submissions ({', '.join(notebooks)}) ready in {time.perf_counter() - t:.0f} s")
    totals = {"ours": [], "plain": []}
    for round_no in range(1, args.rounds + 1):
        for old in ("ours", "plain"):
            shutil.rmtree(tmp / old, ignore_errors=True)
        (ours, ours_cpu), statuses = timed(lambda: run_ours(tmp, args.workers))
        plain, plain_cpu = plain_nbgrader(tmp / "batch", tmp / "plain")
        totals["ours"].append(ours)
        totals["plain"].append(plain)
        print(f"round {round_no}: grader autograde ({args.workers or os.cpu_count()} workers) {ours:.1f} s "
              f"({ours / args.count:.1f} s per submission, {ours_cpu:.0f} CPU s; statuses {statuses}); "
              f"plain sequential nbgrader autograde {plain:.1f} s ({plain / args.count:.1f} s per submission, "
              f"{plain_cpu:.0f} CPU s); speed-up {plain / ours:.2f}x", flush=True)
    ratios = [p / o for p, o in zip(totals["plain"], totals["ours"], strict=True)]
    print(f"speed-up: {sum(totals['plain']) / sum(totals['ours']):.2f}x over {args.rounds} round(s) "
          f"(per round {', '.join(f'{r:.2f}' for r in ratios)}); "
          f"ours {sum(totals['ours']) / args.rounds / args.count:.1f} s per submission")
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
