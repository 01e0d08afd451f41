"""Where training time goes: a network's multiply-adds counted layer by layer, and one training
step timed phase by phase (data, forward, backward, optimizer), for a few steps of a recipe.

`count_macs` runs one image through the network with forward hooks on its convolutions and
linear layers; `profile_step` takes real training steps (the recipe's loader, precision and
memory format) and reads the clock between the phases; `compare_recipes` profiles several
recipes side by side, in alternating rounds, so that drift in the machine's speed hits all alike.
"""
from __future__ import annotations

import statistics
import time

import matplotlib.pyplot as plt
import torch
from torch import nn
import torch.nn.functional as F

from .config import HParams
from .data import load_mnist
from .loaders import DeviceLoader
from .loop import make_optimizer
from .models import build_model, describe_layer
from .plots import DPI
from .runtime import autocast, seeded, synchronize, use_allocator

PHASES = ("data", "forward", "backward", "optimizer")


def count_macs(model: nn.Module, size: int = 28) -> list[dict]:
    """One row per convolution and linear layer, in the order the forward pass applies them:
    {"layer": "conv2 3x3 stride 2" / "linear", "shape": its output's (channels, height, width) or
    (features,), "values": how many numbers that output holds, "macs": its multiply-adds for one
    `size` x `size` image}. A convolution's multiply-adds are its output's values times what each
    value reads (input channels per group x kernel height x kernel width); a linear layer's, its
    outputs times its inputs. BatchNorm, ReLU and pooling do no multiply-adds and are left out."""
    rows, hooks = [], []

    def record(module, inputs, output):
        per_image = output.shape[1:]
        values = per_image.numel()
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            reads, name = module.in_channels // module.groups * kh * kw, describe_layer(module)
            rows.append({"layer": f"conv{sum(r['layer'].startswith('conv') for r in rows) + 1} {name}",
                         "shape": tuple(per_image), "values": values, "macs": values * reads})
        else:
            rows.append({"layer": "linear", "shape": tuple(per_image), "values": values,
                         "macs": values * module.in_features})

    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            hooks.append(m.register_forward_hook(record))
    was_training = model.training
    device = next(model.parameters()).device
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, 1, size, size, device=device))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return rows


def total_macs(model: nn.Module, size: int = 28) -> int:
    """A network's multiply-adds for one image (`count_macs` summed)."""
    return sum(r["macs"] for r in count_macs(model, size))


def _batches(loader):
    """`loader`'s batches without end, a new epoch after each pass."""
    epoch = 0
    while True:
        epoch += 1
        loader.set_epoch(epoch)
        yield from loader


def _loader(hp: HParams, device, batches: int, images=None) -> DeviceLoader:
    """`batches` batches' worth of MNIST's training images, served and augmented as `hp` says."""
    if images is None:
        images = load_mnist()[0]
    n = hp.optim.batch_size * batches
    return DeviceLoader(images[0][:n], images[1][:n], hp.optim.batch_size, device, shuffle=True,
                        augment=hp.augment, seed=hp.seed)


def profile_step(hp: HParams, device="cpu", steps: int = 20, warmup: int | None = None, images=None) -> dict:
    """Seconds per training step in each phase, the median over `steps` steps after `warmup`
    untimed ones (default: 3, or `steps` if fewer), of `hp`'s network trained as `hp` says (batch size, optimizer, augmentation,
    precision, memory format) on MNIST's first training images (`images`: (uint8 images,
    labels) already loaded, else loaded here). The phases: "data" (the next batch, augmented),
    "forward" (the network and the loss), "backward" (the gradients), "optimizer" (the update
    and the learning-rate schedule). Also "total", "batch_size" and "images_per_s". The clock is
    read between phases, after waiting for a GPU's queued work. `hp.allocator` "keep" is applied
    to this process for good (`runtime.use_allocator`)."""
    warmup = min(3, steps) if warmup is None else warmup
    if steps < 1 or warmup < 0:
        raise ValueError(f"steps must be >= 1 and warmup >= 0, not steps={steps}, warmup={warmup}")
    device = torch.device(device) if isinstance(device, str) else device
    if hp.compile_mode:
        raise ValueError("profile_step times eager steps; compile_mode must be '' (compiling takes "
                         "longer than a few steps)")
    use_allocator(hp.allocator)
    if hp.loader != "fast":
        raise ValueError("profile_step serves batches with the fast loader; use loader='fast'")
    bs, train = hp.optim.batch_size, _loader(hp, device, steps + warmup, images)
    with seeded(hp.seed, device):
        model = build_model(hp.model).to(device)
    if hp.channels_last:
        model.to(memory_format=torch.channels_last)
    model.train()
    optimizer = make_optimizer(model, hp.optim)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=hp.optim.lr, total_steps=steps + warmup)
    batches, seconds = _batches(train), {phase: [] for phase in PHASES}
    for i in range(warmup + steps):
        synchronize(device)
        marks = [time.perf_counter()]
        x, y = next(batches)
        if hp.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        synchronize(device)
        marks.append(time.perf_counter())
        with autocast(device, hp.precision):
            loss = F.nll_loss(model(x).float(), y)
        synchronize(device)
        marks.append(time.perf_counter())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        synchronize(device)
        marks.append(time.perf_counter())
        optimizer.step()
        schedule.step()
        synchronize(device)
        marks.append(time.perf_counter())
        if i >= warmup:
            for phase, a, b in zip(PHASES, marks, marks[1:]):
                seconds[phase].append(b - a)
    out = {phase: statistics.median(s) for phase, s in seconds.items()}
    out["total"] = sum(out.values())
    return {**out, "batch_size": bs, "images_per_s": bs / out["total"]}


def compare_recipes(recipes: dict[str, HParams], device="cpu", steps: int = 20, rounds: int = 3,
                    warmup: int | None = None) -> dict[str, dict]:
    """{name: profile} for each recipe, side by side on this machine: `rounds` rounds, each
    profiling every recipe once (`profile_step`) in turn, and per phase the fastest round: other
    work on the computer only ever adds time, so the least is the closest to the recipe's own.
    A recipe that keeps freed memory (allocator "keep") changes the whole process for good, so
    those recipes are timed after all the others' rounds."""
    if rounds < 1 or not recipes:
        raise ValueError("give at least one recipe and one round")
    later = [n for n, hp in recipes.items() if hp.allocator == "keep"]
    order = [n for n in recipes if n not in later]
    runs: dict[str, list[dict]] = {n: [] for n in recipes}
    images = load_mnist()[0]
    for group in (order, later):
        for _ in range(rounds):
            for name in group:
                runs[name].append(profile_step(recipes[name], device, steps, warmup, images))
    out = {}
    for name, profiles in runs.items():
        row = {k: min(p[k] for p in profiles) for k in PHASES}
        row["total"], bs = sum(row.values()), profiles[0]["batch_size"]
        out[name] = {**row, "batch_size": bs, "images_per_s": bs / row["total"]}
    return out


COLOURS = {"data": "tab:grey", "forward": "tab:blue", "backward": "tab:orange", "optimizer": "tab:green"}


def plot_macs(counts: dict[str, list[dict]]):
    """Two bar charts side by side, one bar per network (`counts`: name -> `count_macs` rows):
    its multiply-adds per image, in millions, and the values its convolutions write per image
    (their output feature maps), in thousands; each bar labelled with its number."""
    names = list(counts)
    fig, axes = plt.subplots(1, 2, figsize=(9, 0.45 * len(names) + 1.3), dpi=DPI)
    for ax, key, scale, unit, colour in ((axes[0], "macs", 1e6, "multiply-adds per image (millions)", "tab:blue"),
                                         (axes[1], "values", 1e3, "values its layers write per image (thousands)", "tab:purple")):
        totals = [sum(r[key] for r in counts[n]) / scale for n in names]
        bars = ax.barh(names, totals, color=colour, height=0.6)
        ax.bar_label(bars, labels=[f"{t:.2f}" if scale == 1e6 else f"{t:.1f}" for t in totals], padding=3, fontsize=10)
        ax.set_xlim(0, 1.25 * max(totals))
        ax.invert_yaxis()
        ax.tick_params(labelsize=10)
        ax.set_xlabel(unit, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    axes[1].set_yticklabels([])
    fig.tight_layout()
    return fig


def plot_step_profile(profiles: dict[str, dict], images: int = 60_000):
    """One horizontal bar per profile (`profiles`: name -> `profile_step` or `compare_recipes`
    row): the seconds an epoch of `images` images would take at that pace, split into the
    step's phases, the total at the bar's end; the legend above the bars."""
    names = list(profiles)
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(names) + 1.4), dpi=DPI)
    left = [0.0] * len(names)
    for phase in PHASES:
        widths = [profiles[n][phase] * images / profiles[n]["batch_size"] for n in names]
        ax.barh(names, widths, left=left, color=COLOURS[phase], height=0.6, label=phase)
        left = [a + b for a, b in zip(left, widths)]
    for i, total in enumerate(left):
        ax.text(total, i, f" {total:.1f} s", va="center", fontsize=10)
    ax.set_xlim(0, 1.18 * max(left))
    ax.invert_yaxis()
    ax.tick_params(labelsize=10)
    ax.set_xlabel(f"seconds for one epoch of {images:,} images, at this pace", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(ncol=len(PHASES), fontsize=10, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.tight_layout()
    return fig
