"""Stateless plots: each takes data (a history, predictions, images) and returns a figure."""
from __future__ import annotations


import matplotlib.pyplot as plt
import torch

from .config import TARGET_ACC
from .data import MEAN, STD
from .loaders import normalise
from .loop import make_optimizer, make_scheduler, steps_every_batch

DPI = 72  # keeps a notebook's stored figures small (each notebook file stays under 250 KB)


def lr_drops(history: list[dict], factor: float = 5.0) -> list[int]:
    """Epochs whose learning rate is at least `factor` times lower than the epoch before (StepLR's
    drops; a one-cycle schedule's gradual fall is not marked)."""
    return [b["epoch"] for a, b in zip(history, history[1:]) if b["lr"] * factor <= a["lr"]]


def plot_curves(history: list[dict], title: str = ""):
    """One run's learning curves: train and test accuracy per epoch on one axis (the 99.4 % line
    marked), train and test loss on another; a validation split's curve where there is one, the
    learning-rate drops as dotted lines. The accuracy axis is zoomed to the test curve (an
    early epoch's lower training accuracy may fall below it)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), dpi=DPI)
    for ax, what in zip(axes, ("acc", "loss")):
        scale = 100 if what == "acc" else 1
        for split, style in (("train", "o"), ("test", "o"), ("val", "s")):
            rows = [r for r in history if f"{split}_{what}" in r]  # with a validation split: test at the end only
            if rows:
                ax.plot([r["epoch"] for r in rows], [r[f"{split}_{what}"] * scale for r in rows], marker=style,
                        markersize=3, label={"val": "validation"}.get(split, split))
        if what == "acc":  # zoomed to the test curve: a first epoch's low training accuracy may fall below
            ax.axhline(100 * TARGET_ACC, color="grey", linestyle="--", linewidth=1, label=f"{TARGET_ACC:.1%}")
            low = min(100 * r[k] for r in history for k in ("test_acc", "val_acc") if k in r)
            ax.set_ylim(min(low, 100 * TARGET_ACC) - 1, 100)
        for i, epoch in enumerate(lr_drops(history)):
            ax.axvline(epoch - 0.5, color="tab:green", linestyle=":", linewidth=1.2,
                       label=None if i else "lr drop")
        ax.legend(fontsize=8)
        ax.set(title="Accuracy" if what == "acc" else "Loss", xlabel="epoch",
               ylabel="%" if what == "acc" else "NLL")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def pixels(images: torch.Tensor) -> torch.Tensor:
    """Normalised or uint8 28x28 images as N x 28 x 28 floats in [0, 1], for drawing."""
    images = images.detach().cpu().float().reshape(-1, 28, 28)
    if images.max() > 1.5 * (1 - MEAN) / STD:  # uint8 input: no un-normalising needed
        return images / 255.0
    return images * STD + MEAN


def show_images(images: torch.Tensor, titles: list[str], cols: int = 10, scale: float = 1.2):
    """A grid of normalised or uint8 28x28 images with a title under each."""
    images = pixels(images)
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


def plot_lr_schedules(recipes: dict, images: int = 60_000):
    """Each recipe's learning rate against the epoch, set step by step by the loop's own
    scheduler (`loop.make_scheduler`) as training would over `images` images an epoch: one-cycle
    every batch, the step schedule every epoch. `recipes`: label -> HParams."""

    fig, ax = plt.subplots(figsize=(6.5, 2.8), dpi=DPI)
    for label, hp in recipes.items():
        steps = -(-images // hp.optim.batch_size)  # batches an epoch
        optimizer = make_optimizer(torch.nn.Linear(1, 1), hp.optim)  # no gradients: steps change nothing
        scheduler, lrs = make_scheduler(optimizer, hp.optim, steps), []
        for step in range(hp.optim.epochs * steps):
            lrs.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            if steps_every_batch(hp.optim) or step % steps == steps - 1:
                scheduler.step()
        ax.plot([s / steps for s in range(len(lrs))], lrs, label=label)
    ax.set(xlabel="epoch", ylabel="learning rate", title="The learning rate during training")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def conv_widths(model: torch.nn.Module) -> list[dict]:
    """Each convolution in order: {"label": "conv 3" or "conv 4 (1x1)", "channels": its output
    channels, "params": its weights plus those of the BatchNorm right after it}."""
    rows = []
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            one = m.kernel_size in ((1, 1), 1)
            rows.append({"label": f"conv {len(rows) + 1}" + (" (1x1)" if one else ""), "channels": m.out_channels,
                         "params": sum(p.numel() for p in m.parameters())})
        elif isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and rows:
            rows[-1]["params"] += sum(p.numel() for p in m.parameters())
    return rows


def plot_widths(models: dict, title: str = "Same layout, fewer channels"):
    """Models with the same number of convolutions (name -> network) side by side: left, the
    channels each convolution hands on; right, the parameters it holds (its BatchNorm included),
    each bar labelled with its value."""
    rows = {name: conv_widths(m) for name, m in models.items()}
    if len({len(r) for r in rows.values()}) != 1:
        raise ValueError(f"the models have different numbers of convolutions "
                         f"({ {n: len(r) for n, r in rows.items()} }): compare models of one layout")
    labels = [r["label"] for r in next(iter(rows.values()))]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), dpi=DPI, sharey=True)
    width = 0.8 / len(rows)
    for k, (name, rs) in enumerate(rows.items()):
        y = [i + (k - (len(rows) - 1) / 2) * width for i in range(len(rs))]
        for ax, key in zip(axes, ("channels", "params")):
            bars = ax.barh(y, [r[key] for r in rs], width, label=name, color=plt.cm.tab10(k))
            ax.bar_label(bars, labels=[f"{r[key]:,}" for r in rs], padding=2, fontsize=9)
    for ax, xlabel in zip(axes, ("channels it hands on", "parameters (with its BatchNorm)")):
        ax.set_xlabel(xlabel, fontsize=10)
        ax.set_xlim(0, 1.25 * ax.get_xlim()[1])
        ax.tick_params(labelsize=9)
    axes[0].set_yticks(range(len(labels)), labels)
    axes[0].invert_yaxis()
    fig.legend(*axes[0].get_legend_handles_labels(), fontsize=10, loc="lower center", ncol=len(rows))
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def plot_seed_means(groups: dict[str, list[float]], xlabel: str = "final test accuracy (%)",
                    title: str = ""):
    """One row per group (label -> one value per seed): a dot per seed and a bar at the mean,
    printed beside it; the axis spans the values, so that the gaps between rows show."""
    if not groups or not all(groups.values()):
        raise ValueError("every group needs at least one value (one per seed)")
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(groups) + 1.3), dpi=DPI)
    values = [v for vs in groups.values() for v in vs]
    lo, hi = min(values), max(values)
    for i, (label, vs) in enumerate(groups.items()):
        mean = sum(vs) / len(vs)
        ax.scatter(vs, [i] * len(vs), s=30, color="tab:blue", alpha=0.7, zorder=3,
                   label="one seed" if i == 0 else None)
        ax.plot([mean, mean], [i - 0.3, i + 0.3], color="black", linewidth=2.5, zorder=4,
                label="mean of the seeds" if i == 0 else None)
        ax.text(hi + 0.08 * (hi - lo or 1), i, f"{mean:.2f}", va="center", fontsize=10)
    ax.set_yticks(range(len(groups)), list(groups), fontsize=10)
    ax.invert_yaxis()
    ax.set_xlim(lo - 0.1 * (hi - lo or 1), hi + 0.25 * (hi - lo or 1))
    ax.set_xlabel(xlabel, fontsize=10)
    ax.xaxis.set_major_locator(plt.MaxNLocator(5))  # few ticks, so that their labels never touch
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:.2f}")
    ax.tick_params(axis="x", labelsize=9)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title:
        ax.set_title(title, fontsize=11)
    fig.tight_layout()
    return fig
