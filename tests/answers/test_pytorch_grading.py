"""Part 3's accuracy cells: the grader loads submitted checkpoints safely into the student's class,
measures test accuracy itself, applies the stated thresholds and budget, and flags records that
claim more than it measures.

The checkpoints are real: the reference base model is trained once per session in the documented
quick setting (about 3 minutes on 2 cores, in the background while other tests run: see
tests/support/quick_training.py; this also checks that setting reaches 70%), and the
test cells run in-process (cell_runner) or under real nbgrader (the last test).
"""

import contextlib
import io
import json
import shutil
import zipfile

import numpy as np
import pytest
import quick_training
import torch
from cell_runner import run_tests

from grader.cells import reference_namespace
from grader.course import SOURCE_DIR
from helpers.data import load_cifar10
from helpers.torch_data import normalize
from helpers.training import GIVEN_SETTINGS, MAX_CHECKPOINT_BYTES, load_record, save_run

NOTEBOOK_NAME = "part3_pytorch_cnn.ipynb"
NOTEBOOK = SOURCE_DIR / NOTEBOOK_NAME
REF = reference_namespace(NOTEBOOK_NAME, ["NeuralNetwork", "train_step", "evaluate"])
PRESET = {"P_DROPOUT": 0.5, "MAX_PARAMETERS": 1_000_000, "MAX_EPOCHS": 10}
ACCURACY_TESTS = ("test_base_model", "test_batchnorm_dropout_model", "test_own_model")
ANSWER_TESTS = ("test_network_structure", "test_network_behaviour", "test_train_step", "test_evaluate")

# A student's own model that is the base network under another name: its weights can be the base run's.
BASE_AS_OWN = (
    "class MyNetwork(NeuralNetwork):\n"
    "    def __init__(self):\n"
    "        super().__init__(do_batchnorm=False, p_dropout=0.0)\n\n\n"
    "OWN_CONFIG = TrainConfig(epochs=8)\n"
)
OVER_BUDGET_OWN = (  # 1.3M parameters
    "class MyNetwork(NeuralNetwork):\n"
    "    def __init__(self):\n"
    "        super().__init__(do_batchnorm=False, p_dropout=0.0)\n"
    "        self.fc1 = nn.Linear(2048, 640)\n"
    "        self.fc2 = nn.Linear(640, 10)\n\n\n"
    "OWN_CONFIG = TrainConfig(epochs=8)\n"
)


def measured_accuracy(model):
    """Test accuracy computed here, independently of the notebook's code (float64 NumPy argmax)."""
    test = load_cifar10()
    x = torch.from_numpy(np.ascontiguousarray(test.x_test.transpose(0, 3, 1, 2)))
    model.eval()
    with torch.no_grad():
        scores = np.concatenate([model(normalize(x[i:i + 1000])).double().numpy() for i in range(0, len(x), 1000)])
    return float(np.mean(scores.argmax(axis=1) == test.y_test))


@pytest.fixture(scope="session")
def quick_base(tmp_path_factory, quick_training_run):
    """The reference base model trained in the quick setting: (models folder, record, model).

    Trained in the background since the session started (tests/support/quick_training.py), or here when
    that was not started."""
    folder = tmp_path_factory.mktemp("quick-base") / "models"
    if quick_training_run is None:
        quick_training.train(folder)
    else:
        trained, proc = quick_training_run
        assert proc.wait() == 0, (trained / "train.log").read_text()[-3000:]
        shutil.copytree(trained, folder, ignore=shutil.ignore_patterns("*.log"))
    model, record = load_record("base", REF["NeuralNetwork"](do_batchnorm=False, p_dropout=0.0), folder)
    return folder, record, model


@pytest.fixture(scope="session")
def base_accuracy(quick_base):
    return measured_accuracy(quick_base[2])


def grade_in_process(folder, overrides=None):
    """Run the notebook's test cells with the reference answers (or overrides) in ``folder``.

    Returns:
        (outcomes {test id: None or exception}, namespace, printed text).
    """
    namespace, printed = {}, io.StringIO()
    with contextlib.chdir(folder), contextlib.redirect_stdout(printed):
        result = run_tests(NOTEBOOK, overrides or {}, preset=dict(PRESET), namespace=namespace)
    return result, namespace, printed.getvalue()


def submission(tmp_path, quick_base, own_record=None):
    """A folder with models/base.* from the quick run and, as the own model, the same weights."""
    folder = tmp_path / "student"
    shutil.copytree(quick_base[0], folder / "models")
    shutil.copy(folder / "models" / "base.pt", folder / "models" / "own.pt")
    record = dict(quick_base[1], **(own_record or {}))
    (folder / "models" / "own.json").write_text(json.dumps(record))
    return folder


def test_quick_setting_trains_the_base_model_to_70_percent(quick_base, base_accuracy):
    _, record, _ = quick_base
    print(f"quick base: {record['test_accuracy']:.2%} in {record['train_seconds']} s")
    assert record["epochs"] == GIVEN_SETTINGS["quick"].epochs and record["train_images"] == 45000
    assert record["test_accuracy"] >= 0.70
    assert abs(record["test_accuracy"] - base_accuracy) < 1e-3  # the student's evaluate agrees with ours


def test_trained_models_score_by_measured_accuracy(tmp_path, quick_base, base_accuracy):
    folder = submission(tmp_path, quick_base)
    result, ns, printed = grade_in_process(folder, {"MyNetwork": BASE_AS_OWN})
    assert result["test_base_model"] is None, result["test_base_model"]
    assert ns["_base_accuracy"] == pytest.approx(base_accuracy, abs=1e-4)
    assert all(result[t] is None for t in ANSWER_TESTS)
    # The own model scores linearly between 70% (0) and 85% (4) of the accuracy the grader measures.
    want = round(4 * min(1.0, max(0.0, (base_accuracy - 0.70) / 0.15)), 2)
    assert result["test_own_model"] is None and ns["_own_points"] == pytest.approx(want)
    assert not ns["_verdict"].flags
    assert ns["_verdict"].measured["own_model_accuracy"] == pytest.approx(100 * base_accuracy, abs=1e-2)
    # batchnorm_dropout was not submitted: only that cell fails, and says what is missing.
    assert "models/batchnorm_dropout.json is missing" in str(result["test_batchnorm_dropout_model"])


def test_threshold_points():
    _, ns, _ = grade_in_process(SOURCE_DIR)  # defines the hidden helpers (models are missing here)
    points = ns["_threshold_points"]
    assert points(0.80, 0.68, 2) == 2 and points(0.68, 0.68, 2) == 2
    assert points(0.60, 0.68, 2) == 1 and points(0.48, 0.68, 2) == 1
    with pytest.raises(AssertionError, match="more than 20 points under"):
        points(0.47, 0.68, 2)


class _BranchesOnTheData(torch.nn.Module):
    """Scores that depend on a Python branch on the batch's values: a trace would keep one branch."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 10)

    def forward(self, x):
        pooled = x.mean(dim=(2, 3))
        return self.linear(pooled) if float(x[:, 0].mean()) > 0 else -self.linear(pooled)


class _FixedBatchSize(torch.nn.Module):
    """Flattens with a batch size written out: its trace only works for batches of that size."""

    def __init__(self, batch):
        super().__init__()
        self.batch = batch
        self.linear = torch.nn.Linear(3 * 8 * 8, 10)

    def forward(self, x):
        return self.linear(x.reshape(self.batch, -1))


class _ReturnsANumpyArray(torch.nn.Module):
    def forward(self, x):
        return torch.from_numpy(x.mean(dim=(2, 3)).repeat(1, 4)[:, :10].numpy().copy())


def test_grader_evaluates_a_traced_model_only_when_it_scores_like_the_model():
    _, ns, _ = grade_in_process(SOURCE_DIR)  # defines the hidden helpers (models are missing here)
    for_inference = ns["_for_inference"]
    torch.manual_seed(0)
    bn_net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                                 torch.nn.AdaptiveMaxPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 10)).eval()
    bn_net[1].running_mean.uniform_(-1, 1)
    bright, dark = torch.rand(16, 3, 8, 8), -torch.rand(16, 3, 8, 8)
    fast, first, traced = for_inference(bn_net, bright, dark)
    assert traced  # batch norm folded, same scores
    torch.testing.assert_close(first, bn_net(bright).detach())
    torch.testing.assert_close(fast(dark), bn_net(dark).detach(), atol=1e-5, rtol=1e-5)
    # A model whose trace would differ on the last batch, and one that cannot be traced, run as they are.
    assert not for_inference(_BranchesOnTheData().eval(), bright, dark)[2]
    assert not for_inference(_ReturnsANumpyArray().eval(), bright, dark)[2]
    # Traced on a whole batch and checked on fewer images: a trace that fixed the batch size is not used.
    batch = ns["_CHECKED_IMAGES"] + 20
    fixed = _FixedBatchSize(batch).eval()
    assert not for_inference(fixed, torch.rand(batch, 3, 8, 8), torch.rand(batch, 3, 8, 8))[2]


def test_record_claiming_more_than_measured_is_flagged(tmp_path, quick_base, base_accuracy):
    folder = submission(tmp_path, quick_base, own_record={"test_accuracy": 0.99})
    result, ns, printed = grade_in_process(folder, {"MyNetwork": BASE_AS_OWN})
    assert ns["_verdict"].flags == [
        f"models/own.json claims 99.00% test accuracy, but the grader measures {base_accuracy:.2%}"]
    assert result["test_own_model"] is None  # points follow the measurement, not the claim
    assert ns["_own_points"] == pytest.approx(round(4 * max(0.0, (base_accuracy - 0.70) / 0.15), 2))


class _Payload:
    """Pickled, it would create a file when loaded: weights_only loading must refuse it."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (open, (self.target, "w"))


def _write_corrupt(models, name):
    (models / f"{name}.pt").write_bytes(b"PK\x03\x04 not really a checkpoint" * 10)


def _write_payload(models, name):
    torch.save({"conv1.weight": torch.zeros(1), "evil": _Payload(models / "PWNED")}, models / f"{name}.pt")


def _write_oversize(models, name):
    (models / f"{name}.pt").write_bytes(b"\0" * (MAX_CHECKPOINT_BYTES + 1))


def _write_bn_weights(models, name):
    save_run(name, REF["NeuralNetwork"](do_batchnorm=True, p_dropout=0.5), {"epochs": 1}, models)


def _write_tensor_list(models, name):
    torch.save([torch.zeros(3)], models / f"{name}.pt")


def _write_bad_json(models, name):
    (models / f"{name}.json").write_text("{ not json")


def _delete(models, name):
    (models / f"{name}.pt").unlink()


HOSTILE = {  # what is done to models/base.*, and what the failing cell must say
    "missing checkpoint": (_delete, "base.pt is missing"),
    "corrupt file": (_write_corrupt, "cannot be loaded"),
    "pickle that runs code": (_write_payload, "cannot be loaded"),
    "oversize file": (_write_oversize, "over the 20 MB limit"),
    "other architecture": (_write_bn_weights, "does not fit NeuralNetwork"),
    "not a state_dict": (_write_tensor_list, "not a state_dict"),
    "unreadable record": (_write_bad_json, "cannot be read"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_bad_checkpoint_costs_only_its_cell(case, tmp_path, quick_base):
    folder = submission(tmp_path, quick_base)
    damage, message = HOSTILE[case]
    damage(folder / "models", "base")
    result, _, _ = grade_in_process(folder, {"MyNetwork": BASE_AS_OWN})
    assert message in str(result["test_base_model"]), repr(result["test_base_model"])
    assert result["test_own_model"] is None  # the own model (same weights, separate files) still counts
    assert all(result[t] is None for t in ANSWER_TESTS)
    assert not (folder / "models" / "PWNED").exists()


def test_budgets_are_checked_on_the_loaded_model_and_record(tmp_path, quick_base):
    folder = submission(tmp_path, quick_base)
    torch.manual_seed(0)
    over = REF["NeuralNetwork"](do_batchnorm=False, p_dropout=0.0)
    over.fc1, over.fc2 = torch.nn.Linear(2048, 640), torch.nn.Linear(640, 10)
    save_run("own", over, dict(quick_base[1]), folder / "models")
    result, _, _ = grade_in_process(folder, {"MyNetwork": OVER_BUDGET_OWN})
    assert "over the budget of 1,000,000" in str(result["test_own_model"])

    folder = submission(tmp_path / "epochs", quick_base, own_record={"epochs": 12})
    result, _, _ = grade_in_process(folder, {"MyNetwork": BASE_AS_OWN})
    assert "12 epochs" in str(result["test_own_model"])


@pytest.fixture(scope="module")
def trained_batch(tmp_path_factory, quick_base):
    """Real nbgrader on three Part 3 submissions of the quick base run (own model = the same weights):
    "trained" (its own record claims 99%), "honest" (records as trained) and "hostile" (a base.pt
    that runs code when unpickled). Returns ({student: StudentResult}, class folder)."""
    from grader.authoring.demo import make_student, zip_folder
    from grader.cells import reference_answers
    from grader.course import RELEASE_DIR
    from grader.grading import Limits, autograde

    tmp = tmp_path_factory.mktemp("trained-batch")
    answers = {**reference_answers(NOTEBOOK), "MyNetwork": BASE_AS_OWN}
    good = make_student(RELEASE_DIR, tmp / "class" / "trained", answers)
    shutil.copytree(submission(tmp / "a", quick_base, own_record={"test_accuracy": 0.99}) / "models",
                    good / "models")
    honest = make_student(RELEASE_DIR, tmp / "class" / "honest", answers)
    shutil.copytree(submission(tmp / "b", quick_base) / "models", honest / "models")
    bad = make_student(RELEASE_DIR, tmp / "tmp" / "hostile", answers)
    shutil.copytree(quick_base[0], bad / "models")
    _write_payload(bad / "models", "base")
    zip_folder(bad, tmp / "class" / "hostile.zip")
    with zipfile.ZipFile(tmp / "class" / "hostile.zip") as zf:
        assert any(n.endswith("models/base.pt") for n in zf.namelist())
    results = autograde([tmp / "class"], tmp / "out", limits=Limits(cell_s=60), log=lambda _: None)
    return {r.student_id: r for r in results}, tmp / "class"


def test_submission_zip_of_trained_models_grades_with_nbgrader(trained_batch, base_accuracy):
    """Real nbgrader: partial credit for the own model comes through, a hostile checkpoint scores 0."""
    results, _ = trained_batch
    col = "part3_pytorch_cnn/"
    trained, hostile = results["trained"], results["hostile"]
    assert trained.status == "graded" and hostile.status == "graded"
    assert trained.scores[col + "test_base_model"] == 2
    want = round(4 * min(1.0, max(0.0, (base_accuracy - 0.70) / 0.15)), 2)
    assert trained.scores[col + "test_own_model"] == pytest.approx(want)
    assert trained.scores[col + "test_batchnorm_dropout_model"] == 0
    assert "flag: models/own.json claims 99.00% test accuracy" in trained.detail  # in grades.csv's detail
    assert hostile.scores[col + "test_base_model"] == 0
    for t in ANSWER_TESTS:
        assert trained.scores[col + t] > 0 and hostile.scores[col + t] > 0


def test_the_pre_submit_check_gives_the_graders_points(trained_batch, monkeypatch, tmp_path):
    """The check a student runs before submitting (public tests only, in fresh kernels) shows, cell by
    cell, the points the grader gives: partial credit for an own model between 70% and 85% included."""
    from grader.course import RELEASE_DIR
    from helpers._dry_run import run_notebooks

    results, class_dir = trained_batch
    folder = tmp_path / "honest"
    shutil.copytree(class_dir / "honest", folder)
    shutil.copytree(RELEASE_DIR / "helpers", folder / "helpers", dirs_exist_ok=True)
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")  # run_notebooks sets it for its kernels; undone after
    report = run_notebooks(folder)
    checked = {f"{o.notebook}/{o.grade_id}": o for o in report.outcomes if o.status != "written"}
    graded = results["honest"].scores
    part3 = [c for c in checked if c.startswith("part3_pytorch_cnn/")]
    assert len(part3) == 7, sorted(checked)
    for column in part3:  # the record's accuracy (the student's evaluate) vs. the grader's: same images
        assert checked[column].score == pytest.approx(graded[column], abs=0.03), (column, checked[column])
    own = checked["part3_pytorch_cnn/test_own_model"]
    assert own.status == "partial" and 0 < own.score < 4
    assert f"partial {own.score:g}" in report.table()
