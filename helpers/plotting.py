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
        None: the path is printed ("saved figures/box_blur.png"), so that a cell ending with this
        call shows one line, not also the path's repr.

    While autograding, a figure the student submitted is kept as it is: it is the one
    their written answers refer to, and re-rendering it would only cost grading time.
    """
    path = Path(path)
    if autograding() and path.exists():
        print(f"kept the submitted {path}")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    print(f"saved {path}")


def _smooth(values, window):
    """Moving average, so a noisy per-iteration loss shows its trend."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2 * window:
        return values
    return np.convolve(values, np.ones(window) / window, mode="valid")


def _finish(fig, panels, legend_ax, title):
    """Title, x label and grid per (axes, title, xlabel) panel, one legend, the figure title; returns fig."""
    for ax, name, xlabel in panels:
        ax.set_title(name)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    legend_ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_histories(histories, title=None, smooth=10):
    """Training loss per iteration and train / validation accuracy per epoch, one line per run.

    Args:
        histories: dict label -> history, a dict with ``loss_history`` (one value per
            iteration), ``train_acc_history`` and ``val_acc_history`` (one per epoch, from 0).
        title: figure title.
        smooth: moving-average window for the loss (1 shows the raw values).
    Returns:
        matplotlib Figure.
    """
    fig, (ax_loss, ax_train, ax_val) = plt.subplots(1, 3, figsize=(15, 4))
    for label, h in histories.items():
        ax_loss.plot(_smooth(h["loss_history"], smooth), label=label)
        ax_train.plot(h["train_acc_history"], "-o", markersize=3, label=label)
        ax_val.plot(h["val_acc_history"], "-o", markersize=3, label=label)
    return _finish(fig, ((ax_loss, "training loss", "iteration"), (ax_train, "train accuracy", "epoch"),
                         (ax_val, "validation accuracy", "epoch")), ax_val, title)


def plot_train_vs_val(histories, title=None):
    """Train (solid) and validation (dashed) accuracy per epoch, one color per run.

    Args:
        histories: dict label -> history with ``train_acc_history`` and ``val_acc_history``.
    Returns:
        matplotlib Figure.
    """
    fig, ax = plt.subplots(figsize=(8, 5))
    for (label, h), color in zip(histories.items(), plt.cm.viridis(np.linspace(0, 0.9, len(histories))),
                                 strict=True):
        ax.plot(h["train_acc_history"], "-", color=color, label=f"{label}: train")
        ax.plot(h["val_acc_history"], "--", color=color, label=f"{label}: validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.grid(alpha=0.3)
    ax.legend(ncol=2, fontsize="small")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_sweep(x, series, panels, xlabel, title=None, logx=True, logy=()):
    """Metrics of several runs against a swept hyperparameter, one panel per metric.

    Args:
        x: (K,) swept values, e.g. weight scales.
        series: dict label -> dict metric -> (K,) values, e.g.
            ``{"batch norm": {"best_val_acc": [...], ...}, "baseline": {...}}``.
        panels: list of (metric, panel title) pairs.
        xlabel: axis label for ``x``.
        logx: logarithmic x axis.
        logy: metrics whose panel gets a logarithmic y axis (e.g. a loss that explodes).
    Returns:
        matplotlib Figure.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for ax, (metric, name) in zip(axes[0], panels, strict=True):
        for label, values in series.items():
            ax.plot(x, values[metric], "-o", markersize=3, label=label)
        ax.set_title(name)
        ax.set_xlabel(xlabel)
        if logx:
            ax.set_xscale("log")
        if metric in logy:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0][-1].legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_training_records(records, title=None):
    """Training loss and validation accuracy per epoch of PyTorch runs, one line per model.

    Args:
        records: dict label -> record saved by ``helpers.training`` (with ``history`` holding
            ``epoch``, ``train_loss``, ``val_accuracy``; ``test_accuracy`` goes in the legend).
        title: figure title.
    Returns:
        matplotlib Figure.
    """
    fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(12, 4))
    for label, record in records.items():
        h = record["history"]
        ax_loss.plot(h["epoch"], h["train_loss"], "-o", markersize=3, label=label)
        ax_val.plot(h["epoch"], h["val_accuracy"], "-o", markersize=3,
                    label=f"{label} (test {record.get('test_accuracy', float('nan')):.1%})")
    return _finish(fig, ((ax_loss, "training loss", "epoch"), (ax_val, "validation accuracy", "epoch")), ax_val, title)
