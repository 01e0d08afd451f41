"""The searches' generated blocks, read from their journals and trial records: the frontier
searches as recorded (their table on the frontier page, a sentence on the front page, every call's
throughput, their front and importance figures) and the speed page's paragraph and figure on the
speedrun search. `report` writes them into the pages."""
from __future__ import annotations

import json
from pathlib import Path

from . import verdicts
from .core.config import RESULTS_DIR
from .core.markdown import table
from .studies.plans import finalists, speedsearch
from .studies.search import results as search_results
from .studies.search.figures import plot_importances, plot_search_front, plot_speedrun_front
from .studies.search.spaces import SEARCHES
from .studies.speedrun import CHOICE_VAL, GOAL_SECONDS, describe

FRONTIER_SEARCHES = [name for name in SEARCHES if name.startswith("frontier-")]


def search_rows(results_dir=RESULTS_DIR) -> list[dict]:
    """Per recorded frontier search (its journal under results_dir/searches/NAME): how many trials
    finished each way, its first trial (the budget's current model) and its best complete trial
    (the first of equals), with that trial's record checked against the journal; both None while
    its first trial is under way (a search running as the report is made). [] when none is
    recorded."""
    rows = []
    for name in FRONTIER_SEARCHES:
        search = SEARCHES[name]
        folder = Path(results_dir) / search.folder
        if not (folder / "journal.log").is_file():
            continue
        front = sorted(search_results.front(search, root=results_dir), key=lambda r: r["trial"])
        counts = search_results.counts(search, root=results_dir)
        first = next((r for r in front if finalists.is_first_run(r["run"])), None)  # trial 0, or its retry
        if first is None:
            rows.append({"search": name, "budget": search.budget, "first": None, "best": None, "ties": [], **counts})
            continue
        front = [first, *(r for r in front if r is not first)]
        best = max(front, key=lambda r: r["val_acc"])  # max keeps the first of equals
        record = folder / "trials" / f"{best['run']}.json"
        members = [folder / "trials" / f"{best['run'].rsplit('_seed', 1)[0]}_seed{k}.json" for k in search.seeds]
        for path in members:
            if not path.is_file():
                raise ValueError(f"{path} is missing: the best trial of {name} has no record to show; restore it "
                                 "(git checkout) or run the trial again")
        accs = [json.loads(path.read_text())["history"][-1]["val_acc"] for path in members]
        recorded = sum(accs) / len(accs)  # a population trial's value is its members' mean
        if recorded != best["val_acc"]:
            raise ValueError(f"{', '.join(map(str, members))} end at validation accuracy {recorded} (their mean), "
                             f"its search's journal says {best['val_acc']}: the two disagree; restore both from git")
        rows.append({"search": name, "budget": search.budget, "first": first, "best": best,
                     "ties": [r for r in front[1:] if r is not best and r["val_acc"] == first["val_acc"]],
                     **counts, "record": record.relative_to(Path(results_dir)).as_posix()})
    return rows


def _verdict(row: dict) -> str:
    first, best = row["first"], row["best"]
    if first is None:
        return "under way: its first trial, the budget's model, has not finished"
    if best is first:
        ties = ", ".join(f"trial {t['trial']} (`{t['model']}`, {t['params']:,} parameters)" for t in row["ties"])
        return "still the first trial, the budget's model" + (f"; tied by {ties}" if ties else "")
    return (f"trial {best['trial']}: {100 * (best['val_acc'] - first['val_acc']):+.2f} points over the first "
            f"trial (the budget's model, {100 * first['val_acc']:.2f} %)")


def search_table(rows: list[dict]) -> str:
    """The frontier page's table: per search, its trials and its best trial, linked to its record."""
    lines = [table(["search", "budget", "trained to the end", "stopped early", "over the budget", "best trial's model",
                    "params", "final validation accuracy", "best trial"], "lrrrrlrrl",
                   [[r["search"], f"< {r['budget']:,}", r["complete"], r["pruned"], r["over"],
                     *([f"[`{r['best']['model']}`](../results/{r['record']})", f"{r['best']['params']:,}",
                        f"{100 * r['best']['val_acc']:.2f} %"] if r["best"] else ["", "", ""]), _verdict(r)]
                    for r in rows])]
    other = sum(r["other"] for r in rows)
    if other:
        lines.append(f"\n{other} more trial{'s' * (other > 1)} failed, {'are' if other > 1 else 'is'} still marked "
                     "running (a stopped worker's) or waiting to be tried again.")
    return "\n".join(lines)


def search_headline(rows: list[dict]) -> str:
    """The front page's sentence: the trials recorded so far and whether any beat its budget's model."""
    total = sum(r["complete"] + r["pruned"] + r["over"] + r["other"] for r in rows)
    text = (f"The {len(rows)} frontier searches have recorded {total} trials so far ({sum(r['complete'] for r in rows)} "
            f"trained to the end, {sum(r['pruned'] for r in rows)} stopped early, {sum(r['over'] for r in rows)} "
            "over the budget); ")
    beaten = [r for r in rows if r["best"] is not r["first"]]
    if not beaten:
        ties = "; ".join(f"in {r['search']}, trial {t['trial']} ties it with {t['params']:,} parameters against "
                         f"{r['first']['params']:,}" for r in rows for t in r["ties"])
        return text + "none has yet beaten its budget's model on validation accuracy" + (
            f" ({ties})." if ties else ".")
    return text + "better than its budget's model on validation accuracy: " + "; ".join(
        f"{r['search']}'s trial {r['best']['trial']} (`{r['best']['model']}`, {r['best']['params']:,} parameters, "
        f"{100 * r['best']['val_acc']:.2f} % against {100 * r['first']['val_acc']:.2f} %)" for r in beaten) + "."


def throughput_table(results_dir=RESULTS_DIR) -> str | None:
    """Every call of a search: those recorded (calls.jsonl) and those rebuilt from the journal
    and trial records (`search_results.unrecorded_calls`): the machine, the workers and their
    threads, and the trials and epochs it trained per hour; then what the calls that differ only
    in workers × threads say. None when no call is known."""
    rows = [c for name, s in SEARCHES.items() if (Path(results_dir) / s.folder / "journal.log").is_file()
            for c in sorted(search_results.calls(s, root=results_dir) + search_results.unrecorded_calls(s, root=results_dir),
                            key=lambda c: c["date"])]
    if not rows:
        return None
    lines = []
    for c in rows:
        hours, trained = max(c["seconds"], 1e-3) / 3600, c["complete"] + c["pruned"] - c["over_budget"]
        c["per_hour"] = c["epochs"] / hours
        how = (f"{c['workers']} × {c['threads_per_worker']}" if c.get("recorded", True) else
               f"{c['workers']} at once × not recorded")
        machine = c["machine"] if c.get("recorded", True) else f"{c['machine']} (call not recorded: from the journal and trial records)"
        lines.append([c["search"], c["date"][:10], machine, how, f"{c['seconds'] / 60:.0f}", c["complete"],
                      c["pruned"] - c["over_budget"], c["over_budget"], f"{trained / hours:.1f}",
                      f"{c['per_hour']:.0f}"])
    return (table(["search", "date", "machine", "workers × threads", "minutes", "trained to the end", "stopped early",
                   "over the budget", "trained trials per hour", "epochs per hour"], "llllrrrrrr", lines)
            + verdicts.workers(rows) + verdicts.together(rows))


SPEEDRUN = SEARCHES["speedrun-cpu"]


def _recipe(row: dict) -> str:
    return describe(SPEEDRUN.hparams(row["model"], row["settings"]))


def speedrun_search(results_dir=RESULTS_DIR) -> str | None:
    """The speed page's paragraph on the recorded speedrun search: its trials and what its rule
    of choice makes of them (`search_results.speedrun_candidates`), or how far the goal is."""
    if not (Path(results_dir) / SPEEDRUN.folder / "journal.log").is_file():
        return None
    rows, n = search_results.front(SPEEDRUN, root=results_dir), search_results.counts(SPEEDRUN, root=results_dir)
    if not rows:
        raise ValueError(f"the speedrun search in {Path(results_dir) / SPEEDRUN.folder} has no complete trial yet")
    limit, first = GOAL_SECONDS["cpu"], min(rows, key=lambda r: r["trial"])
    text = (f"The search `{SPEEDRUN.name}` has {n['complete']} timed trials trained to the end"
            + (f" ({n['other']} more failed or were cut off)" if n["other"] else "") + f", one seed each on "
            f"the 5,000-image validation split. Its first trial, the recipe chosen before ({_recipe(first)}), "
            f"reached {100 * first['val_acc']:.2f} % in {first['train_seconds']:.1f} s. ")
    candidates = search_results.speedrun_candidates(rows, limit)
    if candidates:
        many = len(candidates) > 1
        return text + (f"{len(candidates)} trial{'s are' if many else ' is a'} candidate{'s' * many} (validation ≥ "
                       f"{CHOICE_VAL:.2f} % in ≤ {limit:g} s); the fastest five, which step 2 of the rule trains "
                       "over five seeds: " + "; ".join(
                           f"trial {r['trial']} ({_recipe(r)}: {100 * r['val_acc']:.2f} % in {r['train_seconds']:.1f} s)"
                           for r in candidates[:5]) + ". " + _confirmed(results_dir)).rstrip()
    inside = [r for r in rows if r["train_seconds"] <= limit]
    best = max(inside, key=lambda r: r["val_acc"]) if inside else None
    reached = sorted((r for r in rows if 100 * r["val_acc"] >= CHOICE_VAL - 1e-9), key=lambda r: r["train_seconds"])
    return text + f"No trial is a candidate (validation ≥ {CHOICE_VAL:.2f} % in ≤ {limit:g} s), so the rule " \
        "chooses nothing. How far the goal is: " + (
            f"the best validation accuracy inside {limit:g} s is {100 * best['val_acc']:.2f} % (trial {best['trial']}, "
            f"{best['train_seconds']:.1f} s, {_recipe(best)})" if best else f"no trial trained inside {limit:g} s") + (
            f"; the fastest trial to reach {CHOICE_VAL:.2f} % took {reached[0]['train_seconds']:.1f} s (trial "
            f"{reached[0]['trial']})." if reached else f"; no trial reached {CHOICE_VAL:.2f} % at any time.")


def _confirmed(results_dir) -> str:
    """Step 2's outcome over the recorded confirmation runs (plan speedrun-cpu-confirm), or ""."""
    rows = speedsearch.confirmed(Path(results_dir))
    if not rows:
        return ""
    pick = speedsearch.choose(rows)
    seen = "; ".join(f"{r['variant']} averages {r['val_mean']:.2f} % (lowest seed {min(r['val']):.2f} %) in "
                     f"{r['train_seconds']:.1f} s" for r in rows)
    return (f"Over seeds 1–5 on the split, {seen}. " + (
        f"The rule chooses {pick['variant']}." if pick else
        f"No candidate keeps a mean of {speedsearch.CHOICE_VAL:.2f} % with every seed ≥ {speedsearch.SEED_FLOOR:.2f} % "
        f"within {speedsearch.GOAL_SECONDS['cpu']:g} s, so the rule chooses nothing: picked as the best of many "
        "single-seed trials, a candidate's one seed overstates its mean (the winner's curse)."))


def speedrun_figure(results_dir=RESULTS_DIR):
    return plot_speedrun_front(search_results.front(SPEEDRUN, root=results_dir), GOAL_SECONDS["cpu"], CHOICE_VAL,
                               speedsearch.confirmed(Path(results_dir)))


def importance_figure(results_dir=RESULTS_DIR):
    """Which settings mattered, per recorded frontier search with two complete trials or more."""
    return plot_importances({name: search_results.importances(SEARCHES[name], root=results_dir) for name in FRONTIER_SEARCHES
                             if (Path(results_dir) / SEARCHES[name].folder / "journal.log").is_file()
                             and search_results.counts(SEARCHES[name], root=results_dir)["complete"] >= 2})


def search_figure(results_dir=RESULTS_DIR):
    """Every complete trial of the recorded frontier searches (`search_figures.plot_search_front`)."""
    return plot_search_front([p for name in FRONTIER_SEARCHES
                              if (Path(results_dir) / SEARCHES[name].folder / "journal.log").is_file()
                              for p in search_results.front(SEARCHES[name], root=results_dir)],
                             finalists.confirmed(Path(results_dir)))
