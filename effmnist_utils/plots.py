"""Stateless plots: each takes data (a history, predictions, images) and returns a figure."""
from __future__ import annotations

import math
import statistics
import textwrap

import matplotlib.pyplot as plt
import torch
from torch import nn

from . import speedtables
from .config import MAX_PARAMS, TARGET_ACC, HParams
from .data import MEAN, STD
from .loaders import normalise
from .models import describe_layer, layer_receptive_fields, receptive_field
from .runs import variant

DPI = 72  # keeps a notebook's stored figures small (each notebook file stays under 250 KB)


def lr_drops(history: list[dict], factor: float = 5.0) -> list[int]:
    """Epochs whose learning rate is at least `factor` times lower than the epoch before (StepLR's
    drops; a one-cycle schedule's gradual fall is not marked)."""
    return [b["epoch"] for a, b in zip(history, history[1:]) if b["lr"] * factor <= a["lr"]]


def plot_curves(history: list[dict], title: str = ""):
    """The original study's 2x2 panel: train/test loss and accuracy per epoch, the 99.4 % line
    and the learning-rate drops marked."""
    epochs = [r["epoch"] for r in history]
    fig, axes = plt.subplots(2, 2, figsize=(9, 6), dpi=DPI)
    panels = [("train_loss", "Training loss"), ("train_acc", "Training accuracy"),
              ("test_loss", "Test loss"), ("test_acc", "Test accuracy")]
    for ax, (key, label) in zip(axes.flat, panels):
        scale = 100 if key.endswith("acc") else 1
        rows = [r for r in history if key in r]  # with a validation split: test at the end only
        ax.plot([r["epoch"] for r in rows], [r[key] * scale for r in rows], marker="o",
                markersize=3, label="test" if key.startswith("test") else None)
        val_key = key.replace("test", "val")
        if key.startswith("test") and any(val_key in r for r in history):
            ax.plot(epochs, [r[val_key] * scale for r in history], marker="s", markersize=3,
                    label="validation")
        if key == "test_acc":
            ax.axhline(100 * TARGET_ACC, color="grey", linestyle="--", linewidth=1,
                       label=f"{TARGET_ACC:.1%}")
        for i, epoch in enumerate(lr_drops(history)):
            ax.axvline(epoch - 0.5, color="tab:green", linestyle=":", linewidth=1.2,
                       label=None if i else "lr drop")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
        ax.set(title=label, xlabel="epoch", ylabel="%" if key.endswith("acc") else "NLL")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _pixels(images: torch.Tensor) -> torch.Tensor:
    """Normalised or uint8 28x28 images as N x 28 x 28 floats in [0, 1], for drawing."""
    images = images.detach().cpu().float().reshape(-1, 28, 28)
    if images.max() > 1.5 * (1 - MEAN) / STD:  # uint8 input: no un-normalising needed
        return images / 255.0
    return images * STD + MEAN


def show_images(images: torch.Tensor, titles: list[str], cols: int = 10, scale: float = 1.2):
    """A grid of normalised or uint8 28x28 images with a title under each."""
    images = _pixels(images)
    rows = max(1, -(-len(images) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * scale, rows * scale * 1.25), squeeze=False,
                             dpi=DPI)
    for ax in axes.flat:
        ax.axis("off")
    for ax, img, title in zip(axes.flat, images, titles):
        ax.imshow(img.numpy(), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return fig


def plot_augmented(images_u8: torch.Tensor, augment, copies: int = 2, seed: int = 0):
    """The first row: training digits as stored; each further row: the same digits as one epoch of
    training sees them after `augment` (a `loaders.Augment`), drawn with generator seed `seed`."""
    x = normalise(images_u8)
    g = torch.Generator().manual_seed(seed)
    rows = [x] + [augment(x, g) for _ in range(copies)]
    titles = ["original"] * len(x) + [f"augmented {i + 1}" for i in range(copies) for _ in x]
    return show_images(torch.cat(rows), titles, cols=len(x))


def plot_misclassified(images: torch.Tensor, preds: torch.Tensor, targets: torch.Tensor,
                       limit: int = 20, cols: int = 10):
    """The first `limit` test digits the model gets wrong, titled 'true -> predicted'."""
    wrong = (preds != targets).nonzero().flatten()[:limit]
    titles = [f"{int(targets[i])} → {int(preds[i])}" for i in wrong]
    fig = show_images(images[wrong], titles, cols=cols)
    fig.suptitle(f"{int((preds != targets).sum())} of {len(targets)} test digits misclassified "
                 f"(first {len(wrong)}: true → predicted)", y=1.02)
    return fig


def confusion_matrix(preds: torch.Tensor, targets: torch.Tensor, classes: int = 10) -> torch.Tensor:
    """counts[true, predicted]."""
    return torch.bincount(targets * classes + preds, minlength=classes * classes).reshape(classes, classes)


def plot_confusion(preds: torch.Tensor, targets: torch.Tensor):
    """Confusion matrix with every count written in its cell; colour shows only the errors (the
    diagonal, the correct digits, is in bold on a pale blue)."""
    cm = confusion_matrix(preds, targets)
    off = cm.clone().fill_diagonal_(0)
    fig, ax = plt.subplots(figsize=(5.8, 5), dpi=DPI)
    im = ax.imshow(off.numpy(), cmap="Reds")
    for t in range(10):
        for p in range(10):
            if t == p:
                ax.add_patch(plt.Rectangle((p - 0.5, t - 0.5), 1, 1, color="#dbe9f6"))
            ax.text(p, t, int(cm[t, p]), ha="center", va="center", fontsize=8,
                    fontweight="bold" if t == p else "normal",
                    color="white" if off[t, p] > 0.6 * off.max() else "black")
    ax.set(xticks=range(10), yticks=range(10), xlabel="predicted", ylabel="true",
           title="Confusion matrix (colour: errors only)")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig


def plot_params_vs_accuracy(points: list[dict], reference: list[dict] | None = None,
                            budget: int = MAX_PARAMS, target: float = 100 * TARGET_ACC,
                            goals: list[tuple[int, float]] | None = None,
                            raised_goals: list[tuple[int, float]] | None = None):
    """One dot per recorded run (params, final test accuracy %); `reference` rows (the original study's
    single runs) are drawn as crosses; `goals` (budget, target mean %) as open triangles, which a
    model's mean should sit above and left of, and `raised_goals` as filled ones. Each point:
    {'params', 'acc', 'label'}."""
    fig, ax = plt.subplots(figsize=(9.5, 5), dpi=DPI)
    labels = sorted({p["label"] for p in points})
    colours = plt.cm.tab20(range(20))  # 20 distinct colours, and a second marker past them
    for k, label in enumerate(labels):
        pts = [p for p in points if p["label"] == label]
        ax.scatter([p["params"] for p in pts], [p["acc"] for p in pts], s=22, alpha=0.75, label=label,
                   color=colours[k % 20], marker="os"[k // 20 % 2])
    if reference:
        ax.scatter([r["params"] for r in reference], [r["acc"] for r in reference], marker="x",
                   s=60, color="black", label="original study (single run)")
    if goals:
        ax.scatter(*zip(*goals), marker="^", s=70, facecolors="none", edgecolors="red",
                   label="frontier goals (mean of ≥ 3 seeds)")
    if raised_goals:
        ax.scatter(*zip(*raised_goals), marker="^", s=70, color="red", label="raised goals (mean of ≥ 5 seeds)")
    ax.axhline(target, color="grey", linestyle="--", linewidth=1, label=f"target {target:g} %")
    ax.axvline(budget, color="grey", linestyle=":", linewidth=1, label=f"budget {budget:,} parameters")
    ax.set(xlabel="parameters", ylabel="final-epoch test accuracy (%)",
           title="Accuracy against parameters, one point per run")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))  # beside, not over, points
    fig.tight_layout()
    return fig


# --- what the network sees (issue 17) -----------------------------------------------------------

def _titled(title: str, text: str) -> str:
    return f"{title}: {text}" if title else text[0].upper() + text[1:]


def _one_digit(image: torch.Tensor) -> torch.Tensor:
    """One digit as the 1 x 1 x 28 x 28 float batch a model takes: a uint8 image is normalised
    as in training (`loaders.normalise`), a float one is taken as normalised already."""
    if not isinstance(image, torch.Tensor) or image.numel() != 28 * 28 or tuple(image.shape[-2:]) != (28, 28):
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"image must be one 28x28 digit tensor (shape 28x28, 1x28x28 or 1x1x28x28), "
                         f"not {shape}")
    image = image.detach().cpu().reshape(28, 28)
    return normalise(image[None]) if image.dtype == torch.uint8 else image.float().reshape(1, 1, 28, 28)


def _first_conv(model: nn.Module) -> nn.Conv2d:
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if conv is None:
        raise ValueError(f"{type(model).__name__} has no Conv2d layer")
    return conv


def plot_filters(model: nn.Module, cols: int = 8, title: str = ""):
    """The first conv layer's kernels, one small image per output channel (averaged over the
    input channels when there is more than one), on one diverging colour scale centred at 0:
    red weights add the pixel's brightness, blue ones subtract it."""
    conv = _first_conv(model)
    w = conv.weight.detach().cpu().float().mean(1)  # out x k x k
    limit, cols = float(w.abs().max()) or 1.0, min(cols, len(w))
    rows = -(-len(w) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.0 + 0.8, rows * 1.05 + 0.6), squeeze=False,
                             dpi=DPI)
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, kernel) in enumerate(zip(axes.flat, w)):
        im = ax.imshow(kernel.numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
        ax.set_title(f"channel {i}", fontsize=8)
    k = conv.kernel_size[0]
    mean = f", mean over {conv.in_channels} input channels" if conv.in_channels > 1 else ""
    fig.suptitle(_titled(title, f"first layer, {len(w)} filters of {k}x{k}{mean}"))
    fig.colorbar(im, ax=axes, fraction=0.03, label="weight")
    return fig


def _stages(model: nn.Module, x: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """`x` through `model` in eval mode without gradients (its mode restored afterwards): at each
    ReLU over a feature map (where a conv block ends), (the convs and pools since the previous
    one, in words; the block's output C x H x W)."""
    ops, stages = [], []

    def on_op(m, inputs, out):
        ops.append(f"{'pool' if isinstance(m, nn.MaxPool2d) else 'conv'} {describe_layer(m)}")

    def on_act(m, inputs, out):
        if out.dim() == 4:
            stages.append((", ".join(ops), out[0].detach().float().cpu().clone()))
            ops.clear()

    handles = [m.register_forward_hook(on_act if isinstance(m, nn.ReLU) else on_op)
               for m in model.modules() if isinstance(m, (nn.ReLU, nn.Conv2d, nn.MaxPool2d))]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x.to(next(model.parameters()).device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    if not stages:
        raise ValueError(f"{type(model).__name__} has no ReLU over a feature map to show")
    return stages


def plot_feature_maps(model: nn.Module, image: torch.Tensor, channels: int = 8, title: str = ""):
    """One digit through the network: the input, then one row per conv block (after its BatchNorm
    and ReLU) with its first `channels` channel maps, labelled with the layers since the row
    above and the block's channels and size. One colour scale per row (dark: 0), so that weak and
    dead channels show. `image`: 28x28, uint8 or normalised as in training."""
    x = _one_digit(image)
    stages = _stages(model, x)
    fig, axes = plt.subplots(len(stages) + 1, channels, figsize=(channels * 1.0 + 2.6, (len(stages) + 1) * 1.05),
                             squeeze=False, dpi=DPI)
    for ax in axes.flat:
        ax.set(xticks=[], yticks=[])
        ax.set_frame_on(False)
    axes[0, 0].imshow(_pixels(x)[0].numpy(), cmap="gray_r", vmin=0, vmax=1)
    axes[0, 0].set_ylabel("input · 28×28", rotation=0, ha="right", va="center", fontsize=8)
    for row, (ops, maps) in zip(axes[1:], stages):
        top = float(maps.max()) or 1.0
        for ax, fmap in zip(row, maps[:channels]):
            ax.imshow(fmap.numpy(), cmap="magma", vmin=0, vmax=top, interpolation="nearest")
        h, w = maps.shape[1:]
        row[0].set_ylabel(f"{ops}\n→ {len(maps)} ch · {h}×{w}", rotation=0, ha="right", va="center",
                          fontsize=8)
    fig.suptitle(_titled(title, f"one digit, the first {channels} channels after each conv block's ReLU"))
    fig.tight_layout()
    return fig


def plot_receptive_field(model: nn.Module, image: torch.Tensor, title: str = ""):
    """How the receptive field grows layer by layer, drawn on one digit: for each conv and pool
    (`models.layer_receptive_fields`), the square of input pixels that the centre unit of its
    output sees, clipped to the 28x28 image; layers that leave the field as it was (1x1 convs)
    share the square. `image`: 28x28, uint8 or normalised."""
    x = _one_digit(image)
    fields = layer_receptive_fields(model)
    sizes = {}  # rf -> (the layers that reach it, the centre)
    for f in fields:
        names, _ = sizes.get(f["rf"], ([], None))
        sizes[f["rf"]] = (names + [f["layer"]], f["centre"])
    fig, ax = plt.subplots(figsize=(8.5, 4.6), dpi=DPI)
    ax.imshow(_pixels(x)[0].numpy(), cmap="gray_r", vmin=0, vmax=1)
    colours = plt.cm.viridis([i / max(1, len(sizes) - 1) for i in range(len(sizes))])
    for colour, (rf, (names, centre)) in zip(colours, sizes.items()):
        lo, hi = max(-0.5, centre - rf / 2), min(27.5, centre + rf / 2)  # pixel edges, clipped
        clipped = " (clipped)" if (lo, hi) != (centre - rf / 2, centre + rf / 2) else ""
        ax.add_patch(plt.Rectangle((lo, lo), hi - lo, hi - lo, fill=False, edgecolor=colour, linewidth=2,
                                   label=f"{rf}×{rf} px{clipped}: {', '.join(names)}"))
    ax.set(xticks=[], yticks=[], xlim=(-0.5, 27.5), ylim=(27.5, -0.5),
           title=_titled(title, f"receptive field layer by layer, {receptive_field(model)} px at the last"))
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5), title="what the centre unit sees")
    fig.tight_layout()
    return fig


# --- which digits the model gets wrong, and how sure it was -------------------------------------

def plot_confident_mistakes(images: torch.Tensor, probs: torch.Tensor, targets: torch.Tensor,
                            n: int = 20, cols: int = 10):
    """The misclassified digits, most confident first: each titled 'true → predicted' and the
    probability the model gave its (wrong) answer. `probs`: N x 10 softmax probabilities (e.g.
    `predict_probs`), in the order of `images` and `targets`."""
    if probs.dim() != 2 or probs.shape[1] != 10 or len(probs) != len(targets) or len(images) != len(targets):
        raise ValueError(f"probs must be N x 10 with one row per image and target; got probs "
                         f"{tuple(probs.shape)}, {len(images)} images, {len(targets)} targets")
    sums = probs.sum(1)
    if not torch.allclose(sums, torch.ones_like(sums), atol=1e-3):
        raise ValueError("probs must be probabilities (rows summing to 1, e.g. from predict_probs), "
                         "not log-probabilities or logits")
    confidence, preds = probs.max(1)
    wrong = (preds != targets).nonzero().flatten()
    shown = wrong[confidence[wrong].argsort(descending=True, stable=True)][:n]
    titles = [f"{int(targets[i])} → {int(preds[i])}  {confidence[i]:.1%}" for i in shown]
    fig = show_images(images[shown], titles, cols=min(cols, max(1, len(shown))))
    width, height = fig.get_size_inches()
    fig.set_size_inches(width, height + 0.35)  # room for the headline above the digits' titles
    fig.suptitle(f"{len(wrong)} of {len(targets):,} digits misclassified; the {len(shown)} most confident "
                 f"(true → predicted, the model's probability for its answer)", y=0.99, va="top", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, height / (height + 0.35)))
    return fig


# --- pictures of tables (notebooks 07 and 08) ---------------------------------------------------

def plot_speedrun(records: list[dict], goal_seconds: dict[str, float] = speedtables.GOAL_SECONDS,
                  goal_acc: float = speedtables.GOAL_MEAN, min_acc: float = speedtables.GOAL_MIN):
    """Training seconds against final test accuracy, one point per recorded seed, one panel per
    device kind (the time goals differ by 30x), one colour per device and recipe (grouped by
    `speedtables.summarise`), each group's mean as an open diamond; the goal lines: the mean
    accuracy goal `goal_acc` (%), every seed's `min_acc` (%) and the kind's `goal_seconds`."""
    summaries = speedtables.summarise(records)
    if not summaries:
        raise ValueError("no speedrun records to plot (results/speedrun/cpu, results/speedrun/cuda)")
    kinds = list(dict.fromkeys(s["kind"] for s in summaries))
    fig, axes = plt.subplots(1, len(kinds), figsize=(7 * len(kinds), 5.6), squeeze=False, sharey=True,
                             dpi=DPI)
    for ax, kind in zip(axes[0], kinds):
        rows = [s for s in summaries if s["kind"] == kind]
        limit = goal_seconds.get(kind)
        for i, s in enumerate(rows):
            seeds = [r for r in records if r["device"] == s["device"] and variant(r) == s["variant"]]
            recipe = textwrap.fill(f"{s['device']}: {speedtables.describe(HParams.from_dict(s['hparams']))} "
                                   f"({len(seeds)} seeds)", 70)
            dots = ax.scatter([r["train_seconds"] for r in seeds], [100 * r["final_test_acc"] for r in seeds],
                              s=36, alpha=0.8, label=recipe, gid="seeds")
            ax.scatter([statistics.mean(r["train_seconds"] for r in seeds)], [s["test_mean"]], marker="D", s=90,
                       facecolors="none", edgecolors=dots.get_facecolor()[:1], linewidths=1.5, gid="mean",
                       label="mean of the seeds" if i == 0 else None)
        ax.axhline(goal_acc, color="red", linestyle="--", linewidth=1, label=f"goal: mean ≥ {goal_acc:.2f} %")
        ax.axhline(min_acc, color="red", linestyle=":", linewidth=1, label=f"goal: every seed ≥ {min_acc:.2f} %")
        if limit is not None:
            ax.axvline(limit, color="black", linestyle="--", linewidth=1, label=f"goal: ≤ {limit:g} s of training")
        most = max([limit or 0] + [r["train_seconds"] for r in records if speedtables.device_kind(r) == kind])
        ax.set(xlim=(0, 1.1 * most), xlabel="training seconds (data on the device, warm-up not counted)",
               title=f"{kind}: {sum(len(s['seeds']) for s in rows)} seeds")
        ax.yaxis.set_major_formatter("{x:.2f}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13))
    axes[0, 0].set_ylabel("final test accuracy (%)")
    fig.suptitle("The speedrun: time against accuracy, one point per seed")
    fig.tight_layout()
    return fig


def plot_levers(rows: list[dict], noise: float = 0.1, title: str = "What each lever measured",
                spread: bool = False):
    """Each lever's effect as a horizontal bar labelled with the lever (its two variants are in
    the rows, `sweeps.lever_steps`' output, and in the tables of results/): the change in
    validation accuracy (points) from 'before' to 'after', on a grey band of ±`noise` points
    around 0 (one seed on 5,000 validation images: about ±0.1); bars outside the band are green
    (better) or red (worse), those inside grey. `spread` (rows over several seeds): each bar's own
    noise instead of the band, an error bar of twice its standard error, grey when Δ lies within
    it. Compact, so that a notebook stays small."""
    if not rows:
        raise ValueError("no lever rows to plot (sweeps.lever_steps returns them)")
    if spread and any(r.get("se") is None for r in rows):
        raise ValueError("spread=True needs every row over several seeds on both sides (its 'se'); "
                         "plot one-seed rows with a noise band instead (spread=False)")
    deltas = [r["delta"] for r in rows]
    bounds = [2 * r["se"] for r in rows] if spread else [noise] * len(rows)
    colours = ["grey" if abs(d) <= b else "tab:green" if d > 0 else "tab:red" for d, b in zip(deltas, bounds)]
    fig, ax = plt.subplots(figsize=(7, 0.2 * len(rows) + 0.9), dpi=DPI)
    if spread:
        bars = ax.barh(range(len(rows)), deltas, color=colours, height=0.7, xerr=bounds,
                       error_kw={"elinewidth": 1, "capsize": 2}, label="twice the standard error of Δ")
    else:
        ax.axvspan(-noise, noise, color="grey", alpha=0.2, label=f"noise: ±{noise:g} points")
        bars = ax.barh(range(len(rows)), deltas, color=colours, height=0.7)
    ax.bar_label(bars, labels=[f"{d:+.2f}" for d in deltas], padding=2, fontsize=7)
    ax.axvline(0, color="black", linewidth=0.8)
    model = [r["after"].split("-")[0] for r in rows]  # the network the step was measured on
    ax.set_yticks(range(len(rows)), [r["lever"] if r["lever"].startswith(m) else f"{m}: {r['lever']}"
                                     for r, m in zip(rows, model)], fontsize=7)
    ax.invert_yaxis()  # the table's order, top to bottom
    span = max(noise, *(abs(d) + (b if spread else 0) for d, b in zip(deltas, bounds)))
    ax.set(xlim=(-1.3 * span, 1.3 * span))
    ax.set_xlabel("change in validation accuracy (points)", fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.tick_params(axis="x", labelsize=7)
    ax.legend(fontsize=7, loc="best" if spread else "lower right")
    fig.tight_layout()
    return fig


def plot_lever_times(rows: list[dict], noise: float = 0.1, title: str = "What each lever did to the training time"):
    """Each lever's speed-up (training seconds before / after, log scale) as a horizontal bar
    labelled with the lever and, at the bar's end, its change in validation accuracy; within
    ±`noise` (a same-run's timing varies by about ±10 %) a bar is grey, faster green, slower red.
    `rows`: `sweeps.lever_steps` with training seconds."""
    if not rows or any(r["seconds_before"] is None or r["seconds_after"] is None for r in rows):
        raise ValueError("plot_lever_times needs lever rows with training seconds (sweeps.lever_steps of timed runs)")
    speedups = [r["seconds_before"] / r["seconds_after"] for r in rows]
    colours = ["grey" if abs(math.log(x)) <= math.log(1 + noise) else "tab:green" if x > 1 else "tab:red"
               for x in speedups]
    fig, ax = plt.subplots(figsize=(7, 0.22 * len(rows) + 1.0), dpi=DPI)
    ax.axvspan(-math.log2(1 + noise), math.log2(1 + noise), color="grey", alpha=0.2,
               label=f"timing noise: ±{noise:.0%}")  # the bars are log2 of the speed-up
    bars = ax.barh(range(len(rows)), [math.log2(x) for x in speedups], color=colours, height=0.7)
    ax.bar_label(bars, labels=[f"{x:.2f}×, {r['delta']:+.2f} pts" for x, r in zip(speedups, rows)],
                 padding=2, fontsize=6)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(rows)), [r["lever"] for r in rows], fontsize=6)
    ax.invert_yaxis()
    span = max(math.log2(1 + noise), *(abs(math.log2(x)) for x in speedups))
    ticks = [t for t in (0.25, 0.5, 1, 2, 4) if abs(math.log2(t)) <= 1.6 * span]
    ax.set_xticks([math.log2(t) for t in ticks], [f"{t:g}×" for t in ticks], fontsize=7)
    ax.set(xlim=(-1.6 * span, 1.6 * span))
    ax.set_xlabel("speed-up of training (seconds before / after; right is faster)", fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


# --- robustness (issue 19) ----------------------------------------------------------------------

def plot_corruptions(examples: dict[str, torch.Tensor], clean: torch.Tensor | None = None, per_row: int = 6):
    """A grid of corrupted digits: one row per family (`examples`: family -> uint8 N x 28 x 28),
    the clean images first when given; drawn as one image, which keeps a notebook small."""
    rows = ([("clean", clean)] if clean is not None else []) + list(examples.items())
    gap, side = 2, 28
    sheet = torch.full((len(rows) * (side + gap), per_row * (side + gap)), 128, dtype=torch.uint8)
    for r, (_, images) in enumerate(rows):
        for k in range(per_row):
            top, left = r * (side + gap), k * (side + gap)
            sheet[top:top + side, left:left + side] = images[k]
    # one pixel of a digit per pixel of the figure: noisy images compress badly when resampled
    fig, ax = plt.subplots(figsize=(sheet.shape[1] / DPI + 1.3, sheet.shape[0] / DPI + 0.2), dpi=DPI)
    ax.imshow(sheet, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_yticks([r * (side + gap) + side / 2 for r in range(len(rows))],
                  [name.replace("_", " ") for name, _ in rows], fontsize=8)
    ax.set_xticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    fig.subplots_adjust(left=1.2 / (sheet.shape[1] / DPI + 1.3), right=0.99, top=0.99, bottom=0.01)
    return fig


def plot_robustness(rows: list[dict], highlight: tuple[str, ...] = ()):
    """Two panels against parameters (log scale), one point per model (`robustness.summarise`
    rows): clean test accuracy, and the mean accuracy over the corruption families; `highlight`
    variants are labelled in bold."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=DPI)
    for ax, key, title in ((axes[0], "clean", "clean test images"),
                           (axes[1], "mean", "mean over the 15 corruption families")):
        for r in rows:
            bold = r["variant"] in highlight
            ax.scatter(r["params"], r[key], s=40 if bold else 22, color="tab:red" if bold else "tab:blue")
            ax.annotate(r["variant"], (r["params"], r[key]), fontsize=7, xytext=(3, 2),
                        textcoords="offset points", fontweight="bold" if bold else "normal")
        ax.set(xscale="log", xlabel="parameters", ylabel="accuracy (%)", title=title)
        ax.grid(alpha=0.3)
    fig.suptitle("Each model's mean over its recorded seeds (final epoch)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_family_accuracy(rows: list[dict], families: list[str], chosen: tuple[str, ...] = ()):
    """Accuracy per corruption family (bars, one group per family) for a few models
    (`robustness.summarise` rows); families in `chosen` are marked with a star."""
    import numpy as np

    fig, ax = plt.subplots(figsize=(11, 3.8), dpi=DPI)
    width = 0.8 / len(rows)
    x = np.arange(len(families))
    for k, r in enumerate(rows):
        ax.bar(x + k * width, [r["families"][f] for f in families], width, label=r["variant"])
    ax.set_xticks(x + 0.4 - width / 2, [f.replace("_", " ") + (" *" if f in chosen else "") for f in families],
                  rotation=40, ha="right", fontsize=8)
    ax.set(ylabel="accuracy (%)", ylim=(0, 100), title="Accuracy on each corruption family"
           + (" (* chosen families)" if chosen else ""))
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncol=len(rows))
    fig.tight_layout()
    return fig


def plot_tradeoff(rows: list[dict], x: str = "val_acc", ys=(("chosen", "chosen families"),
                                                             ("held_out", "held-out families")),
                  labels: str = "tag"):
    """Clean against corrupted accuracy across recipes: per row one point for each of `ys`
    (key, legend), the points of one recipe joined by a line and labelled once."""
    fig, ax = plt.subplots(figsize=(8, 4.6), dpi=DPI)
    for k, (key, name) in enumerate(ys):
        ax.scatter([r[x] for r in rows], [r[key] for r in rows], color=f"C{k}", label=name, zorder=3)
    for r in rows:
        ax.plot([r[x]] * len(ys), [r[key] for key, _ in ys], color="grey", linewidth=0.6, zorder=1)
        ax.annotate(r[labels], (r[x], r[ys[0][0]]), fontsize=7, xytext=(3, 2), textcoords="offset points")
    ax.set(xlabel="clean validation accuracy (%)", ylabel="validation twin: mean accuracy (%)",
           title="Clean against corrupted accuracy, one recipe per column of points")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
