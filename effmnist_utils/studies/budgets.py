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
3. (Written for issue 38 before the searches below had finished a trial.) The budget's
   population search (`frontier-20k-pop` ... `frontier-1k-pop`: every trial four seeds, judged
   by their mean) then does the same around the model steps 1-2 left: its best trial by the mean of
   seeds 1-4 replaces that model when its mean over seeds 1-6 (seeds 5-6 fresh, plan
   `search-confirm`) is at least its first trial's mean over seeds 1-4.
4. (Written for issue 38 before any run under these budgets.) Below 4,000 and 700 parameters
   no plan chose a model before: step 1 is the model each population search starts from, the
   next budget's model (f5s, t1e) with its widths narrowed until it fits (`spaces.narrowed`, by
   parameter count alone). Step 3 follows as for the other budgets.

`choose` returns, per budget, the model and the steps that led to it, each with the validation
numbers it read: the record the goals tables (`report.render_goals`) take their model from."""
from __future__ import annotations

from pathlib import Path

from ..core.markdown import table
from ..core.models import layers_name
from .search import spaces as searches_
from .plans import finalists, frontier, tiny
from .plans.base import folder_records
from .lever_sweeps import rank

# budget -> the prefix of its architectures' names in plan frontier-search's stage 1
FRONTIER_PREFIXES = {20_000: "f20", 8_000: "f8", 5_000: "f5"}
TINY_BUDGETS = {2_000: "< 2,000", 1_000: "< 1,000"}  # tiny.finalists' keys
# every folder of records the rule reads: the two plans', and the searches' (trials and confirmations)
READS = (frontier.SEARCH.folder, tiny.SEARCH.folder, finalists.CONFIRM_FOLDER.split("/")[0])


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


def _new_first(budget: int) -> dict:
    """Step 4: a new budget's first model, the population search's own first trial."""
    search = searches_.get(f"frontier-{searches_.budget_tag(budget)}-pop")
    model = layers_name(*searches_.narrowed(search.around, budget))
    return {"model": model, "by": f"new budget: {search.around} narrowed to fit under {budget:,} parameters "
            "(by parameter count alone, before any run)", "val": []}


def _budget_searches(budget: int) -> list:
    """The budget's frontier search, then its population search, as far as they are defined."""
    names = (f"frontier-{searches_.budget_tag(budget)}", f"frontier-{searches_.budget_tag(budget)}-pop")
    return [searches_.SEARCHES[n] for n in names if n in searches_.SEARCHES]


def _mean(runs) -> float:
    """The runs' mean final validation accuracy in %, computed as a search's journal holds a
    population trial's value (the mean of the fractions), so that both print alike."""
    return 100 * (sum(r["history"][-1]["val_acc"] for r in runs) / len(runs))


def _search_step(root: Path, search) -> dict | None:
    """Steps 2-3 for one search, or None when it has no recorded trial."""
    best = finalists.best_trial(Path(root), search)
    if best is None:
        return None
    trials = folder_records(root, f"{search.folder}/trials")
    first = [r for r in trials if finalists.is_first(r)]
    seeds = f"seed {search.seeds[0]}" if len(search.seeds) == 1 else f"seeds {search.seeds[0]}-{search.seeds[-1]}"
    step = {"search": search.name, "by": f"search {search.name}: its best trial against its first, "
            f"{search.around} (20 epochs, {best.hp.val_size:,}-image split, {seeds})",
            "trial": best["model"], "params": best["params"]}
    runs = finalists.trial_runs(Path(root), search, best)
    if finalists.is_first(best) or not first:
        return {**step, "verdict": "first", "mean": _mean(runs),
                "val": [(r["name"], 100 * r["history"][-1]["val_acc"]) for r in runs]}
    wanted = sorted((*search.seeds, *finalists.confirm_seeds(search)))
    confirm = [r for r in folder_records(root, finalists.CONFIRM_FOLDER) if r["model"] == best["model"] and r.hp.val_size
               and r.hp.seed in wanted]
    seen = sorted([*runs, *confirm], key=lambda r: r.hp.seed)
    step.update(val=[(r["name"], 100 * r["history"][-1]["val_acc"]) for r in seen], first=(first[0]["name"], _mean(first)),
                seeds=wanted)
    if [r.hp.seed for r in seen] != wanted:
        return {**step, "verdict": "pending"}
    mean = _mean(seen)
    return {**step, "mean": mean, "verdict": "replaces" if mean >= _mean(first) - 1e-9 else "holds no lead"}


def choose(root: Path, budgets=(20_000, 8_000, 5_000, 4_000, 2_000, 1_000, 700)) -> dict[int, dict]:
    """budget -> {"model" (None when no validation choice is recorded), "steps"}: the rule above
    applied to the records under `root` (results/)."""
    out = {}
    for budget in budgets:
        first = (_frontier_first(root, budget) if budget in FRONTIER_PREFIXES else
                 _tiny_first(root, budget) if budget in TINY_BUDGETS else
                 _new_first(budget) if budget in searches_.NEW_BUDGETS else None)
        steps = [first] if first else []
        model = first["model"] if first else None
        for search in _budget_searches(budget):
            step = _search_step(root, search)
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
    lines = []
    for budget, c in chosen.items():
        if not c["steps"]:
            lines.append([f"< {budget:,}", "none recorded", "", "no model chosen on validation"])
        for s in c["steps"]:
            if "verdict" not in s:
                outcome = f"chooses {s['model']}"
                seen = _val(s["val"]) or "none: chosen before any run"
            elif s["verdict"] == "first":
                outcome = "its best trial is its first: hands nothing on"
                seen = f"first trial {s['mean']:.2f} %" + (
                    f" (mean of {len(s['val'])} seeds)" if len(s["val"]) > 1 else "")
            else:
                wanted = s["seeds"]
                seen = (f"first trial {s['first'][1]:.2f} %; best trial {_trial(s)}, seeds {wanted[0]}-{wanted[-1]}: "
                        + ", ".join(f"{a:.2f}" for _, a in s["val"]) + " %")
                outcome = {"pending": f"replaces nothing yet: its seeds {wanted[-2]}-{wanted[-1]} are not recorded",
                           "replaces": f"its mean {s.get('mean', 0):.2f} % ≥ {s['first'][1]:.2f} %: {s['trial']} replaces it",
                           "holds no lead": f"its mean {s.get('mean', 0):.2f} % < {s['first'][1]:.2f} %: "
                                            "replaces nothing"}[s["verdict"]]
            lines.append([f"< {budget:,}", s["by"], seen, outcome])
        lines.append([f"< {budget:,}", "**the budget's model**", "", f"**{c['model'] or 'none'}**"])
    return table(["budget", "step", "validation accuracy it read (final epoch)", "outcome"], "llll", lines)
