"""CIFAR-10 for the PyTorch notebook: the whole data set as uint8 tensors on the training device.

Images stay on the device as one uint8 tensor per split (150 MB for the training set), and every
step of the input pipeline works on a whole batch at once on that device: indexing, conversion to
float, normalization, random crops and flips. There is no per-image Python code and no worker
process, which is what makes a plain ``DataLoader`` the bottleneck of small CIFAR models
(``benchmarks/torch_pipeline.py`` measures the difference).

Random numbers (shuffling, crop offsets, flips) are drawn from a CPU ``torch.Generator`` and then
moved to the device, so a seed gives the same batches on CUDA, MPS and CPU.
"""

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from helpers.data import load_cifar10
from helpers.runtime import autograding

__all__ = ["CIFAR10_MEAN", "CIFAR10_STD", "Cifar10Tensors", "batches", "load_cifar10_tensors", "normalize",
           "pick_device", "random_crop", "random_flip"]

# Per-channel mean and standard deviation of the 50,000 training images (RGB, pixel values / 255).
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
VALIDATION_SIZE = 5000
SPLIT_SEED = 0  # the train/validation split is the same for every student and for the grader
# While autograding nothing trains: the kernel keeps only this many training images (for the
# notebook's sample figure), so grading fits in a small container (Gradescope's default 768 MB).
GRADING_TRAIN_SIZE = 2000
_COPY_CHUNK = 5000  # images converted at a time


def pick_device(verbose=True):
    """The device to train on: CUDA if present, else Apple's MPS, else the CPU.

    ``HW3_DEVICE=cpu`` (or ``cuda``, ``mps``) overrides the choice.
    """
    wanted = os.environ.get("HW3_DEVICE")
    if wanted:
        device = torch.device(wanted)
    elif torch.cuda.is_available():
        device = torch.device("cuda")
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        device = torch.device("mps")
    else:
        device = torch.device("cpu")
    if verbose:
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else device.type
        threads = f", {torch.get_num_threads()} threads" if device.type == "cpu" else ""
        print(f"training device: {name}{threads}")
    return device


@dataclass
class Cifar10Tensors:
    """CIFAR-10 on one device. ``x_*``: (N, 3, 32, 32) uint8; ``y_*``: (N,) int64.

    Splits: ``train`` (45,000 images), ``val`` (5,000 held out from the official training set,
    the same for everyone), ``test`` (the official 10,000 test images).
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    class_names: tuple
    device: torch.device

    def split(self, name):
        """(x, y) of split ``"train"``, ``"val"`` or ``"test"``."""
        if name not in ("train", "val", "test"):
            raise ValueError(f"unknown split {name!r}: use 'train', 'val' or 'test'")
        return getattr(self, f"x_{name}"), getattr(self, f"y_{name}")


def load_cifar10_tensors(device=None, val_size=VALIDATION_SIZE, train_size=None, data=None):
    """CIFAR-10 as uint8 tensors on ``device`` (default: ``pick_device()``).

    Args:
        device: torch.device or name.
        val_size: images held out from the official training set for validation.
        train_size: keep only the first ``train_size`` training images (of the fixed shuffled
            order); None keeps all ``50,000 - val_size`` (``GRADING_TRAIN_SIZE`` while autograding).
        data: a ``helpers.data.Cifar10`` already loaded (default: ``load_cifar10()``).
    Returns:
        Cifar10Tensors.
    """
    device = torch.device(device) if device is not None else pick_device(verbose=False)
    data = data if data is not None else load_cifar10()
    n = len(data.x_train)
    order = np.random.default_rng(SPLIT_SEED).permutation(n)  # the JPEG copy lists images class by class
    train_idx, val_idx = order[: n - val_size], order[n - val_size:]
    if train_size is None and autograding():
        train_size = GRADING_TRAIN_SIZE
    if train_size is not None:
        train_idx = train_idx[:train_size]

    def to_device(images, labels, index):  # images[index]: (K, 32, 32, 3) uint8 -> (K, 3, 32, 32) on the device
        # Copied a slice at a time into the final tensor: no second full-size copy on the way.
        x = torch.empty((len(index), 3, 32, 32), dtype=torch.uint8, device=device)
        for start in range(0, len(index), _COPY_CHUNK):
            part = images[index[start:start + _COPY_CHUNK]]
            x[start:start + len(part)] = torch.from_numpy(part).permute(0, 3, 1, 2).to(device)
        return x, torch.from_numpy(np.asarray(labels[index], dtype=np.int64)).to(device)

    return Cifar10Tensors(*to_device(data.x_train, data.y_train, train_idx),
                          *to_device(data.x_train, data.y_train, val_idx),
                          *to_device(data.x_test, data.y_test, np.arange(len(data.x_test))),
                          class_names=tuple(data.class_names), device=device)


def normalize(x):
    """uint8 images (B, 3, H, W) -> float32, each channel standardized with the training statistics."""
    mean = torch.tensor(CIFAR10_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD, device=x.device).view(1, 3, 1, 1)
    return (x.float() / 255 - mean) / std


def random_crop(x, pad, generator=None):
    """Shift each image of a batch by a random offset in [-pad, pad] in each direction (zero fill).

    The same as padding by ``pad`` and taking a random 32x32 crop, done for the whole batch with
    one gather instead of one crop per image.

    Args:
        x: (B, C, H, W) float images.
        pad: largest shift in pixels.
        generator: CPU torch.Generator for the offsets.
    Returns:
        (B, C, H, W) shifted images.
    """
    if pad <= 0:
        return x
    b, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad)).reshape(b, c, -1)  # (B, C, (H + 2p) * (W + 2p))
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator).to(x.device)
    rows = dy[:, None] + torch.arange(h, device=x.device)  # (B, H)
    cols = dx[:, None] + torch.arange(w, device=x.device)  # (B, W)
    flat = (rows[:, :, None] * (w + 2 * pad) + cols[:, None, :]).reshape(b, 1, h * w)  # (B, 1, H * W)
    return padded.gather(2, flat.expand(b, c, h * w)).reshape(b, c, h, w)


def random_flip(x, generator=None):
    """Mirror a random half of the batch left to right. x: (B, C, H, W)."""
    flip = (torch.rand(x.shape[0], generator=generator) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def batches(x, y, batch_size, shuffle=False, augment=False, crop_pad=4, generator=None, drop_last=False):
    """Iterate over a split in mini-batches, ready for the model.

    Args:
        x: (N, 3, 32, 32) uint8 images on the device; y: (N,) int64 labels.
        batch_size: images per batch.
        shuffle: visit the images in a new random order (training).
        augment: random crops (shift up to ``crop_pad`` pixels) and horizontal flips (training).
        generator: CPU torch.Generator; a seeded one makes the batches reproducible.
        drop_last: skip a last batch smaller than ``batch_size``.
    Yields:
        (xb, yb): xb (B, 3, 32, 32) float32 normalized, on the device; yb (B,) int64.
    """
    n = len(x)
    order = torch.randperm(n, generator=generator).to(x.device) if shuffle else None
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        if order is None:
            xb, yb = x[start:start + batch_size], y[start:start + batch_size]
        else:
            idx = order[start:start + batch_size]
            xb, yb = x[idx], y[idx]
        xb = normalize(xb)
        if augment:
            xb = random_flip(random_crop(xb, crop_pad, generator), generator)
        if x.device.type == "cpu":
            xb = xb.contiguous(memory_format=torch.channels_last)  # oneDNN's fastest layout for convs
        yield xb, yb
