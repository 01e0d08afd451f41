"""A recorded search read back: its study, its complete trials (the front), which settings
mattered (Optuna's importances), each call's throughput (calls.jsonl, written here too by
`note_call`), a trial in one line, and the speedrun search's rule of choice applied to its
trials (`speedrun_candidates`)."""
from __future__ import annotations

import json
import time
import warnings
from datetime import datetime
from pathlib import Path

import torch

from ...core.config import record_dir
from ...core.runtime import cpu_model, pick_device
from .storage import JOURNAL, load_study, open_storage, optuna_module
from .spaces import Search
from ..speedrun import CHOICE_VAL, GOAL_SECONDS

CALLS = "calls.jsonl"  # one line per call of `engine.run_search`: its throughput and machine


def recorded_study(search: Search, storage: str | None = None, root=None):
    """A search's study as recorded: its journal in results/searches/NAME (or under `root`), or
    the database `storage`."""
    folder = Path(root or record_dir()) / search.folder
    if storage is None and not (folder / JOURNAL).is_file():
        raise ValueError(f"no search {search.name!r} is recorded at {folder / JOURNAL}; run "
                         f"`python -m effmnist_utils search {search.name} --record` first")
    return load_study(search, open_storage(storage, folder))


def front(search: Search, storage: str | None = None, root=None) -> list[dict]:
    """One row per complete trial: its model, parameters, final validation accuracy, training
    seconds, settings and the space's parameters (for `figures.plot_search_front`)."""
    study = recorded_study(search, storage, root)
    return [{"search": search.name, "budget": search.budget, "trial": t.number, "run": t.user_attrs["run"],
             "model": t.user_attrs["model"], "params": t.user_attrs["params"], "val_acc": t.value,
             "train_seconds": t.user_attrs.get("train_seconds"), "settings": t.user_attrs["settings"],
             "space": dict(t.params)} for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]


def counts(search: Search, root=None) -> dict[str, int]:
    """How a recorded search's trials ended: trained to the end, stopped early after training
    some epochs, over the budget (never trained), and failed or still marked running."""
    trials = recorded_study(search, root=root).get_trials(deepcopy=False)
    over = sum(bool(t.user_attrs.get("over_budget")) for t in trials)
    states = [t.state.name for t in trials]
    return {"complete": states.count("COMPLETE"), "pruned": states.count("PRUNED") - over, "over": over,
            "other": len(trials) - states.count("COMPLETE") - states.count("PRUNED")}


def importances(search: Search, storage: str | None = None, root=None) -> dict[str, float]:
    """How much each of the space's parameters (those every complete trial has) mattered to
    validation accuracy: Optuna's PED-ANOVA importances (no scikit-learn needed), summing to 1."""
    optuna = optuna_module()
    study = recorded_study(search, storage, root)
    if sum(t.state.name == "COMPLETE" for t in study.get_trials(deepcopy=False)) < 2:
        raise ValueError(f"search {search.name!r} has fewer than two complete trials: nothing to compare")
    with warnings.catch_warnings():  # "fewer than 2 trials in a regime": few trials, as the figure's readers are told
        warnings.filterwarnings("ignore", message="Some regimes for parameter", category=UserWarning)
        return dict(optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.PedAnovaImportanceEvaluator()))


def calls(search: Search, root=None) -> list[dict]:
    """Each recorded call of the search: its machine, workers, minutes, trials and epochs trained."""
    path = Path(root or record_dir()) / search.folder / CALLS
    return [{"search": search.name, **json.loads(line)} for line in path.read_text().splitlines()
            if line.strip()] if path.is_file() else []


def speedrun_candidates(rows: list[dict], limit: float = GOAL_SECONDS["cpu"]) -> list[dict]:
    """Step 1 of the speedrun search's rule (`spaces.speedrun_cpu`): the complete trials with
    validation accuracy >= CHOICE_VAL and training <= `limit` seconds, fastest first; step 2
    trains the first five of them over five seeds."""
    return sorted((r for r in rows if 100 * r["val_acc"] >= CHOICE_VAL - 1e-9 and r["train_seconds"] <= limit),
                  key=lambda r: r["train_seconds"])


def trials(search: Search, root=None) -> list[dict]:
    """Every finished trial in order: {"trial", "state": "complete" / "stopped early" / "over
    the budget" / "failed", "model", "params", "val_acc": the last validation accuracy it
    reached (None if it never trained), "epochs": how many it trained, "space": the space's
    parameters it drew}."""
    rows = []
    for t in recorded_study(search, root=root).get_trials(deepcopy=False):
        if not t.state.is_finished():
            continue
        a, last = t.user_attrs, max(t.intermediate_values, default=None)
        state = ("complete" if t.state.name == "COMPLETE" else "over the budget" if a.get("over_budget")
                 else "stopped early" if t.state.name == "PRUNED" else "failed")
        value = t.value if state == "complete" else t.intermediate_values[last] if last is not None else None
        rows.append({"trial": t.number, "state": state, "model": a.get("model"), "params": a.get("params"),
                     "val_acc": value, "epochs": last or 0, "space": dict(t.params)})
    return rows


def _machine(record: dict) -> str:
    """The machine a trial's record names: its CPU model for a CPU run (where recorded), else its device."""
    return record["cpu"] if record["device"].startswith("cpu") and record.get("cpu") else record["device"]


GAP_S = 1800  # trials outside every recorded call, further apart than this, belong to separate calls


def unrecorded_calls(search: Search, root=None) -> list[dict]:
    """The calls of a search that left no line in calls.jsonl (those before it existed), rebuilt
    from the journal: its trials outside every recorded call's span (a call's line is written as
    it ends), split where GAP_S passes with none; how each ended, the epochs each reported, the
    most running at once, and the machine their complete trials' records name. Threads unknown."""
    folder = Path(root or record_dir()) / search.folder
    spans = []
    for c in calls(search, root):
        end = datetime.strptime(c["date"], "%Y-%m-%d %H:%M").timestamp() + 60
        spans.append((end - c["seconds"] - 120, end + 60))
    trials = sorted((t for t in recorded_study(search, root=root).get_trials(deepcopy=False) if t.datetime_complete
                     and not any(a <= t.datetime_complete.timestamp() <= b for a, b in spans)),
                    key=lambda t: t.datetime_start)
    groups: list[list] = []
    for t in trials:
        if groups and t.datetime_start.timestamp() - max(g.datetime_complete.timestamp() for g in groups[-1]) < GAP_S:
            groups[-1].append(t)
        else:
            groups.append([t])
    out = []
    for g in groups:
        done = [t for t in g if t.state.name == "COMPLETE"]
        machines = sorted({_machine(json.loads((folder / "trials" / f"{t.user_attrs['run']}.json").read_text()))
                           for t in done})
        start, end = min(t.datetime_start for t in g), max(t.datetime_complete for t in g)
        over = sum(bool(t.user_attrs.get("over_budget")) for t in g)
        out.append({"search": search.name, "date": start.strftime("%Y-%m-%d %H:%M"), "recorded": False,
                    "machine": "; ".join(machines) or "not recorded", "workers": max(
                        sum(u.datetime_start <= t.datetime_start < u.datetime_complete for u in g) for t in g),
                    "threads_per_worker": None, "complete": len(done),
                    "pruned": sum(t.state.name == "PRUNED" for t in g),
                    "over_budget": over, "epochs": sum(len(t.intermediate_values) for t in g),
                    "seconds": (end - start).total_seconds()})
    return out


def describe(trial, budget: int) -> str:
    a, state = trial.user_attrs, trial.state.name
    what = f"trial {trial.number}: {a.get('model', '?')}, {a.get('params', 0):,} parameters"
    if state == "COMPLETE":
        seeds = a.get("seeds", [])
        mean = f", the mean of {len(seeds)} seeds" if len(seeds) > 1 else ""
        return f"{what}: validation accuracy {trial.value:.2%}{mean} ({a['train_seconds']:.1f} s of training)"
    if state == "PRUNED" and a.get("over_budget"):
        return f"{what}: not under the budget of {budget:,}, pruned before training"
    if state == "PRUNED":
        step = max(trial.intermediate_values)
        return f"{what}: pruned after epoch {step} (validation accuracy {trial.intermediate_values[step]:.2%})"
    return f"{what}: FAILED ({a.get('error', 'see the messages above')})"


def note_call(folder: Path, call: dict, device, threads: int) -> None:
    """Append one call's throughput, with the machine it ran on and its threads per worker, to
    the search's calls.jsonl."""
    machine = cpu_model() if pick_device(device).type == "cpu" else torch.cuda.get_device_name()
    with open(folder / CALLS, "a") as f:
        f.write(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine,
                            "threads_per_worker": threads, **call}) + "\n")


def summarise_call(search: Search, study, ids: set[str], start: float, workers: int, log=print) -> dict:
    """What the workers `ids` finished since `start` (time.time()), per hour of this call, and
    the search's best so far."""
    trials, seconds = study.get_trials(deepcopy=False), time.time() - start
    mine = [t for t in trials if t.user_attrs.get("worker") in ids and t.state.is_finished()
            and t.datetime_start.timestamp() >= start]
    count = {s: sum(t.state.name == s.upper() for t in mine) for s in ("complete", "pruned", "fail")}
    over = sum(bool(t.user_attrs.get("over_budget")) for t in mine)
    epochs = sum(max(t.intermediate_values, default=0) for t in mine)
    hours = max(seconds, 1e-9) / 3600
    log(f"this call: {count['complete']} complete and {count['pruned']} pruned trials ({over} of them over "
        f"the budget, before training), {count['fail']} failed, in {seconds / 60:.1f} min with {workers} "
        f"worker{'s' * (workers > 1)}: {count['complete'] / hours:.1f} complete and "
        f"{count['pruned'] / hours:.1f} pruned trials per hour")
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    if complete:
        best = max(complete, key=lambda t: t.value)
        log(f"best so far: {describe(best, search.budget)}")
    return {**count, "over_budget": over, "epochs": epochs, "seconds": round(seconds, 3), "workers": workers,
            "complete_per_hour": count["complete"] / hours, "pruned_per_hour": count["pruned"] / hours}
