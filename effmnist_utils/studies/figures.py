"""The studies' figures, drawn from recorded runs: accuracy against parameters, the speedrun and
what each lever measured (the corruption suite's are in `robustness_figures`)."""
from __future__ import annotations

import math
import statistics
import textwrap

import matplotlib.pyplot as plt

from ..core.config import MAX_PARAMS, TARGET_ACC, HParams
from ..core.plots import DPI
from ..core.record import variant
from . import speedrun


def plot_params_vs_accuracy(points: list[dict], reference: list[dict] | None = None,
                            budget: int = MAX_PARAMS, target: float = 100 * TARGET_ACC,
                            goals: list[tuple[int, float]] | None = None,
                            raised_goals: list[tuple[int, float]] | None = None, log_x: bool = False):
    """One dot per recorded run (params, final test accuracy %); `reference` rows (the original study's
    single runs) are drawn as crosses; `goals` (budget, target mean %) as open triangles, which a
    model's mean should sit above and left of, and `raised_goals` as filled ones. Each point:
    {'params', 'acc', 'label'}. `log_x`: parameters on a log axis (the smallest models apart)."""
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
    ax.set(xlabel="parameters" + (" (log scale)" if log_x else ""), ylabel="final-epoch test accuracy (%)",
           title="Accuracy against parameters, one point per run", xscale="log" if log_x else "linear")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="center left", bbox_to_anchor=(1.01, 0.5))  # beside, not over, points
    fig.tight_layout()
    return fig



def plot_speedrun(records: list[dict], goal_seconds: dict[str, float] = speedrun.GOAL_SECONDS,
                  goal_acc: float = speedrun.GOAL_MEAN, min_acc: float = speedrun.GOAL_MIN):
    """Training seconds against final test accuracy, one point per recorded seed, one panel per
    device kind (the time goals differ by 30x), one colour per device and recipe (grouped by
    `speedrun.summarise`), each group's mean as an open diamond; the goal lines: the mean
    accuracy goal `goal_acc` (%), every seed's `min_acc` (%) and the kind's `goal_seconds`."""
    summaries = speedrun.summarise(records)
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
            recipe = textwrap.fill(f"{s['device']}: {speedrun.describe(HParams.from_dict(s['hparams']))} "
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
        most = max([limit or 0] + [r["train_seconds"] for r in records if speedrun.device_kind(r) == kind])
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
    the rows, `lever_sweeps.lever_steps`' output, and in the tables of results/): the change in
    validation accuracy (points) from 'before' to 'after', on a grey band of ±`noise` points
    around 0 (one seed on 5,000 validation images: about ±0.1); bars outside the band are green
    (better) or red (worse), those inside grey. `spread` (rows over several seeds): each bar's own
    noise instead of the band, an error bar of twice its standard error, grey when Δ lies within
    it. Compact, so that a notebook stays small."""
    if not rows:
        raise ValueError("no lever rows to plot (lever_sweeps.lever_steps returns them)")
    if spread and any(r.get("se") is None for r in rows):
        raise ValueError("spread=True needs every row over several seeds on both sides (its 'se'); "
                         "plot one-seed rows with a noise band instead (spread=False)")
    deltas = [r["delta"] for r in rows]
    bounds = [2 * r["se"] for r in rows] if spread else [noise] * len(rows)
    colours = ["grey" if abs(d) <= b else "tab:green" if d > 0 else "tab:red" for d, b in zip(deltas, bounds)]
    fig, ax = plt.subplots(figsize=(8, 0.36 * len(rows) + 1.3), dpi=DPI)
    if spread:
        bars = ax.barh(range(len(rows)), deltas, color=colours, height=0.7, xerr=bounds,
                       error_kw={"elinewidth": 1, "capsize": 2}, label="twice the standard error of Δ")
    else:
        ax.axvspan(-noise, noise, color="grey", alpha=0.2, label=f"noise: ±{noise:g} points")
        bars = ax.barh(range(len(rows)), deltas, color=colours, height=0.7)
    ax.bar_label(bars, labels=[f"{d:+.2f}" for d in deltas], padding=2, fontsize=9)
    ax.axvline(0, color="black", linewidth=0.8)
    model = [r["after"].split("-")[0] for r in rows]  # the network the step was measured on
    ax.set_yticks(range(len(rows)), [r["lever"] if r["lever"].startswith(m) else f"{m}: {r['lever']}"
                                     for r, m in zip(rows, model)], fontsize=9)
    ax.invert_yaxis()  # the table's order, top to bottom
    span = max(noise, *(abs(d) + (b if spread else 0) for d, b in zip(deltas, bounds)))
    ax.set(xlim=(-1.3 * span, 1.3 * span))
    ax.set_xlabel("change in validation accuracy (points)", fontsize=10)
    ax.set_title(title, fontsize=11)
    ax.tick_params(axis="x", labelsize=9)
    ax.legend(fontsize=9, loc="best")
    fig.tight_layout()
    return fig


def plot_lever_times(rows: list[dict], noise: float = 0.1, title: str = "What each lever did to the training time"):
    """Each lever's speed-up (training seconds before / after, log scale) as a horizontal bar
    labelled with the lever and, at the bar's end, its change in validation accuracy; within
    ±`noise` (a same-run's timing varies by about ±10 %) a bar is grey, faster green, slower red.
    `rows`: `lever_sweeps.lever_steps` with training seconds."""
    if not rows or any(r["seconds_before"] is None or r["seconds_after"] is None for r in rows):
        raise ValueError("plot_lever_times needs lever rows with training seconds (lever_sweeps.lever_steps of timed runs)")
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
