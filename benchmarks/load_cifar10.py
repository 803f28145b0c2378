"""Time ``helpers.data.load_cifar10``: first load from the JPEG archive vs a load from the cache.

Usage: python benchmarks/load_cifar10.py [--reps 3] [--archive ../shared/data/cifar10-jpeg.tar.xz]

Each rep uses a fresh temporary cache folder: the first load decodes the 60,000 JPEGs and writes
``cifar10.npz``, the second reads that file back. Prints each rep, the medians and their ratio.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from helpers.data import JPEG_ARCHIVE_NAME, load_cifar10  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--archive", type=Path, default=REPO_ROOT.parent / "shared" / "data" / JPEG_ARCHIVE_NAME)
    args = parser.parse_args()
    if not args.archive.is_file():
        sys.exit(f"{args.archive} not found (pass --archive)")
    first, cached = [], []
    for rep in range(args.reps):
        with tempfile.TemporaryDirectory(prefix="hw3-bench-cache-") as cache_dir:
            t = time.perf_counter()
            data = load_cifar10(args.archive, cache_dir=cache_dir, progress=False)
            first.append(time.perf_counter() - t)
            t = time.perf_counter()
            again = load_cifar10(args.archive, cache_dir=cache_dir, progress=False)
            cached.append(time.perf_counter() - t)
        assert again.x_train.shape == data.x_train.shape == (50000, 32, 32, 3), data.x_train.shape
        print(f"rep {rep + 1}: first load {first[-1]:.2f} s, cached load {cached[-1]:.3f} s")
    a, b = statistics.median(first), statistics.median(cached)
    print(f"median: first load {a:.2f} s, cached load {b:.3f} s, ratio first/cached {a / b:.0f}x")


if __name__ == "__main__":
    main()
