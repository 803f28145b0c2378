"""``python -m grader release``: build the student version of the assignment and check it.

The release is nbgrader's ``generate_assignment`` output (solutions replaced by stubs,
hidden tests removed, cells locked) plus a copy of ``helpers/`` and, in each notebook, a Google
Colab set-up cell, so the folder works on its own on a student's laptop or on Colab.
"""

import filecmp
import shutil
import tempfile
from pathlib import Path

import nbformat

from grader.cells import MARKERS, secret_lines
from grader.course import (
    ASSIGNMENT_ID,
    HELPERS_DIR,
    RELEASE_DIR,
    SOURCE_DIR,
    copy_helpers,
    copy_source,
    generate_assignment,
)


class ReleaseLeak(RuntimeError):
    """A built release contains solution text or hidden tests."""


def build_release(work_dir):
    """Build the release in a scratch course folder.

    Args:
        work_dir: an empty scratch folder (becomes an nbgrader course root).
    Returns:
        Path of the built assignment folder, ``work_dir/release/hw3``.
    Raises:
        ReleaseLeak: if anything secret survived into the release.
    """
    copy_source(work_dir)
    generate_assignment(work_dir)
    built = Path(work_dir) / "release" / ASSIGNMENT_ID
    copy_helpers(built)
    for notebook in sorted(built.glob("*.ipynb")):
        add_colab_setup(notebook)
    leaks = find_leaks(built)
    if leaks:
        raise ReleaseLeak("the release would leak:\n  " + "\n  ".join(leaks))
    return built


COLAB_SETUP = Path(__file__).with_name("templates") / "colab_setup.py"
COLAB_CELL_ID = "colab-setup"


def add_colab_setup(notebook_path):
    """Put the Google Colab set-up cell (``templates/colab_setup.py``: mount Drive, work in the
    course folder there; nothing elsewhere) before a release notebook's first code cell. One
    template for every notebook; a plain cell, not an nbgrader one, so grading ignores it."""
    nb = nbformat.read(notebook_path, as_version=4)
    if any(c.get("id") == COLAB_CELL_ID for c in nb.cells):
        return
    cell = nbformat.v4.new_code_cell(COLAB_SETUP.read_text(encoding="utf-8").rstrip("\n"))
    cell.id = COLAB_CELL_ID
    first_code = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), len(nb.cells))
    nb.cells.insert(first_code, cell)
    nbformat.write(nb, notebook_path)


def find_leaks(release_dir, source_dir=SOURCE_DIR):
    """Everything in a release that reveals a solution or a hidden test.

    Looks in every text file for nbgrader's region markers and for the distinctive
    lines of the source's solution and hidden-test regions.

    Returns:
        list of human-readable findings ("file: what"); empty when clean.
    """
    secrets = secret_lines(sorted(Path(source_dir).glob("*.ipynb")))
    # A line the course publishes anyway (in helpers/) reveals nothing.
    for module in HELPERS_DIR.rglob("*.py"):
        secrets -= {line.strip() for line in module.read_text(encoding="utf-8").splitlines()}
    findings = []
    for path in sorted(Path(release_dir).rglob("*")):
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # images and other binary files
        rel = path.relative_to(release_dir)
        findings += [f"{rel}: marker {m!r}" for m in MARKERS if m in text]
        # Notebooks are JSON: compare against lines with JSON string escaping undone.
        if path.suffix == ".ipynb":
            import nbformat

            text = "\n".join(c.source for c in nbformat.reads(text, as_version=4).cells)
        lines = {line.strip() for line in text.splitlines()}
        findings += [f"{rel}: solution or hidden-test line {s!r}" for s in sorted(secrets & lines)]
    return findings


def tree_differences(expected, actual):
    """What turning ``actual`` into ``expected`` would change, one line per file:
    ``added: p``, ``removed: p`` or ``changed: p`` (paths relative to the folders)."""
    expected, actual = Path(expected), Path(actual)

    def files(root):
        return {p.relative_to(root) for p in root.rglob("*") if p.is_file()} if root.exists() else set()

    want, have = files(expected), files(actual)
    diffs = [f"added: {p}" for p in sorted(want - have)]
    diffs += [f"removed: {p}" for p in sorted(have - want)]
    diffs += [
        f"changed: {p}"
        for p in sorted(want & have)
        if not filecmp.cmp(expected / p, actual / p, shallow=False)
    ]
    return diffs


def write_release(release_dir=RELEASE_DIR):
    """Build the release and replace ``release_dir`` with it.

    Returns:
        list of files that changed (empty when the committed release was already fresh).
    """
    release_dir = Path(release_dir)
    with tempfile.TemporaryDirectory(prefix="hw3-release-") as tmp:
        built = build_release(tmp)
        changes = tree_differences(built, release_dir)
        if changes:
            staged = release_dir.with_name(f".{release_dir.name}.new")
            if staged.exists():
                shutil.rmtree(staged)
            shutil.copytree(built, staged)
            if release_dir.exists():
                shutil.rmtree(release_dir)
            staged.rename(release_dir)
    return changes


def stale_release_files(release_dir=RELEASE_DIR):
    """What differs between the committed release and a fresh build (empty when fresh)."""
    with tempfile.TemporaryDirectory(prefix="hw3-release-") as tmp:
        return tree_differences(build_release(tmp), release_dir)
