"""The provided building blocks: layers against numerical gradients, update rules against
hand-computed steps, and the Solver on tiny models (determinism, overfitting, best params)."""

import json

import numpy as np
import pytest

from helpers import optim
from helpers.gradient_check import eval_numerical_gradient, eval_numerical_gradient_array, rel_error
from helpers.layers import (
    affine_backward,
    affine_forward,
    affine_relu_backward,
    affine_relu_forward,
    relu_backward,
    relu_forward,
    softmax_loss,
)
from helpers.solver import Solver

# ---------------------------------------------------------------- layers


def test_affine_forward_hand_computed():
    # Two examples of shape (1, 2) flatten to D = 2; out = x @ w + b.
    x = np.array([[[1.0, 2.0]], [[3.0, 4.0]]])
    w = np.array([[1.0, 0.0, -1.0], [0.5, 2.0, 1.0]])
    b = np.array([0.0, 1.0, -1.0])
    out, _ = affine_forward(x, w, b)
    expected = np.array([[2.0, 5.0, 0.0], [5.0, 9.0, 0.0]])
    np.testing.assert_allclose(out, expected)


@pytest.mark.parametrize("forward, backward, seed, tol", [(affine_forward, affine_backward, 1, 1e-8),
                                                         (affine_relu_forward, affine_relu_backward, 3, 1e-7)])
def test_affine_backward_numerical(forward, backward, seed, tol):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(4, 2, 3))
    w = rng.normal(size=(6, 5))
    b = rng.normal(size=5)
    dout = rng.normal(size=(4, 5))
    _, cache = forward(x, w, b)
    dx, dw, db = backward(dout, cache)
    assert dx.shape == x.shape
    assert rel_error(dx, eval_numerical_gradient_array(lambda v: forward(v, w, b)[0], x, dout)) < tol
    assert rel_error(dw, eval_numerical_gradient_array(lambda v: forward(x, v, b)[0], w, dout)) < tol
    assert rel_error(db, eval_numerical_gradient_array(lambda v: forward(x, w, v)[0], b, dout)) < tol


def test_relu_forward_backward():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 4))
    x += np.sign(x) * 0.1  # keep entries away from the kink at 0
    out, cache = relu_forward(x)
    np.testing.assert_array_equal(out, np.where(x > 0, x, 0.0))
    np.testing.assert_array_equal(relu_backward(np.ones(3), np.zeros(3)), 0.0)  # subgradient 0 at 0
    dout = rng.normal(size=x.shape)
    dx = relu_backward(dout, cache)
    assert rel_error(dx, eval_numerical_gradient_array(lambda v: relu_forward(v)[0], x, dout)) < 1e-8


def test_softmax_loss_uniform_scores_is_log_c():
    n, c = 7, 10
    loss, dx = softmax_loss(np.zeros((n, c)), np.arange(n) % c)
    assert loss == pytest.approx(np.log(c))
    assert dx.shape == (n, c)


def test_softmax_loss_gradient_numerical():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(5, 4))
    y = rng.integers(0, 4, size=5)
    _, dx = softmax_loss(x, y)
    assert rel_error(dx, eval_numerical_gradient(lambda v: softmax_loss(v, y)[0], x)) < 1e-7


def test_softmax_loss_huge_scores_stay_finite():
    x = np.array([[1e4, 0.0, -1e4], [2e4, 2e4, 2e4], [1000.0, 0.0, 0.0]])
    y = np.array([0, 1, 1])
    loss, dx = softmax_loss(x, y)
    assert np.isfinite(loss) and np.all(np.isfinite(dx))
    # Row 0 is right with certainty (0), row 1 uniform (log 3), row 2 wrong by 1000 (about 1000).
    assert loss == pytest.approx((0 + np.log(3) + 1000) / 3)
    # Adding a constant to a row's scores changes nothing.
    loss_shifted, dx_shifted = softmax_loss(x + 1e5, y)
    assert loss_shifted == pytest.approx(loss)
    np.testing.assert_allclose(dx_shifted, dx, atol=1e-12)


# ---------------------------------------------------------------- update rules


def test_sgd_step_and_default():
    w, dw = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    next_w, config = optim.sgd(w, dw, {"learning_rate": 0.1})
    np.testing.assert_allclose(next_w, [0.95, 2.1])
    _, config = optim.sgd(w, dw)
    assert config["learning_rate"] == 1e-2
    np.testing.assert_array_equal(w, [1.0, 2.0])  # w not updated in place


def test_sgd_momentum_two_steps():
    config = {"learning_rate": 0.1, "momentum": 0.9}
    w, config = optim.sgd_momentum(np.array([1.0]), np.array([2.0]), config)
    # v = 0.9 * 0 - 0.1 * 2 = -0.2
    np.testing.assert_allclose(config["velocity"], [-0.2])
    np.testing.assert_allclose(w, [0.8])
    w, config = optim.sgd_momentum(w, np.array([1.0]), config)
    # v = 0.9 * -0.2 - 0.1 * 1 = -0.28
    np.testing.assert_allclose(config["velocity"], [-0.28])
    np.testing.assert_allclose(w, [0.52])
    _, defaults = optim.sgd_momentum(np.zeros(2), np.ones(2))
    assert defaults["learning_rate"] == 1e-2 and defaults["momentum"] == 0.9


def test_adam_first_step_bias_corrected_and_second_step():
    w, dw = np.array([1.0, -1.0]), np.array([0.5, -2.0])
    w1, config = optim.adam(w, dw, {"learning_rate": 0.1})
    assert config["t"] == 1
    np.testing.assert_allclose(config["m"], 0.1 * dw)
    np.testing.assert_allclose(config["v"], 0.001 * dw**2)
    # Bias correction makes m_hat = dw and v_hat = dw**2: the first step is lr * sign(dw).
    np.testing.assert_allclose(w1, [1 - 0.1 * 0.5 / (0.5 + 1e-8), -1 + 0.1 * 2 / (2 + 1e-8)], rtol=1e-12)
    assert config["beta1"] == 0.9 and config["beta2"] == 0.999 and config["epsilon"] == 1e-8

    # Second step on the first coordinate with dw = 1.
    w2, config = optim.adam(w1, np.array([1.0, 0.0]), config)
    m = 0.9 * 0.05 + 0.1 * 1.0
    v = 0.999 * 0.00025 + 0.001 * 1.0
    m_hat, v_hat = m / (1 - 0.9**2), v / (1 - 0.999**2)
    assert config["t"] == 2
    assert w2[0] == pytest.approx(w1[0] - 0.1 * m_hat / (np.sqrt(v_hat) + 1e-8), rel=1e-12)
    _, defaults = optim.adam(np.zeros(1), np.ones(1))
    assert defaults["learning_rate"] == 1e-3


# ---------------------------------------------------------------- solver


class TwoLayerNet:
    """affine - relu - affine - softmax, the smallest model the Solver is meant for."""

    def __init__(self, input_dim, hidden_dim, num_classes, seed=0):
        rng = np.random.default_rng(seed)
        self.params = {
            "W1": rng.normal(scale=0.1, size=(input_dim, hidden_dim)),
            "b1": np.zeros(hidden_dim),
            "W2": rng.normal(scale=0.1, size=(hidden_dim, num_classes)),
            "b2": np.zeros(num_classes),
        }

    def loss(self, X, y=None):
        h, cache1 = affine_relu_forward(X, self.params["W1"], self.params["b1"])
        scores, cache2 = affine_forward(h, self.params["W2"], self.params["b2"])
        if y is None:
            return scores
        loss, dscores = softmax_loss(scores, y)
        dh, grads_w2, grads_b2 = affine_backward(dscores, cache2)
        _, grads_w1, grads_b1 = affine_relu_backward(dh, cache1)
        return loss, {"W1": grads_w1, "b1": grads_b1, "W2": grads_w2, "b2": grads_b2}


class LinearNet:
    """Softmax regression: negating its params turns argmax into argmin."""

    def __init__(self, input_dim, num_classes):
        self.params = {"W": np.zeros((input_dim, num_classes)), "b": np.zeros(num_classes)}

    def loss(self, X, y=None):
        scores, cache = affine_forward(X, self.params["W"], self.params["b"])
        if y is None:
            return scores
        loss, dscores = softmax_loss(scores, y)
        _, dw, db = affine_backward(dscores, cache)
        return loss, {"W": dw, "b": db}


def blob_data(num_classes=3, dim=5):
    """50 training and 30 validation points around well separated centers, classes balanced."""
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=3.0, size=(num_classes, dim))

    def sample(n):
        y = np.arange(n) % num_classes
        return centers[y] + rng.normal(scale=0.5, size=(n, dim)), y

    (X_train, y_train), (X_val, y_val) = sample(50), sample(30)
    return {"X_train": X_train, "y_train": y_train, "X_val": X_val, "y_val": y_val}


def test_solver_overfits_tiny_problem():
    model = TwoLayerNet(5, 20, 3)
    solver = Solver(
        model, blob_data(), update_rule="adam", optim_config={"learning_rate": 1e-2},
        batch_size=10, num_epochs=10, seed=0, verbose=False,
    )
    solver.train()
    assert solver.train_acc_history[-1] >= 0.9
    assert solver.loss_history[-1] < solver.loss_history[0]
    # Epoch 0 is recorded before training, then one entry per epoch.
    assert len(solver.train_acc_history) == len(solver.val_acc_history) == 11
    assert len(solver.loss_history) == 10 * (50 // 10)


def test_solver_same_seed_same_history_and_global_rng_untouched():
    data = blob_data()
    np.random.seed(123)
    state_before = np.random.get_state()[1].copy()

    def run(seed):
        solver = Solver(
            TwoLayerNet(5, 8, 3, seed=7), data, update_rule="sgd_momentum",
            optim_config={"learning_rate": 0.05}, batch_size=7, num_epochs=3,
            num_train_samples=20, num_val_samples=10, seed=seed, verbose=False,
        )
        solver.train()
        return solver.history()

    first, second, other = run(0), run(0), run(1)
    assert first == second
    assert first["loss_history"] != other["loss_history"]
    np.testing.assert_array_equal(np.random.get_state()[1], state_before)


def test_solver_restores_best_params():
    # Train honestly for 2 epochs, then negate the params once (2 classes: accuracy becomes
    # 1 - accuracy) and freeze them. The best epoch is then not the last one. Updates are in
    # place, so best_params must be copies, not the model's arrays.
    def sabotage(w, dw, config):
        config.setdefault("step", 0)
        config["step"] += 1
        if config["step"] <= 10:
            w -= config["learning_rate"] * dw
        elif config["step"] == 11:
            w *= -1
        return w, config

    model = LinearNet(5, 2)
    solver = Solver(model, blob_data(num_classes=2), update_rule=sabotage, optim_config={"learning_rate": 0.5},
                    batch_size=10, num_epochs=4, seed=0, verbose=False)
    solver.train()
    assert solver.val_acc_history[2] > 0.9 and solver.val_acc_history[-1] < 0.1
    assert solver.best_val_acc == max(solver.val_acc_history)
    for p, w in solver.best_params.items():
        np.testing.assert_array_equal(model.params[p], w)
        assert model.params[p] is not w  # a copy: later updates cannot change best_params
    assert solver.check_accuracy(solver.X_val, solver.y_val) == solver.best_val_acc


def test_check_accuracy_calls_model_in_test_mode_in_batches():
    calls = []

    class Spy:
        params = {"w": np.zeros(1)}

        def loss(self, X, y=None):
            calls.append((len(X), y))
            return np.tile([0.0, 1.0], (len(X), 1))  # always predicts class 1

    solver = Solver(Spy(), {"X_train": np.zeros((1, 1)), "y_train": np.zeros(1, int),
                            "X_val": np.zeros((1, 1)), "y_val": np.zeros(1, int)}, seed=0)
    y = np.array([1] * 150 + [0] * 100)
    acc = solver.check_accuracy(np.zeros((250, 3)), y, batch_size=100)
    assert acc == pytest.approx(0.6)
    assert calls == [(100, None), (100, None), (50, None)]
    calls.clear()
    solver.check_accuracy(np.zeros((250, 3)), y, num_samples=30)
    assert sum(n for n, _ in calls) == 30


def test_solver_lr_decay_per_epoch():
    model = TwoLayerNet(5, 4, 3)
    solver = Solver(model, blob_data(), optim_config={"learning_rate": 0.1}, lr_decay=0.5,
                    batch_size=25, num_epochs=2, seed=0, verbose=False)
    solver.train()
    for config in solver.optim_configs.values():
        assert config["learning_rate"] == pytest.approx(0.1 * 0.5**2)


def test_solver_rejects_unknown_arguments():
    with pytest.raises(TypeError, match="learning_rate"):
        Solver(LinearNet(5, 3), blob_data(), learning_rate=1e-3)
    with pytest.raises(ValueError, match="update_rule"):
        Solver(LinearNet(5, 3), blob_data(), update_rule="rmsprop_typo")
    with pytest.raises(KeyError, match="y_val"):
        data = blob_data()
        del data["y_val"]
        Solver(LinearNet(5, 3), data)


def test_history_is_json_serializable_and_progress_bar_runs(capsys):
    solver = Solver(LinearNet(5, 3), blob_data(), batch_size=25, num_epochs=2, seed=0,
                    print_every=1, verbose=True, progress=True)
    solver.train()
    history = solver.history()
    assert json.loads(json.dumps(history)) == history
    assert set(history) == {"loss_history", "train_acc_history", "val_acc_history"}
    assert all(type(v) is float for values in history.values() for v in values)
    captured = capsys.readouterr()
    assert "(Epoch 2 / 2)" in captured.out + captured.err
