"""Time autograding one reference submission: our grader vs plain ``nbgrader autograde``.

Usage: python benchmarks/autograde_one.py [--reps 3]

Both run on the same staged submission in the same course folder, alternating A/B so that
load on a shared machine hits both alike. Prints each run, the medians and their ratio.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader.authoring.demo import make_student  # noqa: E402
from grader.authoring.release import build_release  # noqa: E402
from grader.cells import reference_answers  # noqa: E402
from grader.course import ASSIGNMENT_ID, SOURCE_DIR, source_notebook_names  # noqa: E402
from grader.grading import autograde  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    answers = {}
    for name in source_notebook_names():
        answers.update(reference_answers(SOURCE_DIR / name))
    with tempfile.TemporaryDirectory(prefix="hw3-bench-") as tmp:
        tmp = Path(tmp)
        student = make_student(build_release(tmp / "course"), tmp / "subs" / "ref", answers)
        out = tmp / "out"
        autograde([student], out, log=lambda _: None)  # warm-up; also stages the submission
        # Plain nbgrader, as an instructor would run it; the bin folder holds the alembic it calls.
        env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
        plain = [sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT_ID, "--student", "ref",
                 "--force", f"--CourseDirectory.root={out}"]
        ours, theirs = [], []
        for rep in range(args.reps):
            t = time.perf_counter()
            result = autograde([student], out, log=lambda _: None)[0]
            ours.append(time.perf_counter() - t)
            assert result.total == 5, result
            shutil.rmtree(out / "autograded" / "ref", ignore_errors=True)
            t = time.perf_counter()
            subprocess.run(plain, cwd=tmp, env=env, check=True, capture_output=True)
            theirs.append(time.perf_counter() - t)
            print(f"rep {rep + 1}: grader autograde {ours[-1]:.2f} s, plain nbgrader autograde {theirs[-1]:.2f} s")
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"median: grader {a:.2f} s, plain nbgrader {b:.2f} s, ratio grader/plain {a / b:.2f}")


if __name__ == "__main__":
    main()
