"""The photo loader and plotting helpers work on real data and write real files."""

import matplotlib.image
import numpy as np

from helpers.images import load_grayscale_photo, to_grayscale
from helpers.plotting import save_figure, show_images, signed_limits


def test_photo_is_a_real_grayscale_photograph():
    img = load_grayscale_photo()
    assert img.shape == (600, 512) and img.dtype == np.float64
    assert 0.0 <= img.min() and img.max() <= 1.0
    assert img.std() > 0.1  # a photo, not a blank image
    assert load_grayscale_photo(step=2).shape == (300, 256)


def test_grayscale_weights():
    rgb = np.zeros((1, 3, 3), dtype=np.uint8)
    rgb[0, 0, 0], rgb[0, 1, 1], rgb[0, 2, 2] = 255, 255, 255
    np.testing.assert_allclose(to_grayscale(rgb)[0], [0.299, 0.587, 0.114])
    np.testing.assert_allclose(to_grayscale(np.ones((2, 2, 4))), np.ones((2, 2)))


def test_signed_limits_are_symmetric():
    vmin, vmax = signed_limits(np.array([[-3.0, 1.0], [0.0, 2.0]]), percentile=100)
    assert (vmin, vmax) == (-3.0, 3.0)
    assert signed_limits(np.zeros((2, 2))) == (-1.0, 1.0)


def test_show_and_save_writes_a_png(tmp_path):
    img = load_grayscale_photo(step=8)
    fig = show_images([img, img - 0.5], ["a", "b"], signed=[False, True], colorbar=True)
    path = tmp_path / "sub" / "fig.png"
    assert save_figure(fig, path) is None  # a cell ending with it echoes nothing (it prints the path)
    png = matplotlib.image.imread(path)
    assert png.ndim == 3 and png.shape[0] > 100


def test_autograding_keeps_a_submitted_figure(tmp_path, monkeypatch):
    path = tmp_path / "fig.png"
    path.write_bytes(b"the student's figure")
    fig = show_images([np.zeros((4, 4))], ["x"])
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    save_figure(fig, path)
    assert path.read_bytes() == b"the student's figure"
    save_figure(fig, tmp_path / "new.png")  # a missing one is still written
    assert (tmp_path / "new.png").stat().st_size > 100
    monkeypatch.delenv("NBGRADER_EXECUTION")
    save_figure(fig, path)
    assert path.read_bytes() != b"the student's figure"
