"""grader.intake.staging and grader.intake.vetting: what of a submission reaches nbgrader, and its test cells."""

import nbformat

from grader import intake
from grader.intake.staging import stage
from grader.intake.vetting import compare_test_cells, drop_unreadable_notebooks
from grader.results import Status

NB = "part0_filters.ipynb"


def _notebook(cells):
    return nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(source, metadata={"nbgrader": {"grade": grade, "solution": solution,
                                                                 "grade_id": gid, "points": 1}})
        for gid, source, grade, solution in cells])


RELEASE = [("answer", "raise NotImplementedError()", False, True), ("test_a", "assert f(1) == 1", True, False),
           ("test_b", "assert f(2) == 2", True, False)]


def test_edited_and_deleted_test_cells_are_told_apart(tmp_path):
    nbformat.write(_notebook(RELEASE), tmp_path / "release.ipynb")
    submitted = [("answer", "def f(x): return x", False, True), ("test_a", "assert f(1) == 1   \n", True, False)]
    nbformat.write(_notebook(submitted), tmp_path / "mine.ipynb")
    assert compare_test_cells(tmp_path / "mine.ipynb", tmp_path / "release.ipynb") == (["test_b"], [])
    submitted[1] = ("test_a", "pass", True, False)
    nbformat.write(_notebook(submitted), tmp_path / "mine.ipynb")
    assert compare_test_cells(tmp_path / "mine.ipynb", tmp_path / "release.ipynb") == (["test_b"], ["test_a"])
    (tmp_path / "broken.ipynb").write_text("{")
    assert compare_test_cells(tmp_path / "broken.ipynb", tmp_path / "release.ipynb") == ([], [])


def test_only_notebooks_and_plain_data_files_are_staged(tmp_path):
    root = tmp_path / "upload"
    for rel in ("figures/box_blur.png", "results/a.json", "models/own.pt", "numpy.py", "helpers/checks.py",
                "results/evil.so", "__MACOSX/._x.png", ".hidden/x.json", "figures/.DS_Store/y.png"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")
    nbformat.write(_notebook(RELEASE), root / "Copy of part0_filters.ipynb")
    sub = intake.Submission("ann", root, root=root, notebooks={NB: root / "Copy of part0_filters.ipynb"})
    dest = stage(sub, tmp_path / "course")
    staged = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert staged == sorted([NB, "figures/box_blur.png", "models/own.pt", "results/a.json"])


def test_an_unreadable_notebook_is_dropped_and_said(tmp_path):
    (tmp_path / NB).write_text('{"cells": 3}')
    sub = intake.Submission("ann", tmp_path, root=tmp_path, notebooks={NB: tmp_path / NB})
    drop_unreadable_notebooks(sub)
    assert sub.notebooks == {} and sub.status == Status.UNREADABLE_NOTEBOOK and NB in sub.detail
