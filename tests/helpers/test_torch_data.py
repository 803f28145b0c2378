"""The PyTorch notebook's data pipeline: splits, standardization, augmentation, reproducibility."""

import numpy as np
import torch

from helpers.torch_data import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    batches,
    load_cifar10_tensors,
    normalize,
    random_crop,
    random_flip,
)


def test_splits_are_fixed_disjoint_and_complete():
    data = load_cifar10_tensors("cpu")
    assert data.x_train.shape == (45000, 3, 32, 32) and data.x_train.dtype == torch.uint8
    assert data.x_val.shape == (5000, 3, 32, 32) and data.x_test.shape == (10000, 3, 32, 32)
    assert data.y_train.dtype == torch.int64 and set(data.y_val.tolist()) == set(range(10))
    again = load_cifar10_tensors("cpu")
    assert torch.equal(again.x_val, data.x_val)  # the same validation images for everyone


def test_normalize_uses_the_training_statistics():
    data = load_cifar10_tensors("cpu")
    x = normalize(data.x_train[:5000]).double()
    mean, std = x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3))
    assert torch.allclose(mean, torch.zeros(3, dtype=mean.dtype), atol=0.05)
    assert torch.allclose(std, torch.ones(3, dtype=std.dtype), atol=0.05)
    raw = data.x_train[:5000].double() / 255
    assert np.allclose(raw.mean(dim=(0, 2, 3)).numpy(), CIFAR10_MEAN, atol=0.01)
    assert np.allclose(raw.std(dim=(0, 2, 3)).numpy(), CIFAR10_STD, atol=0.01)


def test_random_crop_shifts_each_image_with_zero_fill():
    g = torch.Generator().manual_seed(0)
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8) + 1
    out = random_crop(x, 2, g)
    assert out.shape == x.shape
    for i in range(2):  # each output is x[i] shifted by some (dy, dx) in [-2, 2]^2, zeros where it left
        padded = torch.nn.functional.pad(x[i], (2, 2, 2, 2))
        shifts = [(dy, dx) for dy in range(5) for dx in range(5)
                  if torch.equal(padded[:, dy:dy + 8, dx:dx + 8], out[i])]
        assert len(shifts) == 1
    assert torch.equal(random_crop(x, 0, g), x)


def test_random_flip_mirrors_about_half_the_batch():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1000, 3, 4, 4)
    out = random_flip(x, g)
    flipped = torch.tensor([torch.equal(o, xi.flip(2)) for o, xi in zip(out, x, strict=True)])
    kept = torch.tensor([torch.equal(o, xi) for o, xi in zip(out, x, strict=True)])
    assert bool((flipped ^ kept).all()) and 400 < int(flipped.sum()) < 600


def test_batches_cover_the_split_once_and_are_reproducible():
    x = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1).expand(10, 3, 32, 32).contiguous()
    y = torch.arange(10)
    seen = [yb for _, yb in batches(x, y, 4, shuffle=True, generator=torch.Generator().manual_seed(1))]
    assert [len(b) for b in seen] == [4, 4, 2] and sorted(torch.cat(seen).tolist()) == list(range(10))
    again = [yb for _, yb in batches(x, y, 4, shuffle=True, generator=torch.Generator().manual_seed(1))]
    assert all(torch.equal(a, b) for a, b in zip(seen, again, strict=True))
    xb, yb = next(batches(x, y, 4))
    assert xb.dtype == torch.float32 and torch.equal(yb, torch.arange(4))
    assert [len(b) for _, b in batches(x, y, 4, drop_last=True)] == [4, 4]
    for xb, _ in batches(x, y, 5, augment=True, generator=torch.Generator().manual_seed(2)):
        assert xb.shape == (5, 3, 32, 32) and torch.isfinite(xb).all()
