"""Train Part 3's reference models (the source notebook's solutions); report accuracy, size and time.

Usage:
    python benchmarks/train_reference.py [--models base batchnorm_dropout own] [--setting quick] [--out DIR]

``--setting`` picks the given models' settings (``quick`` for CPUs, ``full`` for GPUs, ``smoke``);
the own-design model always uses the reference ``OWN_CONFIG``. The device is chosen as in the
notebook (``HW3_DEVICE`` overrides). Checkpoints and records are written to ``--out`` (default: a
temporary folder), so the accuracy the grader would measure can be checked afterwards. Set
HW3_DATA_DIR (e.g. ../shared/data) where there is no internet.
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader.cells import reference_namespace  # noqa: E402
from helpers.torch_data import load_cifar10_tensors, pick_device  # noqa: E402
from helpers.training import GIVEN_SETTINGS, prepared, save_run, train_model  # noqa: E402

NOTEBOOK = "part3_pytorch_cnn.ipynb"
P_DROPOUT = 0.5  # as in the notebook


def reference_models(ns, data, setting):
    """name -> (factory of a fresh model, TrainConfig, budget kwargs)."""
    given = GIVEN_SETTINGS[setting]
    return {
        "base": (lambda: ns["NeuralNetwork"](do_batchnorm=False, p_dropout=0.0), given, {}),
        "batchnorm_dropout": (lambda: ns["NeuralNetwork"](do_batchnorm=True, p_dropout=P_DROPOUT), given, {}),
        "own": (lambda: prepared(ns["MyNetwork"](), data, seed=ns["OWN_CONFIG"].seed), ns["OWN_CONFIG"],
                {"max_epochs": 10, "max_parameters": 1_000_000}),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["base", "batchnorm_dropout", "own"])
    parser.add_argument("--setting", default="quick", choices=sorted(GIVEN_SETTINGS))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="hw3-reference-"))
    ns = reference_namespace(NOTEBOOK, ["NeuralNetwork", "train_step", "evaluate", "MyNetwork"])
    device = pick_device()
    t = time.perf_counter()
    data = load_cifar10_tensors(device)
    print(f"data on {device}: {time.perf_counter() - t:.1f} s")
    models = reference_models(ns, data, args.setting)
    summary = {}
    for name in args.models:
        make, cfg, budget = models[name]
        model, record = train_model(make(), data, cfg, ns["train_step"], ns["evaluate"],
                                    progress=not args.no_progress, **budget)
        save_run(name, model, record, out)
        summary[name] = {k: record[k] for k in ("test_accuracy", "val_accuracy", "parameters", "epochs",
                                                "train_seconds", "device", "cpu_threads")}
        summary[name]["trainable_parameters"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
        print(name, json.dumps(summary[name]), flush=True)
    print(f"checkpoints in {out}")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
