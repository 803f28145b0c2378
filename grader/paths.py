"""Where things live in the repository, and the assignment's fixed names."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT_ID = "hw3"
SOURCE_DIR = REPO_ROOT / "source" / ASSIGNMENT_ID
RELEASE_DIR = REPO_ROOT / "release" / ASSIGNMENT_ID
HELPERS_DIR = REPO_ROOT / "helpers"
DEFAULT_GRADING_DIR = REPO_ROOT / "autograded"

# Files never copied from helpers/ into a release or a grading folder.
HELPERS_IGNORE = ("__pycache__", "*.pyc", ".*")


def source_notebook_names(source_dir=SOURCE_DIR):
    """File names of the assignment's notebooks, sorted (e.g. ``["part0_filters.ipynb"]``)."""
    return sorted(p.name for p in Path(source_dir).glob("*.ipynb"))
