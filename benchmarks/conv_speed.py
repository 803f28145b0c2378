"""Time ``helpers.fast_layers`` against PyTorch on CPU and against a naive loop convolution.

Usage: python benchmarks/conv_speed.py [--reps 7]

Three comparisons, each side by side in one run with the repetitions alternating, medians
reported (and minima, since a shared machine is noisy); forward + backward in every case:

a. ``conv_forward_fast``/``conv_backward_fast`` vs ``torch.nn.functional.conv2d`` with autograd,
   N=64, C=32, 32x32, F=64, 3x3, stride 1, pad 1, float32, torch's default thread count.
b. a naive loop convolution, written as students write it (loops over N, F and output pixels),
   vs the fast one, on N=4, C=3, 16x16, F=8, 3x3, pad 1, float64.
c. ``max_pool_forward_fast``/``max_pool_backward_fast`` vs ``torch.nn.functional.max_pool2d``,
   (64, 64, 32, 32) float32, 2x2 stride 2.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "tests" / "support"))  # the tests' loop reference is the naive side

from loop_layers import conv_backward_loops, conv_forward_loops  # noqa: E402

from helpers.fast_layers import (  # noqa: E402
    conv_backward_fast,
    conv_forward_fast,
    max_pool_backward_fast,
    max_pool_forward_fast,
)


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def side_by_side(label, fns, reps):
    """Run each callable once to warm up, then ``reps`` alternating rounds; print the medians."""
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            times[name].append(timed(fn))
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    parts = ", ".join(f"{name} {medians[name] * 1e3:.1f} ms (min {min(ts) * 1e3:.1f})" for name, ts in times.items())
    print(f"{label}: median over {reps} reps: {parts}")
    return medians


def bench_conv_vs_torch(reps, rng):
    x = rng.standard_normal((64, 32, 32, 32), dtype=np.float32)
    w = rng.standard_normal((64, 32, 3, 3), dtype=np.float32) * 0.1
    b = rng.standard_normal(64, dtype=np.float32)
    dout = rng.standard_normal((64, 64, 32, 32), dtype=np.float32)
    param = {"stride": 1, "pad": 1}

    def ours():
        out, cache = conv_forward_fast(x, w, b, param)
        conv_backward_fast(dout, cache)

    xt, wt, bt = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
    dout_t = torch.from_numpy(dout)

    def theirs():
        xt.grad = wt.grad = bt.grad = None  # fresh gradients, as ours are (no accumulation)
        torch.nn.functional.conv2d(xt, wt, bt, stride=1, padding=1).backward(dout_t)

    m = side_by_side("(a) conv fwd+bwd N=64 C=32 32x32 F=64 3x3 float32", {"fast_layers": ours, "torch": theirs}, reps)
    print(f"(a) fast_layers / torch = {m['fast_layers'] / m['torch']:.2f}x (goal: <= 3x)")


def bench_naive_vs_fast(reps, rng):
    x = rng.standard_normal((4, 3, 16, 16))
    w = rng.standard_normal((8, 3, 3, 3))
    b = rng.standard_normal(8)
    dout = rng.standard_normal((4, 8, 16, 16))
    param = {"stride": 1, "pad": 1}

    def naive():
        conv_forward_loops(x, w, b, param["stride"], param["pad"])
        return conv_backward_loops(dout, x, w, param["stride"], param["pad"])

    def fast():
        out, cache = conv_forward_fast(x, w, b, param)
        return conv_backward_fast(dout, cache)

    worst = max(float(np.max(np.abs(a - c))) for a, c in zip(naive(), fast(), strict=True))
    m = side_by_side("(b) conv fwd+bwd N=4 C=3 16x16 F=8 3x3 float64", {"naive": naive, "fast": fast}, reps)
    print(f"(b) speed-up fast over naive = {m['naive'] / m['fast']:.0f}x (max abs difference {worst:.1e})")


def bench_pool_vs_torch(reps, rng):
    x = rng.standard_normal((64, 64, 32, 32), dtype=np.float32)
    dout = rng.standard_normal((64, 64, 16, 16), dtype=np.float32)
    param = {"pool_height": 2, "pool_width": 2, "stride": 2}

    def ours():
        out, cache = max_pool_forward_fast(x, param)
        max_pool_backward_fast(dout, cache)

    xt = torch.from_numpy(x).requires_grad_()
    dout_t = torch.from_numpy(dout)

    def theirs():
        xt.grad = None
        torch.nn.functional.max_pool2d(xt, 2, 2).backward(dout_t)

    m = side_by_side(
        "(c) max pool fwd+bwd (64, 64, 32, 32) 2x2/2 float32", {"fast_layers": ours, "torch": theirs}, reps
    )
    print(f"(c) fast_layers / torch = {m['fast_layers'] / m['torch']:.2f}x")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    print(f"numpy {np.__version__}, torch {torch.__version__}, torch.get_num_threads() = {torch.get_num_threads()}")
    rng = np.random.default_rng(0)
    bench_conv_vs_torch(args.reps, rng)
    bench_naive_vs_fast(max(3, args.reps // 2), rng)
    bench_pool_vs_torch(args.reps, rng)


if __name__ == "__main__":
    main()
