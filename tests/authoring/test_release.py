"""The committed release is what `python -m grader release` builds, and it hides every secret."""

import os
import shutil
import subprocess
import sys

import nbformat
import pytest

from grader.authoring.release import find_leaks, stale_release_files, tree_differences
from grader.cells import is_solution, nbgrader_meta
from grader.course import HELPERS_DIR, RELEASE_DIR, source_notebook_names


def test_release_is_fresh():
    stale = stale_release_files()
    assert not stale, "release/ is stale, run `python -m grader release` and commit:\n" + "\n".join(stale)


def test_release_has_no_solution_or_hidden_test():
    assert find_leaks(RELEASE_DIR) == []


@pytest.mark.parametrize("name", source_notebook_names())
def test_release_answer_cells_are_stubs(name):
    nb = nbformat.read(RELEASE_DIR / name, as_version=4)
    answers = [c for c in nb.cells if is_solution(c)]
    assert answers
    for cell in answers:
        stub = "raise NotImplementedError()" if cell.cell_type == "code" else "YOUR ANSWER HERE"
        assert stub in cell.source, nbgrader_meta(cell)["grade_id"]


def test_release_carries_the_course_helpers():
    diffs = tree_differences(HELPERS_DIR, RELEASE_DIR / "helpers")
    assert [d for d in diffs if "__pycache__" not in d] == []


def test_leak_check_catches_a_planted_solution(tmp_path):
    copy = tmp_path / "hw3"
    shutil.copytree(RELEASE_DIR, copy)
    nb_path = copy / "part0_filters.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("    return np.full((n, n), 1.0 / (n * n))"))
    nbformat.write(nb, nb_path)
    (copy / "notes.txt").write_text("### BEGIN HIDDEN TESTS\n")
    leaks = find_leaks(copy)
    assert any("np.full((n, n), 1.0 / (n * n))" in leak for leak in leaks)
    assert any("notes.txt: marker" in leak for leak in leaks)


def test_release_helpers_import_with_nothing_installed():
    """A downloaded release works on its own: `import helpers` from the notebook folder."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    modules = "helpers.checks, helpers.gradient_check, helpers.images, helpers.plotting, helpers.runtime"
    code = f"import {modules}; print(helpers.__file__)"
    out = subprocess.run([sys.executable, "-c", code], cwd=RELEASE_DIR, env=env,
                         capture_output=True, text=True, check=True).stdout
    assert str(RELEASE_DIR / "helpers") in out
