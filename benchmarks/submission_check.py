"""The student's pre-submit check (``python -m helpers.submission check ZIP``, what the submission
cell runs after writing the zip), timed for this tree and an earlier revision, alternating.

Usage:
    python benchmarks/submission_check.py BASELINE_REV [--rounds 2] [--keep DIR]

A finished homework is made once: the release notebooks with the reference answers, run top to
bottom in the ``smoke`` setting (Part 3 trains one short epoch per model), zipped as the
submission cell zips it. Each side then checks that same zip with its own ``helpers/``. Set
HW3_DATA_DIR (e.g. ../shared/data) where there is no internet.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from revisions import baseline_worktree  # noqa: E402

from grader.authoring.demo import make_student  # noqa: E402
from grader.cells import reference_answers  # noqa: E402
from grader.course import RELEASE_DIR, SOURCE_DIR, source_notebook_names  # noqa: E402


def finished_homework(folder):
    """The release with reference answers, each notebook run and saved in ``folder``; returns it."""
    import nbformat
    from nbclient import NotebookClient

    answers = {}
    for name in source_notebook_names():
        answers.update(reference_answers(SOURCE_DIR / name))
    make_student(RELEASE_DIR, folder, answers)
    env_setting = os.environ.setdefault("HW3_SETTING", "smoke")
    for name in source_notebook_names():
        nb = nbformat.read(folder / name, as_version=4)
        NotebookClient(nb, timeout=1200, allow_errors=True, resources={"metadata": {"path": str(folder)}}).execute()
        nbformat.write(nb, folder / name)
        print(f"ran {name} ({env_setting} setting)", flush=True)
    return folder


def check_seconds(tree, zip_path):
    """Wall seconds of one check of ``zip_path`` with ``tree``'s helpers, and its exit status."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "helpers.submission", "check", str(zip_path),
                           "--helpers", str(tree / "helpers")], cwd=tree, env=env, capture_output=True, text=True)
    return time.perf_counter() - start, done.returncode, done.stdout


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("baseline", help="git revision to compare with")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--keep", type=Path, default=None, help="keep the finished homework and worktree here")
    args = parser.parse_args(argv)
    tmp = Path(args.keep or tempfile.mkdtemp(prefix="hw3-check-bench-"))
    from helpers.submission import write_zip

    zip_path = tmp / "hw3_submission.zip"
    if not zip_path.exists():
        write_zip(finished_homework(tmp / "homework"), zip_path)
    times = {"baseline": [], "current": []}
    with baseline_worktree(args.baseline, tmp, keep=bool(args.keep)) as baseline:
        for round_no in range(1, args.rounds + 1):
            for side, tree in (("baseline", baseline), ("current", REPO)):
                seconds, status, out = check_seconds(tree, zip_path)
                times[side].append(seconds)
                print(f"round {round_no} {side}: {seconds:.1f} s, exit {status}; "
                      f"{out.strip().splitlines()[-1] if out.strip() else ''}", flush=True)
        b, c = sum(times["baseline"]) / args.rounds, sum(times["current"]) / args.rounds
        print(f"check of one finished homework: baseline {b:.1f} s, current {c:.1f} s (current / baseline {c / b:.3f})")


if __name__ == "__main__":
    main()
