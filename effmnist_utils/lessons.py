"""The studies' recorded results as notebooks 07 (the frontier) and 11 (the search) read them.
`effmnist_utils` exports these names on first use (`E.frontier_runs()`), so that a notebook
imports nothing but the package while `import effmnist_utils` still loads the core only."""
from __future__ import annotations

from pathlib import Path

from .core.config import RESULTS_DIR, RUNS_DIR
from .core.markdown import Markdown, table
from .core.record import load_runs
from .core.models import ORIGINAL_ACC, build_model, count_params
from .core.place import RunPlace
from .report import FRONTIER_GOALS, render_goals
from .studies import figures, lever_sweeps, results_tables
from .studies.search import figures as search_figures, results as search_results, spaces as searches
from .studies.plans import finalists, frontier
from .studies.search.engine import run_search

GOAL_MODELS = frontier.GOAL_MODELS  # the model that holds each budget: f20b, f8a, f5s, t2a, t1b
# The recipe's steps of the proxy search (frontier.LEVER_STEPS), as a lesson names them
RECIPE_STEPS = [("step → one-cycle, peak 0.01 (5 epochs)", "f8a-original", "f8a-oc01"),
                ("peak 0.01 → 0.02 (5 epochs)", "f8a-oc01", "f8a-oc02"),
                ("+ shifts up to 2 px (5 epochs)", "f8a-oc01", "f8a-oc01-tr2"),
                ("+ shifts up to 2 px (20 epochs)", "f8a-oc01-e20", "f8a-oc01-tr2-e20")]
LIVE_SEARCH = "lesson-2k"


def frontier_runs(run_dir=RUNS_DIR) -> list[dict]:
    """Every recorded run of a model trained with its own recipe (no variant's tag)."""
    return [r for r in load_runs(run_dir) if not r["tag"]]


def plot_frontier(runs: list[dict], models=None):
    """Final test accuracy against parameters (log axis), one dot per seed of each model (of
    `models`, default all), with the original study's single runs and the budgets' goals."""
    points = [{"params": r["params"], "acc": 100 * r["final_test_acc"], "label": r["model"]}
              for r in runs if models is None or r["model"] in models]
    reference = [{"params": count_params(build_model(m)), "acc": a} for m, a in ORIGINAL_ACC.items()]
    return figures.plot_params_vs_accuracy(points, reference, goals=FRONTIER_GOALS, log_x=True)


def budgets_table(runs: list[dict], models=None) -> Markdown:
    """One row per model (of `models`, default all), its mean ± std over its seeds."""
    chosen = [r for r in runs if models is None or r["model"] in models]
    return Markdown(results_tables.render_compact(results_tables.summarise_runs(chosen)))


def goals_table(runs: list[dict]) -> Markdown:
    """Each budget's goal, the best model under it over at least three seeds, and whether it is met."""
    return Markdown(render_goals(results_tables.summarise_runs(runs)))


def crossed_seeds(results_dir=RESULTS_DIR, run_dir=RUNS_DIR) -> dict[str, list[float]]:
    """Network or recipe? Final test accuracy (%) per seed of iter6 and f8a, each with the
    original recipe and with one-cycle (plan `crossed` and the models' own runs)."""
    runs = load_runs(Path(results_dir) / "crossed") + frontier_runs(run_dir)
    groups = {("iter6", ""): "iteration 6, original recipe", ("iter6", "frontier-recipe"): "iteration 6, one-cycle",
              ("f8a", "original-recipe"): "f8a, original recipe", ("f8a", ""): "f8a, one-cycle"}
    out = {label: [100 * r["final_test_acc"] for r in runs if (r["model"], r["tag"]) == key]
           for key, label in groups.items()}
    missing = [label for label, accs in out.items() if not accs]
    if missing:
        raise ValueError(f"no recorded runs of {', '.join(missing)}: run `python -m effmnist_utils plan crossed`")
    return out


def recipe_steps(results_dir=RESULTS_DIR) -> list[dict]:
    """What each step of the recipe did on f8a (one seed, 5,000 validation images; `RECIPE_STEPS`)."""
    return lever_sweeps.lever_steps(frontier.search_records(Path(results_dir)), RECIPE_STEPS)


def plot_recipe_steps(rows: list[dict]):
    return figures.plot_levers(rows, noise=0.1, title="What each change to the recipe did (seed 1)")


def live_search():
    """Notebook 11's search (`searches.lesson_2k`), cut to seconds under the regression tests."""
    return searches.notebook_search(LIVE_SEARCH)


def run_live_search(search, folder) -> list[dict]:
    """Run `search` into `folder` (never results/), printing one line per finished trial, the
    best, and the minutes it took (not the engine's storage and throughput lines); its trials' rows."""
    shown = ("trial ", "best so far")

    def log(line: str) -> None:
        if line.startswith(shown) and " started: " not in line:
            print(line)

    call = run_search(search, place=RunPlace(out_dir=folder, progress=False, log=log))
    rows = search_results.trials(search, root=folder)
    print(f"your search: {len(rows)} trials in {call['seconds'] / 60:.1f} min")
    return rows


def plot_live_search(rows: list[dict], search):
    return search_figures.plot_live_search(rows, search.budget)


# notebook 11 tells the five one-seed frontier searches; the population searches (a trial = the
# mean of four seeds) are on the frontier page
ONE_SEED = [s for s in finalists.FRONTIER if len(s.seeds) == 1]


def frontier_searches() -> list:
    return ONE_SEED


def search_counts(results_dir=RESULTS_DIR) -> Markdown:
    """How the recorded frontier searches' trials ended, one row per search."""
    counts = [(s, search_results.counts(s, root=results_dir)) for s in ONE_SEED]
    return Markdown(table(["search", "budget (parameters)", "trained to the end", "stopped early", "over the budget"],
                          "lrrrr", [[s.name, f"< {s.budget:,}", n["complete"], n["pruned"], n["over"]]
                                    for s, n in counts]))


def search_front(results_dir=RESULTS_DIR) -> list[dict]:
    return [row for s in ONE_SEED for row in search_results.front(s, root=results_dir)]


def plot_search_front(rows: list[dict], results_dir=RESULTS_DIR):
    return search_figures.plot_search_front(rows, finalists.confirmed(results_dir))


def winners_curse(results_dir=RESULTS_DIR, run_dir=RUNS_DIR) -> dict:
    """The search that found a new best trial (not its first): that trial's one seed on the
    validation split, the same network and recipe over seeds 1-3 there, and the test accuracy
    over five seeds on all 60,000 images of it and of the models it was compared with."""
    for search in ONE_SEED:
        best = finalists.best_trial(Path(results_dir), search)
        if best is not None and not finalists.is_first(best):
            break
    else:
        raise ValueError("no search found a best trial other than its first: nothing went on to fresh seeds")
    confirm = [r for r in load_runs(Path(results_dir) / finalists.CONFIRM_FOLDER) if r["model"] == best["model"]]
    first = min((r for r in search_front(results_dir) if r["search"] == search.name), key=lambda r: r["trial"])
    base = searches.FRONTIER[search.budget][0]  # the budget's model: the search's first trial
    runs = frontier_runs(run_dir)
    test = {m: [100 * r["final_test_acc"] for r in runs if r["model"] == m] for m in (base, best["model"], "f8a")}
    return {"search": search.name, "model": best["model"], "params": best["params"],
            "trial": 100 * best["history"][-1]["val_acc"], "first": 100 * first["val_acc"],
            "base": base, "split_seeds": [100 * best["history"][-1]["val_acc"]]
            + [100 * r["history"][-1]["val_acc"] for r in sorted(confirm, key=lambda r: r["seed"])],
            "test": test}
