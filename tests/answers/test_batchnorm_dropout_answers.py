"""Part 1's test cells (public + hidden) accept correct variants and reject each classic bug,
which costs points only on the function that has it."""

import pytest
from cell_runner import answer_variant_tests, load_cells, quiet_outcomes
from cell_runner import variant as reference_variant

from grader.course import SOURCE_DIR

NOTEBOOK = SOURCE_DIR / "part1_batchnorm_dropout.ipynb"
# Wrong answers divide by zero on purpose; numpy warns, which is not what is tested here.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
_, REFERENCE, TESTS = load_cells(NOTEBOOK)

# Which test cells grade which function.
OWN_TESTS = {
    "batchnorm_forward": {"test_batchnorm_forward_train", "test_batchnorm_running_stats"},
    "batchnorm_backward": {"test_batchnorm_backward"},
    "batchnorm_backward_alt": {"test_batchnorm_backward_alt"},
    "dropout_forward": {"test_dropout_forward"},
    "dropout_backward": {"test_dropout_backward"},
    "fully_connected_net": {"test_fc_net_train", "test_fc_net_test_mode", "test_fc_net_l2"},
}


def variant(function, *replacements):
    return reference_variant(REFERENCE, function, *replacements)


WRONG = {
    "batchnorm_forward": {
        "unbiased variance": variant("batchnorm_forward", ("(xc**2).mean(axis=0)", "(xc**2).sum(axis=0) / (N - 1)")),
        "eps outside the sqrt": variant("batchnorm_forward", ("np.sqrt(var + eps)", "(np.sqrt(var) + eps)")),
        "eps missing": variant("batchnorm_forward", ("np.sqrt(var + eps)", "np.sqrt(var)")),
        "eps ignored from bn_param": variant("batchnorm_forward", ("np.sqrt(var + eps)", "np.sqrt(var + 1e-5)"),
                                             ("np.sqrt(running_var + eps)", "np.sqrt(running_var + 1e-5)")),
        "momentum reversed": variant(
            "batchnorm_forward",
            ("momentum * running_mean + (1 - momentum) * mu", "(1 - momentum) * running_mean + momentum * mu"),
            ("momentum * running_var + (1 - momentum) * var", "(1 - momentum) * running_var + momentum * var")),
        "running stats not written back": variant(
            "batchnorm_forward",
            ('bn_param["running_mean"] = momentum', "running_mean = momentum"),
            ('bn_param["running_var"] = momentum', "running_var = momentum")),
        "running var unbiased": variant("batchnorm_forward", ("(1 - momentum) * var", "(1 - momentum) * var * N / (N - 1)")),
        "test mode uses batch statistics": variant(
            "batchnorm_forward",
            ("gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta",
             "gamma * (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps) + beta")),
    },
    "batchnorm_backward": {
        "no path through mu": variant("batchnorm_backward", (" + dmu / n", "")),
        "no path through the variance": variant("batchnorm_backward", (" + dvar * 2.0 * xc / n", "")),
        "dgamma and dbeta swapped": variant("batchnorm_backward", ("return dx, dgamma, dbeta", "return dx, dbeta, dgamma")),
        "variance path with n - 1": variant("batchnorm_backward", ("dvar * 2.0 * xc / n", "dvar * 2.0 * xc / (n - 1)")),
        "dgamma without z": variant("batchnorm_backward", ("dgamma = (dout * z).sum(axis=0)", "dgamma = dout.sum(axis=0)")),
    },
    "batchnorm_backward_alt": {
        "forgot the z term": variant("batchnorm_backward_alt", (" - z * dgamma", "")),
        "forgot the mean term": variant("batchnorm_backward_alt", ("n * dout - dbeta", "n * dout")),
        "sign error": variant("batchnorm_backward_alt", ("- z * dgamma", "+ z * dgamma")),
    },
    "dropout_forward": {
        "p treated as keep probability": variant("dropout_forward", ("(np.random.rand(*x.shape) >= p) / (1 - p)",
                                                                     "(np.random.rand(*x.shape) < p) / p")),
        "multiplies by 1 - p": variant("dropout_forward", (">= p) / (1 - p)", ">= p) * (1 - p)")),
        "divides by p": variant("dropout_forward", (">= p) / (1 - p)", ">= p) / p")),
        "no rescaling": variant("dropout_forward", (">= p) / (1 - p)", ">= p) * 1.0")),
        "active at test time": variant("dropout_forward", ("        out = x\n", "        out = x * (np.random.rand(*x.shape) >= p) / (1 - p)\n")),
        "scales at test time": variant("dropout_forward", ("        out = x\n", "        out = x * (1 - p)\n")),
        "ignores the seed": variant("dropout_forward", ("np.random.rand(*x.shape)", "np.random.default_rng().random(x.shape)")),
    },
    "dropout_backward": {
        "fresh mask": variant("dropout_backward", (
            "dx = dout * mask", 'dx = dout * (np.random.rand(*dout.shape) >= dropout_param["p"]) / (1 - dropout_param["p"])')),
        "mask without scaling": variant("dropout_backward", ("dx = dout * mask", "dx = dout * (mask != 0)")),
        "no mask": variant("dropout_backward", ("dx = dout * mask", 'dx = dout / (1 - dropout_param["p"])')),
    },
    "fully_connected_net": {
        "bn_param[mode] typo": variant("fully_connected_net", ('bn_param["mode"] = mode', "bn_param[mode] = mode")),
        "batch norm never switched": variant("fully_connected_net", ('            bn_param["mode"] = mode\n', "            pass\n")),
        "dropout never switched": variant("fully_connected_net", ('self.dropout_param["mode"] = mode', "pass")),
        "regularizes every parameter": variant(
            "fully_connected_net",
            ('        for i in range(1, L + 1):\n            W = self.params[f"W{i}"]\n'
             '            loss += 0.5 * self.reg * np.sum(W * W)\n            grads[f"W{i}"] = grads[f"W{i}"] + self.reg * W\n',
             "        for name, W in self.params.items():\n"
             "            loss += 0.5 * self.reg * np.sum(W * W)\n            grads[name] = grads[name] + self.reg * W\n")),
        "no 0.5 in the penalty": variant("fully_connected_net", ("loss += 0.5 * self.reg", "loss += self.reg")),
        "no penalty gradient": variant("fully_connected_net", ('grads[f"W{i}"] = grads[f"W{i}"] + self.reg * W', "pass")),
        "gamma and beta swapped": variant("fully_connected_net", ('params[f"gamma{i}"] = np.ones', 'params[f"gamma{i}"] = np.zeros'),
                                          ('params[f"beta{i}"] = np.zeros', 'params[f"beta{i}"] = np.ones')),
        "batch norm after relu": variant(
            "fully_connected_net",
            ("            out, relu_cache = relu_forward(out)\n", ""),
            ("            if self.normalization == \"batchnorm\":\n                out, bn_cache",
             "            out, relu_cache = relu_forward(out)\n            if self.normalization == \"batchnorm\":\n"
             "                out, bn_cache")),
        "backward skips batch norm": variant(
            "fully_connected_net",
            ('dout, grads[f"gamma{i}"], grads[f"beta{i}"] = batchnorm_backward(dout, bn_cache)',
             '_, grads[f"gamma{i}"], grads[f"beta{i}"] = batchnorm_backward(dout, bn_cache)')),
    },
}

CORRECT = {
    "batchnorm_forward": {
        "np.var and a dict cache": variant(
            "batchnorm_forward", ("var = (xc**2).mean(axis=0)", "var = np.var(x, axis=0)"),
            ("cache = (xc, std, z, gamma)", "cache = (xc, std, z, gamma)\n        extra = {'x': x}  # noqa")),
        "running stats updated in place": variant(
            "batchnorm_forward",
            ('bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mu',
             "running_mean = running_mean * momentum\n        running_mean += (1 - momentum) * mu\n"
             '        bn_param["running_mean"] = running_mean')),
    },
    "batchnorm_backward": {
        "closed form inside": variant("batchnorm_backward", ("dx = dz / std + dvar * 2.0 * xc / n + dmu / n",
                                                             "dx = (n * dz - dz.sum(axis=0) - z * (dz * z).sum(axis=0)) / (n * std)")),
    },
    "dropout_forward": {
        "rand > p": variant("dropout_forward", ("np.random.rand(*x.shape) >= p", "np.random.rand(*x.shape) > p")),
        "rand < 1 - p": variant("dropout_forward", ("np.random.rand(*x.shape) >= p", "np.random.rand(*x.shape) < 1 - p")),
        "binomial": variant("dropout_forward", ("(np.random.rand(*x.shape) >= p) / (1 - p)",
                                                "np.random.binomial(1, 1 - p, size=x.shape) / (1 - p)")),
    },
    "fully_connected_net": {
        "uses the closed-form backward": variant("fully_connected_net", ("= batchnorm_backward(dout, bn_cache)",
                                                                         "= batchnorm_backward_alt(dout, bn_cache)")),
    },
}


def outcomes(overrides):
    return quiet_outcomes(NOTEBOOK, overrides)


(test_reference_passes_every_test_cell, test_correct_variant_scores_full,
 test_wrong_answer_loses_points_only_on_its_function) = answer_variant_tests(NOTEBOOK, TESTS, CORRECT, WRONG, OWN_TESTS)



def test_wrong_forward_does_not_cost_backward_points():
    """A correct backward pass keeps its points when the forward pass has a bug."""
    for label in ("unbiased variance", "eps outside the sqrt", "eps missing"):
        result = outcomes({"batchnorm_forward": WRONG["batchnorm_forward"][label]})
        assert result["test_batchnorm_backward"] is None, label
        assert result["test_batchnorm_backward_alt"] is None, label


def test_the_public_test_names_the_unbiased_variance_first():
    """The most specific hint comes first: N - 1 is named, not only a std slightly off."""
    result = outcomes({"batchnorm_forward": WRONG["batchnorm_forward"]["unbiased variance"]})
    assert "divides by N, not N - 1" in str(result["test_batchnorm_forward_train"])
