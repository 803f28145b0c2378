"""Gradescope's ``results.json`` from one graded submission (``grader.grading.batch.StudentResult``).

One test per autograded cell, named ``notebook/grade_id``, with the engine's score for it (so
Gradescope's total equals the local ``grades.csv`` total of the autograded cells). What a test
shows, and when:

* a cell whose failure came from a **public** check (the failing line of the test cell is above
  ``### BEGIN HIDDEN TESTS``) is ``visible`` at once: the student has that check in their
  notebook anyway, so it reveals nothing;
* a cell that was not run (its notebook is missing or unreadable, the upload was refused) is
  ``visible`` too, with 0 points;
* every other cell (passed, failed in a hidden test, partial credit) is ``after_due_date``:
  its score and message tell how the hidden tests went.
* the top-level ``output`` (visible at once) says which notebooks were found, the submission's
  status, and how many cells fail a public check.

Messages are the exception's last line (as in ``grader.outputs.feedback``), never a traceback (which
would quote the hidden line), cut to ``MAX_MESSAGE`` characters. Written answers are not tests:
they are graded by hand in a separate Gradescope question, and ``output`` says so.
The own-design model's test accuracy, as the grader measured it (``OWN_MODEL_MEASURE`` in the
verdict its hidden test wrote, never printed text), becomes the leaderboard.
"""

import re
from pathlib import Path

from grader.grading.trusted_tests import HIDDEN_MARK, PUBLIC_MARK, verdict_record
from grader.results import Status

MAX_MESSAGE = 600
HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
OWN_MODEL_NOTEBOOK = "part3_pytorch_cnn"
OWN_MODEL_MEASURE = "own_model_accuracy"  # the name its hidden test measures it under, in %
LEADERBOARD_NAME = "Own model: test accuracy (%)"
PUBLIC_FAILED = "A public check failed (you can run it in your notebook):"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_CELL_LINE = re.compile(r"Cell\s*In\s*\[\d+\],\s*line (\d+)")
VISIBILITIES = ["hidden", "after_due_date", "after_published", "visible"]

# The subset of https://gradescope-autograders.readthedocs.io/en/latest/specs/ that we write.
RESULTS_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["execution_time", "output", "tests"],
    "additionalProperties": False,
    "properties": {
        "score": {"type": "number", "minimum": 0},
        "execution_time": {"type": "integer", "minimum": 0},
        "output": {"type": "string"},
        "output_format": {"enum": ["text", "html", "simple_format", "md", "ansi"]},
        "visibility": {"enum": VISIBILITIES},
        "stdout_visibility": {"enum": VISIBILITIES},
        "extra_data": {"type": "object"},
        "tests": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "score", "max_score", "output", "visibility"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "number": {"type": "string"},
                    "score": {"type": "number", "minimum": 0},
                    "max_score": {"type": "number", "minimum": 0},
                    "status": {"enum": ["passed", "failed"]},
                    "output": {"type": "string"},
                    "visibility": {"enum": VISIBILITIES},
                    "tags": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
        "leaderboard": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "value"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string"},
                    "value": {"type": ["number", "string"]},
                    "order": {"enum": ["asc", "desc"]},
                },
            },
        },
    },
}


def validate(results):
    """Raise ``jsonschema.ValidationError`` unless ``results`` follows ``RESULTS_SCHEMA``."""
    import jsonschema

    jsonschema.validate(results, RESULTS_SCHEMA)


def _clip(text, limit=MAX_MESSAGE):
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _test_cells(notebook_path):
    """grade_id -> executed test cell of an autograded notebook ({} when it is missing or unreadable)."""
    import nbformat

    from grader.cells import is_test_cell, nbgrader_meta

    try:
        nb = nbformat.read(notebook_path, as_version=4)
    except Exception:
        return {}
    return {nbgrader_meta(c)["grade_id"]: c for c in nb.cells
            if is_test_cell(c)}


def failure(cell):
    """(message, public) for a failed test cell, or None when it raised nothing.

    ``public`` is True when the failing line of the cell lies before its hidden tests.
    """
    for output in cell.get("outputs", []):
        if output.get("output_type") != "error":
            continue
        message = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
        trace = _ANSI.sub("", "\n".join(output.get("traceback", [])))
        if trace.startswith((PUBLIC_MARK, HIDDEN_MARK)):  # a verdict of the trusted grader
            return _clip(message), trace.startswith(PUBLIC_MARK)
        match = _CELL_LINE.search(trace)
        lines = cell.source.splitlines()
        hidden_from = next((i + 1 for i, ln in enumerate(lines) if ln.strip() == HIDDEN_BEGIN), len(lines) + 1)
        public = bool(match) and int(match.group(1)) < hidden_from
        return _clip(message), public
    return None


def _stream_text(cell):
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def cell_test(graded_cell, score, executed):
    """The results.json test for one autograded cell.

    Args:
        graded_cell: GradedCell.
        score: its points from the engine.
        executed: the cell from the autograded notebook, or None when it was not run.
    """
    test = {"name": graded_cell.column, "score": float(score), "max_score": graded_cell.points,
            "status": "passed" if score >= graded_cell.points else "failed", "visibility": "after_due_date"}
    if executed is None:
        test.update(visibility="visible", output="Not run: see the summary at the top.")
        return test
    failed = failure(executed)
    printed = _clip(_stream_text(executed), 1500)
    if failed and failed[1]:
        test.update(visibility="visible", output=f"{PUBLIC_FAILED}\n{failed[0]}")
    elif failed:
        test["output"] = f"Failed: {failed[0]}"
    else:
        test["output"] = ("Passed." if score >= graded_cell.points else f"{score:g} of {graded_cell.points:g} points.")
        test["output"] += f"\n{printed}" if printed else ""
    return test


def own_model_accuracy(autograded_dir):
    """The own-design model's test accuracy (%) measured by the grader, or None."""
    path = Path(autograded_dir) / f"{OWN_MODEL_NOTEBOOK}.ipynb"
    for cell in _test_cells(path).values():
        value = verdict_record(cell).get("measured", {}).get(OWN_MODEL_MEASURE)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return round(float(value), 2)
    return None


def _summary(result, cells, autograded_dir, public_failures):
    notebooks = sorted({c.notebook for c in cells})
    found = [n for n in notebooks if (Path(autograded_dir) / f"{n}.ipynb").exists()] if autograded_dir else []
    manual = [c for c in cells if c.manual]
    auto_max = sum(c.points for c in cells if not c.manual)
    lines = [f"Status: {result.status}."]
    if result.detail:
        lines.append(f"Details: {_clip(result.detail, 1500)}")
    lines.append("Notebooks graded: " + (", ".join(found) if found else "none"))
    missing = [n for n in notebooks if n not in found]
    if missing and result.status == Status.GRADING_ERROR:  # the grader's problem, not the upload's
        lines.append("Not graded: " + ", ".join(missing) + ". This is not your error; your instructor "
                     "will regrade the submission once the autograder is fixed.")
    elif missing:
        lines.append("Not graded (missing, unreadable or not run): " + ", ".join(missing)
                     + ". Upload the notebooks themselves, or one zip named hw3_submission.zip.")
    lines.append(f"Autograded cells: {len(cells) - len(manual)}, worth {auto_max:g} points.")
    if public_failures:
        lines.append(f"{public_failures} cell(s) fail a public check: see them below.")
    lines.append("Scores and messages of the hidden tests appear after the due date.")
    if manual:
        lines.append(f"Written answers ({', '.join(c.column for c in manual)}; "
                     f"{sum(c.points for c in manual):g} points) are graded by hand, separately.")
    return "\n".join(lines)


def build_results(result, cells, autograded_dir, seconds, isolation=""):
    """The results.json dict for one graded submission.

    Args:
        result: StudentResult from ``autograde`` (None: nothing gradable was submitted).
        cells: the assignment's GradedCells.
        autograded_dir: folder with the autograded notebooks (``<out>/autograded/<id>/hw3``), or None.
        seconds: wall time of the whole run.
        isolation: the sandbox description, for the instructor in ``extra_data``; its mode (the word
            before the colon) is also said in ``output``.
    """
    from grader.results import StudentResult

    result = result or StudentResult("submission", Status.MISSING_NOTEBOOK, "no notebooks or zip found in the upload")
    tests = []
    for cell in cells:
        if cell.manual:
            continue
        executed = _test_cells(Path(autograded_dir) / f"{cell.notebook}.ipynb").get(cell.grade_id) \
            if autograded_dir else None
        tests.append(cell_test(cell, result.scores.get(cell.column, 0.0), executed))
    public_failures = sum(t["output"].startswith(PUBLIC_FAILED) for t in tests)
    results = {
        "execution_time": int(round(seconds)),
        "output": _summary(result, cells, autograded_dir, public_failures)
        + (f"\nIsolation of your code while graded: {isolation.split(':')[0]}" if isolation else ""),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {"status": result.status, "isolation": isolation},
    }
    accuracy = own_model_accuracy(autograded_dir) if autograded_dir else None
    if accuracy is not None:
        results["leaderboard"] = [{"name": LEADERBOARD_NAME, "value": accuracy, "order": "desc"}]
    return results
