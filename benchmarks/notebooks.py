"""Time each source notebook top to bottom (per cell), then autograding one finished submission.

Usage: python benchmarks/notebooks.py [--reps 2]

Reports, per notebook: total time, the slowest test/check cells, the experiment cells; then the
seconds ``grade_submission`` takes for a submission that carries its results (no retraining).
Set HW3_DATA_DIR (e.g. ../shared/data) where there is no internet.
"""

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader import intake  # noqa: E402
from grader.cells import nbgrader_meta  # noqa: E402
from grader.course import (  # noqa: E402
    SOURCE_DIR,
    copy_helpers,  # noqa: E402
    source_notebook_names,
)
from grader.grading.folders import prepare_grading_dir  # noqa: E402
from grader.grading.submission import grade_submission  # noqa: E402


def run_timed(path, folder):
    """Execute a notebook cell by cell; returns [(cell id, grade_id, seconds)] and the total."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=900, allow_errors=True, resources={"metadata": {"path": str(folder)}})
    times, start = [], time.perf_counter()
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            t = time.perf_counter()
            client.execute_cell(cell, index)
            if cell.cell_type == "code":
                times.append((cell.get("id"), nbgrader_meta(cell).get("grade_id", ""), time.perf_counter() - t))
    return times, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hw3-bench-") as tmp:
        work = Path(tmp) / "student"
        work.mkdir()
        copy_helpers(work)
        for name in source_notebook_names():
            shutil.copy(SOURCE_DIR / name, work / name)
            times, total = run_timed(work / name, work)
            checks = sorted((t for t in times if "test" in t[1] or "check" in t[1]), key=lambda t: -t[2])
            experiments = [t for t in times if t[1].startswith("experiment_")]
            print(f"{name}: {total:.1f} s top to bottom")
            print("  slowest test/check cells: " + ", ".join(f"{g} {s:.2f} s" for _, g, s in checks[:3]))
            if experiments:
                print("  experiments: " + ", ".join(f"{g} {s:.1f} s" for _, g, s in experiments))
        shutil.rmtree(work / "helpers")
        out = Path(tmp) / "graded"
        prepare_grading_dir(out)
        seconds = []
        for _ in range(args.reps):
            sub = intake.Submission("finished", work)
            result = grade_submission(sub, out, source_notebook_names())
            seconds.append(result.seconds)
            print(f"autograde one finished submission: {result.seconds:.1f} s ({result.status}, "
                  f"{result.total:g} points)")
        print(f"median autograde time: {statistics.median(seconds):.1f} s")


if __name__ == "__main__":
    main()
