"""Seconds to autograde one submission of the PyTorch notebook (trained models submitted, nothing retrained).

Usage: python benchmarks/autograde_part3.py --models DIR [--reps 3]

DIR holds ``base``, ``batchnorm_dropout`` and ``own`` checkpoints and records (e.g. written by
``benchmarks/train_reference.py --out DIR``). The submission is the release notebook with the
reference answers and those models; it is graded alone (the other notebooks are left out, so the
status reads "missing notebook"; only Part 3's time is measured), in a fresh grading folder each
time, with the real ``python -m grader autograde`` engine. Prints each run's seconds, the median,
and Part 3's scores. Set HW3_DATA_DIR (e.g. ../shared/data) where there is no internet.
"""

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader.authoring.demo import make_student  # noqa: E402
from grader.cells import reference_answers  # noqa: E402
from grader.course import RELEASE_DIR, SOURCE_DIR, source_notebook_names  # noqa: E402
from grader.grading import autograde  # noqa: E402

NOTEBOOK = "part3_pytorch_cnn.ipynb"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, required=True)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hw3-bench-part3-") as tmp:
        tmp = Path(tmp)
        student = make_student(RELEASE_DIR, tmp / "class" / "student", reference_answers(SOURCE_DIR / NOTEBOOK))
        for name in source_notebook_names():
            if name != NOTEBOOK:
                (student / name).unlink()
        shutil.rmtree(student / "helpers")
        shutil.copytree(args.models, student / "models")
        seconds = []
        for rep in range(args.reps):
            result = autograde([tmp / "class"], tmp / f"out{rep}", log=lambda _: None)[0]
            seconds.append(result.seconds)
            part3 = {k.split("/")[1]: v for k, v in result.scores.items() if k.startswith("part3")}
            print(f"run {rep + 1}: {result.seconds:.1f} s  {part3}", flush=True)
        print(f"median: {statistics.median(seconds):.1f} s per submission of {NOTEBOOK}")


if __name__ == "__main__":
    main()
