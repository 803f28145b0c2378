"""The reference solutions of a source notebook as live Python objects (instructor side only).

Benchmarks and tests train and check the reference models of Part 3 with exactly the code of the
source notebook, so the numbers they report are those of the solution students are compared with.
"""

import nbformat

from grader.notebook_cells import is_solution, nbgrader_meta, strip_markers
from grader.paths import SOURCE_DIR


def reference_namespace(notebook_name, answer_ids=None, source_dir=SOURCE_DIR):
    """Run a source notebook's setup cell and reference answer cells; return the namespace.

    Args:
        notebook_name: e.g. ``"part3_pytorch_cnn.ipynb"``.
        answer_ids: grade_ids of the answer cells to run (default: all, in notebook order).
    Returns:
        dict of the names the cells defined (functions, classes, constants).
    """
    nb = nbformat.read(source_dir / notebook_name, as_version=4)
    namespace = {"__name__": f"reference:{notebook_name}"}
    for cell in nb.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if cell.cell_type != "code":
            continue
        if grade_id == "setup":
            code = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        elif is_solution(cell) and (answer_ids is None or grade_id in answer_ids):
            code = strip_markers(cell.source)
        else:
            continue
        exec(compile(code, f"<{notebook_name}:{grade_id}>", "exec"), namespace)
    return namespace
