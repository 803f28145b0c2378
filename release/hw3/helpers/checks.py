"""Assertions for the notebooks' test cells: numbers in, clear messages out.

Tests compare numbers, never objects: every answer goes through ``as_float_array``
first (float64, shape and finiteness checked), so an object that claims to equal
everything cannot pass, and a wrong answer gets a message that says what is wrong.
"""

import numpy as np


def as_float_array(value, name, shape=None):
    """Convert an answer to a float64 array, or fail with a message a student can act on.

    Args:
        value: the student's answer (array-like).
        name: how to call it in messages, e.g. ``"box_kernel(3)"``.
        shape: expected shape (tuple), or None to accept any.
    Returns:
        np.ndarray of dtype float64 (a copy), of ``shape`` when given.
    Raises:
        AssertionError: not numeric, wrong shape, or containing NaN/inf.
    """
    if value is None:
        raise AssertionError(f"{name} returned None: did you forget a `return`?")
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise AssertionError(
            f"{name} must be numeric array-like, got {type(value).__name__} ({exc})"
        ) from None
    if shape is not None and arr.shape != tuple(shape):
        raise AssertionError(f"{name} has shape {arr.shape}, expected {tuple(shape)}")
    if not np.all(np.isfinite(arr)):
        raise AssertionError(f"{name} contains NaN or infinity")
    return arr


def assert_close(actual, expected, name, rtol=1e-7, atol=1e-10):
    """Assert ``actual`` matches ``expected`` elementwise within tolerances.

    Args:
        actual: the student's value (array-like); converted with ``as_float_array``.
        expected: the reference value (array-like), same shape.
        name: how to call ``actual`` in messages.
        rtol, atol: as in ``np.allclose``: ``|a - e| <= atol + rtol * |e|``.
    Raises:
        AssertionError: naming the worst entry and its error.
    """
    expected = np.asarray(expected, dtype=np.float64)
    actual = as_float_array(actual, name, shape=expected.shape)
    err = np.abs(actual - expected)
    bad = err > atol + rtol * np.abs(expected)
    if np.any(bad):
        worst = np.unravel_index(int(np.argmax(np.where(bad, err, -1.0))), err.shape)
        raise AssertionError(
            f"{name} is wrong at {len(np.argwhere(bad))} of {err.size} entries; "
            f"e.g. at index {tuple(int(i) for i in worst)}: got {actual[worst]:.6g}, "
            f"expected {expected[worst]:.6g}"
        )


def passed(message):
    """Print a one-line confirmation for a check that passed."""
    print(f"\u2713 {message}")
