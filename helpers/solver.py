"""Minibatch training loop for classification models, in the style of the CS231n ``Solver``.

Example::

    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-3},
                    lr_decay=0.95, batch_size=100, num_epochs=10, seed=0, progress=True)
    solver.train()                 # model.params now hold the best-validation weights
    json.dump(solver.history(), f)
"""

import copy

import numpy as np
from tqdm.auto import tqdm

from helpers import optim

_DEFAULTS = {
    "update_rule": "sgd",
    "optim_config": None,
    "lr_decay": 1.0,
    "batch_size": 100,
    "num_epochs": 10,
    "num_train_samples": 1000,
    "num_val_samples": None,
    "print_every": 10,
    "verbose": True,
    "seed": None,
    "progress": False,
}
_DATA_KEYS = ("X_train", "y_train", "X_val", "y_val")


class Solver:
    """Trains a classification model with minibatch gradient descent and tracks accuracy.

    The model contract:

    * ``model.params``: dict mapping parameter names to arrays. The solver replaces the
      entries with updated arrays on every step.
    * ``model.loss(X, y=None)``: with ``y`` given, a **training-mode** forward and backward
      pass returning ``(loss, grads)``, where ``loss`` is a scalar and ``grads`` a dict with
      the keys of ``model.params`` and arrays of the same shapes. With ``y=None``, a
      **test-mode** forward pass returning class scores of shape (N, C). The model itself
      switches its batch norm layers to running statistics and its dropout off when ``y`` is
      None; the solver relies on this and always calls ``model.loss(X)`` to measure accuracy.

    Args:
        model: an object following the contract above.
        data: dict with ``X_train`` (N_train, ...), ``y_train`` (N_train,), ``X_val``
            (N_val, ...), ``y_val`` (N_val,); labels are integers in [0, C).
        update_rule: name of a rule in ``helpers.optim`` ("sgd", "sgd_momentum", "adam") or a
            callable with the same signature ``rule(w, dw, config) -> (next_w, config)``.
        optim_config: hyperparameters passed to the update rule, e.g. ``{"learning_rate": 1e-3}``.
            Each parameter gets its own deep copy, in which the rule keeps its state.
        lr_decay: ``learning_rate`` is multiplied by this after every epoch.
        batch_size: examples per step, drawn with replacement from the training set.
        num_epochs: epochs to train; an epoch is ``max(N_train // batch_size, 1)`` steps.
        num_train_samples: training examples (a random subset) used to measure training
            accuracy each epoch; None for all of them.
        num_val_samples: validation examples used to measure validation accuracy; None (the
            default) for all of them.
        print_every: with ``verbose``, print the loss every this many iterations.
        verbose: print losses and per-epoch accuracies.
        seed: seed of the solver's own ``np.random.default_rng``, the only source of
            randomness here (minibatches, accuracy subsets); the same seed, model and data give
            the same histories. The global ``np.random`` state is never used or changed.
        progress: show a ``tqdm`` progress bar over iterations with the epoch and the loss.

    Attributes after ``train()``: ``loss_history`` (one float per iteration),
    ``train_acc_history`` and ``val_acc_history`` (one float per epoch, starting with epoch 0
    before any update, so ``num_epochs + 1`` entries), ``best_val_acc`` and ``best_params``
    (deep copies of ``model.params`` at the best validation accuracy, which ``train()`` loads
    back into ``model.params`` when it ends).
    """

    def __init__(self, model, data, **kwargs):
        unknown = sorted(set(kwargs) - set(_DEFAULTS))
        if unknown:
            raise TypeError(f"Solver got unknown argument(s) {unknown}; allowed: {sorted(_DEFAULTS)}")
        missing = [k for k in _DATA_KEYS if k not in data]
        if missing:
            raise KeyError(f"Solver data is missing {missing}; it needs {list(_DATA_KEYS)}")
        opts = {**_DEFAULTS, **kwargs}

        self.model = model
        self.X_train, self.y_train = data["X_train"], data["y_train"]
        self.X_val, self.y_val = data["X_val"], data["y_val"]

        rule = opts["update_rule"]
        if isinstance(rule, str):
            if rule.startswith("_") or not callable(getattr(optim, rule, None)):
                raise ValueError(f"Unknown update_rule {rule!r}; use sgd, sgd_momentum, adam or a callable")
            rule = getattr(optim, rule)
        elif not callable(rule):
            raise TypeError(f"update_rule must be a name in helpers.optim or a callable, got {rule!r}")
        self.update_rule = rule

        self.optim_config = dict(opts["optim_config"] or {})
        self.lr_decay = opts["lr_decay"]
        self.batch_size = int(opts["batch_size"])
        self.num_epochs = int(opts["num_epochs"])
        self.num_train_samples = opts["num_train_samples"]
        self.num_val_samples = opts["num_val_samples"]
        self.print_every = opts["print_every"]
        self.verbose = opts["verbose"]
        self.seed = opts["seed"]
        self.progress = opts["progress"]
        self.rng = np.random.default_rng(self.seed)
        self._reset()

    def _reset(self):
        """Empty the histories and give every parameter a fresh optimizer config."""
        self.epoch = 0
        self.best_val_acc = -np.inf  # so epoch 0 always sets best_params
        self.best_params = {}
        self.loss_history = []
        self.train_acc_history = []
        self.val_acc_history = []
        self.optim_configs = {p: copy.deepcopy(self.optim_config) for p in self.model.params}

    def _step(self):
        """One minibatch forward/backward pass and parameter update; returns the loss."""
        idx = self.rng.choice(self.X_train.shape[0], self.batch_size)
        loss, grads = self.model.loss(self.X_train[idx], self.y_train[idx])
        loss = float(loss)
        self.loss_history.append(loss)
        for p in list(self.model.params):
            next_w, next_config = self.update_rule(self.model.params[p], grads[p], self.optim_configs[p])
            self.model.params[p] = next_w
            self.optim_configs[p] = next_config
        return loss

    def check_accuracy(self, X, y, num_samples=None, batch_size=100):
        """Fraction of examples the model classifies correctly, computed in test mode.

        Args:
            X: (N, ...) inputs.
            y: (N,) integer labels.
            num_samples: if given and smaller than N, measure on this many examples drawn
                without replacement with the solver's rng.
            batch_size: examples per ``model.loss(X_batch)`` call (bounds memory).
        Returns:
            float in [0, 1].
        """
        n = X.shape[0]
        if num_samples is not None and n > num_samples:
            idx = self.rng.choice(n, num_samples, replace=False)
            X, y, n = X[idx], y[idx], num_samples
        if n == 0:
            return 0.0
        y_pred = []
        for start in range(0, n, batch_size):
            scores = self.model.loss(X[start : start + batch_size])  # y=None: test mode
            y_pred.append(np.argmax(scores, axis=1))
        return float(np.mean(np.concatenate(y_pred) == np.asarray(y)))

    def _end_epoch(self, bar):
        """Record this epoch's train/val accuracy, keep the best parameters so far; return val acc."""
        train_acc = self.check_accuracy(self.X_train, self.y_train, num_samples=self.num_train_samples)
        val_acc = self.check_accuracy(self.X_val, self.y_val, num_samples=self.num_val_samples)
        self.train_acc_history.append(train_acc)
        self.val_acc_history.append(val_acc)
        if val_acc > self.best_val_acc:
            self.best_val_acc = val_acc
            self.best_params = copy.deepcopy(self.model.params)
        self._log(f"(Epoch {self.epoch} / {self.num_epochs}) train acc: {train_acc:.4f}; val acc: {val_acc:.4f}", bar)
        return val_acc

    def _log(self, msg, bar):
        if self.verbose:
            # tqdm.write keeps an active bar intact; it is a plain print when the bar is off.
            (bar.write if self.progress else print)(msg)

    def train(self):
        """Run ``num_epochs`` epochs of optimization, then load ``best_params`` into the model.

        Meant to be called once per Solver: a second call goes on appending to the histories
        (with the optimizer state kept) rather than starting over. Make a new Solver instead.
        """
        num_train = self.X_train.shape[0]
        iterations_per_epoch = max(num_train // self.batch_size, 1)
        num_iterations = self.num_epochs * iterations_per_epoch

        with tqdm(total=num_iterations, disable=not self.progress, desc="train", unit="it") as bar:
            val_acc = self._end_epoch(bar)
            for t in range(num_iterations):
                loss = self._step()
                bar.update(1)
                epoch = f"{self.epoch + 1}/{self.num_epochs}"
                bar.set_postfix(epoch=epoch, loss=f"{loss:.4f}", val_acc=f"{val_acc:.3f}", refresh=False)
                if self.print_every and t % self.print_every == 0:
                    self._log(f"(Iteration {t + 1} / {num_iterations}) loss: {loss:.6f}", bar)

                if (t + 1) % iterations_per_epoch == 0:
                    self.epoch += 1
                    for config in self.optim_configs.values():
                        if "learning_rate" in config:
                            config["learning_rate"] *= self.lr_decay
                    val_acc = self._end_epoch(bar)

        # Copies, so that training on afterwards cannot change best_params through the model.
        for p, w in copy.deepcopy(self.best_params).items():
            self.model.params[p] = w

    def history(self):
        """The recorded histories as plain lists of floats, ready for ``json.dump``.

        Returns:
            dict with ``loss_history`` (per iteration), ``train_acc_history`` and
            ``val_acc_history`` (per epoch, epoch 0 first).
        """
        return {
            "loss_history": [float(v) for v in self.loss_history],
            "train_acc_history": [float(v) for v in self.train_acc_history],
            "val_acc_history": [float(v) for v in self.val_acc_history],
        }
