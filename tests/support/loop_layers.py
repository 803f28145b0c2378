"""Plain-loop convolution and max pooling, one output pixel at a time (as a student writes them first):
the references ``helpers.fast_layers`` is tested against, and the "naive" side of
``benchmarks/conv_speed.py``. Arrays: x (N, C, H, W), w (F, C, HH, WW), b (F,), dout like the output.
"""

import numpy as np


def conv_forward_loops(x, w, b, stride, pad):
    """out[n, f, i, j] = sum(window(n, i, j) * w[f]) + b[f], one output pixel at a time."""
    n_, _, h, wd = x.shape
    f_, _, hh, ww = w.shape
    out_h, out_w = 1 + (h + 2 * pad - hh) // stride, 1 + (wd + 2 * pad - ww) // stride
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((n_, f_, out_h, out_w))
    for n in range(n_):
        for f in range(f_):
            for i in range(out_h):
                for j in range(out_w):
                    window = xp[n, :, i * stride : i * stride + hh, j * stride : j * stride + ww]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    return out


def conv_backward_loops(dout, x, w, stride, pad):
    """(dx, dw, db) of conv_forward_loops, accumulating window by window."""
    n_, _, h, wd = x.shape
    f_, _, hh, ww = w.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp, dw = np.zeros_like(xp), np.zeros(w.shape)
    for n in range(n_):
        for f in range(f_):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    rows, cols = slice(i * stride, i * stride + hh), slice(j * stride, j * stride + ww)
                    dw[f] += xp[n, :, rows, cols] * dout[n, f, i, j]
                    dxp[n, :, rows, cols] += w[f] * dout[n, f, i, j]
    return dxp[:, :, pad : pad + h, pad : pad + wd], dw, dout.sum(axis=(0, 2, 3))


def max_pool_loops(x, ph, pw, stride, dout=None):
    """Max pool forward, and with ``dout`` also dx: each window's gradient to its first argmax."""
    n_, c_, h, w = x.shape
    out_h, out_w = 1 + (h - ph) // stride, 1 + (w - pw) // stride
    out = np.zeros((n_, c_, out_h, out_w))
    dx = np.zeros(x.shape)
    for n in range(n_):
        for c in range(c_):
            for i in range(out_h):
                for j in range(out_w):
                    window = x[n, c, i * stride : i * stride + ph, j * stride : j * stride + pw]
                    out[n, c, i, j] = window.max()
                    if dout is not None:
                        a, b = np.unravel_index(np.argmax(window), window.shape)  # first max, row-major
                        dx[n, c, i * stride + a, j * stride + b] += dout[n, c, i, j]
    return out, dx
