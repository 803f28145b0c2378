"""Plots for the notebooks: images side by side, signed responses, saving figures for the PDF."""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from helpers.runtime import autograding


def signed_limits(image, percentile=99.5):
    """Symmetric color limits ``(-m, m)`` for a signed image, so zero maps to the middle color.

    ``m`` is a high percentile of ``|image|`` rather than its maximum, so a few extreme
    pixels do not wash out everything else.

    Args:
        image: (H, W) array.
    Returns:
        (vmin, vmax) floats with ``vmin == -vmax``.
    """
    m = float(np.percentile(np.abs(image), percentile))
    m = m if m > 0 else 1.0
    return -m, m


def show_images(images, titles, signed=None, suptitle=None, width=4.0, colorbar=False):
    """Show grayscale images side by side in one row.

    Args:
        images: list of (H, W) arrays. Unsigned images are shown in gray with limits
            [0, 1]; signed ones (see ``signed``) in a blue-white-red map centered on 0.
        titles: list of strings, one per image.
        signed: list of bools (one per image), or None for all False.
        suptitle: optional title over the whole figure.
        width: width of each panel in inches.
        colorbar: draw a color bar under each panel.
    Returns:
        matplotlib Figure (pass it to ``save_figure``).
    """
    if len(images) != len(titles):
        raise ValueError(f"{len(images)} images but {len(titles)} titles")
    signed = signed or [False] * len(images)
    h, w = np.shape(images[0])[:2]
    fig, axes = plt.subplots(
        1, len(images), figsize=(width * len(images), width * h / w + 0.8), squeeze=False
    )
    for ax, img, title, is_signed in zip(axes[0], images, titles, signed, strict=True):
        if is_signed:
            vmin, vmax = signed_limits(img)
            shown = ax.imshow(img, cmap="RdBu_r", vmin=vmin, vmax=vmax)
        else:
            shown = ax.imshow(img, cmap="gray", vmin=0.0, vmax=1.0)
        ax.set_title(title)
        ax.set_axis_off()
        if colorbar:
            fig.colorbar(shown, ax=ax, orientation="horizontal", fraction=0.05, pad=0.04)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def save_figure(fig, path, dpi=150):
    """Save a figure as a PNG for the written part, creating the folder if needed.

    Args:
        fig: matplotlib Figure.
        path: file path, e.g. ``"figures/box_blur.png"`` (relative to the notebook).
    Returns:
        pathlib.Path of the saved file (printed, so students see where it went).

    While autograding, a figure the student submitted is kept as it is: it is the one
    their written answers refer to, and re-rendering it would only cost grading time.
    """
    path = Path(path)
    if autograding() and path.exists():
        print(f"kept the submitted {path}")
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    print(f"saved {path}")
    return path
