"""Part 3's answer test cells (public + hidden) accept correct variants of NeuralNetwork, train_step
and evaluate, and reject each classic bug, which costs points only on its own function.

The accuracy cells (trained models) are covered by tests/answers/test_pytorch_grading.py.
"""

import pytest
from cell_runner import cases, load_cells, quiet_outcomes
from cell_runner import variant as reference_variant

from grader.course import SOURCE_DIR

NOTEBOOK = SOURCE_DIR / "part3_pytorch_cnn.ipynb"
_, REFERENCE, TESTS = load_cells(NOTEBOOK)
# What the provided cells the in-process runner skips would have defined.
PRESET = {"P_DROPOUT": 0.5, "MAX_PARAMETERS": 1_000_000, "MAX_EPOCHS": 10}

OWN_TESTS = {
    "NeuralNetwork": {"test_network_structure", "test_network_behaviour"},
    "train_step": {"test_train_step"},
    "evaluate": {"test_evaluate"},
}
ANSWER_TESTS = set().union(*OWN_TESTS.values())


def variant(function, *replacements):
    return reference_variant(REFERENCE, function, *replacements)


CORRECT = {
    "NeuralNetwork": {
        "pool before ReLU (they commute)": variant("NeuralNetwork", ("self.pool(F.relu(x))", "F.relu(self.pool(x))")),
        "nn.Identity without batch norm": variant(
            "NeuralNetwork", ("            self.bn3 = nn.BatchNorm2d(128)\n",
                              "            self.bn3 = nn.BatchNorm2d(128)\n        else:\n"
                              "            self.bn1 = self.bn2 = self.bn3 = nn.Identity()\n"),
            ("if self.do_batchnorm:\n                x", "if True:\n                x")),
        "view instead of flatten": variant("NeuralNetwork", ("torch.flatten(x, 1)", "x.view(x.size(0), -1)")),
        "functional dropout": variant("NeuralNetwork", ("self.fc2(self.dropout(x))",
                                                        "self.fc2(F.dropout(x, self.dropout.p, self.training))")),
    },
    "train_step": {
        "set_to_none": variant("train_step", ("optimizer.zero_grad()", "optimizer.zero_grad(set_to_none=True)")),
        "model.zero_grad": variant("train_step", ("optimizer.zero_grad()", "model.zero_grad()")),
        "float(loss)": variant("train_step", ("return loss.item()", "return float(loss.detach())")),
    },
    "evaluate": {
        "inference_mode": variant("evaluate", ("torch.no_grad()", "torch.inference_mode()")),
        "float sums": variant("evaluate", ("(model(x).argmax(dim=1) == y).sum().item()",
                                           "float((model(x).max(1).indices == y).float().sum())")),
    },
}

WRONG = {
    "NeuralNetwork": {
        "batch norm after ReLU": variant("NeuralNetwork", ("x = getattr(self, f\"bn{i}\")(x)\n            x = self.pool(F.relu(x))",
                                                           "x = getattr(self, f\"bn{i}\")(F.relu(x))\n            x = self.pool(x)")),
        "batch norm always created": variant("NeuralNetwork", ("        if do_batchnorm:\n            self.bn1", "        if True:\n            self.bn1")),
        "batch norm created, not used": variant("NeuralNetwork", ("if self.do_batchnorm:\n                x", "if False:\n                x")),
        "no dropout in forward": variant("NeuralNetwork", ("self.fc2(self.dropout(x))", "self.fc2(x)")),
        "dropout before fc1": variant("NeuralNetwork", ("x = F.relu(self.fc1(torch.flatten(x, 1)))", "x = F.relu(self.fc1(self.dropout(torch.flatten(x, 1))))"),
                                      ("self.fc2(self.dropout(x))", "self.fc2(x)")),
        "dropout probability fixed": variant("NeuralNetwork", ("nn.Dropout(p_dropout)", "nn.Dropout(0.5)")),
        "softmax output": variant("NeuralNetwork", ("return self.fc2(self.dropout(x))", "return F.softmax(self.fc2(self.dropout(x)), dim=1)")),
        "5x5 kernels": variant("NeuralNetwork", ("nn.Conv2d(3, 32, kernel_size=3, padding=1)", "nn.Conv2d(3, 32, kernel_size=5, padding=2)")),
        "no padding": variant("NeuralNetwork", ("nn.Conv2d(32, 64, kernel_size=3, padding=1)", "nn.Conv2d(32, 64, kernel_size=3)")),
        "convolutions without bias": variant("NeuralNetwork", ("nn.Conv2d(64, 128, kernel_size=3, padding=1)", "nn.Conv2d(64, 128, kernel_size=3, padding=1, bias=False)")),
        "flattens channels last": variant("NeuralNetwork", ("torch.flatten(x, 1)", "torch.flatten(x.permute(0, 2, 3, 1), 1)")),
        "average pooling": variant("NeuralNetwork", ("nn.MaxPool2d(2)", "nn.AvgPool2d(2)")),
        "ReLU missing in the head": variant("NeuralNetwork", ("x = F.relu(self.fc1(torch.flatten(x, 1)))", "x = self.fc1(torch.flatten(x, 1))")),
    },
    "train_step": {
        "no zero_grad": variant("train_step", ("    optimizer.zero_grad()\n", "")),
        "zero_grad after backward": variant("train_step", ("    optimizer.zero_grad()\n", ""),
                                            ("loss.backward()\n", "loss.backward()\n    optimizer.zero_grad()\n")),
        "step before backward": variant("train_step", ("loss.backward()\n    optimizer.step()", "optimizer.step()\n    loss.backward()")),
        "no step": variant("train_step", ("    optimizer.step()\n", "")),
        "returns the tensor": variant("train_step", ("return loss.item()", "return loss")),
        "ignores loss_fn": variant("train_step", ("loss_fn(model(x), y)", "F.cross_entropy(model(x), y)")),
        "loss after the update": variant("train_step", ("return loss.item()", "return loss_fn(model(x), y).item()")),
    },
    "evaluate": {
        "mean of batch accuracies": variant("evaluate", ("correct += (model(x).argmax(dim=1) == y).sum().item()\n            total += len(y)\n    return correct / total",
                                                         "correct += (model(x).argmax(dim=1) == y).float().mean().item()\n            total += 1\n    return correct / total")),
        "stays in training mode": variant("evaluate", ("    model.eval()\n", "")),
        "tracks gradients": variant("evaluate", ("with torch.no_grad():", "if True:")),
        "returns a percentage": variant("evaluate", ("return correct / total", "return 100 * correct / total")),
        "returns a tensor": variant("evaluate", ("(model(x).argmax(dim=1) == y).sum().item()", "(model(x).argmax(dim=1) == y).sum()")),
        "first batch only": variant("evaluate", ("            total += len(y)\n", "            total += len(y)\n            break\n")),
        "argmax over the batch": variant("evaluate", ("argmax(dim=1)", "argmax(dim=0)")),
    },
}


def outcomes(overrides, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no models/ here: the accuracy cells fail, and are not looked at
    result = quiet_outcomes(NOTEBOOK, overrides, preset=dict(PRESET))
    return {test_id: exc for test_id, exc in result.items() if test_id in ANSWER_TESTS}


def test_answer_tests_are_the_ones_graded():
    assert ANSWER_TESTS <= set(TESTS)
    assert {"test_base_model", "test_batchnorm_dropout_model", "test_own_model"} <= set(TESTS)


def test_reference_passes_every_answer_test(tmp_path, monkeypatch):
    assert outcomes({}, tmp_path, monkeypatch) == {t: None for t in ANSWER_TESTS}


@pytest.mark.parametrize("function, label", cases(CORRECT))
def test_correct_variant_scores_full(function, label, tmp_path, monkeypatch):
    failed = {t: repr(e) for t, e in outcomes({function: CORRECT[function][label]}, tmp_path, monkeypatch).items() if e}
    assert not failed, f"{label} was rejected: {failed}"


@pytest.mark.parametrize("function, label", cases(WRONG))
def test_wrong_answer_loses_points_only_on_its_function(function, label, tmp_path, monkeypatch):
    result = outcomes({function: WRONG[function][label]}, tmp_path, monkeypatch)
    failed = {t for t, e in result.items() if e is not None}
    assert failed, f"{label}: no test cell noticed the bug"
    assert failed <= OWN_TESTS[function], f"{label} also cost points on {sorted(failed - OWN_TESTS[function])}"
    for test_id in failed:
        assert str(result[test_id]), f"{label}: {test_id} failed without a message"
