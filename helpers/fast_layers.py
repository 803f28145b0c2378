"""Provided (not graded) fast convolution and max pooling, and the conv sandwiches built on them.

Pure NumPy, no compiled extension: students use these to train a small convnet in reasonable
time once their own naive loops are graded. Same conventions as ``helpers.layers``:
``*_forward(...) -> (out, cache)``, ``*_backward(dout, cache)`` returns the gradients with
respect to the forward inputs, in the same order.

The convolution is a cross-correlation (no kernel flip), as every framework computes it. It
unrolls the input windows with ``as_strided`` (im2col) and does one matrix product, so float32
inputs stay float32 and the heavy lifting is BLAS. Max pooling sends each window's gradient to
one element, the first maximum in row-major order, like the naive reference.
"""

import numpy as np
from numpy.lib.stride_tricks import as_strided

from helpers.layers import relu_backward, relu_forward


def _out_size(size, kernel, stride, pad, what):
    """``1 + (size + 2 pad - kernel) // stride``, or a ValueError naming the offending axis."""
    span = size + 2 * pad - kernel
    if span < 0:
        raise ValueError(
            f"{what}: a kernel of {kernel} does not fit an input of {size} with padding {pad} "
            f"(output size would be < 1)"
        )
    return 1 + span // stride


def _check_stride_pad(stride, pad, what):
    if int(stride) != stride or stride < 1:
        raise ValueError(f"{what}: stride must be an integer >= 1, got {stride!r}")
    if int(pad) != pad or pad < 0:
        raise ValueError(f"{what}: pad must be an integer >= 0, got {pad!r}")
    return int(stride), int(pad)


def _window_slices(offset_h, offset_w, out_h, out_w, stride):
    """Row and column slices picking kernel offset (offset_h, offset_w) of every window."""
    return (
        slice(offset_h, offset_h + stride * (out_h - 1) + 1, stride),
        slice(offset_w, offset_w + stride * (out_w - 1) + 1, stride),
    )


def conv_forward_fast(x, w, b, conv_param):
    """Convolution (cross-correlation) with zero padding, by im2col and one matrix product.

    Args:
        x: (N, C, H, W) inputs.
        w: (F, C, HH, WW) filters; rectangular kernels are fine.
        b: (F,) biases.
        conv_param: dict with ``stride`` (int >= 1) and ``pad`` (int >= 0 zeros on each side of
            H and W).
    Returns:
        out: (N, F, H', W'), C-contiguous, with H' = 1 + (H + 2 pad - HH) // stride and
            W' = 1 + (W + 2 pad - WW) // stride. dtype follows NumPy promotion of x, w, b
            (all float32 gives float32).
        cache: (x shape, w, b, conv_param, cols), where cols is the (C*HH*WW, N*H'*W') im2col
            matrix.
    Raises:
        ValueError: bad stride/pad, channel mismatch, or an output size < 1.
    """
    stride, pad = _check_stride_pad(conv_param["stride"], conv_param["pad"], "conv_forward_fast")
    n, c, h, wd = x.shape
    f, cw, hh, ww = w.shape
    if c != cw:
        raise ValueError(f"conv_forward_fast: x has {c} channels but w expects {cw}")
    out_h = _out_size(h, hh, stride, pad, "conv_forward_fast (height)")
    out_w = _out_size(wd, ww, stride, pad, "conv_forward_fast (width)")

    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))) if pad else np.ascontiguousarray(x)
    s_n, s_c, s_h, s_w = xp.strides
    # Axes (C, HH, WW, N, H', W'): the innermost run is a row of output pixels, which makes
    # the copy below fast, and the product with w is then a single 2-D matmul.
    windows = as_strided(
        xp,
        shape=(c, hh, ww, n, out_h, out_w),
        strides=(s_c, s_h, s_w, s_n, s_h * stride, s_w * stride),
        writeable=False,
    )
    cols = windows.reshape(c * hh * ww, n * out_h * out_w)  # copies
    out = w.reshape(f, -1) @ cols  # (F, N*H'*W')
    out = out.reshape(f, n, out_h, out_w) + b.reshape(f, 1, 1, 1)
    out = np.ascontiguousarray(out.transpose(1, 0, 2, 3))
    return out, (x.shape, w, b, conv_param, cols)


def conv_backward_fast(dout, cache):
    """Backward pass of ``conv_forward_fast``.

    Args:
        dout: (N, F, H', W') upstream gradient.
        cache: what ``conv_forward_fast`` returned.
    Returns:
        dx: (N, C, H, W); dw: (F, C, HH, WW); db: (F,).
    """
    x_shape, w, b, conv_param, cols = cache
    stride, pad = int(conv_param["stride"]), int(conv_param["pad"])
    n, c, h, wd = x_shape
    f, _, hh, ww = w.shape
    out_h, out_w = dout.shape[2], dout.shape[3]

    db = dout.sum(axis=(0, 2, 3))
    dout_2d = dout.transpose(1, 0, 2, 3).reshape(f, -1)  # (F, N*H'*W'), the layout of cols
    # (cols @ dout_2d.T).T rather than dout_2d @ cols.T: the same numbers, but with OpenBLAS it
    # measured faster, and far steadier when the cores are shared with other work.
    dw = (cols @ dout_2d.T).T.reshape(w.shape)
    dcols = (w.reshape(f, -1).T @ dout_2d).reshape(c, hh, ww, n, out_h, out_w)

    # col2im: windows overlap when stride < kernel, so add each kernel offset's slice in turn
    # (HH*WW vectorized adds) instead of assigning.
    dxp = np.zeros((c, n, h + 2 * pad, wd + 2 * pad), dtype=dcols.dtype)
    for i in range(hh):
        for j in range(ww):
            rows, cols_ = _window_slices(i, j, out_h, out_w, stride)
            dxp[:, :, rows, cols_] += dcols[:, i, j]
    dx = np.ascontiguousarray(dxp[:, :, pad : pad + h, pad : pad + wd].transpose(1, 0, 2, 3))
    return dx, dw, db


def max_pool_forward_fast(x, pool_param):
    """Max pooling without padding.

    Windows that tile the input exactly (pool_height == pool_width == stride dividing H and W)
    use a reshape; any other shape or stride uses a strided view of the windows.

    Args:
        x: (N, C, H, W) inputs.
        pool_param: dict with ``pool_height``, ``pool_width``, ``stride``.
    Returns:
        out: (N, C, H', W'), H' = 1 + (H - pool_height) // stride, W' likewise; dtype of x.
        cache: (x, out, pool_param).
    Raises:
        ValueError: bad stride or pool size, or an output size < 1.
    """
    ph, pw = int(pool_param["pool_height"]), int(pool_param["pool_width"])
    stride, _ = _check_stride_pad(pool_param["stride"], 0, "max_pool_forward_fast")
    if ph < 1 or pw < 1:
        raise ValueError(f"max_pool_forward_fast: pool size must be >= 1, got {ph}x{pw}")
    n, c, h, w = x.shape
    out_h = _out_size(h, ph, stride, 0, "max_pool_forward_fast (height)")
    out_w = _out_size(w, pw, stride, 0, "max_pool_forward_fast (width)")
    if ph == pw == stride and h % ph == 0 and w % pw == 0:
        # Windows tile x exactly: (N, C, H'*ph, W'*pw) reshapes to (N, C, H', ph, W', pw).
        windows = x.reshape(n, c, out_h, ph, out_w, pw).transpose(0, 1, 2, 4, 3, 5)
    else:
        s_n, s_c, s_h, s_w = x.strides
        windows = as_strided(
            x,
            shape=(n, c, out_h, out_w, ph, pw),
            strides=(s_n, s_c, s_h * stride, s_w * stride, s_h, s_w),
            writeable=False,
        )
    # windows.max(axis=(4, 5)) reduces tiny strided axes and is ~20x slower than these ph*pw
    # elementwise maxima over whole (N, C, H', W') slices.
    out = windows[..., 0, 0].copy()
    for i in range(ph):
        for j in range(pw):
            if i or j:
                np.maximum(out, windows[..., i, j], out=out)
    return out, (x, out, pool_param)


def max_pool_backward_fast(dout, cache):
    """Backward pass of ``max_pool_forward_fast``.

    Each window's gradient goes to exactly one element: its first maximum in row-major order
    (ties do not split or duplicate it). Overlapping windows add up.

    Args:
        dout: (N, C, H', W') upstream gradient.
        cache: what ``max_pool_forward_fast`` returned.
    Returns:
        dx: (N, C, H, W).
    """
    x, out, pool_param = cache
    ph, pw, stride = int(pool_param["pool_height"]), int(pool_param["pool_width"]), int(pool_param["stride"])
    out_h, out_w = out.shape[2], out.shape[3]
    dx = np.zeros(x.shape, dtype=np.result_type(x, dout))
    overlapping = stride < ph or stride < pw
    # Visit the kernel offsets in row-major order; `taken` marks windows whose maximum was
    # already found, so a later tie gets nothing. A loop of ph*pw vectorized steps.
    taken = np.zeros(out.shape, dtype=bool)
    hit = np.empty(out.shape, dtype=bool)
    free = np.empty(out.shape, dtype=bool)
    for i in range(ph):
        for j in range(pw):
            rows, cols = _window_slices(i, j, out_h, out_w, stride)
            np.equal(x[:, :, rows, cols], out, out=hit)
            np.logical_and(hit, np.logical_not(taken, out=free), out=hit)
            taken |= hit
            if overlapping:
                dx[:, :, rows, cols] += dout * hit
            else:  # each input element is in at most one window: write in place
                np.multiply(dout, hit, out=dx[:, :, rows, cols])
    return dx


def conv_relu_pool_forward(x, w, b, conv_param, pool_param):
    """Convolution, ReLU, then max pooling.

    Args:
        x: (N, C, H, W); w: (F, C, HH, WW); b: (F,); conv_param as in ``conv_forward_fast``;
            pool_param as in ``max_pool_forward_fast``.
    Returns:
        out: (N, F, H'', W''), the pooled conv output.
        cache: (conv cache, relu cache, pool cache).
    """
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    s, relu_cache = relu_forward(a)
    out, pool_cache = max_pool_forward_fast(s, pool_param)
    return out, (conv_cache, relu_cache, pool_cache)


def conv_relu_pool_backward(dout, cache):
    """Backward pass of ``conv_relu_pool_forward``.

    Args:
        dout: (N, F, H'', W'').
        cache: what ``conv_relu_pool_forward`` returned.
    Returns:
        dx: (N, C, H, W); dw: (F, C, HH, WW); db: (F,).
    """
    conv_cache, relu_cache, pool_cache = cache
    ds = max_pool_backward_fast(dout, pool_cache)
    da = relu_backward(ds, relu_cache)
    return conv_backward_fast(da, conv_cache)
