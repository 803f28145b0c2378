"""Provided (not graded) layers: affine, ReLU, softmax loss, and the affine-ReLU sandwich.

CS231n conventions: ``*_forward(...) -> (out, cache)`` and ``*_backward(dout, cache)``
returns the gradients with respect to the forward inputs, in the same order.
"""

import numpy as np


def affine_forward(x, w, b):
    """Fully connected layer ``out = x.reshape(N, D) @ w + b``.

    Args:
        x: (N, d_1, ..., d_k) inputs; each example is flattened to D = d_1 * ... * d_k.
        w: (D, M) weights.
        b: (M,) biases.
    Returns:
        out: (N, M).
        cache: (x, w, b).
    """
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w, b)


def affine_backward(dout, cache):
    """Backward pass of ``affine_forward``.

    Args:
        dout: (N, M) upstream gradient.
        cache: what ``affine_forward`` returned.
    Returns:
        dx: (N, d_1, ..., d_k), the shape of the original ``x``.
        dw: (D, M).
        db: (M,).
    """
    x, w, _ = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db


def relu_forward(x):
    """Elementwise ``max(0, x)``.

    Args:
        x: array of any shape S.
    Returns:
        out: shape S.
        cache: x.
    """
    return np.maximum(0, x), x


def relu_backward(dout, cache):
    """Backward pass of ``relu_forward``: pass ``dout`` where the input was positive.

    Args:
        dout: upstream gradient, shape S.
        cache: the input ``x``, shape S.
    Returns:
        dx: shape S. The subgradient at exactly 0 is taken as 0.
    """
    x = cache
    return dout * (x > 0)


def softmax_loss(x, y):
    """Mean cross-entropy of the softmax of the scores, and its gradient.

    Args:
        x: (N, C) class scores.
        y: (N,) integer labels, ``0 <= y[i] < C``.
    Returns:
        loss: float, ``-mean_i log softmax(x_i)[y_i]``.
        dx: (N, C) gradient of ``loss`` with respect to ``x``.
    """
    # Shifting each row by its max leaves the softmax unchanged and keeps exp() from
    # overflowing; the log-sum-exp form avoids log(0) for very confident wrong scores.
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = x.shape[0]
    rows = np.arange(n)
    loss = -log_probs[rows, y].mean()
    dx = np.exp(log_probs)
    dx[rows, y] -= 1
    dx /= n
    return float(loss), dx


def affine_relu_forward(x, w, b):
    """Affine layer followed by ReLU.

    Args:
        x: (N, d_1, ..., d_k); w: (D, M); b: (M,).
    Returns:
        out: (N, M).
        cache: (affine cache, relu cache).
    """
    a, fc_cache = affine_forward(x, w, b)
    out, relu_cache = relu_forward(a)
    return out, (fc_cache, relu_cache)


def affine_relu_backward(dout, cache):
    """Backward pass of ``affine_relu_forward``.

    Args:
        dout: (N, M).
        cache: what ``affine_relu_forward`` returned.
    Returns:
        dx: shape of the original ``x``; dw: (D, M); db: (M,).
    """
    fc_cache, relu_cache = cache
    return affine_backward(relu_backward(dout, relu_cache), fc_cache)
