"""The one notebook-cell vocabulary: which cells are answers, tests, hidden tests, and what they score.

Used by the release and its leak check, intake (test cells a student changed), grading (the
assignment's graded cells, hidden regions), the demo (answers filled into a release notebook),
the outputs and the tests.
"""

import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from grader.course import SOURCE_DIR, source_notebook_names

SOLUTION_BEGIN = "### BEGIN SOLUTION"
SOLUTION_END = "### END SOLUTION"
HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
HIDDEN_END = "### END HIDDEN TESTS"
MARKERS = (SOLUTION_BEGIN, SOLUTION_END, HIDDEN_BEGIN, HIDDEN_END)


@dataclass(frozen=True)
class GradedCell:
    """One cell that carries points: an autograded test cell or a manually graded answer."""

    notebook: str  # notebook name without .ipynb, e.g. "part0_filters"
    grade_id: str
    points: float
    manual: bool = False  # a written answer a person grades (else a test cell the autograder runs)

    @property
    def column(self):
        """Column name in grades.csv, e.g. ``part0_filters/test_box_kernel``."""
        return f"{self.notebook}/{self.grade_id}"


def nbgrader_meta(cell):
    """The cell's ``nbgrader`` metadata dict ({} for an ordinary cell)."""
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def is_solution(cell):
    return bool(nbgrader_meta(cell).get("solution"))


def is_graded(cell):
    return bool(nbgrader_meta(cell).get("grade"))


def is_test_cell(cell):
    """An autograded test cell: code that carries points and is not an answer."""
    return cell.get("cell_type") == "code" and is_graded(cell) and not is_solution(cell)


def is_provided_cell(cell):
    """A read-only cell of the course's own code (imports, set-up): locked, no answer, no points."""
    locked = bool(nbgrader_meta(cell).get("locked"))
    return cell.get("cell_type") == "code" and locked and not is_solution(cell) and not is_graded(cell)


def graded_cells(notebook_path):
    """Graded cells of a notebook, in notebook order.

    Args:
        notebook_path: pathlib.Path of a source or release notebook.
    Returns:
        list of GradedCell.
    """
    nb = nbformat.read(notebook_path, as_version=4)
    name = notebook_path.stem
    return [
        GradedCell(name, nbgrader_meta(c)["grade_id"], float(nbgrader_meta(c).get("points", 0)), is_solution(c))
        for c in nb.cells
        if is_graded(c)
    ]


def assignment_cells():
    """Every graded cell of the assignment, in notebook and cell order."""
    return [cell for name in source_notebook_names() for cell in graded_cells(SOURCE_DIR / name)]


def code_tree(cell):
    """The AST of a code cell's source without its magics (``%``, ``!`` lines), or None."""
    import ast

    code = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
    try:
        return ast.parse(code)
    except SyntaxError:
        return None


def region_lines(source, begin, end):
    """Lines strictly between ``begin`` and ``end`` marker lines (all such regions)."""
    lines, inside = [], False
    for line in source.splitlines():
        stripped = line.strip()
        if stripped == begin:
            inside = True
        elif stripped == end:
            inside = False
        elif inside:
            lines.append(line)
    return lines


def strip_markers(source):
    """Source with the BEGIN/END SOLUTION and HIDDEN TESTS marker lines removed, contents kept.

    This turns a source answer cell into a complete reference answer, and a source test
    cell into the full test (public and hidden) that the grader runs.
    """
    kept = [line for line in source.splitlines() if line.strip() not in MARKERS]
    return "\n".join(kept)


def reference_answers(source_notebook):
    """Reference code of every answer cell of a source notebook.

    Returns:
        dict grade_id -> answer source (markers removed).
    """
    nb = nbformat.read(source_notebook, as_version=4)
    return {
        nbgrader_meta(c)["grade_id"]: strip_markers(c.source)
        for c in nb.cells
        if is_solution(c)
    }


def fill_answers(notebook, answers):
    """Write answers into a release notebook, as a student would, and return it.

    Args:
        notebook: nbformat NotebookNode (modified in place).
        answers: dict grade_id -> code; answer cells not named keep their stub.
    """
    for cell in notebook.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if is_solution(cell) and grade_id in answers:
            cell.source = answers[grade_id]
    return notebook


def secret_lines(source_notebooks, min_length=12):
    """Distinctive lines of solutions and hidden tests: none may appear in a release.

    A line counts when it is long enough to be distinctive and does not also occur
    outside the solution and hidden-test regions of any of the notebooks (provided code
    may legitimately repeat it).

    Args:
        source_notebooks: paths of the assignment's source notebooks.
    Returns:
        set of stripped lines.
    """
    secret, public = set(), set()
    for path in source_notebooks:
        for cell in nbformat.read(path, as_version=4).cells:
            hidden = region_lines(cell.source, SOLUTION_BEGIN, SOLUTION_END)
            hidden += region_lines(cell.source, HIDDEN_BEGIN, HIDDEN_END)
            secret.update(line.strip() for line in hidden)
            public.update(line.strip() for line in strip_regions(cell.source).splitlines())
    return {s for s in secret - public if len(s) >= min_length and not s.startswith("#")}


def strip_regions(source):
    """Source with solution and hidden-test regions (markers included) removed."""
    pattern = r"^[ \t]*{b}[ \t]*$.*?^[ \t]*{e}[ \t]*$\n?"
    for begin, end in ((SOLUTION_BEGIN, SOLUTION_END), (HIDDEN_BEGIN, HIDDEN_END)):
        source = re.sub(
            pattern.format(b=re.escape(begin), e=re.escape(end)), "", source, flags=re.M | re.S
        )
    return source


def without_magics(source):
    """A cell's code without IPython's ``%magic`` and ``!shell`` lines, to run it with plain ``exec``."""
    return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))


def reference_namespace(notebook_name, answer_ids=None, source_dir=None):
    """Run a source notebook's setup cell and reference answer cells in this process (instructor side
    only: benchmarks and tests train and check the reference models with exactly the solution's code).

    Args:
        notebook_name: e.g. ``"part3_pytorch_cnn.ipynb"``.
        answer_ids: grade_ids of the answer cells to run (default: all, in notebook order).
    Returns:
        dict of the names the cells defined (functions, classes, constants).
    """
    nb = nbformat.read(Path(source_dir or SOURCE_DIR) / notebook_name, as_version=4)
    namespace = {"__name__": f"reference:{notebook_name}"}
    for cell in nb.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if cell.cell_type != "code":
            continue
        if grade_id == "setup":
            code = without_magics(cell.source)
        elif is_solution(cell) and (answer_ids is None or grade_id in answer_ids):
            code = strip_markers(cell.source)
        else:
            continue
        exec(compile(code, f"<{notebook_name}:{grade_id}>", "exec"), namespace)
    return namespace
