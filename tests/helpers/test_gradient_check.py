"""The gradient helpers against gradients known in closed form."""

import numpy as np
import pytest

from helpers.gradient_check import (
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    rel_error,
)

rng = np.random.default_rng(0)


def test_scalar_function_gradient_matches_closed_form():
    # f(x) = sum(x**3) + sum(sin(x)) has gradient 3x**2 + cos(x).
    x = rng.normal(size=(3, 4))
    before = x.copy()
    grad = eval_numerical_gradient(lambda v: np.sum(v**3) + np.sum(np.sin(v)), x)
    assert rel_error(grad, 3 * x**2 + np.cos(x)) < 1e-8
    np.testing.assert_array_equal(x, before)  # x is restored


def test_quadratic_form_gradient():
    # f(x) = x^T A x has gradient (A + A^T) x.
    a = rng.normal(size=(5, 5))
    x = rng.normal(size=5)
    grad = eval_numerical_gradient(lambda v: v @ a @ v, x)
    assert rel_error(grad, (a + a.T) @ x) < 1e-8


def test_array_function_gradient_is_vector_jacobian_product():
    # f(W) = X W, upstream dout: dW = X^T dout.
    xmat = rng.normal(size=(4, 3))
    w = rng.normal(size=(3, 2))
    dout = rng.normal(size=(4, 2))
    grad = eval_numerical_gradient_array(lambda v: xmat @ v, w, dout)
    assert rel_error(grad, xmat.T @ dout) < 1e-8


def test_array_function_returning_a_view_of_x():
    # f(x) = x (a view): the gradient is dout itself; a helper that forgets to copy gets 0.
    x = rng.normal(size=(2, 3))
    dout = rng.normal(size=(2, 3))
    assert rel_error(eval_numerical_gradient_array(lambda v: v, x, dout), dout) < 1e-8


def test_elementwise_tanh_backward():
    x = rng.normal(size=(3, 3))
    dout = rng.normal(size=(3, 3))
    grad = eval_numerical_gradient_array(np.tanh, x, dout)
    assert rel_error(grad, dout * (1 - np.tanh(x) ** 2)) < 1e-8


def test_wrong_gradient_is_detected():
    x = rng.normal(size=(3, 4))
    grad = eval_numerical_gradient(lambda v: np.sum(v**2), x)
    assert rel_error(grad, x) > 0.3  # the classic "forgot the factor 2" bug


def test_x_restored_when_f_raises():
    x = np.ones(3)

    def explode(v):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        eval_numerical_gradient(explode, x)
    np.testing.assert_array_equal(x, np.ones(3))


def test_shape_mismatch_is_reported():
    with pytest.raises(ValueError, match="shape"):
        eval_numerical_gradient_array(lambda v: v.sum(axis=0), np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="shapes differ"):
        rel_error(np.ones(2), np.ones(3))


def test_rel_error_values():
    assert rel_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert rel_error([1.0], [1.1]) == pytest.approx(0.1 / 2.1)
    assert rel_error([0.0], [0.0]) == 0.0
