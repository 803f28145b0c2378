"""A grader without CIFAR-10 never turns that into a student's zero.

Real batches (real nbgrader, real kernels) of one submission of the Part 3 notebook alone, whose
answers are the reference and whose checkpoints are real but untrained, graded into one folder three times:

1. with no CIFAR-10 anywhere (``HW3_DATA_DIR`` names nothing, an empty cache): the CLI refuses
   before grading anyone, exit code 2, and says how to provide the data;
2. the same with ``without_data``: the three test-accuracy cells are "not graded" (empty in
   ``grades.csv``, status ``incomplete``, flagged for a person in the gradebook, "not graded yet"
   in the feedback, which shows no path of the grading machine), every other cell is graded;
3. again with the data (resume on): the submission is regraded, not reused, and the accuracy
   cells now have scores.
"""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch

from grader.cells import fill_answers, reference_answers
from grader.course import ASSIGNMENT_ID, RELEASE_DIR, SOURCE_DIR
from grader.grading import GraderLacksData, Limits, autograde

REPO_ROOT = Path(__file__).resolve().parents[2]
NB = "part3_pytorch_cnn.ipynb"
REF = reference_answers(SOURCE_DIR / NB)
ACCURACY_CELLS = [f"part3_pytorch_cnn/{c}" for c in ("test_base_model", "test_batchnorm_dropout_model",
                                                      "test_own_model")]
UNIT_CELLS = [f"part3_pytorch_cnn/{c}" for c in ("test_network_structure", "test_network_behaviour",
                                                  "test_train_step", "test_evaluate")]
WRITTEN = "part3_pytorch_cnn/design_written_answer"
SMALL_OWN_MODEL = ("class MyNetwork(nn.Module):\n"
                   "    def __init__(self):\n"
                   "        super().__init__()\n"
                   "        self.fc = nn.Linear(3, 10)\n\n"
                   "    def forward(self, x):\n"
                   "        return self.fc(x.mean(dim=(2, 3)))\n\n\n"
                   "OWN_CONFIG = TrainConfig(epochs=10)\n")
LIMITS = Limits(cell_s=120, memory_bytes=4 << 30, submission_s=600)
needs_data = pytest.mark.skipif(not os.environ.get("HW3_DATA_DIR"), reason="needs CIFAR-10 (../shared/data)")


def _student(folder):
    """Reference answers, a small own model, and untrained checkpoints with plausible records."""
    folder.mkdir(parents=True)
    nb = nbformat.read(RELEASE_DIR / NB, as_version=4)
    nbformat.write(fill_answers(nb, dict(REF, MyNetwork=SMALL_OWN_MODEL)), folder / NB)
    namespace = {}
    setup = "import torch\nfrom torch import nn\nfrom helpers.training import TrainConfig\n"
    exec(compile(setup + REF["NeuralNetwork"] + "\n\n" + SMALL_OWN_MODEL, "<answers>", "exec"), namespace)
    models = folder / "models"
    models.mkdir()
    torch.manual_seed(0)
    for name, model in (("base", namespace["NeuralNetwork"](do_batchnorm=False, p_dropout=0.0)),
                        ("batchnorm_dropout", namespace["NeuralNetwork"](do_batchnorm=True, p_dropout=0.5)),
                        ("own", namespace["MyNetwork"]())):
        torch.save(model.state_dict(), models / f"{name}.pt")
        record = {"test_accuracy": 0.0, "epochs": 1, "device": "cpu", "train_seconds": 1}
        (models / f"{name}.json").write_text(json.dumps(record))


def _hide_data(monkeypatch, tmp):
    monkeypatch.setenv("HW3_DATA_DIR", str(tmp / "no-data-here"))
    monkeypatch.setenv("HW3_CACHE_DIR", str(tmp / "empty-cache"))


def _csv_row(out, student):
    with open(out / "grades.csv", newline="") as f:
        return next(row for row in csv.DictReader(f) if row["student_id"] == student)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nodata")
    _student(tmp / "class" / "alice")
    return tmp


def test_the_cli_refuses_to_grade_without_data(batch):
    env = dict(os.environ, HW3_DATA_DIR=str(batch / "no-data-here"), HW3_CACHE_DIR=str(batch / "empty-cache"))
    done = subprocess.run([sys.executable, "-m", "grader", "autograde", str(batch / "class"),
                           "--out", str(batch / "refused"), "--no-progress"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert "the grader has no CIFAR-10" in done.stderr and "HW3_DATA_DIR" in done.stderr
    assert "--without-data" in done.stderr
    assert not (batch / "refused" / "grades.csv").exists()  # nobody was graded


@pytest.fixture(scope="module")
def without_data(batch):
    monkeypatch = pytest.MonkeyPatch()
    _hide_data(monkeypatch, batch)
    try:
        with pytest.raises(GraderLacksData, match="HW3_DATA_DIR"):  # the library refuses too
            autograde([batch / "class"], batch / "out", LIMITS, log=lambda _: None, workers=1)
        lines = []
        [result] = autograde([batch / "class"], batch / "out", LIMITS, log=lines.append, workers=1,
                             without_data=True)
    finally:
        monkeypatch.undo()
    return result, lines


def test_cells_needing_data_are_not_graded_and_the_rest_is(batch, without_data):
    result, lines = without_data
    assert any("grading without CIFAR-10" in line for line in lines)
    assert result.status == "incomplete", result.detail
    assert "the grader lacked the CIFAR-10 test set" in result.detail
    assert all(cell in result.detail for cell in ACCURACY_CELLS)
    assert not set(ACCURACY_CELLS) & set(result.scores)  # no score, not 0
    assert all(result.scores[c] > 0 for c in UNIT_CELLS), result.scores
    row = _csv_row(batch / "out", "alice")
    assert row["status"] == "incomplete"
    assert all(row[c] == "" for c in ACCURACY_CELLS)
    assert row[WRITTEN] == "" and float(row["manual_pending"]) == 3  # waiting for a person: empty, not 0
    assert float(row["total"]) == sum(result.scores[c] for c in UNIT_CELLS)


def test_the_gradebook_flags_them_for_a_person(batch, without_data):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{batch / 'out' / 'gradebook.db'}") as gb:
        grades = {g.name: g for nb in gb.find_submission(ASSIGNMENT_ID, "alice").notebooks for g in nb.grades}
        for cell in ACCURACY_CELLS:
            grade = grades[cell.split("/")[1]]
            assert grade.auto_score is None and grade.needs_manual_grade


def test_feedback_says_not_graded_and_shows_no_grader_paths(batch, without_data):
    page = (batch / "out" / "feedback" / "alice" / "part3_pytorch_cnn.html").read_text()
    assert page.count("not graded yet") >= 3 and "awaiting manual grading" in page
    assert "this cell was not graded: the grader lacked the CIFAR-10 test set" in page
    for private in (str(batch), "no-data-here", "empty-cache", str(REPO_ROOT), sys.prefix):
        assert private not in page
    assert "[grader]/" in page  # the kernel's own failed attempt names its folder, without the machine's path
    graded = (batch / "out" / "autograded" / "alice" / ASSIGNMENT_ID / NB).read_text()
    assert "without encryption" not in graded and "without encryption" not in page  # no transport warning


@needs_data
def test_a_run_with_the_data_regrades_what_was_not_graded(batch, without_data):
    lines = []
    [result] = autograde([batch / "class"], batch / "out", LIMITS, log=lines.append, workers=1)
    assert not any("unchanged since the last run" in line for line in lines)
    assert result.status == "missing notebook" and "not graded" not in result.detail, result.detail  # Part 3 only
    assert set(ACCURACY_CELLS) <= set(result.scores)  # scored now (untrained models: little or nothing)
    row = _csv_row(batch / "out", "alice")
    assert row["status"] == "missing notebook" and all(row[c] != "" for c in ACCURACY_CELLS)
