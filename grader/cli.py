"""The instructor's tool for the hw3 course pack.

  release    build release/hw3 (the student version) from source/hw3
  autograde  grade submitted zips or folders into grades.csv
  demo       build the release, grade three example students, print the table
"""

import argparse
import sys
from pathlib import Path

from grader.paths import DEFAULT_GRADING_DIR, RELEASE_DIR


def cmd_release(args):
    from grader.release import stale_release_files, write_release

    if args.check:
        stale = stale_release_files(args.dest)
        if stale:
            print(f"{args.dest} is stale; run `python -m grader release`:\n  " + "\n  ".join(stale))
            return 1
        print(f"{args.dest} matches the source")
        return 0
    changes = write_release(args.dest)
    print(f"{args.dest}: " + (f"{len(changes)} files updated" if changes else "already up to date"))
    for change in changes:
        print("  " + change)
    return 0


def cmd_autograde(args):
    from grader.autograde import Limits, assignment_cells, autograde
    from grader.report import format_table

    limits = Limits(submission_s=args.timeout, cell_s=args.cell_timeout, memory_bytes=int(args.memory_gb * (1 << 30)))
    try:
        results = autograde(args.paths, args.out, limits)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print()
    print(format_table(results, assignment_cells()))
    print(f"\nwrote {Path(args.out) / 'grades.csv'}")
    return 0


def cmd_demo(args):
    from grader.demo import run_demo

    _, table = run_demo(args.out)
    print()
    print(table)
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m grader", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("release", help="build release/hw3 from source/hw3 (no solutions, no hidden tests)")
    p.add_argument("--check", action="store_true", help="only check that the committed release is fresh")
    p.add_argument("--dest", type=Path, default=RELEASE_DIR, help="release folder (default: %(default)s)")
    p.set_defaults(func=cmd_release)

    p = sub.add_parser("autograde", help="grade student submissions into grades.csv")
    p.add_argument("paths", nargs="+", help="zips, student folders, or folders of them")
    p.add_argument("--out", type=Path, default=DEFAULT_GRADING_DIR,
                   help="grading folder for grades.csv and nbgrader's files (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=600, help="seconds per submission (default: 600)")
    p.add_argument("--cell-timeout", type=float, default=120, help="seconds per notebook cell (default: 120)")
    p.add_argument("--memory-gb", type=float, default=6, help="memory cap per submission, GiB (default: 6)")
    p.set_defaults(func=cmd_autograde)

    p = sub.add_parser("demo", help="release, three example students, autograde, grade table")
    p.add_argument("--out", type=Path, default=None, help="keep the grading folder here (default: temporary)")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
