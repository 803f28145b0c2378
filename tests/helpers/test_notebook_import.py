"""functions_from_notebook: Part 2 uses the student's Part 1 functions, and says clearly when they
are not there yet."""

import nbformat
import numpy as np
import pytest

from grader.cells import fill_answers, reference_answers
from grader.course import RELEASE_DIR, SOURCE_DIR
from helpers.notebook_import import Unfinished, functions_from_notebook

PART1 = "part1_batchnorm_dropout.ipynb"
NAMES = ["batchnorm_forward", "batchnorm_backward"]


def write_part1(folder, answers):
    nb = fill_answers(nbformat.read(RELEASE_DIR / PART1, as_version=4), answers)
    nbformat.write(nb, folder / PART1)
    return folder / PART1


def test_finished_part1_functions_work(tmp_path, capsys):
    path = write_part1(tmp_path, reference_answers(SOURCE_DIR / PART1))
    part1 = functions_from_notebook(path, NAMES)
    out, cache = part1.batchnorm_forward(np.array([[1.0], [3.0]]), np.ones(1), np.zeros(1), {"mode": "train"})
    np.testing.assert_allclose(out, [[-1.0], [1.0]], rtol=1e-4)
    dx, _, _ = part1.batchnorm_backward(np.ones((2, 1)), cache)
    assert dx.shape == (2, 1)
    assert part1.unfinished == [] and "Not finished" not in capsys.readouterr().out


def test_unfinished_part1_says_what_to_do(tmp_path, capsys):
    path = write_part1(tmp_path, {})  # the untouched release
    part1 = functions_from_notebook(path, NAMES)
    assert part1.unfinished == NAMES
    assert "Not finished" in capsys.readouterr().out
    with pytest.raises(Unfinished, match="batchnorm_forward from .* is not implemented yet: finish it there"):
        part1.batchnorm_forward(np.ones((2, 1)), np.ones(1), np.zeros(1), {"mode": "train"})


def test_broken_or_missing_cells_and_files(tmp_path):
    path = write_part1(tmp_path, {"batchnorm_forward": "def batchnorm_forward(x, gamma, beta, bn_param:\n"})
    part1 = functions_from_notebook(path, [*NAMES, "no_such_function"])
    with pytest.raises(Unfinished, match="does not run \\(SyntaxError"):
        part1.batchnorm_forward()
    with pytest.raises(Unfinished, match="is not in that notebook"):
        part1.no_such_function()
    with pytest.raises(FileNotFoundError, match="Keep the notebooks of this homework together"):
        functions_from_notebook(tmp_path / "missing.ipynb", NAMES)
