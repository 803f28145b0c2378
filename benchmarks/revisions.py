"""A baseline revision checked out beside this tree, for benchmarks that time both side by side."""

import contextlib
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def baseline_worktree(revision, tmp, keep=False):
    """Yield ``tmp/baseline-tree``, a git worktree of ``revision`` (made unless already there, as a
    kept run leaves it). Afterwards the worktree and ``tmp`` are removed, unless ``keep``."""
    tree = Path(tmp) / "baseline-tree"
    if not tree.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), revision], cwd=REPO,
                       check=True, capture_output=True)
    try:
        yield tree
    finally:
        if not keep:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO, capture_output=True)
            shutil.rmtree(tmp, ignore_errors=True)
