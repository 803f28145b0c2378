"""Input pipeline throughput: ``helpers.torch_data.batches`` versus a plain ``DataLoader``.

Usage: python benchmarks/torch_pipeline.py [--images 20000] [--reps 3] [--device cpu|auto|cuda]

Both produce the same thing, shuffled batches of 128 standardized images with random shifts of up
to 4 pixels and random horizontal flips, with no model attached, so only the pipeline is timed:

* ``batches``: the uint8 training tensor on the device, whole-batch indexing, conversion and
  augmentation (what the notebook uses);
* ``DataLoader``: a map-style dataset of per-image tensors whose ``__getitem__`` pads, crops, flips
  and standardizes one image (the usual torchvision-style recipe), with 0 and 2 worker processes.

Runs alternate, so a busy machine slows all of them alike. Prints images per second (median).
``--device auto`` picks the notebook's device (CUDA, MPS, else CPU); the DataLoader batches are then
moved to it as a training loop would, so both sides deliver batches on the same device.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers.torch_data import CIFAR10_MEAN, CIFAR10_STD, batches, load_cifar10_tensors, pick_device  # noqa: E402

BATCH = 128


class PerImageCifar(Dataset):
    """One (3, 32, 32) uint8 tensor per image, transformed one at a time."""

    def __init__(self, x, y, pad=4):
        self.images = [img.clone() for img in x]  # separate tensors, as a file-per-image data set gives
        self.labels = y.tolist()
        self.pad = pad
        self.mean = torch.tensor(CIFAR10_MEAN).view(3, 1, 1)
        self.std = torch.tensor(CIFAR10_STD).view(3, 1, 1)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        img = (self.images[i].float() / 255 - self.mean) / self.std
        img = F.pad(img, (self.pad,) * 4)
        top, left = torch.randint(0, 2 * self.pad + 1, (2,)).tolist()
        img = img[:, top:top + 32, left:left + 32]
        if torch.rand(()) < 0.5:
            img = img.flip(2)
        return img, self.labels[i]


def images_per_second(make_iterator, n, device):
    start = time.perf_counter()
    seen = 0
    for xb, _ in make_iterator():
        xb = xb.to(device, non_blocking=True)
        seen += len(xb)
    if device.type == "cuda":
        torch.cuda.synchronize(device)  # the device may still be working on the last batches
    assert seen == n, (seen, n)
    return n / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, mps, or auto (as the notebook)")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    device = pick_device() if args.device == "auto" else torch.device(args.device)
    data = load_cifar10_tensors("cpu")
    dataset = PerImageCifar(data.x_train[:args.images], data.y_train[:args.images])
    x, y = data.x_train[:args.images].to(device), data.y_train[:args.images].to(device)
    g = torch.Generator().manual_seed(0)
    runs = {
        "batches (whole batch on device)": lambda: batches(x, y, BATCH, shuffle=True, augment=True, generator=g),
        "DataLoader, per image, 0 workers": lambda: DataLoader(dataset, BATCH, shuffle=True, num_workers=0),
        "DataLoader, per image, 2 workers": lambda: DataLoader(dataset, BATCH, shuffle=True, num_workers=2,
                                                               persistent_workers=False),
    }
    results = {name: [] for name in runs}
    for _ in range(args.reps):
        for name, make in runs.items():
            results[name].append(images_per_second(make, len(x), device))
    ours = statistics.median(results["batches (whole batch on device)"])
    print(f"{len(x)} CIFAR-10 training images, batches of {BATCH}, shifts + flips, on {device}, "
          f"{torch.get_num_threads()} CPU threads, median of {args.reps}")
    for name, values in results.items():
        med = statistics.median(values)
        print(f"  {name:34s} {med:>9,.0f} images/s   (ours is {ours / med:.1f}x)")


if __name__ == "__main__":
    main()
