"""Generated blocks beyond the tables: the frontier searches as recorded (their table on the
frontier page, a sentence on the front page, their front figure) and the draw-a-digit page's
limits as `use.verdict` recorded them (results/deploy/thresholds/validation.json)."""
from __future__ import annotations

import json
from pathlib import Path

from .core.config import RESULTS_DIR
from .studies import search as engine
from .studies.searches import SEARCHES

FRONTIER_SEARCHES = [name for name in SEARCHES if name.startswith("frontier-")]


def search_rows(results_dir=RESULTS_DIR) -> list[dict]:
    """Per recorded frontier search (its journal under results_dir/searches/NAME): how many trials
    finished each way, its first trial (the budget's current model) and its best complete trial
    (the first of equals), with that trial's record checked against the journal. [] when none is
    recorded."""
    rows = []
    for name in FRONTIER_SEARCHES:
        search = SEARCHES[name]
        folder = Path(results_dir) / search.folder
        if not (folder / "journal.log").is_file():
            continue
        trials = engine.recorded_study(search, root=results_dir).get_trials(deepcopy=False)
        states = [t.state.name for t in trials]
        front = sorted(engine.front(search, root=results_dir), key=lambda r: r["trial"])
        if not front or front[0]["trial"] != 0:
            raise ValueError(f"search {name}'s first trial (its budget's model) has not finished in "
                             f"{folder}: run the search on (`python -m effmnist_utils search {name} --record`)")
        best = max(front, key=lambda r: r["val_acc"])  # max keeps the first of equals
        record = folder / "trials" / f"{best['run']}.json"
        if not record.is_file():
            raise ValueError(f"{record} is missing: the best trial of {name} has no record to show; restore it "
                             "(git checkout) or run the trial again")
        recorded = json.loads(record.read_text())["history"][-1]["val_acc"]
        if recorded != best["val_acc"]:
            raise ValueError(f"{record} ends at validation accuracy {recorded}, its search's journal says "
                             f"{best['val_acc']}: the two disagree; restore both from git")
        rows.append({"search": name, "budget": search.budget, "first": front[0], "best": best,
                     "ties": [r for r in front[1:] if r is not best and r["val_acc"] == front[0]["val_acc"]],
                     "complete": states.count("COMPLETE"),
                     "over": sum(bool(t.user_attrs.get("over_budget")) for t in trials),
                     "pruned": sum(s == "PRUNED" and not t.user_attrs.get("over_budget")
                                   for s, t in zip(states, trials)),
                     "other": len(trials) - states.count("COMPLETE") - states.count("PRUNED"),
                     "record": record.relative_to(Path(results_dir)).as_posix()})
    return rows


def _verdict(row: dict) -> str:
    first, best = row["first"], row["best"]
    if best is first:
        ties = ", ".join(f"trial {t['trial']} (`{t['model']}`, {t['params']:,} parameters)" for t in row["ties"])
        return "still the first trial, the budget's model" + (f"; tied by {ties}" if ties else "")
    return (f"trial {best['trial']}: {100 * (best['val_acc'] - first['val_acc']):+.2f} points over the first "
            f"trial (the budget's model, {100 * first['val_acc']:.2f} %)")


def search_table(rows: list[dict]) -> str:
    """The frontier page's table: per search, its trials and its best trial, linked to its record."""
    lines = ["| search | budget | trained to the end | stopped early | over the budget | best trial's model "
             "| params | final validation accuracy | best trial |", "|---|---:|---:|---:|---:|---|---:|---:|---|"]
    for r in rows:
        b = r["best"]
        lines.append(f"| {r['search']} | < {r['budget']:,} | {r['complete']} | {r['pruned']} | {r['over']} | "
                     f"[`{b['model']}`](../results/{r['record']}) | {b['params']:,} | {100 * b['val_acc']:.2f} % | "
                     f"{_verdict(r)} |")
    other = sum(r["other"] for r in rows)
    if other:
        lines.append(f"\n{other} more trials failed or are still marked running (a stopped worker's).")
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


def search_figure(results_dir=RESULTS_DIR):
    """Every complete trial of the recorded frontier searches (`search_figures.plot_search_front`)."""
    from .studies.search_figures import plot_search_front

    return plot_search_front([p for name in FRONTIER_SEARCHES
                              if (Path(results_dir) / SEARCHES[name].folder / "journal.log").is_file()
                              for p in engine.front(SEARCHES[name], root=results_dir)])


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def page_limits(thresholds: dict) -> str:
    """The draw-a-digit page's limits as recorded by `verdict.record`: the pen, the most ink, the
    validation digits the rules refuse, and per run its confidence threshold and where it comes from."""
    refused = thresholds["refused"]
    lines = [f"The strokes are redrawn with a pen {thresholds['pen']:g} px wide in the 28×28 field. A drawing "
             "whose centre-lines, so redrawn, carry more ink than those of any validation digit (a mean of "
             f"{thresholds['max_ink']:.3f} over the field, 1 being all of it inked) is too much ink; of the "
             f"validation digits, the rules before the model refuse {refused['small']:,} as too small and "
             f"{refused['marks']:,} as two marks side by side."]
    for name, c in thresholds["confidence"].items():
        source = c.get("from", name)
        images = f"{c['images']:,} " if "images" in c else ""
        where = (f"its held-out twin [`{source}`](../results/{source}.json) (the same network, recipe and seed "
                 f"trained without them) on the {images}validation images it never saw" if source != name else
                 f"`{name}` itself on the {images}validation images"
                 + (", which it trained on: its confidence on them is higher than on digits it never saw"
                    if c.get("seen_in_training") else ""))
        lines.append(f"`{name}` answers \"not sure\" below a top probability of {100 * c['threshold']:.1f} %: "
                     f"the {_ordinal(thresholds['percentile'])} percentile of the top probability of {where}.")
    return " ".join(lines)


def page_runtime(package: dict) -> str:
    """Which ONNX Runtime Web the page loads: the version web/package.json pins and its files (`use.web`)."""
    from .use.web import RUNTIME_FILES

    version = package["dependencies"]["onnxruntime-web"]
    return (f"The page loads onnxruntime-web {version} (pinned in `web/package.json`): of it only "
            + " and ".join(f"`{f}`" for f in RUNTIME_FILES) + ".")
