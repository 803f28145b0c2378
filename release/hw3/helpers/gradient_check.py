"""Numerical gradients by centered differences, and the relative error used to compare them.

Both gradient functions perturb ``x`` in place one entry at a time (so that ``f`` may
close over ``x``, as in the CS231n notebooks) and always restore it, even when ``f``
raises. Use float64 inputs: with float32 the differences drown in rounding error.
"""

import numpy as np


def rel_error(x, y, eps=1e-8):
    """Largest elementwise relative error between two arrays of the same shape.

    Args:
        x, y: array-likes of the same shape (any shape).
        eps: floor for the denominator, so two near-zero entries do not blow up.
    Returns:
        float: max over entries of ``|x - y| / max(eps, |x| + |y|)``. Correct
        gradients usually give 1e-7 or less; above 1e-3 something is wrong.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"rel_error: shapes differ, {x.shape} vs {y.shape}")
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y) / np.maximum(eps, np.abs(x) + np.abs(y))))


def _entries(x):
    """Iterate over every multi-index of ``x`` (any shape, including 0-d)."""
    return np.ndindex(*x.shape)


def _values_around(f, x, ix, h):
    """``(f(x + h e_ix), f(x - h e_ix))``, with ``x[ix]`` restored even if ``f`` raises."""
    old = x[ix]
    try:
        x[ix] = old + h
        plus = f(x)
        x[ix] = old - h
        minus = f(x)
    finally:
        x[ix] = old
    return plus, minus


def eval_numerical_gradient(f, x, verbose=False, h=1e-5):
    """Gradient of a scalar function by centered differences.

    Args:
        f: callable taking an array shaped like ``x`` and returning a scalar.
        x: float array of any shape ``S``; perturbed in place and restored.
        verbose: print each entry's gradient as it is computed.
        h: step size.
    Returns:
        grad: float64 array of shape ``S``, ``grad[i] ~ (f(x + h e_i) - f(x - h e_i)) / 2h``.
    """
    grad = np.zeros(x.shape, dtype=np.float64)
    for ix in _entries(x):
        f_plus, f_minus = _values_around(lambda v: float(f(v)), x, ix, h)
        grad[ix] = (f_plus - f_minus) / (2 * h)
        if verbose:
            print(ix, grad[ix])
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Gradient of ``sum(f(x) * df)`` for an array-valued ``f``: the backward pass to check.

    Args:
        f: callable taking an array shaped like ``x`` and returning an array of shape ``T``.
        x: float array of any shape ``S``; perturbed in place and restored.
        df: upstream gradient, shape ``T``.
        h: step size.
    Returns:
        grad: float64 array of shape ``S``, the vector-Jacobian product ``df . d f(x) / dx``.
    """
    df = np.asarray(df, dtype=np.float64)
    grad = np.zeros(x.shape, dtype=np.float64)
    for ix in _entries(x):
        # np.array copies: f may return a view of x, which the next step would change.
        pos, neg = _values_around(lambda v: np.array(f(v), dtype=np.float64), x, ix, h)
        if pos.shape != df.shape:
            raise ValueError(f"f(x) has shape {pos.shape} but df has shape {df.shape}")
        grad[ix] = np.sum((pos - neg) * df) / (2 * h)
    return grad
