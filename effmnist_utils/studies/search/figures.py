"""The searches' figures, drawn from their recorded trials (`results.front`, `results.importances`):
the front of validation accuracy against parameters, and which settings mattered."""
from __future__ import annotations

import matplotlib.pyplot as plt

from ...core.plots import DPI


def best_per_budget(rows: list[dict]) -> dict[int, dict]:
    """budget -> its most accurate complete trial (the first of equals, in the rows' order)."""
    best: dict[int, dict] = {}
    for r in rows:
        if r["budget"] not in best or r["val_acc"] > best[r["budget"]]["val_acc"]:
            best[r["budget"]] = r
    return best


def _trials_by(ax, rows: list[dict], group: str, x: str, size: float, alpha: float) -> None:
    """One dot per trial at (row[x], validation accuracy in %), one colour per value of row[group]."""
    for k, name in enumerate(dict.fromkeys(r[group] for r in rows)):
        pts = [r for r in rows if r[group] == name]
        ax.scatter([r[x] for r in pts], [100 * r["val_acc"] for r in pts], s=size, alpha=alpha,
                   color=plt.cm.tab20((2 * k + k // 10) % 20), label=f"{name} ({len(pts)} trial{'s' * (len(pts) > 1)})")


def plot_search_front(rows: list[dict], finalists: list[dict] | None = None):
    """Validation accuracy (%) against parameters (log axis), one dot per complete trial
    (`results.front` rows of one or several searches), one colour per search, each budget as a
    dotted line and its best trial as a star. `finalists`: points to
    show on the front, each {'label', 'params', 'acc'} (acc in %, e.g. a finalist's mean over
    its seeds), drawn as red diamonds."""
    if not rows:
        raise ValueError("no complete trials to plot (results.front returns them)")
    fig, ax = plt.subplots(figsize=(9, 5.8), dpi=DPI)
    _trials_by(ax, rows, "search", "params", size=24, alpha=0.6)
    best = best_per_budget(rows)
    for budget in best:  # the best trials' layers are listed beside the figure, not on it (they overlap)
        ax.axvline(budget, color="grey", linestyle=":", linewidth=1)
    ax.scatter([r["params"] for r in best.values()], [100 * r["val_acc"] for r in best.values()], marker="*",
               s=160, color="gold", edgecolors="black", zorder=3, label="best per budget")
    if finalists:
        ax.scatter([f["params"] for f in finalists], [f["acc"] for f in finalists], marker="D", s=50,
                   color="red", zorder=4, label="finalists: mean over their seeds on the split")
        for f in finalists:
            ax.annotate(f["label"], (f["params"], f["acc"]), textcoords="offset points", xytext=(0, -16),
                        fontsize=9, color="red", ha="center")
    ax.set_xscale("log")
    ax.set(xlabel="parameters (log scale; dotted: the budgets)", ylabel="final-epoch validation accuracy (%)",
           title="The searches' front: one point per complete trial")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3)
    fig.tight_layout()
    return fig


def plot_live_search(rows: list[dict], budget: int):
    """A search's trials in the order they ran (`results.trials` rows): validation
    accuracy (%) of each trial, complete ones as dots, those stopped early as crosses at the
    accuracy they had reached, those over the `budget` as grey ticks along the bottom (never
    trained), and the best so far as a line."""
    if not rows:
        raise ValueError("no finished trials to plot (results.trials returns them)")
    fig, ax = plt.subplots(figsize=(8, 3.8), dpi=DPI)
    trained = [r for r in rows if r["val_acc"] is not None]
    floor = min((100 * r["val_acc"] for r in trained), default=0) - 1
    for state, marker, colour in (("complete", "o", "tab:blue"), ("stopped early", "x", "tab:orange")):
        pts = [r for r in trained if r["state"] == state]
        if pts:
            ax.scatter([r["trial"] for r in pts], [100 * r["val_acc"] for r in pts], marker=marker, s=45,
                       color=colour, label=f"{state} ({len(pts)})", zorder=3)
    over = [r for r in rows if r["state"] == "over the budget"]
    if over:
        ax.scatter([r["trial"] for r in over], [floor] * len(over), marker="|", s=200, color="grey",
                   label=f"{budget:,} parameters or more: never trained ({len(over)})")
    best, line = None, []
    for r in rows:
        if r["state"] == "complete" and (best is None or r["val_acc"] > best):
            best = r["val_acc"]
        line.append(None if best is None else 100 * best)
    ax.step([r["trial"] for r in rows], [float("nan") if v is None else v for v in line], where="post",
            color="black", linewidth=1, label="best complete trial so far")
    ax.set_xlabel("trial number (the order they ran)", fontsize=10)
    ax.set_ylabel("validation accuracy (%)", fontsize=10)
    ax.tick_params(labelsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title("Your search, trial by trial", fontsize=11)
    fig.tight_layout()
    return fig


def plot_importances(importances: dict[str, dict[str, float]]):
    """Which settings mattered: one panel per search ({search: {parameter: importance}}, e.g.
    `results.importances` of each), its parameters as horizontal bars, most important on top."""
    if not importances or not all(importances.values()):
        raise ValueError("no importances to plot (results.importances returns them per search)")
    n = len(importances)
    height = max(len(v) for v in importances.values())
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 0.22 * height + 1.2), dpi=DPI, squeeze=False)
    for ax, (name, values) in zip(axes[0], importances.items()):
        ranked = sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))  # ties by name: the same picture every run
        ax.barh(range(len(ranked)), [v for _, v in ranked], color="tab:blue", height=0.7)
        ax.set_yticks(range(len(ranked)), [k for k, _ in ranked], fontsize=7)
        ax.invert_yaxis()
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("importance (sums to 1)", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    return fig


def plot_speedrun_front(rows: list[dict], limit: float, bar: float, confirmed: list[dict] = ()):
    """The speedrun search's trials (`results.front` rows): final validation accuracy (%)
    against training seconds, one colour per model, the first trial (the recipe the search
    starts from) circled, the time goal `limit` and the rule's validation `bar` (%) as dashed
    lines: the candidates are the points above and left of both. `confirmed`
    (`speedsearch.summarise` rows) adds each candidate's seeds on the split as crosses at their
    mean seconds, and their mean as a diamond."""
    if not rows:
        raise ValueError("no complete trials to plot (results.front returns them)")
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=DPI)
    _trials_by(ax, rows, "model", "train_seconds", size=22, alpha=0.75)
    first = min(rows, key=lambda r: r["trial"])
    ax.scatter([first["train_seconds"]], [100 * first["val_acc"]], s=160, facecolors="none", edgecolors="black",
               linewidths=1.5, label=f"trial {first['trial']}: the starting recipe", zorder=3)
    trials = {f"-t{r['trial']}": r for r in rows}
    for c in confirmed:
        ax.scatter([c["train_seconds"]] * len(c["val"]), c["val"], marker="x", s=30, color="black", zorder=4,
                   label=f"{c['variant']}: seeds {c['seeds'][0]}–{c['seeds'][-1]} again (mean ◆)")
        ax.scatter([c["train_seconds"]], [c["val_mean"]], marker="D", s=50, color="black", zorder=4)
        trial = trials.get(c["variant"][c["variant"].rfind("-t"):])
        if trial:  # an arrow from the one-seed trial to its seeds' mean
            ax.annotate("", (c["train_seconds"], c["val_mean"]), (trial["train_seconds"], 100 * trial["val_acc"]),
                        arrowprops={"arrowstyle": "->", "color": "black", "linewidth": 0.8})
    ax.axvline(limit, color="red", linestyle="--", linewidth=1, label=f"{limit:g} s: the time goal")
    ax.axhline(bar, color="green", linestyle="--", linewidth=1, label=f"{bar:.2f} %: the rule's validation bar")
    ax.set(xlabel="training seconds", ylabel="final-epoch validation accuracy (%)",
           title="The speedrun search: accuracy against training time, one point per trial")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig
