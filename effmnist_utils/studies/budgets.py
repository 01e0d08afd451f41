"""Which model each frontier budget reports: chosen on validation accuracy only, by a rule written
down here (issue 40) before it was applied to the recorded runs. The test set's numbers of those
runs had been read before (the budget tables once took the best test mean); the rule reads none.

The rule, per budget:

1. The first choice is the validation search that picked the budget's model: plan
   `frontier-search` below 20,000, 8,000 and 5,000 parameters (its stage-1 architectures under one
   recipe, the budget's by name; the best final validation accuracy, fewer parameters breaking a
   tie), plan `tiny-search` below 2,000 and 1,000 (`tiny.finalists`, from the runs it kept; an
   earlier run of it whose files were lost does not count).
2. The budget's frontier search (`frontier-20k` ...) replaces that model by its best trial
   (`finalists.best_trial`: the best final validation accuracy, fewer parameters breaking a tie)
   when that trial is not the search's first (the budget's model as the search began) and its
   mean over seeds 1-3 on the search's split (the trial, then plan `search-confirm`) is at least
   the first trial's validation accuracy, the number it claimed to match or beat. A best trial
   whose seeds 2-3 are not recorded yet replaces nothing and is named as pending. A trial competes
   only in its own search's budget.

`choose` returns, per budget, the model and the steps that led to it, each with the validation
numbers it read: the record the goals tables (`report.render_goals`) take their model from."""
from __future__ import annotations

from pathlib import Path

from . import searches as searches_
from .plans import finalists, frontier, records, tiny
from .sweeps import rank

# budget -> the prefix of its architectures' names in plan frontier-search's stage 1
FRONTIER_PREFIXES = {20_000: "f20", 8_000: "f8", 5_000: "f5"}
TINY_BUDGETS = {2_000: "< 2,000", 1_000: "< 1,000"}  # tiny.finalists' keys
CONFIRM = (1, *finalists.CONFIRM_SEEDS)


def _frontier_first(root: Path, budget: int) -> dict | None:
    stage1 = [r for r in frontier.search_records(root, "1") if r["name"].endswith("-oc01-tr2-ls_seed1")
              and r["model"].startswith(FRONTIER_PREFIXES[budget])]
    ranked = rank(stage1)
    if not ranked:
        return None
    seen = [(r["name"], r["val_acc"]) for r in ranked]
    return {"model": ranked[0]["model"], "by": "plan frontier-search, stage 1 (5 epochs, one recipe, seed 1, "
            "5,000-image split); its recipe from stage 2", "val": seen}


def _tiny_first(root: Path, budget: int) -> dict | None:
    if not (Path(root) / tiny.SEARCH.folder).is_dir():
        return None
    try:
        chosen = tiny.finalists(root)[TINY_BUDGETS[budget]]
    except ValueError:
        return None
    ranked = rank([r for r in tiny.stage_records(root, "2") if r["model"].startswith(tiny.BUDGETS[TINY_BUDGETS[budget]])])
    runner_up = next((r for r in ranked if r["model"] != chosen["model"]), None)  # the best run of the other model
    seen = [(chosen["proxy"], chosen["val_acc"])] + ([(runner_up["name"], runner_up["val_acc"])] if runner_up else [])
    return {"model": chosen["model"], "by": "plan tiny-search, stage 2 (8 epochs, seed 1, 5,000-image split)",
            "val": seen}


def _search_step(root: Path, budget: int) -> dict | None:
    """Step 2 for the budget's frontier search, or None when it has no recorded trial."""
    search = searches_.SEARCHES.get(f"frontier-{budget // 1000}k")
    if search is None:
        return None
    best = finalists.best_trial(Path(root), search)
    if best is None:
        return None
    trials = records(root, f"{search.folder}/trials")
    first = next((r for r in trials if finalists.is_first(r)), None)
    step = {"search": search.name, "by": f"search {search.name}: its best trial against its first, "
            f"{searches_.FRONTIER[budget][0]} (20 epochs, {best.hp.val_size:,}-image split)",
            "trial": best["model"], "params": best["params"]}
    if finalists.is_first(best) or first is None:
        return {**step, "verdict": "first", "val": [(best["name"], 100 * best["history"][-1]["val_acc"])]}
    confirm = [r for r in records(root, "searches/confirm") if r["model"] == best["model"] and r.hp.val_size]
    seeds = sorted([best, *confirm], key=lambda r: r.hp.seed)
    accs = [100 * r["history"][-1]["val_acc"] for r in seeds]
    bar = 100 * first["history"][-1]["val_acc"]
    step.update(val=[(r["name"], a) for r, a in zip(seeds, accs)], first=(first["name"], bar))
    if sorted(r.hp.seed for r in seeds) != list(CONFIRM):
        return {**step, "verdict": "pending"}
    mean = sum(accs) / len(accs)
    return {**step, "mean": mean, "verdict": "replaces" if mean >= bar - 1e-9 else "holds no lead"}


def choose(root: Path, budgets=(20_000, 8_000, 5_000, 2_000, 1_000)) -> dict[int, dict]:
    """budget -> {"model" (None when no validation choice is recorded), "steps"}: the rule above
    applied to the records under `root` (results/)."""
    out = {}
    for budget in budgets:
        first = (_frontier_first(root, budget) if budget in FRONTIER_PREFIXES else
                 _tiny_first(root, budget) if budget in TINY_BUDGETS else None)
        steps = [first] if first else []
        model = first["model"] if first else None
        step = _search_step(root, budget)
        if step:
            steps.append(step)
            if step["verdict"] == "replaces":
                model = step["trial"]
        out[budget] = {"model": model, "steps": steps}
    return out


def _val(pairs) -> str:
    return ", ".join(f"{name.rsplit('_seed', 1)[0]} seed {name.rsplit('_seed', 1)[1]}: {acc:.2f} %"
                     for name, acc in pairs)


def _trial(s: dict) -> str:
    return f"`{s['trial']}` ({s['params']:,} parameters)"


def render(chosen: dict[int, dict]) -> str:
    """The record as the frontier page shows it: per budget, each step, its validation numbers
    and the model it leaves."""
    lines = ["| budget | step | validation accuracy it read (final epoch) | outcome |", "|---|---|---|---|"]
    for budget, c in chosen.items():
        if not c["steps"]:
            lines.append(f"| < {budget:,} | none recorded | | no model chosen on validation |")
        for s in c["steps"]:
            if "verdict" not in s:
                outcome = f"chooses {s['model']}"
                seen = _val(s["val"])
            elif s["verdict"] == "first":
                outcome, seen = "its best trial is its first: hands nothing on", f"first trial {s['val'][0][1]:.2f} %"
            else:
                seen = (f"first trial {s['first'][1]:.2f} %; best trial {_trial(s)}, seeds 1-3: "
                        + ", ".join(f"{a:.2f}" for _, a in s["val"]) + " %")
                outcome = {"pending": "replaces nothing yet: its seeds 2-3 are not recorded",
                           "replaces": f"its mean {s.get('mean', 0):.2f} % ≥ {s['first'][1]:.2f} %: {s['trial']} replaces it",
                           "holds no lead": f"its mean {s.get('mean', 0):.2f} % < {s['first'][1]:.2f} %: "
                                            "replaces nothing"}[s["verdict"]]
            lines.append(f"| < {budget:,} | {s['by']} | {seen} | {outcome} |")
        lines.append(f"| < {budget:,} | **the budget's model** | | **{c['model'] or 'none'}** |")
    return "\n".join(lines)
