"""The Gradescope autograder bundle, unpacked and run in a folder laid out like Gradescope's.

Only part0_filters.ipynb is submitted (the fast notebook): the other notebooks' cells score 0 as
missing, which also checks that results.json lists every autograded cell.
"""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import nbformat
import pytest
from part0 import PART0, part0_student

from grader.authoring.demo import WRONG_ANSWER
from grader.cells import GradedCell, assignment_cells, reference_answers
from grader.course import SOURCE_DIR
from grader.gradescope.bundle import build_bundle, extract_bundle
from grader.gradescope.results import RESULTS_SCHEMA, cell_test, failure, own_model_accuracy
from grader.gradescope.run import grade
from grader.grading import autograde


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gradescope")
    zip_path, names = build_bundle(tmp / "hw3_gradescope.zip")
    root = tmp / "autograder"
    extract_bundle(zip_path, root / "source")
    return zip_path, names, root




@pytest.fixture(scope="module")
def students(tmp_path_factory, bundle):
    """reference/ and partial/ (box_kernel not normalized), graded once by the local autograde."""
    _, _, root = bundle
    tmp = tmp_path_factory.mktemp("students")
    reference = reference_answers(SOURCE_DIR / PART0)
    folders = {
        "reference": part0_student(tmp / "class" / "reference", reference, probe_root=root / "source"),
        "partial": part0_student(tmp / "class" / "partial", dict(reference, **dict([WRONG_ANSWER]))),
    }
    local = autograde([tmp / "class"], tmp / "local", workers=2, resume=False, report=False, log=lambda _: None)
    return folders, {r.student_id: r for r in local}


def _run(root, upload):
    """Put ``upload`` (folder contents or a file) in ROOT/submission and run what run_autograder runs."""
    submission = root / "submission"
    shutil.rmtree(submission, ignore_errors=True)
    (root / "results").mkdir(exist_ok=True)
    (root / "results" / "results.json").unlink(missing_ok=True)
    if upload is None:
        submission.mkdir()
    elif Path(upload).is_dir():
        shutil.copytree(upload, submission)
    else:
        submission.mkdir()
        shutil.copy(upload, submission / Path(upload).name)
    source = root / "source"
    env = dict(os.environ, PYTHONPATH=str(source), MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, "-m", "grader", "gradescope", "run", "--root", str(root)],
                          cwd=source, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(results, RESULTS_SCHEMA)
    return results


def _auto_cells():
    return [c for c in assignment_cells() if not c.manual]


def test_bundle_contents_and_scripts(bundle):
    zip_path, names, root = bundle
    assert {"setup.sh", "run_autograder", "requirements.txt", "nbgrader_config.py", "README.md",
            "grader/grading/batch.py", "grader/gradescope/run.py", "helpers/checks.py",
            f"source/hw3/{PART0}"} <= set(names)
    with zipfile.ZipFile(zip_path) as zf:
        assert sorted(zf.namelist()) == sorted(names)
    for name in names:
        parts = Path(name).parts
        assert parts[0] not in {"tests", "release", "data", "autograded"}, name
        assert "__pycache__" not in parts and not name.endswith((".pyc", ".npz", ".pt")), name
    for script in ("setup.sh", "run_autograder"):
        path = root / "source" / script
        assert os.access(path, os.X_OK), f"{script} is not executable"
        check = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr


@pytest.fixture(scope="module")
def graded(bundle, students):
    """results.json of the reference and the partial submission, and what the reference's probe printed."""
    _, _, root = bundle
    folders, _ = students
    runs = {}
    for name, folder in folders.items():
        runs[name] = _run(root, folder)
        if name == "reference":
            notebook = root / "grading" / "autograded" / "submission" / "hw3" / PART0
            runs["probe"] = "".join(o.get("text", "") for c in nbformat.read(notebook, as_version=4).cells
                                    for o in c.get("outputs", []))
    return runs


def test_reference_and_partial_match_local_autograde(students, graded):
    folders, local = students
    cells = _auto_cells()
    for name in folders:
        results = graded[name]
        scores = {t["name"]: t["score"] for t in results["tests"]}
        assert list(scores) == [c.column for c in cells], "one test per autograded cell, in order"
        assert scores == {c.column: local[name].scores[c.column] for c in cells}, name
        assert {t["name"]: t["max_score"] for t in results["tests"]} == {c.column: c.points for c in cells}
        assert isinstance(results["execution_time"], int) and results["execution_time"] > 0
        assert "leaderboard" not in results  # part 3 was not submitted
        tests = {t["name"]: t for t in results["tests"]}
        box = tests["part0_filters/test_box_kernel"]
        if name == "reference":
            assert box["score"] == 2 and box["visibility"] == "after_due_date"
            assert "Notebooks graded: part0_filters" in results["output"]
        else:  # the wrong box_kernel fails a public check: shown at once, without the traceback
            assert box["score"] == 0 and box["visibility"] == "visible"
            assert "AssertionError" in box["output"] and "HIDDEN" not in box["output"]
            assert tests["part0_filters/test_laplacian_kernel"]["score"] == 3
        missing = tests["part1_batchnorm_dropout/test_batchnorm_forward_train"]
        assert missing["score"] == 0 and missing["visibility"] == "visible"


def test_student_code_cannot_read_the_hidden_tests(bundle, graded):
    """The reference student's extra cell looked for the source notebooks under ROOT/source."""
    _, _, root = bundle
    isolation = graded["reference"]["extra_data"]["isolation"]
    if not isolation.startswith(("root", "userns")):
        pytest.skip(f"no kernel sandbox on this machine: {isolation}")
    assert "SOURCE_PROBE hidden" in graded["probe"]
    assert (root / "source" / "source" / "hw3" / PART0).exists()  # it is there, just not for the student


def test_zip_upload_corrupt_zip_and_empty_upload(bundle, students, tmp_path):
    _, _, root = bundle
    folders, local = students
    zipped = tmp_path / "hw3_submission.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        for path in sorted(folders["partial"].rglob("*")):
            if path.is_file():
                zf.write(path, Path("hw3") / path.relative_to(folders["partial"]))
    results = _run(root, zipped)
    assert {t["name"]: t["score"] for t in results["tests"]} == {c.column: local["partial"].scores[c.column]
                                                                  for c in _auto_cells()}

    corrupt = tmp_path / "bad" / "hw3_submission.zip"
    corrupt.parent.mkdir()
    corrupt.write_bytes(b"PK\x03\x04 this is not a zip")
    for upload, expected in ((corrupt, "unreadable zip"), (None, "missing notebook")):
        results = _run(root, upload)
        assert all(t["score"] == 0 for t in results["tests"]) and len(results["tests"]) == len(_auto_cells())
        assert f"Status: {expected}" in results["output"], results["output"]
        assert "Notebooks graded: none" in results["output"]


def test_refuses_to_run_student_code_without_the_required_sandbox(students, tmp_path):
    folders, _ = students
    shutil.copytree(folders["partial"], tmp_path / "submission")
    results = grade(tmp_path, min_isolation="userns", sandbox_mode="none", log=lambda _: None)
    assert results["extra_data"]["status"] == "grading error"
    assert all(t["score"] == 0 for t in results["tests"])
    assert not (tmp_path / "grading" / "autograded").exists()  # nothing was run
    jsonschema.validate(json.loads((tmp_path / "results" / "results.json").read_text()), RESULTS_SCHEMA)


def _cell(source, outputs):
    return nbformat.v4.new_code_cell(source, outputs=[nbformat.from_dict(o) for o in outputs])


def test_failures_are_public_or_hidden_by_the_failing_line():
    source = "assert f(1) == 1\n### BEGIN HIDDEN TESTS\nassert f(2) == 4\n### END HIDDEN TESTS"

    def error(line):
        return {"output_type": "error", "ename": "AssertionError", "evalue": "wrong",
                "traceback": ["\x1b[36mCell\x1b[39m\x1b[36m \x1b[39m\x1b[32mIn[4]\x1b[39m"
                              f"\x1b[32m, line {line}\x1b[39m\n", "AssertionError: wrong"]}
    assert failure(_cell(source, [error(1)])) == ("AssertionError: wrong", True)
    assert failure(_cell(source, [error(3)])) == ("AssertionError: wrong", False)
    assert failure(_cell(source, [])) is None
    graded = GradedCell("part0_filters", "test_x", 2.0)
    hidden = cell_test(graded, 0.0, _cell(source, [error(3)]))
    assert hidden["visibility"] == "after_due_date" and "f(2)" not in hidden["output"]
    assert cell_test(graded, 0.0, _cell(source, [error(1)]))["visibility"] == "visible"
    assert cell_test(graded, 2.0, _cell(source, []))["status"] == "passed"


def test_leaderboard_reads_the_own_model_accuracy(tmp_path):
    from grader.grading.trusted_tests import VERDICT_MIME

    nb = nbformat.v4.new_notebook()
    printed = "models/own.pt: 812345 parameters; test accuracy measured by the grader: 99.90%\n"
    verdict = {"output_type": "display_data", "metadata": {},
               "data": {VERDICT_MIME: {"flags": [], "measured": {"own_model_accuracy": 87.123}}}}
    cell = _cell("check()", [{"output_type": "stream", "name": "stdout", "text": printed}])
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "test_own_model", "points": 4}
    nb.cells.append(cell)
    nbformat.write(nb, tmp_path / "part3_pytorch_cnn.ipynb")
    assert own_model_accuracy(tmp_path) is None  # printed text (anyone's) is not the grader's measure
    cell.outputs.insert(0, nbformat.from_dict(verdict))
    nbformat.write(nb, tmp_path / "part3_pytorch_cnn.ipynb")
    assert own_model_accuracy(tmp_path) == 87.12
    assert own_model_accuracy(tmp_path / "nothing") is None
