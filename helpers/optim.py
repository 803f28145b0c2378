"""First-order update rules, with the CS231n signature ``rule(w, dw, config=None) -> (next_w, config)``.

``w`` and ``dw`` are arrays of the same (any) shape. ``config`` holds the hyperparameters and
the rule's state (velocity, moments, step count); missing entries are filled with defaults via
``setdefault``, and the same dict must be passed back in on the next step. The solver keeps one
config per parameter.
"""

import numpy as np


def sgd(w, dw, config=None):
    """Vanilla stochastic gradient descent: ``w - learning_rate * dw``.

    config keys: ``learning_rate`` (default 1e-2).
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    return w - config["learning_rate"] * dw, config


def sgd_momentum(w, dw, config=None):
    """SGD with momentum: ``v = momentum * v - learning_rate * dw; w = w + v``.

    config keys: ``learning_rate`` (default 1e-2), ``momentum`` (default 0.9),
    ``velocity`` (same shape as ``w``; zeros on the first step).
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    config.setdefault("velocity", np.zeros_like(w))
    v = config["momentum"] * config["velocity"] - config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config


def adam(w, dw, config=None):
    """Adam (Kingma & Ba, 2015) with bias-corrected moment estimates.

    config keys: ``learning_rate`` (default 1e-3), ``beta1`` (0.9), ``beta2`` (0.999),
    ``epsilon`` (1e-8), ``m`` and ``v`` (moment estimates shaped like ``w``; zeros at first),
    ``t`` (step count, 0 at first; incremented before use, so the first step uses t = 1).
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("m", np.zeros_like(w))
    config.setdefault("v", np.zeros_like(w))
    config.setdefault("t", 0)

    beta1, beta2 = config["beta1"], config["beta2"]
    config["t"] += 1
    t = config["t"]
    config["m"] = beta1 * config["m"] + (1 - beta1) * dw
    config["v"] = beta2 * config["v"] + (1 - beta2) * dw**2
    # Without the correction the zero-initialised moments make the first steps too small.
    m_hat = config["m"] / (1 - beta1**t)
    v_hat = config["v"] / (1 - beta2**t)
    next_w = w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"])
    return next_w, config
