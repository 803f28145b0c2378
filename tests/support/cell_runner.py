"""Run a source notebook's test cells in-process against chosen answers (fast, no kernel).

The grader runs the same code through nbgrader, with the answers in a kernel and the hidden
tests in its own process (``grader.grading.trusted_tests``); this is for checking, in milliseconds
per case, that each test cell accepts every correct answer and rejects the wrong ones (run in
one process, the hidden tests' ``_kernel.namespace()`` is their own globals). Cells run in
notebook order, as under the grader (later test cells may use what earlier hidden tests
defined); provided cells other than setup are skipped for speed.
"""

import nbformat

from grader.cells import is_graded, is_solution, nbgrader_meta, strip_markers, without_magics
from grader.grading.trusted_tests import split_test_source


def load_cells(notebook_path):
    """(setup_sources, answers, tests): the setup code, answer code by grade_id, full test code
    (hidden tests included) by grade_id."""
    nb = nbformat.read(notebook_path, as_version=4)
    setup = [without_magics(c.source) for c in nb.cells if nbgrader_meta(c).get("grade_id") == "setup"]
    answers = {nbgrader_meta(c)["grade_id"]: strip_markers(c.source) for c in nb.cells
               if is_solution(c) and c.cell_type == "code"}
    tests = {nbgrader_meta(c)["grade_id"]: strip_markers(c.source) for c in nb.cells
             if is_graded(c) and c.cell_type == "code"}
    return setup, answers, tests


def run_tests(notebook_path, answer_overrides, preset=None, namespace=None):
    """Execute setup, answers (reference ones unless overridden) and test cells in order.

    ``preset`` names are defined first (e.g. functions a skipped provided cell would import).
    ``namespace``: a dict to run in, for looking at what the cells defined afterwards.

    Returns:
        dict test grade_id -> None when it passed, else the exception it raised.
    """
    nb = nbformat.read(notebook_path, as_version=4)
    namespace = namespace if namespace is not None else {}
    namespace.update({"__name__": "__main__", **(preset or {})})
    results = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id == "setup":
            exec(compile(without_magics(cell.source), "<setup>", "exec"), namespace)
        elif is_solution(cell):
            code = answer_overrides.get(grade_id, strip_markers(cell.source))
            try:
                exec(compile(code, f"<{grade_id}>", "exec"), namespace)
            except Exception:  # a broken answer cell: the notebook goes on, as under nbgrader
                pass
        elif is_graded(cell):
            # As under the grader: the hidden part runs even when the public part failed (later
            # cells need what it defines); the cell's outcome is the first failure.
            results[grade_id] = None
            for part, code in zip(("public", "hidden"), split_test_source(cell.source), strict=True):
                try:
                    exec(compile(code, f"<{grade_id} ({part})>", "exec"), namespace)
                except Exception as exc:  # what a failing test cell raises is the point of the check
                    results[grade_id] = results[grade_id] or exc
    return results


def run_test_cell(notebook_path, test_id, answer_overrides):
    """The outcome of one test cell (None: passed) with the given answers."""
    return run_tests(notebook_path, answer_overrides)[test_id]


def quiet_outcomes(notebook_path, answer_overrides, preset=None):
    """``run_tests`` with the public tests' printing silenced."""
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        return run_tests(notebook_path, answer_overrides, preset)


def variant(reference_answers, function, *replacements):
    """A reference answer with (old, new) source replacements applied; each must apply, so a
    corpus entry cannot silently turn into the reference when the notebook changes."""
    code = reference_answers[function]
    for old, new in replacements:
        assert old in code, f"{function}: {old!r} not in the reference answer"
        code = code.replace(old, new)
    return code


def cases(table):
    """(function, label) pairs of a {function: {label: code}} table, for parametrize."""
    return [(fn, label) for fn, answers in table.items() for label in answers]


def assert_scores_full(notebook_path, function, label, code):
    failed = {t: repr(e) for t, e in quiet_outcomes(notebook_path, {function: code}).items() if e}
    assert not failed, f"{label} was rejected: {failed}"


def assert_loses_only_own_points(notebook_path, own_tests, function, label, code):
    """The wrong answer fails at least one of its own test cells, with a message, and no other."""
    result = quiet_outcomes(notebook_path, {function: code})
    failed = {t for t, e in result.items() if e is not None}
    assert failed, f"{label}: no test cell noticed the bug"
    assert failed <= own_tests, f"{label} also cost points on {sorted(failed - own_tests)}"
    for test_id in failed:
        assert str(result[test_id]), f"{label}: {test_id} failed without a message"


def answer_variant_tests(notebook_path, tests, correct, wrong, own_tests):
    """The three tests every answer-variant module runs, for assigning at module level:
    the reference passes every test cell; each ``correct`` variant scores full; each ``wrong`` one
    loses points only on its own function's test cells (``own_tests``: {function: test ids})."""
    import pytest

    def test_reference_passes_every_test_cell():
        assert quiet_outcomes(notebook_path, {}) == {test_id: None for test_id in tests}

    @pytest.mark.parametrize("function, label", cases(correct))
    def test_correct_variant_scores_full(function, label):
        assert_scores_full(notebook_path, function, label, correct[function][label])

    @pytest.mark.parametrize("function, label", cases(wrong))
    def test_wrong_answer_loses_points_only_on_its_function(function, label):
        assert_loses_only_own_points(notebook_path, own_tests[function], function, label, wrong[function][label])

    return (test_reference_passes_every_test_cell, test_correct_variant_scores_full,
            test_wrong_answer_loses_points_only_on_its_function)
