"""Training PyTorch models on CIFAR-10, and keeping a record of each run for submission.

``train_or_load`` trains a model with your ``train_step`` and ``evaluate`` functions (progress bar,
validation after every epoch, learning-rate schedule, seeding) and saves two files per model in
``models/``:

- ``<name>.pt``: the trained weights (``state_dict``);
- ``<name>.json``: what happened: test accuracy, parameter count, epochs, steps, hyperparameters,
  device, wall time, and the per-epoch history.

Later calls reuse both files while the model's code and the settings are unchanged. While
autograding, training never runs: the submitted weights are loaded into your class (safely:
``weights_only=True`` and a size cap), and the grader measures the accuracy itself. The files are
written and read by ``helpers.checkpoints``.
"""

import dataclasses
import datetime
import math
import random
import time

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from helpers.checkpoints import (
    MAX_CHECKPOINT_BYTES,
    CheckpointError,
    check_fits,
    checkpoint_paths,
    checkpoint_state,
    count_saved_parameters,
    load_checkpoint,
    load_record,
    parse_record,
    read_record,
    save_run,
)
from helpers.experiments import fingerprint
from helpers.runtime import autograding
from helpers.torch_data import batches, normalize

# The checkpoint names are re-exported: the notebooks and their hidden tests import them from here.
__all__ = ["GIVEN_SETTINGS", "MAX_CHECKPOINT_BYTES", "BudgetExceeded", "CheckpointError", "TrainConfig", "check_fits",
           "checkpoint_state", "count_parameters", "count_saved_parameters", "linear_points", "load_checkpoint",
           "load_record", "parse_record", "prepared", "read_record", "save_run", "seed_everything", "threshold_points",
           "train_model", "train_or_load"]


class BudgetExceeded(ValueError):
    """A model or its training settings are over the stated budget."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one training run (all saved in the model's JSON record).

    optimizer: "sgd" (Nesterov momentum) or "adam"; schedule: "onecycle" (linear warm-up over
    ``warmup`` of the steps, then linear decay to 0), "cosine" or "constant". ``train_size``
    limits the training images (quick runs on a CPU); None uses all 45,000.
    """

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "onecycle"
    warmup: float = 0.2
    label_smoothing: float = 0.0
    augment: bool = True
    crop_pad: int = 4
    train_size: int | None = None
    seed: int = 0

    def to_dict(self):
        return dataclasses.asdict(self)


# The given settings of Part 3's base and batch norm + dropout models (the same for both, so the
# comparison isolates the layers). "quick" is for CPUs: about 3 minutes per model on 2 cores.
# "smoke" only checks that the code runs (one short epoch), e.g. in the course's own tests.
_GIVEN = dict(batch_size=128, lr=2e-3, optimizer="adam", weight_decay=0.05, schedule="onecycle", augment=True)
GIVEN_SETTINGS = {
    "full": TrainConfig(epochs=20, **_GIVEN),
    "quick": TrainConfig(epochs=6, **_GIVEN),
    "smoke": TrainConfig(epochs=1, train_size=2048, **_GIVEN),
}


def threshold_points(accuracy, full_at, points):
    """Points for a given network's test accuracy (a fraction): all of ``points`` from ``full_at``,
    half from 20 percentage points below it, else none. The grader scores the accuracy it measures
    this way; the notebook shows what the record's accuracy would earn."""
    if accuracy >= full_at:
        return points
    return points / 2 if accuracy >= round(full_at - 0.2, 6) else 0.0


def linear_points(accuracy, zero_at, full_at, points):
    """Points for your own network's test accuracy: 0 up to ``zero_at``, rising linearly to all of
    ``points`` at ``full_at``, rounded to hundredths (as ``threshold_points``, for the grader and you)."""
    return round(points * min(1.0, max(0.0, (accuracy - zero_at) / (full_at - zero_at))), 2)


def count_parameters(model):
    """What the parameter budget counts: every number in the model's saved weights (its
    ``state_dict``: parameters, frozen ones included, and saved buffers) except batch norm's
    running statistics. The grader counts the same on the submitted file (``count_saved_parameters``)."""
    return count_saved_parameters(model.state_dict())


def seed_everything(seed):
    """Seed Python, NumPy and PyTorch (all devices). Returns a seeded CPU generator for the data."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def prepared(model, data, seed=0, n=5000):
    """Give ``model`` a look at the data before training, where it asks for one.

    Every module of ``model`` (the model itself included) that has a ``prepare(x)`` method is
    called with the same ``n`` standardized training images x (n, 3, 32, 32), drawn with ``seed``
    (e.g. for a data-dependent initialization). Returns the model (on the data's device).

    Not while autograding: nothing trains then, and the submitted weights replace whatever
    ``prepare`` would set (the grader builds ``MyNetwork()`` and loads them), so the work, and
    the memory it needs (hundreds of MB for a whitening layer), are skipped.
    """
    wanting = [m for m in model.modules() if callable(getattr(m, "prepare", None))]
    model = model.to(data.device)
    if wanting and not autograding():
        pick = torch.randperm(len(data.x_train), generator=torch.Generator().manual_seed(seed))[:n]
        x = normalize(data.x_train[pick.to(data.device)])
        with torch.no_grad():
            for module in wanting:
                module.prepare(x)
    return model


def _optimizer(model, cfg):
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0,
                               weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}: use 'sgd' or 'adam'")


def _lr_factor(cfg, total_steps):
    warm = max(1, int(cfg.warmup * total_steps))

    def factor(step):  # multiplier of cfg.lr before step `step`
        if cfg.schedule == "constant":
            return 1.0
        if cfg.schedule == "onecycle":
            return (step + 1) / warm if step < warm else max(0.0, (total_steps - step) / (total_steps - warm + 1))
        if cfg.schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * step / total_steps))
        raise ValueError(f"unknown schedule {cfg.schedule!r}: use 'onecycle', 'cosine' or 'constant'")

    return factor


def train_model(model, data, cfg, train_step, evaluate, progress=True, max_epochs=None, max_parameters=None):
    """Train ``model`` on ``data.train``, validating after every epoch.

    Args:
        model: nn.Module taking (B, 3, 32, 32) normalized images and returning (B, 10) scores.
        data: helpers.torch_data.Cifar10Tensors.
        cfg: TrainConfig.
        train_step: ``train_step(model, optimizer, loss_fn, x, y) -> float`` (one update, returns the loss).
        evaluate: ``evaluate(model, batches) -> float`` (accuracy in [0, 1] over an iterable of (x, y)).
        max_epochs, max_parameters: budget; exceeding it raises BudgetExceeded before training.
    Returns:
        (model, record): the trained model (in eval mode) and the record dict (see the module doc).
    """
    params = count_parameters(model)
    if max_parameters is not None and params > max_parameters:
        raise BudgetExceeded(f"the model has {params:,} trainable parameters; the budget is {max_parameters:,}")
    if max_epochs is not None and cfg.epochs > max_epochs:
        raise BudgetExceeded(f"{cfg.epochs} epochs requested; the budget is {max_epochs}")
    generator = seed_everything(cfg.seed)
    device = data.device
    model = model.to(device)
    if device.type == "cpu":
        model = model.to(memory_format=torch.channels_last)
    x_train, y_train = data.x_train, data.y_train
    if cfg.train_size is not None:
        x_train, y_train = x_train[:cfg.train_size], y_train[:cfg.train_size]
    steps_per_epoch = len(x_train) // cfg.batch_size
    total_steps = steps_per_epoch * cfg.epochs
    optimizer = _optimizer(model, cfg)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_factor(cfg, total_steps))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)

    def eval_batches(split):
        return batches(*data.split(split), batch_size=500)

    history = {"epoch": [], "train_loss": [], "val_accuracy": [], "lr": [], "seconds": []}
    start = time.perf_counter()
    bar = tqdm(total=total_steps, desc=f"{type(model).__name__}", unit="step", disable=not progress,
               mininterval=1.0)
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        losses = []
        for xb, yb in batches(x_train, y_train, cfg.batch_size, shuffle=True, augment=cfg.augment,
                              crop_pad=cfg.crop_pad, generator=generator, drop_last=True):
            loss = float(train_step(model, optimizer, loss_fn, xb, yb))
            if not math.isfinite(loss):
                bar.close()
                raise FloatingPointError(f"the loss became {loss} in epoch {epoch}: lower the learning rate")
            losses.append(loss)
            scheduler.step()
            bar.update(1)
            if len(losses) % 20 == 0:
                bar.set_postfix(epoch=epoch, loss=f"{np.mean(losses[-20:]):.3f}")
        val = float(evaluate(model, eval_batches("val")))
        history["epoch"].append(epoch)
        history["train_loss"].append(float(np.mean(losses)))
        history["val_accuracy"].append(val)
        history["lr"].append(optimizer.param_groups[0]["lr"])
        history["seconds"].append(round(time.perf_counter() - start, 2))
        bar.set_postfix(epoch=epoch, loss=f"{np.mean(losses):.3f}", val_acc=f"{val:.3f}")
        if not progress:  # a plain log line per epoch instead of the bar (scripts, CI logs)
            print(f"epoch {epoch}/{cfg.epochs}: loss {np.mean(losses):.3f}, validation accuracy {val:.2%}, "
                  f"{history['seconds'][-1]:.0f} s", flush=True)
    bar.close()
    train_seconds = time.perf_counter() - start
    test = float(evaluate(model, eval_batches("test")))
    record = {
        "model_class": type(model).__name__,
        "parameters": params,
        "test_accuracy": test,
        "val_accuracy": history["val_accuracy"][-1],
        "epochs": cfg.epochs,
        "steps": total_steps,
        "train_images": len(x_train),
        "config": cfg.to_dict(),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else device.type,
        "cpu_threads": torch.get_num_threads(),
        "train_seconds": round(train_seconds, 1),
        "torch_version": torch.__version__,
        "history": history,
    }
    print(f"{type(model).__name__}: test accuracy {test:.2%} after {cfg.epochs} epochs "
          f"({params:,} parameters, {train_seconds:.0f} s on {record['device']})")
    return model.eval(), record


def train_or_load(name, make_model, cfg, train_step, evaluate, data, folder=None, rerun=False,
                  max_epochs=None, max_parameters=None, progress=True):
    """Train model ``name`` once and save it; reuse the saved run while nothing it depends on changed.

    Args:
        name: file stem in ``models/`` (``"base"`` -> ``models/base.pt`` and ``models/base.json``).
        make_model: callable with no arguments returning a fresh model (e.g. ``lambda: NeuralNetwork(...)``).
        cfg: TrainConfig; train_step, evaluate: your functions (see ``train_model``).
        data: Cifar10Tensors (not touched while autograding).
        rerun: train again even when a valid saved run exists.
        max_epochs, max_parameters: the budget, checked before training.
    Returns:
        (model, record). While autograding: the submitted weights and record, never retrained.
    """
    model = make_model()
    pt, _ = checkpoint_paths(name, folder)
    key = fingerprint([type(model), train_step, evaluate], cfg.to_dict())
    if autograding():
        return load_record(name, model, folder)
    if not rerun:
        try:
            saved, record = load_record(name, model, folder)
        except CheckpointError:
            pass
        else:
            if record.get("fingerprint") == key:
                print(f"loaded {pt} (test accuracy {record.get('test_accuracy', float('nan')):.2%}, saved "
                      f"{record.get('saved_at', '?')}; your code and settings have not changed). "
                      "Pass rerun=True to train again.")
                return saved.to(data.device), record
    model, record = train_model(model, data, cfg, train_step, evaluate, progress=progress,
                                max_epochs=max_epochs, max_parameters=max_parameters)
    record.update(name=name, fingerprint=key, saved_at=datetime.datetime.now().isoformat(timespec="seconds"))
    save_run(name, model, record, folder)
    print(f"saved {pt} and its record")
    return model, record
