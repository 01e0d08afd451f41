"""Notebook 10's figures, drawn from the corruption suite's records: the corrupted digits, each
model's scores (a heat-map, clean against corrupted on one axis, against parameters), accuracy
against a shift, and how the robust recipe was chosen."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..core.plots import DPI


def plot_corruptions(examples: dict[str, torch.Tensor], clean: torch.Tensor | None = None, per_row: int = 6,
                     zoom: int = 1):
    """A grid of corrupted digits: one row per family (`examples`: family -> uint8 N x 28 x 28),
    the clean images first when given; drawn as one image, which keeps a notebook small, each
    digit pixel `zoom` x `zoom` pixels of the figure."""
    rows = ([("clean", clean)] if clean is not None else []) + list(examples.items())
    gap, side = 2, 28
    sheet = torch.full((len(rows) * (side + gap), per_row * (side + gap)), 128, dtype=torch.uint8)
    for r, (_, images) in enumerate(rows):
        for k in range(per_row):
            top, left = r * (side + gap), k * (side + gap)
            sheet[top:top + side, left:left + side] = images[k]
    sheet = sheet.repeat_interleave(zoom, 0).repeat_interleave(zoom, 1)
    gap, side = gap * zoom, side * zoom
    # zoom x zoom pixels of the figure per pixel of a digit: noisy images compress badly when resampled
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


def plot_family_heatmap(rows: list[dict], families: list[str], chosen: tuple[str, ...] = (),
                        short: dict[str, str] | None = None):
    """Models (rows, `robustness.summarise`) against corruption families (columns, then their
    mean): each cell the model's accuracy in %, written in it and coloured from red (low) to
    green (high); families in `chosen` are marked with a star."""
    short = short or {}
    names = [short.get(f, f.replace("_", " ")) + (" *" if f in chosen else "") for f in families] + ["mean"]
    values = np.array([[r["families"][f] for f in families] + [r["mean"]] for r in rows])
    fig, ax = plt.subplots(figsize=(1.0 + 0.62 * len(names), 0.9 + 0.36 * len(rows)), dpi=DPI)
    ax.imshow(values, cmap="RdYlGn", vmin=0, vmax=100, aspect="auto")
    for (i, j), v in np.ndenumerate(values):
        ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=8,
                fontweight="bold" if j == len(families) else "normal")
    ax.axvline(len(families) - 0.5, color="black", linewidth=1.5)
    ax.set_xticks(range(len(names)), names, rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), [f"{r['variant']} ({r['params']:,})" for r in rows], fontsize=8)
    ax.set_title("Accuracy (%) on each corruption family" + (" (* chosen families)" if chosen else ""),
                 fontsize=10)
    fig.tight_layout()
    return fig


def plot_clean_vs_corrupted(rows: list[dict], highlight: tuple[str, ...] = ()):
    """One shared accuracy axis: per model (one line each, `robustness.summarise` rows in the
    order given) its clean test accuracy and its mean over the corruption families, joined by a
    line; `highlight` variants in bold."""
    fig, ax = plt.subplots(figsize=(8, 0.8 + 0.32 * len(rows)), dpi=DPI)
    for y, r in enumerate(rows):
        ax.plot([r["mean"], r["clean"]], [y, y], color="grey", linewidth=1, zorder=1)
        ax.scatter(r["clean"], y, color="tab:blue", s=30, zorder=2, label="clean test images" if y == 0 else None)
        ax.scatter(r["mean"], y, color="tab:red", s=30, zorder=2,
                   label="mean over the corruption families" if y == 0 else None)
    ax.set_yticks(range(len(rows)), [f"{r['variant']} ({r['params']:,})" for r in rows], fontsize=8)
    for label in ax.get_yticklabels():
        label.set_fontweight("bold" if label.get_text().split(" ")[0] in highlight else "normal")
    ax.invert_yaxis()
    ax.set(xlabel="accuracy (%): each model's mean over its recorded seeds")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


def plot_shift_curves(curves: dict[str, list[float]], shifts, groups: dict[str, str] | None = None):
    """Accuracy (%) against the shift in pixels, one line per model (`curves`: name -> accuracies
    in [0, 1], one per shift); `groups` (name -> group) colours the lines by group, e.g. the head."""
    groups = groups or {name: name for name in curves}
    colours = {g: f"C{k}" for k, g in enumerate(dict.fromkeys(groups.values()))}
    fig, ax = plt.subplots(figsize=(7, 4), dpi=DPI)
    shown = set()
    for name, accs in curves.items():
        group = groups[name]
        ax.plot(list(shifts), [100 * a for a in accs], marker="o", markersize=4, color=colours[group],
                label=group if group not in shown else None)
        shown.add(group)
    ax.set(xlabel="shift (pixels across and down, each either way)", ylabel="test accuracy (%)",
           ylim=(0, 100), title="Accuracy as the digits move off-centre")
    ax.set_xticks(list(shifts))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


def plot_recipe_choice(rows: list[dict], pick: str, floor: float, noise: float = 0.1,
                       named: tuple[str, ...] = ()):
    """A search's recipes (`robust.scored` rows), clean validation accuracy across: left, the mean
    on the chosen families with the rule's `floor` (dashed); right, the held-out families. The
    pick in red; a band of +-`noise` points around its clean accuracy; `named` recipes labelled."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=DPI, sharex=True)
    best = next(r for r in rows if r["tag"] == pick)
    for ax, key, title in ((axes[0], "chosen", "chosen families: the rule looks here"),
                           (axes[1], "held_out", "held-out families: only reported")):
        ax.axvspan(best["val_acc"] - noise, best["val_acc"] + noise, color="grey", alpha=0.2,
                   label=f"±{noise} points: one seed's noise")
        for r in rows:
            mine = r["tag"] == pick
            ax.scatter(r["val_acc"], r[key], s=45 if mine else 25, zorder=3,
                       color="tab:red" if mine else ("tab:blue" if key != "chosen" or r["chosen"] >= floor
                                                     else "silver"))
            if mine or r["tag"] in named:
                ax.annotate(r["tag"], (r["val_acc"], r[key]), fontsize=8, xytext=(-4, 5),
                            textcoords="offset points", ha="right", fontweight="bold" if mine else "normal")
        ax.set(xlabel="clean validation accuracy (%)", ylabel="validation twin: mean accuracy (%)", title=title)
        ax.grid(alpha=0.3)
    axes[0].axhline(floor, color="black", linestyle="--", linewidth=1, label=f"the rule's floor: {floor:.1f} %")
    axes[0].legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig
