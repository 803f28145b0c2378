"""Part 2's test cells (public + hidden) accept correct variants and reject each classic bug,
which costs points only on the function that has it."""

import pytest
from cell_runner import answer_variant_tests, load_cells, quiet_outcomes
from cell_runner import variant as reference_variant

from grader.course import SOURCE_DIR

NOTEBOOK = SOURCE_DIR / "part2_convolution.ipynb"
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
_, REFERENCE, TESTS = load_cells(NOTEBOOK)

OWN_TESTS = {
    "conv_forward_naive": {"test_conv_forward"},
    "conv_backward_naive": {"test_conv_backward"},
    "textbook_convolution2d": {"test_textbook_convolution2d"},
    "max_pool_forward_naive": {"test_max_pool_forward"},
    "max_pool_backward_naive": {"test_max_pool_backward"},
    "spatial_batchnorm": {"test_spatial_batchnorm_forward", "test_spatial_batchnorm_backward"},
    "spatial_dropout": {"test_spatial_dropout_forward", "test_spatial_dropout_backward"},
    "three_layer_convnet": {"test_three_layer_convnet"},
}


def variant(function, *replacements):
    return reference_variant(REFERENCE, function, *replacements)


WRONG = {
    "conv_forward_naive": {
        "pads the batch and channel axes": variant(
            "conv_forward_naive", ("np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))",
                                   "np.pad(x, ((pad, pad), (pad, pad), (0, 0), (0, 0)))")),
        "output one too small": variant("conv_forward_naive", ("H_out = 1 + (H + 2 * pad - HH) // stride",
                                                               "H_out = (H + 2 * pad - HH) // stride")),
        "output size ignores padding": variant("conv_forward_naive", ("W_out = 1 + (W + 2 * pad - WW) // stride",
                                                                      "W_out = 1 + (W - WW) // stride")),
        "flips the kernel": variant("conv_forward_naive", ("np.tensordot(window, w,", "np.tensordot(window, w[:, :, ::-1, ::-1],")),
        "ignores the stride": variant("conv_forward_naive", ("window = xp[:, :, i * stride:i * stride + HH, j * stride:j * stride + WW]",
                                                             "window = xp[:, :, i:i + HH, j:j + WW]")),
        "forgets the bias": variant("conv_forward_naive", ("axes=([1, 2, 3], [1, 2, 3])) + b", "axes=([1, 2, 3], [1, 2, 3]))")),
    },
    "conv_backward_naive": {
        "dw overwritten, not accumulated": variant("conv_backward_naive", ("dw += np.tensordot", "dw = np.tensordot")),
        "dx of the padded input": variant("conv_backward_naive", ("dx = dxp[:, :, pad:pad + H, pad:pad + W]", "dx = dxp")),
        "db summed over the wrong axes": variant("conv_backward_naive", ("db = dout.sum(axis=(0, 2, 3))", "db = dout.sum(axis=(1, 2, 3))")),
        "dx with the flipped kernel": variant("conv_backward_naive", ("np.tensordot(d, w, axes=([1], [0]))",
                                                                      "np.tensordot(d, w[:, :, ::-1, ::-1], axes=([1], [0]))")),
    },
    "textbook_convolution2d": {
        "no flip (cross-correlation)": variant("textbook_convolution2d", ("[::-1, ::-1]", "")),
        "flips one axis": variant("textbook_convolution2d", ("[::-1, ::-1]", "[::-1, :]")),
        "ignores the stride": variant("textbook_convolution2d", ("xp[i * stride:i * stride + K, j * stride:j * stride + L]",
                                                                 "xp[i:i + K, j:j + L]")),
    },
    "max_pool_forward_naive": {
        "output one too small": variant("max_pool_forward_naive", ("H_out, W_out = 1 + (H - ph) // stride", "H_out, W_out = (H - ph) // stride")),
        "average pooling": variant("max_pool_forward_naive", (".max(axis=(2, 3))", ".mean(axis=(2, 3))")),
        "window size as stride": variant("max_pool_forward_naive", (
            "x[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw]", "x[:, :, i * ph:i * ph + ph, j * pw:j * pw + pw]")),
        "height and width swapped": variant("max_pool_forward_naive", ("+ ph, j * stride:j * stride + pw]", "+ pw, j * stride:j * stride + ph]")),
    },
    "max_pool_backward_naive": {
        "spreads the gradient over the window": variant(
            "max_pool_backward_naive",
            ("dx[n, c, i * stride + di, j * stride + dj] += dout[n, c, i, j]",
             "dx[n, c, i * stride:i * stride + ph, j * stride:j * stride + pw] += dout[n, c, i, j] / (ph * pw)")),
        "overwrites where windows overlap": variant("max_pool_backward_naive", ("+= dout[n, c, i, j]", "= dout[n, c, i, j]")),
        "gradient to the minimum": variant("max_pool_backward_naive", ("np.argmax(window)", "np.argmin(window)")),
    },
    "spatial_batchnorm": {
        "statistics per (C, H, W)": variant(
            "spatial_batchnorm",
            ("flat = x.transpose(0, 2, 3, 1).reshape(-1, C)\n    out_flat, cache = batchnorm_forward(flat, gamma, beta, bn_param)\n"
             "    out = out_flat.reshape(N, H, W, C).transpose(0, 3, 1, 2)",
             "out_flat, cache = batchnorm_forward(x.reshape(N, -1), np.repeat(gamma, H * W), np.repeat(beta, H * W), bn_param)\n"
             "    out = out_flat.reshape(N, C, H, W)")),
        "statistics per sample": variant(
            "spatial_batchnorm",
            ("flat = x.transpose(0, 2, 3, 1).reshape(-1, C)\n    out_flat, cache = batchnorm_forward(flat, gamma, beta, bn_param)\n"
             "    out = out_flat.reshape(N, H, W, C).transpose(0, 3, 1, 2)",
             "mu = x.mean(axis=(1, 2, 3), keepdims=True)\n    var = x.var(axis=(1, 2, 3), keepdims=True)\n"
             "    out = gamma[None, :, None, None] * (x - mu) / np.sqrt(var + 1e-5) + beta[None, :, None, None]\n"
             "    cache = None")),
        "reshape without moving the channel axis": variant(
            "spatial_batchnorm", ("flat = x.transpose(0, 2, 3, 1).reshape(-1, C)", "flat = x.reshape(-1, C)"),
            ("out = out_flat.reshape(N, H, W, C).transpose(0, 3, 1, 2)", "out = out_flat.reshape(N, C, H, W)")),
        "backward without moving the channel axis": variant(
            "spatial_batchnorm", ("batchnorm_backward(dout.transpose(0, 2, 3, 1).reshape(-1, C), cache)",
                                  "batchnorm_backward(dout.reshape(-1, C), cache)")),
    },
    "spatial_dropout": {
        "drops single elements": variant("spatial_dropout", ("np.random.rand(N, C, 1, 1)", "np.random.rand(*x.shape)")),
        "drops whole examples": variant("spatial_dropout", ("np.random.rand(N, C, 1, 1)", "np.random.rand(N, 1, 1, 1)")),
        "p as keep probability": variant("spatial_dropout", ("(np.random.rand(N, C, 1, 1) >= p) / (1 - p)",
                                                             "(np.random.rand(N, C, 1, 1) < p) / p")),
        "no rescaling": variant("spatial_dropout", (">= p) / (1 - p)", ">= p) * 1.0")),
        "fresh mask in backward": variant("spatial_dropout", (
            "dx = dout * mask", 'dx = dout * (np.random.rand(*mask.shape) >= dropout_param["p"]) / (1 - dropout_param["p"])')),
    },
    "three_layer_convnet": {
        "regularizes the biases too": variant("three_layer_convnet", ('for name in ("W1", "W2", "W3"):', 'for name in self.params:'),
                                              ("for W in (W1, W2, W3))", "for W in self.params.values())")),
        "no penalty gradient": variant("three_layer_convnet", ("grads[name] = grads[name] + self.reg * self.params[name]", "pass")),
        "no relu after the hidden affine": variant(
            "three_layer_convnet", ("out2, cache2 = affine_relu_forward(out1, W2, b2)", "out2, cache2 = affine_forward(out1, W2, b2)"),
            ("dout1, grads[\"W2\"], grads[\"b2\"] = affine_relu_backward(dout2, cache2)",
             "dout1, grads[\"W2\"], grads[\"b2\"] = affine_backward(dout2, cache2)")),
    },
}

CORRECT = {
    "conv_forward_naive": {
        "explicit loops over n and f": variant(
            "conv_forward_naive",
            ("            out[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3])) + b",
             "            for n in range(N):\n                for f in range(F):\n"
             "                    out[n, f, i, j] = np.sum(window[n] * w[f]) + b[f]")),
    },
    "max_pool_backward_naive": {
        "vectorized with a mask": variant(
            "max_pool_backward_naive",
            ("                    di, dj = np.unravel_index(np.argmax(window), window.shape)\n"
             "                    dx[n, c, i * stride + di, j * stride + dj] += dout[n, c, i, j]",
             "                    mask = window == window.max()\n"
             "                    dx[n, c, i * stride:i * stride + ph, j * stride:j * stride + pw] += mask * dout[n, c, i, j]")),
    },
    "spatial_batchnorm": {
        "moveaxis instead of transpose": variant(
            "spatial_batchnorm", ("flat = x.transpose(0, 2, 3, 1).reshape(-1, C)", "flat = np.moveaxis(x, 1, -1).reshape(-1, C)")),
    },
    "spatial_dropout": {
        "binomial mask": variant("spatial_dropout", ("(np.random.rand(N, C, 1, 1) >= p) / (1 - p)",
                                                     "np.random.binomial(1, 1 - p, size=(N, C, 1, 1)) / (1 - p)")),
    },
}


def outcomes(overrides):
    return quiet_outcomes(NOTEBOOK, overrides)


(test_reference_passes_every_test_cell, test_correct_variant_scores_full,
 test_wrong_answer_loses_points_only_on_its_function) = answer_variant_tests(NOTEBOOK, TESTS, CORRECT, WRONG, OWN_TESTS)



PART1_BUGS = {  # Part 1 batch norm bugs that must not cost Part 2 points
    "unbiased variance": ("(xc**2).mean(axis=0)", "(xc**2).sum(axis=0) / (N - 1)"),
    "not implemented": ("mu = x.mean(axis=0)", "raise NotImplementedError()\n        mu = x.mean(axis=0)"),
}


@pytest.mark.parametrize("bug", sorted(PART1_BUGS))
def test_part1_bug_costs_no_part2_points(bug, tmp_path, monkeypatch):
    """Part 2 imports the student's Part 1 batch norm; the graded cells still pass with a broken one."""
    import nbformat

    from grader.cells import is_solution, nbgrader_meta

    part1 = nbformat.read(SOURCE_DIR / "part1_batchnorm_dropout.ipynb", as_version=4)
    old, new = PART1_BUGS[bug]
    for cell in part1.cells:
        if is_solution(cell) and nbgrader_meta(cell)["grade_id"] == "batchnorm_forward":
            assert old in cell.source
            cell.source = cell.source.replace(old, new)
    nbformat.write(part1, tmp_path / "part1_batchnorm_dropout.ipynb")
    monkeypatch.chdir(tmp_path)
    from helpers.notebook_import import functions_from_notebook

    imported = functions_from_notebook("part1_batchnorm_dropout.ipynb", ["batchnorm_forward", "batchnorm_backward"])
    preset = {"batchnorm_forward": imported.batchnorm_forward, "batchnorm_backward": imported.batchnorm_backward}
    assert quiet_outcomes(NOTEBOOK, {}, preset) == {test_id: None for test_id in TESTS}
