"""CIFAR-10 as the NumPy notebooks use it: float, channel-first, mean image removed."""

import functools

import numpy as np

from helpers.data import load_cifar10

SHUFFLE_SEED = 0


@functools.lru_cache(maxsize=1)
def _cifar10():
    """The whole data set, loaded once per process (notebook kernel)."""
    return load_cifar10()


def cifar10_numpy_splits(num_train=49000, num_val=1000, num_test=1000, dtype=np.float32):
    """Train / validation / test arrays for the NumPy models.

    The training set is put in a fixed random order first (the same every time), because the
    offline JPEG copy lists it class by class: training images are the first ``num_train`` of
    that order, validation images its last ``num_val``, test images the first ``num_test`` of
    the (shuffled) test set. The mean training image is subtracted from all three.

    Returns:
        dict with X_train (num_train, 3, 32, 32), y_train (num_train,), X_val (num_val, 3, 32, 32),
        y_val, X_test (num_test, 3, 32, 32), y_test (int64 labels), and class_names.
    """
    data = _cifar10()
    n = len(data.x_train)
    if num_train + num_val > n:
        raise ValueError(f"num_train + num_val must be at most {n}")

    def prepare(images):  # (K, 32, 32, 3) uint8 -> (K, 3, 32, 32) float
        return images.transpose(0, 3, 1, 2).astype(dtype)

    order = np.random.default_rng(SHUFFLE_SEED).permutation(n)
    train_idx, val_idx = order[:num_train], order[n - num_val:]
    test_idx = np.random.default_rng(SHUFFLE_SEED).permutation(len(data.x_test))[:num_test]
    x_train = prepare(data.x_train[train_idx])
    mean = x_train.mean(axis=0)
    return {
        "X_train": x_train - mean,
        "y_train": data.y_train[train_idx],
        "X_val": prepare(data.x_train[val_idx]) - mean,
        "y_val": data.y_train[val_idx],
        "X_test": prepare(data.x_test[test_idx]) - mean,
        "y_test": data.y_test[test_idx],
        "class_names": data.class_names,
    }
