"""Search the recipe of Part 3's own-design model: train variants within the student budget, compare.

Usage:
    python benchmarks/own_model_search.py [--only NAME ...] [--deadline SECONDS] [--out DIR]

Each variant is the reference ``MyNetwork`` of the source notebook (patch whitening, three blocks of
two convolutions with batch norm, global max pooling) with other widths, batch norm settings or
training settings, trained with the notebook's own ``train_step`` and ``evaluate`` through
``helpers.training.train_model`` for 10 epochs (the budget: at most 1,000,000 parameters). Prints
one line per variant: parameters, multiply-adds per image (what the grader's CPU evaluation
costs), test accuracy without and with flip averaging, and training seconds. Meant for a GPU
(a variant takes seconds there, half an hour on a 2-core CPU). ``--deadline`` stops starting new
variants once that many seconds have passed (a lease on a lent GPU is short). ``--out`` receives
``search.jsonl`` (one record per variant) and the best variant's weights (``best_own.pt``).
``OVER_BUDGET`` variants (run only when named in ``--only``) break the budget on purpose, to show
which limit binds.
Set HW3_DATA_DIR where there is no internet.
"""

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader.cells import reference_namespace  # noqa: E402
from helpers.torch_data import batches, load_cifar10_tensors, pick_device  # noqa: E402
from helpers.training import count_parameters, prepared, train_model  # noqa: E402

NOTEBOOK = "part3_pytorch_cnn.ipynb"
MAX_PARAMETERS = 1_000_000

# name -> (network settings, TrainConfig changes from the reference OWN_CONFIG), most informative first.
VARIANTS = {
    "reference": ({}, {}),
    "lr0.4": ({}, {"lr": 0.4}),
    "lr0.8": ({}, {"lr": 0.8}),
    "lr0.4_frozen_bn": ({"freeze_bn_weight": True, "bn_momentum": 0.4}, {"lr": 0.4}),
    "w32-144-224_lr0.4": ({"widths": (32, 144, 224)}, {"lr": 0.4}),
    "w48-128-224_lr0.4": ({"widths": (48, 128, 224)}, {"lr": 0.4}),
    "w32-144-224_lr0.8": ({"widths": (32, 144, 224)}, {"lr": 0.8}),
    "lr1.6": ({}, {"lr": 1.6}),
    "lr0.4_bs1024": ({}, {"lr": 0.8, "batch_size": 1024}),
    "lr0.4_momentum0.85": ({}, {"lr": 0.4, "momentum": 0.85}),
    "lr0.4_ls0.1": ({}, {"lr": 0.4, "label_smoothing": 0.1}),
    "lr0.4_wd1e-3": ({}, {"lr": 0.4, "weight_decay": 1e-3}),
    "lr0.4_pad4": ({}, {"lr": 0.4, "crop_pad": 4}),
    "w32-144-224_lr0.4_frozen_bn": ({"widths": (32, 144, 224), "freeze_bn_weight": True, "bn_momentum": 0.4},
                                    {"lr": 0.4}),
    # Second round: weaker weight decay (SGD's decay on batch-normed weights raises the effective
    # learning rate step after step), identity initialization, a third convolution per block.
    "w32-144-224_lr0.8_wd5e-5": ({"widths": (32, 144, 224)}, {"lr": 0.8, "weight_decay": 5e-5}),
    "w32-144-224_lr0.8_wd0": ({"widths": (32, 144, 224)}, {"lr": 0.8, "weight_decay": 0.0}),
    "w32-144-224_lr0.8_wd1.5e-4": ({"widths": (32, 144, 224)}, {"lr": 0.8, "weight_decay": 1.5e-4}),
    "w32-144-224_lr1.6_wd5e-5": ({"widths": (32, 144, 224)}, {"lr": 1.6, "weight_decay": 5e-5}),
    "w32-144-224_lr0.4_wd5e-5": ({"widths": (32, 144, 224)}, {"lr": 0.4, "weight_decay": 5e-5}),
    "w32-144-224_lr0.8_wd5e-5_ls0.1": ({"widths": (32, 144, 224)},
                                       {"lr": 0.8, "weight_decay": 5e-5, "label_smoothing": 0.1}),
    "w32-144-224_lr0.8_wd5e-5_dirac": ({"widths": (32, 144, 224), "dirac_init": True},
                                       {"lr": 0.8, "weight_decay": 5e-5}),
    "w64-128-192_lr0.8_wd5e-5": ({"widths": (64, 128, 192)}, {"lr": 0.8, "weight_decay": 5e-5}),
    "w32-96-176x3_lr0.8_wd5e-5": ({"widths": (32, 96, 176), "convs_per_block": 3},
                                  {"lr": 0.8, "weight_decay": 5e-5}),
    "w32-144-224_adam": ({"widths": (32, 144, 224)}, {"optimizer": "adam", "lr": 4e-3, "weight_decay": 0.05}),
    "w32-144-224_bs256_lr0.4_wd5e-5": ({"widths": (32, 144, 224)},
                                       {"lr": 0.4, "weight_decay": 5e-5, "batch_size": 256}),
    # Third round: batch norm shifts learning 64 times faster (their values scaled by 8), a residual
    # pair of convolutions per block, other width splits, a longer warm-up.
    "w32-144-224_lr0.8_wd1.5e-4_bias8": ({"widths": (32, 144, 224), "bn_bias_scale": 8.0},
                                         {"lr": 0.8, "weight_decay": 1.5e-4}),
    "w32-144-224_lr0.8_wd1.5e-4_bias8_frozen_bn": (
        {"widths": (32, 144, 224), "bn_bias_scale": 8.0, "freeze_bn_weight": True},
        {"lr": 0.8, "weight_decay": 1.5e-4}),
    "w48-160-192_lr0.8_wd1.5e-4": ({"widths": (48, 160, 192)}, {"lr": 0.8, "weight_decay": 1.5e-4}),
    "w32-96-184res_lr0.8_wd1.5e-4": ({"widths": (32, 96, 184), "convs_per_block": 3, "residual": True},
                                     {"lr": 0.8, "weight_decay": 1.5e-4}),
    "w32-144-224_lr0.8_wd1.5e-4_warm0.3": ({"widths": (32, 144, 224)},
                                           {"lr": 0.8, "weight_decay": 1.5e-4, "warmup": 0.3}),
    "w32-144-224_lr0.8_wd1.5e-4_cosine": ({"widths": (32, 144, 224)},
                                          {"lr": 0.8, "weight_decay": 1.5e-4, "schedule": "cosine"}),
}

# Outside the budget, to see which limit binds: airbench94's widths (2M parameters), 20 epochs.
OVER_BUDGET = {
    "over_w64-256-256_lr0.8_wd1.5e-4": ({"widths": (64, 256, 256)}, {"lr": 0.8, "weight_decay": 1.5e-4}),
    "over_w64-256-256_reference_settings": ({"widths": (64, 256, 256)}, {}),
    "over_w32-144-224_lr0.8_wd1.5e-4_20epochs": ({"widths": (32, 144, 224)},
                                                 {"lr": 0.8, "weight_decay": 1.5e-4, "epochs": 20}),
}


class ScaledShiftBatchNorm(nn.BatchNorm2d):
    """Batch norm whose shift is ``bias_scale`` times its parameter: SGD then moves it bias_scale**2 faster."""

    def __init__(self, channels, bias_scale=1.0, **kwargs):
        super().__init__(channels, **kwargs)
        self.bias_scale = bias_scale
        with torch.no_grad():
            self.bias.div_(bias_scale)

    def forward(self, x):
        return nn.functional.batch_norm(x, self.running_mean, self.running_var, self.weight,
                                        self.bias * self.bias_scale, self.training, self.momentum, self.eps)


class ResidualPair(nn.Module):
    """x + f(x), f = two (convolution, batch norm, GELU) layers of ``channels`` channels."""

    def __init__(self, channels, norm):
        super().__init__()
        self.f = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, bias=False), norm(channels), nn.GELU(),
                               nn.Conv2d(channels, channels, 3, padding=1, bias=False), norm(channels), nn.GELU())

    def forward(self, x):
        return x + self.f(x)


def make_variant_class(patch_whitening):
    """The reference network with knobs (``patch_whitening``: the notebook's PatchWhitening class)."""

    class OwnVariant(nn.Module):
        """(B, 3, 32, 32) standardized images -> (B, 10) scores; widths (c1, c2, c3) of the three blocks."""

        def __init__(self, widths=(48, 96, 192), bn_momentum=0.1, freeze_bn_weight=False, head_scale=1 / 8,
                     convs_per_block=2, dirac_init=False, bn_bias_scale=1.0, residual=False):
            super().__init__()
            self.whiten = patch_whitening()

            def norm(c):
                return ScaledShiftBatchNorm(c, bias_scale=bn_bias_scale, momentum=bn_momentum)

            blocks, c_in = [], self.whiten.out_channels
            for c_out in widths:
                layers = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.MaxPool2d(2), norm(c_out), nn.GELU()]
                if residual:  # the remaining convolutions as one residual pair
                    layers.append(ResidualPair(c_out, norm))
                    convs_per_block = 1
                for _ in range(convs_per_block - 1):
                    layers += [nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), norm(c_out), nn.GELU()]
                blocks.append(nn.Sequential(*layers))
                c_in = c_out
            if dirac_init:  # each convolution starts by passing its first input channels through unchanged
                for m in self.modules():
                    if isinstance(m, nn.Conv2d) and m is not self.whiten:
                        nn.init.dirac_(m.weight.data[:m.in_channels])
            if freeze_bn_weight:  # only the shift is learned (a scale before ReLU-like units adds little)
                for m in self.modules():
                    if isinstance(m, nn.BatchNorm2d):
                        m.weight.requires_grad_(False)
            self.blocks = nn.Sequential(*blocks)
            self.head = nn.Linear(c_in, 10, bias=False)
            self.head_scale = head_scale

        def forward(self, x):
            features = self.blocks(nn.functional.gelu(self.whiten(x)))
            return self.head(torch.amax(features, dim=(2, 3))) * self.head_scale

    return OwnVariant


def multiply_adds(model, device):
    """Multiply-adds of convolutions and linear layers for one (3, 32, 32) image."""
    total = 0

    def count(module, _inputs, output):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            total += output[0].numel() * module.weight[0].numel()
        elif isinstance(module, nn.Linear):
            total += module.weight.numel()

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, 32, 32, device=device))
    for h in hooks:
        h.remove()
    return total


@torch.no_grad()
def test_accuracies(model, data):
    """(accuracy, accuracy averaging the scores of each image and its mirror image) on the test split."""
    model.eval()
    plain = flipped = 0
    for xb, yb in batches(*data.split("test"), batch_size=1000):
        scores = model(xb)
        plain += int((scores.argmax(1) == yb).sum())
        flipped += int(((scores + model(xb.flip(3))).argmax(1) == yb).sum())
    n = len(data.y_test)
    return plain / n, flipped / n


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=sorted({**VARIANTS, **OVER_BUDGET}),
                        help="variants to train (default: all within the budget)")
    parser.add_argument("--deadline", type=float, default=None, help="start no variant after this many seconds")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--smoke", action="store_true", help="1 epoch on 2,048 images: checks that it runs")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    torch.backends.cudnn.benchmark = True
    ns = reference_namespace(NOTEBOOK, ["NeuralNetwork", "train_step", "evaluate", "MyNetwork"])
    variant_class = make_variant_class(ns["PatchWhitening"])
    reference_params = count_parameters(ns["MyNetwork"]())
    assert count_parameters(variant_class()) == reference_params, "the 'reference' variant drifted from MyNetwork"
    device = pick_device()
    data = load_cifar10_tensors(device)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    best, last_seconds = None, 0.0
    for name in args.only or VARIANTS:
        elapsed = time.perf_counter() - start
        if args.deadline is not None and elapsed + last_seconds > args.deadline:
            print(f"deadline: {elapsed:.0f} s gone, stopping before {name}", flush=True)
            break
        over = name in OVER_BUDGET
        net_kwargs, cfg_changes = OVER_BUDGET[name] if over else VARIANTS[name]
        cfg = dataclasses.replace(ns["OWN_CONFIG"], **cfg_changes)
        if args.smoke:
            cfg = dataclasses.replace(cfg, epochs=1, train_size=2048)
        model = variant_class(**net_kwargs)
        params = count_parameters(model)
        if params > MAX_PARAMETERS and not over:
            print(f"{name}: {params:,} parameters, over the budget; skipped", flush=True)
            continue
        t = time.perf_counter()
        model = prepared(model, data, seed=cfg.seed)
        model, record = train_model(model, data, cfg, ns["train_step"], ns["evaluate"], progress=False,
                                    max_epochs=None if over else 10, max_parameters=None if over else MAX_PARAMETERS)
        last_seconds = time.perf_counter() - t
        plain, flipped = test_accuracies(model, data)
        row = {"name": name, "parameters": params, "mega_multiply_adds": round(multiply_adds(model, device) / 1e6, 1),
               "test_accuracy": plain, "test_accuracy_flip_averaged": flipped,
               "train_seconds": record["train_seconds"], "device": record["device"],
               "network": {k: list(v) if isinstance(v, tuple) else v for k, v in net_kwargs.items()},
               "config": cfg.to_dict(), "val_history": record["history"]["val_accuracy"]}
        print("RESULT " + json.dumps({k: row[k] for k in ("name", "parameters", "mega_multiply_adds", "test_accuracy",
                                                          "test_accuracy_flip_averaged", "train_seconds")}),
              flush=True)
        if args.out:
            with open(args.out / "search.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
            if not over and (best is None or plain > best):
                best = plain
                torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, args.out / "best_own.pt")
                (args.out / "best_own.json").write_text(json.dumps(row, indent=1), encoding="utf-8")
    print(f"search done in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
