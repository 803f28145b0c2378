"""Grade the demo's reference submission with the Gradescope bundle in real Docker containers of
several sizes; print, for each, the wall time, the score, and the peaks of the container's memory
cgroup (all of its memory, and its processes' own, with each process's share at that moment).

Usage (as root, with Debian's docker.io and debootstrap):
    python benchmarks/gradescope_container.py [--sizes 768m:0.5 1g:0.5 2g:1] [--rounds 1]

The image is built as Gradescope builds it (tests/support/real_docker.py: setup.sh on a Debian
bookworm minbase root), once per run; its build time is printed too.
"""

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "support")]

import real_docker  # noqa: E402

from grader.authoring.demo import make_demo_submissions, zip_folder  # noqa: E402
from grader.course import RELEASE_DIR  # noqa: E402
from grader.gradescope.bundle import build_bundle  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["768m:0.5", "1g:0.5", "2g:1"], help="MEMORY:CPUS each")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    why = real_docker.missing()
    if why:
        sys.exit(f"cannot run real containers here: {why}")
    with tempfile.TemporaryDirectory(prefix="gs-bench-") as tmp:
        tmp = Path(tmp)
        bundle, _ = build_bundle(tmp / "hw3_gradescope.zip")
        student = make_demo_submissions(RELEASE_DIR, tmp / "students") / "reference"
        shutil.rmtree(student / "helpers")
        upload = zip_folder(student, tmp / "hw3_submission.zip")
        data = ROOT.parent / "shared" / "data"
        with real_docker.Dockerd() as dockerd:
            image, seconds, _ = real_docker.gradescope_image(dockerd, bundle, data if data.is_dir() else None)
            print(f"image built (setup.sh) in {seconds:.0f} s")
            for size in args.sizes:
                memory, cpus = size.split(":")
                for _ in range(args.rounds):
                    run = real_docker.run_submission(dockerd, image, {"hw3_submission.zip": upload}, memory, cpus)
                    got = real_docker.points(run["results"]) if run["results"] else None
                    score = f"{got[0]:g}/{got[1]:g}" if got else "no results.json"
                    status = (run["results"] or {}).get("extra_data", {}).get("status")
                    peak = run["memory"]
                    print(f"--memory {memory} --cpus {cpus}: {run['seconds']:.0f} s, {score}, status {status}, "
                          f"OOM-killed {run['oom_killed']}; cgroup peak {peak['usage_mb']} MB, processes' own "
                          f"memory peak {peak['anon_mb']} MB:")
                    for own, cmd in peak["processes"][:5]:
                        print(f"    {own:5d} MB  {cmd[:90]}")


if __name__ == "__main__":
    main()
