"""Run a source notebook's test cells in-process against chosen answers (fast, no kernel).

The grader runs the same code through nbgrader and a kernel; this is for checking, in
milliseconds per case, that each test cell accepts every correct answer and rejects the
wrong ones.
"""

import nbformat

from grader.notebook_cells import is_graded, is_solution, nbgrader_meta, strip_markers


def _without_magics(source):
    return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("%"))


def load_cells(notebook_path):
    """(setup_sources, answers, tests): the setup code, answer code by grade_id, full test code
    (hidden tests included) by grade_id."""
    nb = nbformat.read(notebook_path, as_version=4)
    setup = [_without_magics(c.source) for c in nb.cells if nbgrader_meta(c).get("grade_id") == "setup"]
    answers = {nbgrader_meta(c)["grade_id"]: strip_markers(c.source) for c in nb.cells if is_solution(c)}
    tests = {
        nbgrader_meta(c)["grade_id"]: strip_markers(c.source)
        for c in nb.cells
        if is_graded(c) and c.cell_type == "code"
    }
    return setup, answers, tests


def run_test_cell(notebook_path, test_id, answer_overrides):
    """Execute setup, every reference answer (overridden where given), then one test cell.

    Returns:
        None when the test cell passes, else the exception it raised.
    """
    setup, answers, tests = load_cells(notebook_path)
    namespace = {"__name__": "__main__"}
    for code in setup + list({**answers, **answer_overrides}.values()):
        exec(compile(code, "<answer>", "exec"), namespace)
    try:
        exec(compile(tests[test_id], f"<{test_id}>", "exec"), namespace)
    except Exception as exc:  # what a failing test cell raises is the point of the check
        return exc
    return None
