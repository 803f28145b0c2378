"""The commands an instructor types, run as they type them."""

import subprocess
import sys

from grader.course import REPO_ROOT


def grader(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=timeout)


def test_demo_prints_full_zero_and_partial_rows():
    """What the README promises: the reference student earns every autograded point (Part 3's
    reference checkpoints included), the untouched release none, the wrong answer all but its own."""
    from grader.cells import assignment_cells

    auto = sum(c.points for c in assignment_cells() if not c.manual)
    full = sum(c.points for c in assignment_cells())
    run = grader("demo")
    assert run.returncode == 0, run.stderr[-3000:]
    rows = {line.split()[0]: line.split() for line in run.stdout.splitlines()
            if line.split() and line.split()[0] in {"reference", "untouched", "one_wrong"}}
    assert rows["reference"][-2] == f"{auto:g}/{full:g}"
    assert rows["untouched"][-2] == f"0/{full:g}"
    assert rows["one_wrong"][-2] == f"{auto - 2:g}/{full:g}"  # box_kernel (2 points) wrong
    assert rows["one_wrong"][2] == "3/5"  # part0_filters
    assert all(row[1] == "graded" for row in rows.values())
    assert "lost points on part0_filters/test_box_kernel (0/2)" in run.stdout
    assert "reference:" not in run.stdout.split("notes:")[-1]  # nothing to explain for the reference
    manual = sum(c.points for c in assignment_cells() if c.manual)
    assert rows["reference"][-1] == f"{manual:g}"  # the written answers wait for a person


def test_release_check_passes_on_the_committed_release():
    run = grader("release", "--check")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "matches the source" in run.stdout


def test_autograde_reports_a_missing_path_clearly(tmp_path):
    run = grader("autograde", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out"))
    assert run.returncode == 2
    assert "no such file or folder" in run.stderr


def test_help_lists_the_commands():
    run = grader("--help")
    assert run.returncode == 0
    for command in ("release", "autograde", "demo"):
        assert command in run.stdout
