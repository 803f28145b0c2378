"""Real photographs for the filter notebook, read from files that installed packages ship.

Nothing is downloaded: the default photo is ``grace_hopper.jpg`` (a public-domain U.S. Navy
portrait) from matplotlib's bundled sample data.
"""

import matplotlib.cbook
import matplotlib.image
import numpy as np

# ITU-R BT.601 luma weights: the usual RGB -> gray conversion (what Pillow's "L" mode uses).
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])


def sample_photo_path(name="grace_hopper.jpg"):
    """Path of a photo in matplotlib's sample data (a file inside the installed package)."""
    return matplotlib.cbook.get_sample_data(name, asfileobj=False)


def to_grayscale(rgb):
    """Convert an RGB image to gray.

    Args:
        rgb: (H, W, 3) or (H, W, 4) array, uint8 in [0, 255] or float in [0, 1].
    Returns:
        (H, W) float64 array in [0, 1].
    """
    rgb = np.asarray(rgb)
    scale = 255.0 if rgb.dtype == np.uint8 else 1.0
    return (rgb[..., :3].astype(np.float64) / scale) @ LUMA_WEIGHTS


def load_grayscale_photo(name="grace_hopper.jpg", step=1):
    """Load a real photograph as a grayscale float image.

    Args:
        name: file name in matplotlib's sample data.
        step: keep every ``step``-th row and column (1 keeps full resolution).
    Returns:
        (H, W) float64 array in [0, 1]; (600, 512) for the default photo at step 1.
    """
    rgb = matplotlib.image.imread(sample_photo_path(name))
    return np.ascontiguousarray(to_grayscale(rgb)[::step, ::step])
