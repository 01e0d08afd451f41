"""The results tables: the README's table of recorded runs (per model and recipe variant, over
seeds) and its short form for a lesson. The speedrun's tables are in `speedrun`, what a lever
sweep measured in `lever_sweeps`."""
from __future__ import annotations

import statistics

from ..core.config import TARGET_ACC, describe_levers
from ..core.markdown import table
from ..core.models import MODELS, ORIGINAL_ACC, build_model, count_params
from ..core.record import Record, group_runs, mean_std


def _summarise_group(name: str, rs: list[dict]) -> dict:
    # read back through HParams (as same_settings does): a setting added since a seed was
    # recorded counts at its default, so seeds recorded by older code still group with new ones
    recipes = {r.hp.with_(seed=0) for r in rs}
    if len(recipes) > 1:
        raise ValueError(f"the recorded runs of {name} use different recipes; "
                         "move the odd ones out of the run folder")
    final = mean_std([100 * r["final_test_acc"] for r in rs])
    reached = [r["seconds_to_target"] for r in rs if r["seconds_to_target"] is not None]
    return {"model": name, "params": rs[0]["params"], "n": len(rs),
            "recipe": rs[0].hp.levers(),
            "seeds": sorted(r["seed"] for r in rs), "final_mean": final[0], "final_std": final[1],
            "best_mean": statistics.mean(100 * r["best_test_acc"] for r in rs),
            "original_acc": ORIGINAL_ACC.get(name),
            # the median: epochs that shared the 2 cores with other work run several times
            # slower, and one such epoch would move a mean far more
            "sec_per_epoch": statistics.median(e["seconds"] for r in rs for e in r["history"]),
            "sec_to_target": statistics.mean(reached) if reached else None,
            "n_reached": len(reached), "devices": sorted({r["device"] for r in rs})}


def summarise_runs(runs: list[Record]) -> list[dict]:
    """One row per model and recipe variant (registry order): params, seeds, mean/std of the
    final and mean of the best accuracy (%), seconds per epoch and to TARGET_ACC, devices. Runs of one
    variant must share their recipe."""
    groups = group_runs(runs)
    rank = {m: i for i, m in enumerate(MODELS)}  # registry order; models named by their layers last
    order = sorted(groups, key=lambda g: (rank.get(groups[g][0]["model"], len(rank)), g))
    return [_summarise_group(g, groups[g]) for g in order]


def render_table(rows: list[dict], gpu_rows: list[dict] = ()) -> str:
    """The README's results table (markdown), generated from `summarise_runs` rows; `gpu_rows`
    (the same, of runs on a GPU) add each model's GPU seconds per epoch."""
    gpu = {r["model"]: r["sec_per_epoch"] for r in gpu_rows}
    cells = []
    for r in rows:
        original = f"{r['original_acc']:.2f} %" if r["original_acc"] is not None else "—"
        to_target = (f"{r['sec_to_target']:.0f} s ({r['n_reached']}/{r['n']})" if r["sec_to_target"]
                     else f"not reached (0/{r['n']})")
        spread = f" ± {r['final_std']:.2f} %" if r["n"] > 1 else " % (1 run)"
        cells.append([r["model"], f"{r['params']:,}", describe_levers(r["recipe"]), original,
                      f"{r['final_mean']:.2f}{spread}", ", ".join(map(str, r["seeds"])), f"{r['best_mean']:.2f} %",
                      f"{r['sec_per_epoch']:.1f}", to_target, "; ".join(r["devices"]),
                      _gpu_cell(gpu.get(r["model"]))])
    return table(["model", "params", "recipe", "original study (1 run)", "ours: final epoch, mean ± std", "seeds",
                  "best epoch, mean (comparison only)", "s / epoch (median)",
                  f"time to {100 * TARGET_ACC:g} % (comparison only; runs reaching it)", "device",
                  "s / epoch on a GPU (1 run)"], "lrlrrlrrrlr", cells)


def _gpu_cell(seconds):
    return f"{seconds:.2f}" if seconds is not None else "not measured"


def check_params(runs: list[dict]) -> list[str]:
    """Runs whose recorded parameter count differs from the model's (empty when all agree)."""
    return [f"{r['name']}: recorded {r['params']}, model has {count_params(build_model(r['model']))}"
            for r in runs if r["params"] != count_params(build_model(r["model"]))]


def recipe_words(levers: dict) -> str:
    """A recipe in words: "original" (the original study's), "one-cycle, peak 0.01", or else
    its settings spelled out."""
    if not levers:
        return "original"
    if set(levers) == {"schedule", "lr"} and levers["schedule"] == "onecycle":
        return f"one-cycle, peak {levers['lr']:g}"
    return describe_levers(levers)


def render_compact(rows: list[dict]) -> str:
    """`summarise_runs` rows as a short table for a lesson: model, parameters, recipe, the
    original study's single run, and ours over seeds (mean ± std, how many seeds)."""
    original = ["—" if r["original_acc"] is None else f"{r['original_acc']:.2f} %" for r in rows]
    return table(["model", "parameters", "recipe", "original study (1 run)", "ours: mean ± std", "seeds"], "lrlrrr",
                 [[r["model"], f"{r['params']:,}", recipe_words(r["recipe"]), o,
                   f"{r['final_mean']:.2f} ± {r['final_std']:.2f} %", r["n"]] for r, o in zip(rows, original)])
