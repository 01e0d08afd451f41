"""What the frontier's searches hand on to plans: each search's best trial (the highest
final-epoch validation accuracy among its complete trials, fewer parameters breaking a tie),
confirmed over two more seeds on the same 10,000-image split (plan search-confirm), then trained
over five seeds on all 60,000 images as its budget's finalist (plan search-finalists, beside the
other recorded models in runs/). Only the finalists' runs read the test set. A search whose best
is still its first trial, the budget's model, hands nothing on: that model's seeds are recorded."""
from __future__ import annotations

from pathlib import Path

from ...core.record import Record
from ..runner import Planned
from ..searches import SEARCHES
from . import Plan, records

FRONTIER = [s for s in SEARCHES.values() if s.name.startswith("frontier-")]
CONFIRM_SEEDS = (2, 3)  # seed 1 is the trial itself
FINAL_SEEDS = (1, 2, 3, 4, 5)


def best_trial(root: Path, search) -> Record | None:
    """The search's best complete trial recorded under `root` (pruned trials leave no record)."""
    done = [r for r in records(root, f"{search.folder}/trials") if len(r["history"]) == r.hp.optim.epochs]
    return max(done, key=lambda r: (r["history"][-1]["val_acc"], -r["params"]), default=None)


def is_first(record: Record) -> bool:
    """Whether a trial is its search's first: the budget's model with its own recipe, whose five
    seeds on all 60,000 images are recorded already (runs/<model>)."""
    return record["name"].rsplit("_seed", 1)[0].endswith("-t0")


def confirmed(root: Path) -> list[dict]:
    """Per search whose best trial went on and has confirmation runs recorded: {'label',
    'params', 'acc', 'seeds'}, acc the mean
    final validation accuracy (%) of the trial and its recorded confirmation seeds, the points
    `search_figures.plot_search_front` draws as finalists."""
    out = []
    for search in FRONTIER:
        best = best_trial(root, search)
        if best is None or is_first(best):
            continue
        model = best["model"]
        runs = [best, *(r for r in records(root, "searches/confirm") if r["model"] == model and r.hp.val_size)]
        if len(runs) == 1:  # not confirmed yet: the trial is on the figure already
            continue
        accs = [100 * r["history"][-1]["val_acc"] for r in runs]
        out.append({"label": f"{search.name}'s best, {len(runs)} seeds", "params": best["params"],
                    "acc": sum(accs) / len(accs), "seeds": sorted(r.hp.seed for r in runs)})
    return out


def _runs(seeds: tuple[int, ...], final: bool):
    def runs(root: Path) -> list[Planned]:
        best = [b for b in (best_trial(root, s) for s in FRONTIER) if b is not None]
        if not best:
            raise ValueError(f"no frontier search has a complete trial under {root}; run "
                             "`search frontier-8k` (or another budget) first")
        return [Planned(b.hp.with_(seed=k, **({"val_size": 0} if final else {})), "" if final else "confirm",
                        read_test=final) for b in best if not is_first(b) for k in seeds]
    return runs


PLANS = [Plan("search-confirm", "each frontier search's best trial over seeds 2-3 on its validation split",
              "searches/confirm", {"seeds": _runs(CONFIRM_SEEDS, final=False)}),
         Plan("search-finalists", "each frontier search's best trial, 5 seeds on all 60,000 images (the test "
              "set read only here)", "runs", {"seeds": _runs(FINAL_SEEDS, final=True)})]
