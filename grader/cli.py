"""The instructor's tool for the hw3 course pack.

  release    build release/hw3 (the student version) from source/hw3
  autograde  grade submitted zips or folders into grades.csv
  demo       build the release, grade three example students, print the table
  check      run a submitted zip as the grader does and print its public tests (the student's check)
  gradescope build the Gradescope autograder zip; grade inside its container (run)
"""

import argparse
import sys
from pathlib import Path

from grader.course import DEFAULT_GRADING_DIR, RELEASE_DIR


def cmd_release(args):
    from grader.authoring.release import stale_release_files, write_release

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
    import re

    from grader.cells import assignment_cells
    from grader.grading import GraderLacksData, Limits, Options, autograde
    from grader.outputs.grades_csv import format_table

    limits = Limits(submission_s=args.timeout, cell_s=args.cell_timeout, memory_bytes=int(args.memory_gb * (1 << 30)))
    if args.id_pattern:
        try:
            re.compile(args.id_pattern)
        except re.error as exc:
            print(f"error: --id-pattern is not a regular expression: {exc}", file=sys.stderr)
            return 2
    options = Options(workers=args.workers, id_pattern=args.id_pattern, resume=args.resume, sandbox=args.sandbox,
                      report=args.report, progress=args.progress, preload_kernels=args.preload,
                      without_data=args.without_data)
    try:
        results = autograde(args.paths, args.out, limits, options=options)
    except (FileNotFoundError, GraderLacksData) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished submissions are saved in {args.out}; run the same command again "
              "to grade the rest", file=sys.stderr)
        return 130
    print()
    print(format_table(results, assignment_cells()))
    report = f" and {Path(args.out) / 'report.html'}" if args.report else ""
    print(f"\nwrote {Path(args.out) / 'grades.csv'}{report}")
    return 0


def cmd_demo(args):
    from grader.authoring.demo import run_demo
    from grader.grading import GraderLacksData

    try:
        _, table = run_demo(args.out)
    except GraderLacksData as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print()
    print(table)
    return 0


def cmd_check(args):
    from grader.grading.check import check_zip

    if not args.zip.is_file():
        print(f"error: no such file: {args.zip}", file=sys.stderr)
        return 2
    return check_zip(args.zip, timeout=args.timeout)


# --- gradescope (grader/gradescope/) ---
def cmd_gradescope(args):
    if args.action == "build":
        from grader.gradescope.bundle import build_bundle

        path, names = build_bundle(args.out)
        print(f"wrote {path} ({len(names)} files); upload it as the autograder of a Gradescope programming assignment")
        return 0
    from grader.gradescope.run import grade, prepare

    if args.action == "prepare":
        prepare(args.root)
        return 0
    grade(args.root, min_isolation=args.min_isolation)  # always writes results.json
    return 0


def add_gradescope_parser(sub):
    from grader.gradescope.bundle import DEFAULT_BUNDLE

    p = sub.add_parser("gradescope", help="build the Gradescope autograder zip, or grade inside its container")
    p.add_argument("action", choices=["build", "run", "prepare"],
                   help="build: write the autograder zip; run: grade ROOT/submission into ROOT/results/results.json "
                        "(what run_autograder calls); prepare: build the grading folder (setup.sh)")
    p.add_argument("--out", type=Path, default=DEFAULT_BUNDLE, help="zip to write (build; default: %(default)s)")
    p.add_argument("--root", type=Path, default=Path("/autograder"),
                   help="Gradescope root with source/, submission/, results/ (run, prepare; default: %(default)s)")
    p.add_argument("--min-isolation", choices=["root", "userns", "uid", "none"], default="uid",
                   help="weakest kernel sandbox allowed to run student code (run; default: %(default)s, which "
                        "grades in a container that refuses namespaces, as Docker's default profile does; "
                        "without root: userns)")
    p.set_defaults(func=cmd_gradescope)
# --- end gradescope ---


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
    p.add_argument("--workers", type=int, default=None,
                   help="submissions graded at once (default: one per CPU core)")
    p.add_argument("--id-pattern", default=None,
                   help="regular expression whose group 'id' (else group 1) is the student id in a file name; "
                        "default reads Canvas names (smithjane_12345_67890_hw3.zip -> 12345, also _LATE_); "
                        "'' uses the whole name")
    p.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                   help="reuse results of finished, unchanged submissions from an earlier run (default: on)")
    p.add_argument("--sandbox", choices=["auto", "root", "userns", "uid", "none"], default="auto",
                   help="isolation of student code (default: the strongest this machine allows)")
    p.add_argument("--report", action=argparse.BooleanOptionalAction, default=True,
                   help="write report.html with score distributions, failures and timing (default: on)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True,
                   help="progress bar with counts and ETA on stderr (default: on)")
    p.add_argument("--preload", action=argparse.BooleanOptionalAction, default=True,
                   help="fork kernels from one process that imported numpy, PyTorch, matplotlib and ipykernel "
                        "once per batch; --no-preload starts each kernel from scratch (default: on)")
    p.add_argument("--without-data", action="store_true",
                   help="grade even without CIFAR-10 (the grader refuses by default): the test-accuracy cells "
                        "are left ungraded (status 'incomplete', never 0) and the next run grades them")
    p.set_defaults(func=cmd_autograde)

    p = sub.add_parser("demo", help="release, three example students, autograde, grade table")
    p.add_argument("--out", type=Path, default=None, help="keep the grading folder here (default: temporary)")
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("check", help="a student's pre-submit check on a zip: run it as graded, print public tests")
    p.add_argument("zip", type=Path, help="a submitted hw3_submission.zip")
    p.add_argument("--timeout", type=int, default=600, help="seconds per notebook (default: 600)")
    p.set_defaults(func=cmd_check)
    add_gradescope_parser(sub)  # gradescope
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
