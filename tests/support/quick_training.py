"""The reference base model trained in Part 3's quick setting, in a background process.

Training takes a few minutes of CPU. Started as soon as the session knows it needs the model
(``conftest.pytest_collection_finish``), at the lowest CPU priority, it uses the cores the other
tests leave idle (kernels starting, nbgrader bookkeeping) instead of adding its minutes to the
suite; ``tests/answers/test_pytorch_grading.py`` waits for it when it needs the model.

Run as a script: ``python tests/support/quick_training.py FOLDER`` writes FOLDER/base.pt and base.json.
"""

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_NAME = "part3_pytorch_cnn.ipynb"


def start(folder):
    """Start training into ``folder`` (its log in ``folder/train.log``); returns the Popen."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # One thread: at the lowest priority its threads are often descheduled, and a second thread
    # would spin at every parallel region waiting for the first instead of doing work.
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with open(folder / "train.log", "w") as log:
        return subprocess.Popen([sys.executable, __file__, str(folder)], stdout=log, stderr=subprocess.STDOUT,
                                cwd=REPO_ROOT, env=env, preexec_fn=lambda: os.nice(19))


def train(folder):
    """Train the source notebook's reference NeuralNetwork (no batch norm, no dropout), quick setting."""
    sys.path.insert(0, str(REPO_ROOT))
    from grader.cells import reference_namespace
    from helpers.torch_data import load_cifar10_tensors
    from helpers.training import GIVEN_SETTINGS, save_run, train_model

    ref = reference_namespace(NOTEBOOK_NAME, ["NeuralNetwork", "train_step", "evaluate"])
    data = load_cifar10_tensors("cpu")
    model, record = train_model(ref["NeuralNetwork"](do_batchnorm=False, p_dropout=0.0), data,
                                GIVEN_SETTINGS["quick"], ref["train_step"], ref["evaluate"], progress=False)
    save_run("base", model, record, folder)


if __name__ == "__main__":
    train(sys.argv[1])
