"""helpers.fast_layers against plain-loop references, numerical gradients and PyTorch."""

import numpy as np
import pytest
import torch
from loop_layers import conv_backward_loops, conv_forward_loops, max_pool_loops

from helpers.fast_layers import (
    conv_backward_fast,
    conv_forward_fast,
    conv_relu_pool_backward,
    conv_relu_pool_forward,
    max_pool_backward_fast,
    max_pool_forward_fast,
)
from helpers.gradient_check import eval_numerical_gradient_array, rel_error
from helpers.layers import relu_backward, relu_forward

# ---------------------------------------------------------------- convolution

# (N, C, H, W, F, HH, WW, stride, pad)
CONV_CASES = [
    (2, 3, 5, 5, 4, 3, 3, 1, 1),
    (2, 3, 7, 6, 2, 3, 3, 1, 0),  # non-square input, overlapping windows
    (1, 2, 8, 9, 3, 3, 2, 2, 1),  # rectangular 3x2 kernel, stride 2
    (2, 1, 6, 7, 2, 1, 4, 1, 2),  # 1x4 kernel, pad 2
    (2, 2, 9, 7, 3, 3, 3, 3, 2),  # stride 3 == kernel: windows touch, do not overlap
    (1, 3, 10, 8, 2, 4, 3, 3, 0),  # stride 3 < 4-row kernel; the last input rows are unused
    (3, 2, 4, 4, 2, 2, 2, 2, 0),
    (1, 1, 3, 3, 1, 5, 5, 1, 1),  # kernel as large as the padded input: 1x1 output
    (2, 4, 6, 5, 3, 1, 1, 1, 0),  # 1x1 convolution
    (1, 2, 5, 6, 2, 2, 3, 2, 1),
]


def _conv_inputs(case, dtype, seed=0):
    n, c, h, w, f, hh, ww, stride, pad = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((f, c, hh, ww)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    return x, wt, b, {"stride": stride, "pad": pad}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "N{}C{}_{}x{}_F{}_k{}x{}_s{}p{}".format(*c))
def test_conv_matches_loop_reference(case, dtype):
    x, w, b, param = _conv_inputs(case, dtype)
    x_before = x.copy()
    out, cache = conv_forward_fast(x, w, b, param)
    expected = conv_forward_loops(x, w, b, param["stride"], param["pad"])
    assert out.shape == expected.shape
    assert out.dtype == dtype
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(out, expected, rtol=tol, atol=tol * 10)

    dout = np.random.default_rng(1).standard_normal(out.shape).astype(dtype)
    dx, dw, db = conv_backward_fast(dout, cache)
    for got, want in zip((dx, dw, db), conv_backward_loops(dout, x, w, param["stride"], param["pad"]), strict=True):
        assert got.shape == want.shape
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * 10)
    np.testing.assert_array_equal(x, x_before)  # inputs untouched


def test_conv_accepts_non_contiguous_input():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 6, 3, 2)).transpose(3, 2, 1, 0)[:, :, ::-1]  # (2, 3, 6, 5), odd strides
    w, b = rng.standard_normal((2, 3, 3, 2)), rng.standard_normal(2)
    for pad in (0, 1):
        out, _ = conv_forward_fast(x, w, b, {"stride": 2, "pad": pad})
        np.testing.assert_allclose(out, conv_forward_loops(np.ascontiguousarray(x), w, b, 2, pad), rtol=1e-12)


@pytest.mark.parametrize("stride,pad,kernel", [(1, 0, (3, 3)), (2, 1, (3, 2)), (3, 2, (2, 4))])
def test_conv_backward_numerical_gradient(stride, pad, kernel):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 6, 5))
    w = rng.standard_normal((3, 3, *kernel))
    b = rng.standard_normal(3)
    param = {"stride": stride, "pad": pad}
    out, cache = conv_forward_fast(x, w, b, param)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = conv_backward_fast(dout, cache)
    dx_num = eval_numerical_gradient_array(lambda v: conv_forward_fast(v, w, b, param)[0], x, dout)
    dw_num = eval_numerical_gradient_array(lambda v: conv_forward_fast(x, v, b, param)[0], w, dout)
    db_num = eval_numerical_gradient_array(lambda v: conv_forward_fast(x, w, v, param)[0], b, dout)
    # Centered differences carry ~1e-9 relative error on the smallest entries.
    assert rel_error(dx, dx_num) < 1e-7
    assert rel_error(dw, dw_num) < 1e-7
    assert rel_error(db, db_num) < 1e-7


@pytest.mark.parametrize(
    "shape,wshape,stride,pad",
    [((4, 3, 12, 10), (5, 3, 3, 3), 1, 1), ((3, 4, 11, 9), (6, 4, 3, 2), 2, 2), ((2, 2, 9, 13), (3, 2, 1, 4), 3, 0)],
)
def test_conv_matches_torch(shape, wshape, stride, pad):
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal(shape), rng.standard_normal(wshape), rng.standard_normal(wshape[0])
    out, cache = conv_forward_fast(x, w, b, {"stride": stride, "pad": pad})
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    out_t = torch.nn.functional.conv2d(xt, wt, bt, stride=stride, padding=pad)
    dout = rng.standard_normal(out.shape)
    out_t.backward(torch.from_numpy(dout))
    dx, dw, db = conv_backward_fast(dout, cache)
    assert out.shape == tuple(out_t.shape)
    assert rel_error(out, out_t.detach().numpy()) < 1e-10
    assert rel_error(dx, xt.grad.numpy()) < 1e-10
    assert rel_error(dw, wt.grad.numpy()) < 1e-10
    assert rel_error(db, bt.grad.numpy()) < 1e-10


@pytest.mark.parametrize(
    "shape,wshape,param",
    [
        ((1, 1, 3, 3), (1, 1, 4, 4), {"stride": 1, "pad": 0}),  # kernel taller and wider than x
        ((1, 1, 3, 8), (1, 1, 6, 2), {"stride": 1, "pad": 1}),  # too tall even with padding
        ((1, 1, 8, 3), (1, 1, 2, 7), {"stride": 2, "pad": 1}),  # too wide
    ],
)
def test_conv_impossible_output_size_raises(shape, wshape, param):
    with pytest.raises(ValueError, match="output size would be < 1"):
        conv_forward_fast(np.zeros(shape), np.zeros(wshape), np.zeros(wshape[0]), param)


@pytest.mark.parametrize("param", [{"stride": 0, "pad": 0}, {"stride": 1, "pad": -1}])
def test_conv_bad_stride_or_pad_raises(param):
    with pytest.raises(ValueError, match="stride|pad"):
        conv_forward_fast(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 3, 3)), np.zeros(1), param)


def test_conv_channel_mismatch_raises():
    with pytest.raises(ValueError, match="channels"):
        conv_forward_fast(np.zeros((1, 2, 4, 4)), np.zeros((1, 3, 3, 3)), np.zeros(1), {"stride": 1, "pad": 1})


# ---------------------------------------------------------------- max pooling

# (N, C, H, W, pool_height, pool_width, stride)
POOL_CASES = [
    (2, 3, 8, 8, 2, 2, 2),  # tiles exactly: the reshape path
    (2, 2, 9, 6, 3, 3, 3),  # tiles exactly, 3x3
    (2, 3, 7, 9, 2, 2, 2),  # 2x2/2 that does not tile: odd sizes leave the last row/column out
    (1, 2, 7, 8, 3, 3, 1),  # overlapping windows
    (2, 2, 7, 8, 3, 2, 2),  # rectangular, overlapping along H
    (1, 3, 6, 9, 2, 3, 3),  # rectangular, no overlap, gaps between windows along H
    (2, 1, 5, 5, 5, 5, 1),  # one window covering everything
    (1, 2, 6, 7, 1, 1, 2),  # 1x1 windows: subsampling
    (1, 2, 9, 10, 4, 3, 2),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: "N{}C{}_{}x{}_p{}x{}_s{}".format(*c))
def test_max_pool_matches_loop_reference(case, dtype):
    n, c, h, w, ph, pw, stride = case
    rng = np.random.default_rng(5)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    out, cache = max_pool_forward_fast(x, param)
    dout = rng.standard_normal(out.shape).astype(dtype)
    want_out, want_dx = max_pool_loops(x, ph, pw, stride, dout)
    assert out.shape == want_out.shape and out.dtype == dtype
    np.testing.assert_array_equal(out, want_out)  # max is exact
    dx = max_pool_backward_fast(dout, cache)
    assert dx.shape == x.shape and dx.dtype == dtype
    tol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(dx, want_dx, rtol=tol, atol=tol)


def test_max_pool_accepts_non_contiguous_input():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((8, 8, 3, 2)).transpose(3, 2, 0, 1)[:, :, ::-1]  # (2, 3, 8, 8)
    for param in ({"pool_height": 2, "pool_width": 2, "stride": 2}, {"pool_height": 3, "pool_width": 2, "stride": 1}):
        out, cache = max_pool_forward_fast(x, param)
        dout = rng.standard_normal(out.shape)
        want_out, want_dx = max_pool_loops(x, param["pool_height"], param["pool_width"], param["stride"], dout)
        np.testing.assert_array_equal(out, want_out)
        np.testing.assert_allclose(max_pool_backward_fast(dout, cache), want_dx, rtol=1e-12)


@pytest.mark.parametrize("case", [(2, 3, 8, 8, 2, 2, 2), (2, 2, 7, 8, 3, 2, 2), (1, 2, 6, 7, 3, 3, 1)])
def test_max_pool_backward_numerical_gradient(case):
    n, c, h, w, ph, pw, stride = case
    rng = np.random.default_rng(7)
    # Distinct values far apart, so the step h=1e-5 never changes which element is the max.
    x = rng.permutation(n * c * h * w).reshape(n, c, h, w) * 0.1
    param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    out, cache = max_pool_forward_fast(x, param)
    dout = rng.standard_normal(out.shape)
    dx_num = eval_numerical_gradient_array(lambda v: max_pool_forward_fast(v, param)[0], x, dout)
    assert rel_error(max_pool_backward_fast(dout, cache), dx_num) < 1e-8


@pytest.mark.parametrize("ph,pw", [(2, 2), (3, 3), (2, 3)])
def test_max_pool_ties_send_gradient_to_one_element(ph, pw):
    """Equal values in a window: the whole gradient goes to the first maximum, once."""
    rng = np.random.default_rng(8)
    n, c, out_h, out_w = 2, 3, 4, 5
    x = rng.integers(0, 2, size=(n, c, out_h * ph, out_w * pw)).astype(np.float64)  # many ties
    x[0, 0] = 0.0  # a whole channel of ties, as after a ReLU
    param = {"pool_height": ph, "pool_width": pw, "stride": ph if ph == pw else max(ph, pw)}
    stride = param["stride"]
    out, cache = max_pool_forward_fast(x, param)
    dout = rng.uniform(1, 2, size=out.shape)  # nonzero everywhere
    dx = max_pool_backward_fast(dout, cache)
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            block = dx[:, :, i * stride : i * stride + ph, j * stride : j * stride + pw]
            np.testing.assert_allclose(block.sum(axis=(2, 3)), dout[:, :, i, j], rtol=1e-12)
            assert np.all(np.count_nonzero(block, axis=(2, 3)) == 1)
    np.testing.assert_array_equal(dx, max_pool_loops(x, ph, pw, stride, dout)[1])  # the first maximum


def test_max_pool_ties_with_overlapping_windows():
    rng = np.random.default_rng(9)
    x = rng.integers(0, 3, size=(2, 2, 7, 8)).astype(np.float64)
    param = {"pool_height": 3, "pool_width": 3, "stride": 1}
    out, cache = max_pool_forward_fast(x, param)
    dout = rng.uniform(1, 2, size=out.shape)
    dx = max_pool_backward_fast(dout, cache)
    np.testing.assert_allclose(dx, max_pool_loops(x, 3, 3, 1, dout)[1], rtol=1e-12)
    np.testing.assert_allclose(dx.sum(), dout.sum(), rtol=1e-12)  # nothing split or duplicated


def test_max_pool_matches_torch():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((3, 4, 11, 10))
    xt = torch.tensor(x, requires_grad=True)
    for ph, pw, stride in ((2, 2, 2), (3, 2, 1), (3, 3, 2)):
        out, cache = max_pool_forward_fast(x, {"pool_height": ph, "pool_width": pw, "stride": stride})
        out_t = torch.nn.functional.max_pool2d(xt, (ph, pw), stride)
        dout = rng.standard_normal(out.shape)
        xt.grad = None
        out_t.backward(torch.from_numpy(dout))
        np.testing.assert_array_equal(out, out_t.detach().numpy())
        assert rel_error(max_pool_backward_fast(dout, cache), xt.grad.numpy()) < 1e-12


@pytest.mark.parametrize(
    "shape,param",
    [
        ((1, 1, 3, 8), {"pool_height": 4, "pool_width": 2, "stride": 2}),
        ((1, 1, 8, 3), {"pool_height": 2, "pool_width": 4, "stride": 1}),
    ],
)
def test_max_pool_impossible_output_size_raises(shape, param):
    with pytest.raises(ValueError, match="output size would be < 1"):
        max_pool_forward_fast(np.zeros(shape), param)


def test_max_pool_bad_stride_raises():
    with pytest.raises(ValueError, match="stride"):
        max_pool_forward_fast(np.zeros((1, 1, 4, 4)), {"pool_height": 2, "pool_width": 2, "stride": 0})


# ---------------------------------------------------------------- sandwiches


def test_conv_relu_pool_is_conv_relu_then_pool():
    x, w, b, conv_param = _conv_inputs((2, 3, 8, 8, 4, 3, 3, 1, 1), np.float64, seed=13)
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    out, cache = conv_relu_pool_forward(x, w, b, conv_param, pool_param)
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    s, relu_cache = relu_forward(a)
    want, pool_cache = max_pool_forward_fast(s, pool_param)
    assert out.shape == (2, 4, 4, 4)
    np.testing.assert_array_equal(out, want)
    dout = np.random.default_rng(14).standard_normal(out.shape)
    got = conv_relu_pool_backward(dout, cache)
    da = relu_backward(max_pool_backward_fast(dout, pool_cache), relu_cache)
    for g, e in zip(got, conv_backward_fast(da, conv_cache), strict=True):
        np.testing.assert_array_equal(g, e)
    # And the whole sandwich against numerical gradients (w only, to stay quick).
    dw_num = eval_numerical_gradient_array(
        lambda v: conv_relu_pool_forward(x, v, b, conv_param, pool_param)[0], w, dout
    )
    assert rel_error(got[1], dw_num) < 1e-7


def test_float32_stays_float32_through_the_sandwich():
    x, w, b, conv_param = _conv_inputs((2, 3, 8, 8, 4, 3, 3, 1, 1), np.float32, seed=15)
    out, cache = conv_relu_pool_forward(x, w, b, conv_param, {"pool_height": 2, "pool_width": 2, "stride": 2})
    assert out.dtype == np.float32
    grads = conv_relu_pool_backward(np.ones_like(out), cache)
    assert [g.dtype for g in grads] == [np.float32] * 3
