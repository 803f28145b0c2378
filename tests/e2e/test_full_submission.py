"""A finished submission (notebooks run, results and figures saved) grades fast and without
retraining: the experiments' cells reuse the submitted results."""

import shutil

import nbformat

from grader.cells import assignment_cells
from grader.course import ASSIGNMENT_ID
from grader.grading import autograde

# Under test, Part 3's models are trained in the "smoke" setting (one short epoch: 10-30% accuracy),
# far under the thresholds: these cells score 0 here. tests/answers/test_pytorch_grading.py grades real runs.
TRAINED_MODEL_CELLS = {f"part3_pytorch_cnn/{t}" for t in ("test_base_model", "test_batchnorm_dropout_model",
                                                          "test_own_model")}


def test_finished_submission_gets_every_autograded_point_without_retraining(executed_source, tmp_path):
    folder, _ = executed_source
    student = tmp_path / "class" / "finished"
    shutil.copytree(folder, student, ignore=shutil.ignore_patterns("helpers"))
    result = autograde([tmp_path / "class"], tmp_path / "out", log=lambda _: None)[0]
    cells = assignment_cells()
    # The executed source notebooks carry the hidden tests in their test cells: the grader notes the
    # "edit" and runs the course's version, so no point depends on it.
    assert result.status in ("graded", "test cells changed"), result.detail
    assert {c.column for c in cells} >= TRAINED_MODEL_CELLS
    assert all(result.scores[c] == 0 for c in TRAINED_MODEL_CELLS)
    assert result.total == sum(c.points for c in cells if not c.manual and c.column not in TRAINED_MODEL_CELLS)
    assert result.pending_manual == [c.column for c in cells if c.manual]
    graded = nbformat.read(tmp_path / "out" / "autograded" / "finished" / ASSIGNMENT_ID /
                           "part1_batchnorm_dropout.ipynb", as_version=4)
    outputs = [o for c in graded.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    reused = [o.get("text", "") for o in outputs if "autograding: using the submitted results/" in o.get("text", "")]
    assert len(reused) == 3  # part 1's three experiments, none retrained
    part3 = nbformat.read(tmp_path / "out" / "autograded" / "finished" / ASSIGNMENT_ID / "part3_pytorch_cnn.ipynb",
                          as_version=4)
    texts = [o.get("text", "") for c in part3.cells if c.cell_type == "code" for o in c.outputs]
    assert not [t for t in texts if "saved models/" in t]  # no model retrained
    assert any("test accuracy measured by the grader" in t for t in texts)
