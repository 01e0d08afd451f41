"""What the frontier's searches hand on to plans: each search's best trial (the highest
final-epoch validation accuracy among its complete trials, its members' mean in a population
search, fewer parameters breaking a tie), confirmed over two fresh seeds on the same
10,000-image split (plan search-confirm), then trained
over five seeds on all 60,000 images as its budget's finalist (plan search-finalists, beside the
other recorded models in runs/). Only the finalists' runs read the test set. A search whose best
is still its first trial, the budget's model, hands nothing on: that model's seeds are recorded.
Under a new budget (4,000, 700: issue 38) the first model has no such seeds yet: it is always a
finalist, beside the best trial when that is another."""
from __future__ import annotations

from pathlib import Path

from ...core.record import Record
from ..runner import Planned
from ..search.spaces import NEW_BUDGETS, SEARCHES
from .base import Plan, folder_records

FRONTIER = [s for s in SEARCHES.values() if s.name.startswith("frontier-")]
CONFIRM_FOLDER = "searches/confirm"  # plan search-confirm's runs
CONFIRM_SEEDS = (2, 3)  # after one-seed trials (seed 1 is the trial itself)
FINAL_SEEDS = (1, 2, 3, 4, 5)


def confirm_seeds(search) -> tuple[int, int]:
    """Two seeds the search's trials never trained: CONFIRM_SEEDS after one-seed trials, 5-6
    after populations of seeds 1-4."""
    return tuple(max(search.seeds) + k for k in (1, 2))


def _trial(record: Record) -> str:
    return record["name"].rsplit("_seed", 1)[0]


def _complete(root: Path, search) -> dict[str, list[Record]]:
    """trial -> its members' records, for every trial trained to the end (pruned trials leave no
    record; a population counts whole, or not at all)."""
    done: dict[str, list[Record]] = {}
    for r in folder_records(root, f"{search.folder}/trials"):
        if len(r["history"]) == r.hp.optim.epochs:
            done.setdefault(_trial(r), []).append(r)
    return {k: v for k, v in done.items() if len(v) == len(search.seeds)}


def first_trial(root: Path, search) -> Record | None:
    """The record of the first seed of the search's first trial, once trained to the end."""
    runs = next((v for v in _complete(root, search).values() if is_first(v[0])), None)
    return None if runs is None else min(runs, key=lambda r: r.hp.seed)


def best_trial(root: Path, search) -> Record | None:
    """The search's best complete trial recorded under `root` (pruned trials leave no record):
    the record of its first seed, chosen by the mean of all its seeds' final validation accuracy."""
    done = _complete(root, search)

    def score(runs: list[Record]):
        return sum(r["history"][-1]["val_acc"] for r in runs) / len(runs), -runs[0]["params"]
    best = max(done.values(), key=score, default=None)
    return None if best is None else min(best, key=lambda r: r.hp.seed)


def trial_runs(root: Path, search, best: Record) -> list[Record]:
    """Every seed's record of the trial `best`."""
    return [r for r in folder_records(root, f"{search.folder}/trials") if _trial(r) == _trial(best)]


def is_first(record: Record) -> bool:
    """Whether a trial is its search's first: the budget's model with its own recipe, whose five
    seeds on all 60,000 images are recorded already (runs/<model>)."""
    return is_first_run(record["name"])


def is_first_run(name: str) -> bool:
    """`is_first` by a trial run's name (`<model>-t0_seed<k>`: a retry keeps the name)."""
    return name.rsplit("_seed", 1)[0].endswith("-t0")


def confirmed(root: Path) -> list[dict]:
    """Per search whose best trial went on and has confirmation runs recorded: {'label',
    'params', 'acc', 'seeds'}, acc the mean
    final validation accuracy (%) of the trial and its recorded confirmation seeds, the points
    `search.figures.plot_search_front` draws as finalists."""
    out = []
    for search in FRONTIER:
        best = best_trial(root, search)
        if best is None or is_first(best):
            continue
        model = best["model"]
        trial = trial_runs(root, search, best)
        runs = [*trial, *(r for r in folder_records(root, CONFIRM_FOLDER) if r["model"] == model and r.hp.val_size)]
        if len(runs) == len(trial):  # not confirmed yet: the trial is on the figure already
            continue
        accs = [100 * r["history"][-1]["val_acc"] for r in runs]
        out.append({"label": f"{search.name}'s best, {len(runs)} seeds", "params": best["params"],
                    "acc": sum(accs) / len(accs), "seeds": sorted(r.hp.seed for r in runs)})
    return out


def _picks(root: Path, search, final: bool) -> list[Record]:
    """What a search hands on: its best trial unless that is its first; for the finalists under a
    new budget, its first trial too (the budget's model while no trial replaces it)."""
    best = best_trial(root, search)
    picks = [] if best is None or is_first(best) else [best]
    if final and search.budget in NEW_BUDGETS and (first := first_trial(root, search)) is not None:
        picks.insert(0, first)
    return picks


def _runs(final: bool):
    def runs(root: Path) -> list[Planned]:
        if all(best_trial(root, s) is None for s in FRONTIER):
            raise ValueError(f"no frontier search has a complete trial under {root}; run "
                             "`search frontier-8k` (or another budget) first")
        return [Planned(b.hp.with_(seed=k, **({"val_size": 0} if final else {})), "" if final else "confirm",
                        read_test=final) for s in FRONTIER for b in _picks(root, s, final)
                for k in (FINAL_SEEDS if final else confirm_seeds(s))]
    return runs


PLANS = [Plan("search-confirm", "each frontier search's best trial over two fresh seeds on its validation split",
              CONFIRM_FOLDER, {"seeds": _runs(final=False)}),
         Plan("search-finalists", "each frontier search's best trial, 5 seeds on all 60,000 images (the test "
              "set read only here)", "runs", {"seeds": _runs(final=True)})]
