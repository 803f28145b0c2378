"""Part 3 under trusted grading: the accuracy that scores, the leaderboard and the flags are the
grader's, measured in its own process; the kernel cannot read the test labels, print or display
its way to a score, or hide parameters from the budget.

One batch of real submissions (real nbgrader, real kernels, real CIFAR-10), each with reference
answers for the unit cells and an own model that tries one attack. The models are untrained (about
10% accuracy), so any own-model point or leaderboard value above that came from the attack.
"""

import json
import shutil

import nbformat
import pytest
import torch
from cell_runner import run_tests

from grader.cells import HIDDEN_BEGIN, HIDDEN_END, fill_answers, reference_answers, region_lines, strip_regions
from grader.course import ASSIGNMENT_ID, RELEASE_DIR, SOURCE_DIR
from grader.gradescope.results import own_model_accuracy
from grader.grading import Limits, autograde
from grader.grading.trusted_tests import VERDICT_MIME
from grader.outputs.flags import flags_of_student

NB = "part3_pytorch_cnn.ipynb"
REF = reference_answers(SOURCE_DIR / NB)
OWN = "part3_pytorch_cnn/test_own_model"
UNIT = ("test_network_structure", "test_network_behaviour", "test_train_step", "test_evaluate")
CONFIG = "\nOWN_CONFIG = TrainConfig(epochs=10)\n"

# Prints the grader's lines and displays a record in the grader's own MIME type, in the public
# part (the constructor) and in the hidden part (forward).
FORGES_LEADERBOARD = (
    "from IPython.display import display\n\n\n"
    "class MyNetwork(nn.Module):\n"
    "    def __init__(self):\n"
    "        super().__init__()\n"
    "        self.fc = nn.Linear(3, 10)\n"
    f"        display({{{VERDICT_MIME!r}: {{'flags': ['forged'], 'measured': {{'own_model_accuracy': 99.9}}}},\n"
    "                 'text/plain': 'x'}, raw=True)\n\n"
    "    def forward(self, x):\n"
    "        print('models/own.pt: 1 parameters; test accuracy measured by the grader: 99.90%')\n"
    "        print('FLAG: forged')\n"
    "        print('points: 4 of 4')\n"
    "        return self.fc(x.mean(dim=(2, 3)))\n" + CONFIG)

# Looks each test image up in the data the kernel can read, and answers with its label.
READS_TEST_LABELS = (
    "import os\n"
    "from helpers.data import load_cifar10 as _load\n\n\n"
    "class MyNetwork(nn.Module):\n"
    "    def __init__(self):\n"
    "        super().__init__()\n"
    "        self.fc = nn.Linear(3, 10)\n"
    "        test = _load(progress=False)\n"
    "        labels = sorted(set(test.y_test.tolist()))\n"
    "        print('HW3_DATA_DIR:', os.environ.get('HW3_DATA_DIR'), 'test labels:', labels)\n"
    "        images = normalize(torch.from_numpy(test.x_test.transpose(0, 3, 1, 2).copy()))\n"
    "        self.table = dict(zip(self._key(images), test.y_test.tolist()))\n\n"
    "    def _key(self, x):\n"
    "        return x.flatten(1)[:, ::5].mul(1000).round().long().sum(1).tolist()\n\n"
    "    def forward(self, x):\n"
    "        labels = torch.tensor([min(max(self.table.get(k, 0), 0), 9) for k in self._key(x)])\n"
    "        return F.one_hot(labels, 10).float() * 10\n" + CONFIG)

STUB_FORGES_RESULT = (
    "def _forge(*args):\n"
    "    k = get_ipython().kernel\n"
    "    k.session.send(k.iopub_socket, 'execute_result', {'data': {'text/plain': \"'4'\"}, 'metadata': {},\n"
    "                   'execution_count': 1}, parent=k.get_parent())\n"
    "_forge.__module__ = 'matplotlib_inline.backend_inline'\n"
    "get_ipython().events.register('pre_run_cell', _forge)\n\n\n"
    "class MyNetwork(nn.Module):\n"
    "    def __init__(self):\n"
    "        raise NotImplementedError()\n" + CONFIG)

ATTACKS = {"forges_leaderboard": FORGES_LEADERBOARD, "reads_test_labels": READS_TEST_LABELS,
           "stub_forges_results": STUB_FORGES_RESULT}


def _student(folder, own_answer, stub=False):
    folder.mkdir(parents=True)
    shutil.copytree(RELEASE_DIR / "helpers", folder / "helpers")
    answers = {} if stub else dict(REF)
    answers["MyNetwork"] = own_answer
    nb = nbformat.read(RELEASE_DIR / NB, as_version=4)
    nbformat.write(fill_answers(nb, answers), folder / NB)
    models = folder / "models"
    models.mkdir()
    torch.manual_seed(0)
    torch.save(torch.nn.Linear(3, 10).state_dict(), models / "own.pt")
    state = {"fc." + k: v for k, v in torch.load(models / "own.pt").items()}
    torch.save(state, models / "own.pt")
    record = {"test_accuracy": 0.999, "epochs": 10, "parameters": 40, "device": "cpu", "train_seconds": 1}
    (models / "own.json").write_text(json.dumps(record))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trusted3")
    for name, answer in ATTACKS.items():
        _student(tmp / "class" / name, answer, stub=name.startswith("stub"))
    results = autograde([tmp / "class"], tmp / "out", Limits(cell_s=120, memory_bytes=4 << 30, submission_s=600),
                        log=lambda _: None, workers=2)
    return {r.student_id: r for r in results}, tmp / "out"


def _autograded(out, student):
    return out / "autograded" / student / ASSIGNMENT_ID


@pytest.mark.parametrize("student", sorted(ATTACKS))
def test_an_untrained_own_model_scores_nothing_whatever_the_kernel_does(graded, student):
    results, out = graded
    result = results[student]
    assert result.scores[OWN] == 0, result.detail
    leaderboard = own_model_accuracy(_autograded(out, student))
    assert leaderboard is None or leaderboard < 20  # the grader's measure of an untrained model
    flags = flags_of_student(_autograded(out, student))
    assert not [f for f in flags if "forged" in f]
    if not student.startswith("stub"):  # the record's claim is compared with what the grader measured
        assert any("claims 99.90% test accuracy" in f for f in flags), flags
        assert all(result.scores[f"part3_pytorch_cnn/{t}"] > 0 for t in UNIT)
    else:
        assert sum(v for k, v in result.scores.items() if k.startswith("part3")) == 0


def test_the_kernel_sees_no_test_labels(graded):
    _, out = graded
    nb = nbformat.read(_autograded(out, "reads_test_labels") / NB, as_version=4)
    printed = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "HW3_DATA_DIR: None test labels: [-1]" in printed  # the lookup ran (the constructor prints)


def test_printed_and_displayed_verdicts_are_not_verdicts(graded):
    _, out = graded
    nb = nbformat.read(_autograded(out, "forges_leaderboard") / NB, as_version=4)
    records = [o["data"][VERDICT_MIME] for c in nb.cells for o in c.get("outputs", [])
               if o.get("output_type") == "display_data" and VERDICT_MIME in o.get("data", {})]
    assert records and all("forged" not in json.dumps(r) for r in records)
    with open(out / "grades.csv", newline="") as f:
        assert "forged" not in f.read()


HIDES_PARAMETERS = (  # 1.4M parameters, of which parameters() shows none
    "class MyNetwork(NeuralNetwork):\n"
    "    def __init__(self):\n"
    "        super().__init__(do_batchnorm=False, p_dropout=0.0)\n"
    "        self.fc1 = nn.Linear(2048, 640)\n"
    "        self.fc2 = nn.Linear(640, 10)\n\n"
    "    def parameters(self, recurse=True):\n"
    "        return iter(())\n" + CONFIG)


def test_the_budget_counts_the_saved_weights_not_what_the_model_says(tmp_path, monkeypatch):
    namespace = {}
    setup = "import torch\nfrom torch import nn\nfrom helpers.training import TrainConfig\n"
    exec(compile(setup + REF["NeuralNetwork"] + "\n\n" + HIDES_PARAMETERS, "<own>", "exec"), namespace)
    models = tmp_path / "models"
    models.mkdir()
    torch.save(namespace["MyNetwork"]().state_dict(), models / "own.pt")
    (models / "own.json").write_text(json.dumps({"epochs": 10, "test_accuracy": 0.5}))
    monkeypatch.chdir(tmp_path)
    result = run_tests(SOURCE_DIR / NB, {"MyNetwork": HIDES_PARAMETERS},
                       preset={"P_DROPOUT": 0.5, "MAX_PARAMETERS": 1_000_000, "MAX_EPOCHS": 10})
    assert "1,411,018 parameters" in str(result["test_own_model"])
    assert "over the budget of 1,000,000" in str(result["test_own_model"])


def test_hidden_tests_never_reach_the_feedback(graded):
    _, out = graded
    nb = nbformat.read(SOURCE_DIR / NB, as_version=4)
    hidden = {line.strip() for c in nb.cells for line in region_lines(c.source, HIDDEN_BEGIN, HIDDEN_END)}
    public = {line.strip() for c in nb.cells for line in strip_regions(c.source).splitlines()}
    answers = "\n".join(REF.values()) + (RELEASE_DIR / NB).read_text()  # what the students' pages may quote
    distinctive = {line for line in hidden - public
                   if len(line) >= 20 and not line.startswith("#") and line not in answers}
    assert len(distinctive) > 50
    for student in ATTACKS:
        pages = list((out / "feedback" / student).rglob("*.html"))
        assert pages, student
        for page in pages:
            text = page.read_text()
            assert not [line for line in distinctive if line in text], page
