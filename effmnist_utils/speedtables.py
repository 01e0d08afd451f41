"""The speedrun's records judged and rendered: per-device summaries against the goal, the
README's speedrun table, a lever search's table and what each lever bought, and the rule that
chooses a recipe from a search (validation accuracy only, never the test set)."""
from __future__ import annotations

import statistics
from collections import defaultdict

from .config import TARGET_ACC
from .speedrun import SpeedRecipe

GOAL_SECONDS = {"cpu": 60.0, "cuda": 2.0}  # the wall-clock goals (training only)
GOAL_MEAN, GOAL_MIN, MAX_PARAMS, MIN_SEEDS = 100 * TARGET_ACC, 99.30, 20_000, 5


def summarise(records: list[dict]) -> list[dict]:
    """One row per device and run tag (in first-seen order): the recipe, seeds, accuracies (%),
    mean seconds and whether the issue's goal is met."""
    groups = defaultdict(list)
    for r in records:
        groups[(r["device"], r["tag"])].append(r)
    rows = []
    for (device, tag), rs in groups.items():
        rs = sorted(rs, key=lambda r: r["seed"])
        test = [100 * r["test_acc"] for r in rs]
        val = [100 * r["val_acc"] for r in rs if r.get("val_acc") is not None]
        kind, secs = rs[0]["device_kind"], statistics.mean(r["train_seconds"] for r in rs)
        mean, limit = statistics.mean(test), GOAL_SECONDS.get(kind)
        misses = [why for why, bad in (
            (f"{len(rs)} seeds < {MIN_SEEDS}", len(rs) < MIN_SEEDS),
            (f"mean {mean:.2f} % < {GOAL_MEAN:.2f} %", mean < GOAL_MEAN - 1e-9),
            (f"a seed < {GOAL_MIN:.2f} %", min(test) < GOAL_MIN - 1e-9),
            (f"{secs:.1f} s > {limit} s", limit is None or secs > limit),
            (f"{rs[0]['params']:,} parameters", rs[0]["params"] >= MAX_PARAMS)) if bad]
        rows.append({"device": device, "kind": kind, "tag": tag, "recipe": rs[0]["recipe"],
                     "params": rs[0]["params"], "seeds": [r["seed"] for r in rs], "test": test,
                     "test_mean": mean, "test_min": min(test),
                     "val_mean": statistics.mean(val) if val else None, "train_seconds": secs,
                     "load_seconds": statistics.mean(r["load_seconds"] for r in rs),
                     "compile_seconds": statistics.mean(r["compile_seconds"] for r in rs),
                     "goal_seconds": limit, "met": not misses, "misses": misses})
    return rows


def render_speed_table(summaries: list[dict]) -> str:
    """The README's speedrun table: per device, the recipe, each seed's test accuracy (a seed under
    99.30 % is marked "miss"), mean, min, mean training seconds and whether the goal is met."""
    lines = ["| device | recipe | params | seeds | test accuracy per seed | mean | min | training s "
             "(mean) | load / warm-up s | goal met? |", "|---|---|---:|---|---|---:|---:|---:|---:|---|"]
    for s in summaries:
        accs = ", ".join(f"{a:.2f}" + (" (miss)" if a < GOAL_MIN - 1e-9 else "") for a in s["test"])
        goal = (f"mean ≥ {GOAL_MEAN:.2f} %, every seed ≥ {GOAL_MIN:.2f} %, ≤ {s['goal_seconds']:g} s"
                if s["goal_seconds"] else "no goal for this device")
        met = f"yes ({goal})" if s["met"] else f"no: {'; '.join(s['misses'])} ({goal})"
        lines.append(f"| {s['device']} | {SpeedRecipe.from_dict(s['recipe']).describe()} | "
                     f"{s['params']:,} | {', '.join(map(str, s['seeds']))} | {accs} | "
                     f"{s['test_mean']:.2f} % | {s['test_min']:.2f} % | {s['train_seconds']:.1f} | "
                     f"{s['load_seconds']:.1f} / {s['compile_seconds']:.1f} | {met} |")
    return "\n".join(lines)


def render_search(summaries: list[dict]) -> str:
    """A lever search (validation split): each candidate's recipe, validation accuracy (mean over
    its seeds) and mean training seconds, in the order run."""
    lines = ["| run | recipe | params | seeds | val acc (mean) | training s (mean) | warm-up s |",
             "|---|---|---:|---|---:|---:|---:|"]
    lines += [f"| {s['tag']} | {SpeedRecipe.from_dict(s['recipe']).describe()} | {s['params']:,} | "
              f"{', '.join(map(str, s['seeds']))} | {s['val_mean']:.2f} % | {s['train_seconds']:.1f} | "
              f"{s['compile_seconds']:.1f} |" for s in summaries]
    return "\n".join(lines)


def render_levers(summaries: list[dict], steps: list[tuple[str, str, str]]) -> str:
    """What each lever bought: `steps` are (lever, run before, run after) by tag; each row gives
    both runs' training seconds and validation accuracy and the change."""
    by_tag = {s["tag"]: s for s in summaries}
    missing = [t for _, a, b in steps for t in (a, b) if t not in by_tag]
    if missing:
        raise ValueError(f"no recorded speedrun search run tagged {', '.join(missing)}")
    lines = ["| lever | from → to | training s | × faster | val acc | Δ val (points) |",
             "|---|---|---:|---:|---:|---:|"]
    for lever, a, b in steps:
        x, y = by_tag[a], by_tag[b]
        lines.append(f"| {lever} | {a} → {b} | {x['train_seconds']:.1f} → {y['train_seconds']:.1f} | "
                     f"{x['train_seconds'] / y['train_seconds']:.2f}× | {x['val_mean']:.2f} → "
                     f"{y['val_mean']:.2f} % | {y['val_mean'] - x['val_mean']:+.2f} |")
    return "\n".join(lines)


def choose(summaries: list[dict], min_val: float = 99.45) -> dict:
    """The rule: the least mean training seconds among the runs whose mean validation accuracy is
    at least `min_val` (%); ties (within 2 %) go to fewer epochs."""
    ok = [s for s in summaries if s["val_mean"] is not None and s["val_mean"] >= min_val]
    if not ok:
        raise ValueError(f"no candidate reached {min_val:.2f} % validation accuracy")
    fastest = min(s["train_seconds"] for s in ok)
    close = [s for s in ok if s["train_seconds"] <= 1.02 * fastest]
    return min(close, key=lambda s: (s["recipe"]["epochs"], s["train_seconds"]))
