"""The lessons' figures: a network drawn from its layers, where its parameters go, one run's
curves against another's, and the six iterations side by side from their recorded runs. Each
takes models, histories or rows and returns a figure (or rows, or a markdown table)."""
from __future__ import annotations

import statistics

import matplotlib.pyplot as plt
import torch
from torch import nn

from .config import MAX_PARAMS, RUNS_DIR, TARGET_ACC
from .inside import run_hooked
from .markdown import Markdown, table
from .models import ITERATIONS, build_model, count_params, describe_layer
from .plots import DPI
from .record import RecordError, group_runs, load_runs, mean_std

HIGHLIGHT, PLAIN = "#f6b26b", "#cfe2f3"
_BOXED = (nn.Conv2d, nn.MaxPool2d, nn.AdaptiveAvgPool2d, nn.Linear)


def layer_boxes(model: nn.Module) -> list[dict]:
    """The boxes `plot_architecture` draws, in the order the model applies them (one 28x28 digit
    through it): {"name": "conv3" / "pool" / "gap" / "linear", "module": its name in the model,
    "kind": "3x3" / "1x1 + BN" / "max-pool 2x2" / "GAP" / "linear", "shape": (C, H, W) or (C,),
    "params": its parameters, a BatchNorm's right after it included (a weight-shared conv's
    counted once)}."""
    names = {m: n for n, m in model.named_modules()}
    calls: list[tuple[nn.Module, torch.Tensor]] = []
    run_hooked(model, torch.zeros(1, 1, 28, 28), (*_BOXED, nn.modules.batchnorm._BatchNorm),
               lambda m, i, out: calls.append((m, out)))
    boxes, seen, counts = [], set(), {"conv": 0, "pool": 0}
    for m, out in calls:
        own = 0 if m in seen else sum(p.numel() for p in m.parameters())
        seen.add(m)
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            if boxes:
                boxes[-1]["params"] += own
                boxes[-1]["kind"] += " + BN"
            continue
        if isinstance(m, nn.Conv2d):
            counts["conv"] += 1
            name, kind = f"conv{counts['conv']}", describe_layer(m)
        elif isinstance(m, nn.MaxPool2d):
            counts["pool"] += 1
            name, kind = "pool" + (str(counts["pool"]) if counts["pool"] > 1 else ""), f"max-pool {describe_layer(m)}"
        elif isinstance(m, nn.AdaptiveAvgPool2d):
            name, kind = "gap", "GAP"
        else:
            name, kind = "linear", f"linear {m.in_features:,}→{m.out_features}"
        boxes.append({"name": name, "module": names[m], "kind": kind, "shape": tuple(out.shape[1:]),
                      "params": own})
    return boxes


def _changed(boxes: list[dict], changed) -> tuple[set[int], list]:
    """The boxes `changed` names (by index, name or module), and the names no box has."""
    hits = {c: [i for i, b in enumerate(boxes) if c in (i, b["name"], b["module"])] for c in changed}
    return {i for found in hits.values() for i in found}, [c for c, found in hits.items() if not found]


def plot_architecture(model: nn.Module, changed=(), title: str = ""):
    """The network left to right, one box per conv, pool and head layer (`layer_boxes`), its
    height growing with the layer's output channels, labelled with its kind, its output
    channels x height x width and its parameters; `changed` (indices, names such as "pool" or
    "conv5", or module names such as "features.6") are drawn highlighted; one the network lacks (a
    learner's edited `Net`) is named in the title instead of stopping the notebook."""
    boxes = layer_boxes(model)
    marked, missing = _changed(boxes, changed)
    widest = max(b["shape"][0] for b in boxes)
    fig, ax = plt.subplots(figsize=(1.25 * (len(boxes) + 1) + 0.4, 3.4), dpi=DPI)
    ax.add_patch(plt.Rectangle((-0.4, -0.2), 0.8, 0.4, facecolor="white", edgecolor="grey", gid="input"))
    ax.text(0, -1.75, "input\n1×28×28", ha="center", va="top", fontsize=8)
    for i, b in enumerate(boxes, start=1):
        h = 0.3 + 2.7 * b["shape"][0] / widest
        hot = i - 1 in marked
        ax.add_patch(plt.Rectangle((i - 0.4, -h / 2), 0.8, h, gid=b["name"], linewidth=2.5 if hot else 1,
                                   facecolor=HIGHLIGHT if hot else PLAIN, edgecolor="#b45f06" if hot else "#3d85c6"))
        ax.annotate("", (i - 0.42, 0), (i - 0.58, 0), arrowprops={"arrowstyle": "->", "color": "grey"})
        ax.text(i, 1.6, b["name"], ha="center", va="bottom", fontsize=9, fontweight="bold" if hot else "normal")
        shape = "×".join(map(str, b["shape"]))
        ax.text(i, -1.75, f"{b['kind']}\n{shape}\n{b['params']:,} params", ha="center", va="top", fontsize=8)
    total = (f"{count_params(model):,} parameters" + (" · changed layers in orange" if marked else "")
             + (f" · not in this network: {', '.join(map(str, missing))}" if missing else ""))
    ax.set(xlim=(-0.6, len(boxes) + 0.6), ylim=(-2.9, 2.0), title=f"{title}: {total}" if title else total)
    ax.axis("off")
    fig.tight_layout()
    return fig


def _part(m: nn.Module, pools: int) -> str | None:
    if isinstance(m, nn.Conv2d):
        return "1x1 transition" if m.kernel_size in ((1, 1), 1) else f"stage {pools + 1} convs"
    if isinstance(m, nn.modules.batchnorm._BatchNorm):
        return "BatchNorm"
    if isinstance(m, nn.Linear):
        return "head"
    return "other" if any(True for _ in m.parameters(recurse=False)) else None


def param_shares(models: dict[str, nn.Module]) -> list[dict]:
    """Where each model's parameters go: {"model", "params", "parts": {part: parameters},
    "head_share"}, the parts being its convs by stage (stage 1 before the first max-pool,
    stage 2 after it, ...), its 1x1 transition conv, its BatchNorm and its head (the linear layer)."""
    rows = []
    for name, model in models.items():
        parts, pools = {}, 0
        for m in model.modules():
            pools += isinstance(m, nn.MaxPool2d)
            part = _part(m, pools)
            if part:
                parts[part] = parts.get(part, 0) + sum(p.numel() for p in m.parameters(recurse=False))
        total = count_params(model)
        rows.append({"model": name, "params": total, "parts": parts, "head_share": parts.get("head", 0) / total})
    return rows


def _part_order(rows: list[dict]) -> list[str]:
    present = {p for r in rows for p in r["parts"]}
    stages = sorted(p for p in present if p.startswith("stage"))
    return [p for p in stages[:1] + ["1x1 transition"] + stages[1:] + ["BatchNorm", "other", "head"] if p in present]


def render_param_shares(rows: list[dict]) -> Markdown:
    """`param_shares` rows as a markdown table: parameters per part and the head's share."""
    parts = _part_order(rows)
    header = ["model", "params", *parts, "head share"]
    return Markdown(table(header, "l" + "r" * (len(header) - 1),
                          [[r["model"], f"{r['params']:,}", *(f"{r['parts'].get(p, 0):,}" for p in parts),
                            f"{r['head_share']:.0%}"] for r in rows]))


def plot_param_shares(rows: list[dict], title: str = "Where the parameters go"):
    """One stacked bar per model (`param_shares` rows): its parameters by part, the head on top
    with its share printed above the bar, and the 20,000-parameter budget as a dashed line."""
    parts = _part_order(rows)
    colours = dict(zip(parts, plt.get_cmap("Pastel2").colors))
    colours["head"] = "#cc4125"
    fig, ax = plt.subplots(figsize=(1.1 * len(rows) + 3.5, 4), dpi=DPI)
    x, bottom = range(len(rows)), [0] * len(rows)
    for p in parts:
        heights = [r["parts"].get(p, 0) for r in rows]
        ax.bar(x, heights, 0.6, bottom=bottom, label=p, color=colours[p], edgecolor="white")
        bottom = [b + h for b, h in zip(bottom, heights)]
    for i, r in enumerate(rows):
        ax.text(i, r["params"], f"head {r['head_share']:.0%}", ha="center", va="bottom", fontsize=8)
    ax.axhline(MAX_PARAMS, color="grey", linestyle="--", linewidth=1, label=f"{MAX_PARAMS:,} budget")
    ax.set(xticks=list(x), xticklabels=[r["model"] for r in rows], ylabel="parameters", title=title)
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:,.0f}")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


def plot_histories(histories: dict[str, list[dict]], key: str = "test_acc", title: str = "",
                   ymin: float | None = None):
    """Runs against each other: `key` per epoch, one line per {label: history}, each in its own
    line style so that none hides another; accuracies in % with the 99.4 % line. `ymin` cuts the
    axis there, so that a small gap between the last epochs shows."""
    fig, ax = plt.subplots(figsize=(7, 4), dpi=DPI)
    for (label, history), style in zip(histories.items(), ["-", "--", ":", "-."] * len(histories)):
        rows = [r for r in history if key in r]
        if not rows:
            known = sorted({k for r in history for k in r})
            raise ValueError(f"history {label!r} has no {key!r}; pick one of {known}")
        scale = 100 if key.endswith("acc") else 1
        ax.plot([r["epoch"] for r in rows], [scale * r[key] for r in rows], style, marker="o", markersize=3,
                label=label)
    if key.endswith("acc"):
        ax.axhline(100 * TARGET_ACC, color="grey", linestyle="--", linewidth=1, label=f"{TARGET_ACC:.1%}")
    ax.set(xlabel="epoch", ylabel="%" if key.endswith("acc") else key,
           title=title or key.replace("_acc", " accuracy").replace("_", " "))
    if ymin is not None:
        ax.set_ylim(bottom=ymin)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def recap(run_dir=RUNS_DIR, models=ITERATIONS) -> list[dict]:
    """One row per iteration with recorded runs in `run_dir` (its own recipe, every seed):
    {"model", "params", "head_share", "seeds", "final_mean", "final_std" (final-epoch test
    accuracy in %, over the seeds), "finals" (each seed's, by seed), "train_mean" (final-epoch
    training accuracy in %, their mean),
    "sec_per_epoch" (median over all their epochs), "device"}."""
    groups = group_runs(r for r in load_runs(run_dir) if r.variant in models)
    if not groups:
        raise RecordError(f"no recorded runs of {', '.join(models)} in {run_dir}")
    rows = []
    for name in (m for m in models if m in groups):
        runs = groups[name]
        share = param_shares({name: build_model(name)})[0]
        mean, std = mean_std(100 * r["final_test_acc"] for r in runs)
        rows.append({"model": name, "params": share["params"], "head_share": share["head_share"],
                     "seeds": sorted(r["seed"] for r in runs), "final_mean": mean, "final_std": std,
                     "finals": [100 * r["final_test_acc"] for r in sorted(runs, key=lambda r: r["seed"])],
                     "train_mean": statistics.mean(100 * r["history"][-1]["train_acc"] for r in runs),
                     "sec_per_epoch": statistics.median(e["seconds"] for r in runs for e in r["history"]),
                     "device": "; ".join(sorted({r["device"] for r in runs}))})
    return rows


def render_recap(rows: list[dict]) -> Markdown:
    """`recap` rows as a markdown table (accuracies at the final epoch; training accuracy is the
    running one of that epoch, on augmented digits)."""
    return Markdown(table(["model", "params", "head share", "test accuracy, mean ± std", "each seed's, %",
                           "train accuracy, mean", "seeds", "s / epoch (median)", "trained on"], "lrrrrrrrr",
                          [[r["model"], f"{r['params']:,}", f"{r['head_share']:.0%}",
                            f"{r['final_mean']:.2f} ± {r['final_std']:.2f} %",
                            ", ".join(f"{a:.2f}" for a in r["finals"]), f"{r['train_mean']:.2f} %",
                            ", ".join(map(str, r["seeds"])), f"{r['sec_per_epoch']:.1f}", r["device"]] for r in rows]))


def plot_recap(rows: list[dict], title: str = "The iterations side by side"):
    """`recap` rows in three panels: parameters (the head's part darker, the budget dashed),
    final test accuracy as mean ± std over the seeds (the 99.4 % line) and seconds per epoch."""
    fig, (p, a, s) = plt.subplots(1, 3, figsize=(13, 3.8), dpi=DPI)
    x, names = range(len(rows)), [r["model"] for r in rows]
    p.bar(x, [r["params"] for r in rows], 0.6, color=PLAIN, label="convs and BatchNorm")
    p.bar(x, [r["params"] * r["head_share"] for r in rows], 0.6, color="#cc4125", label="head")
    p.axhline(MAX_PARAMS, color="grey", linestyle="--", linewidth=1, label=f"{MAX_PARAMS:,} budget")
    p.yaxis.set_major_formatter(lambda v, _: f"{v:,.0f}")
    a.errorbar(x, [r["final_mean"] for r in rows], [r["final_std"] for r in rows], fmt="o", capsize=4,
               label="mean ± std over seeds")
    a.axhline(100 * TARGET_ACC, color="grey", linestyle="--", linewidth=1, label=f"{TARGET_ACC:.1%}")
    s.bar(x, [r["sec_per_epoch"] for r in rows], 0.6, color=PLAIN)
    for ax, label in ((p, "parameters"), (a, "final test accuracy, %"),
                      (s, f"seconds per epoch, {'; '.join(sorted({r['device'] for r in rows}))}")):
        ax.set(xticks=list(x), xticklabels=names, title=label)
        ax.grid(alpha=0.3, axis="y")
    p.legend(fontsize=8)
    a.legend(fontsize=8, loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
