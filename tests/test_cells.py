"""grader.cells: the one vocabulary of notebook cells, checked on the course's own notebooks."""

import nbformat

from grader.cells import (
    assignment_cells,
    graded_cells,
    is_provided_cell,
    is_test_cell,
    reference_namespace,
    without_magics,
)
from grader.course import SOURCE_DIR, source_notebook_names


def _cell(kind="code", **nbgrader):
    cell = nbformat.v4.new_code_cell("x = 1") if kind == "code" else nbformat.v4.new_markdown_cell("x")
    if nbgrader:
        cell.metadata["nbgrader"] = nbgrader
    return cell


def test_cell_kinds():
    test = _cell(grade=True, solution=False, locked=True, grade_id="t", points=1)
    answer = _cell(grade=False, solution=True, locked=False, grade_id="a")
    written = _cell("markdown", grade=True, solution=True, locked=False, grade_id="w", points=2)
    provided = _cell(grade=False, solution=False, locked=True, grade_id="setup")
    plain = _cell()
    assert [is_test_cell(c) for c in (test, answer, written, provided, plain)] == [True, False, False, False, False]
    assert [is_provided_cell(c) for c in (test, answer, written, provided, plain)] == [False, False, False, True, False]


def test_assignment_cells_are_every_graded_cell_in_order():
    cells = assignment_cells()
    expected = [c for name in source_notebook_names() for c in graded_cells(SOURCE_DIR / name)]
    assert cells == expected and len(cells) >= 30
    assert sum(c.points for c in cells) == 60
    assert all(c.column == f"{c.notebook}/{c.grade_id}" for c in cells)
    assert {c.manual for c in cells} == {True, False}  # written answers and autograded tests


def test_without_magics_keeps_the_python():
    assert without_magics("%matplotlib inline\nimport numpy\n  !pip list\nx = 1") == "import numpy\nx = 1"


def test_reference_namespace_runs_the_solution():
    ns = reference_namespace("part0_filters.ipynb", answer_ids={"box_kernel"})
    kernel = ns["box_kernel"](3)
    assert kernel.shape == (3, 3) and abs(kernel.sum() - 1) < 1e-12
    assert "laplacian_kernel" not in ns
