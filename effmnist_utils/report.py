"""The generated parts of the README and of the pages under docs/: each block between its markers,
rendered by the module that owns its data (the front page's headlines by `headlines`, the
searches' blocks by `search_blocks`) or, for the blocks no study owns (the draw-a-digit page's
limits and runtime, the package page's table of modules), here; and the figures they show.
`PAGES` says which file holds which blocks; `write_report` regenerates them all."""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from . import headlines, search_blocks, verdicts
from .core.config import GPU_RUNS_DIR, MAX_PARAMS, REPO_ROOT, RESULTS_DIR, RUNS_DIR, TARGET_ACC, record_dir
from .core.markdown import table
from .core.models import ORIGINAL_ACC, build_model, count_params
from .core.record import load_runs, variant
from .studies import budgets, robustness
from .studies.bench import load_benches, render_bench
from .studies.figures import plot_levers, plot_params_vs_accuracy
from .studies.plans import frontier
from .studies.population_bench import (FOLDER as POPULATION_FOLDER, load_population_benches, plot_population_bench,
                                       render_population_bench)
from .studies.results_tables import check_params, render_table, summarise_runs
from .studies.robustness_figures import plot_robustness
from .studies.speedrun import render_speed_table, summarise as summarise_speed
from .use.deploy_bench import load_benchmarks, render_deploy_table
from .use.web import RUNTIME_FILES

# (parameter budget, mean %): the frontier's five goals, < 20K to < 5K, then the tiny networks' two,
# each judged over at least 3 seeds ...
FRONTIER_GOALS = [(MAX_PARAMS, 99.60), (8_000, 99.50), (5_000, 99.40), (2_000, 99.30), (1_000, 99.00)]
# ... and the raised goals beyond them (github issue "Raise the accuracy-per-parameter frontier"),
# over at least 5, with two budgets that issue 38 added
RAISED_GOALS = [(MAX_PARAMS, 99.70), (8_000, 99.62), (5_000, 99.55), (4_000, 99.52), (2_000, 99.45), (1_000, 99.05),
                (700, 99.00)]
BEAT = (4_000,)  # goals set to pass a result, not to reach it: more than the target, not at least
RAISED_SEEDS = 5
LEVERS_TITLE = "Frontier levers: mean of seeds 1-3, 10,000 validation images"  # results/levers/levers.png

# Every file report writes into (relative to the repository root) and the blocks it owns there.
PAGES = {
    "README.md": ("iterations-headline", "frontier-headline", "search-headline", "speed-headline",
                  "robustness-headline", "deploy-headline"),
    "docs/results.md": ("results-table", "results-verdict"),
    "docs/frontier.md": ("goals-table", "raised-goals-table", "budget-choice", "levers-verdict", "levers-table",
                         "search-table", "search-throughput"),
    "docs/speed.md": ("bench-table", "bench-verdict", "population-table", "speedrun-table", "speedrun-search"),
    "docs/robustness.md": ("robustness-table",),
    "docs/deploy.md": ("deploy-table", "page-limits", "page-runtime"),
    "docs/package.md": ("modules-table",),
}


def render_goals(rows: list[dict], goals=FRONTIER_GOALS, min_seeds: int = 3, chosen: dict | None = None) -> str:
    """For each frontier goal (budget, target mean), the model `chosen` for the budget on validation
    (`budgets.choose`: budget -> {"model"}; by default from results/), its test mean ± std over its
    seeds (`summarise_runs` rows, shown, never used to choose) and whether that mean, unrounded,
    over at least `min_seeds` seeds, meets the goal (reaches it; passes it under a budget in `BEAT`)."""
    if chosen is None:
        chosen = budgets.choose(RESULTS_DIR, [b for b, _ in goals])
    lines = []
    by_model = {r["model"]: r for r in rows}
    for budget, target in goals:
        model = (chosen.get(budget) or {}).get("model")
        row = by_model.get(model)
        goal = f"{'>' if budget in BEAT else '≥'} {target:.2f} %"
        if model is None or row is None:
            what = "none chosen on validation" if model is None else f"{model}: no run on all 60,000 images"
            lines.append([f"< {budget:,}", goal, what, "", "", "no"])
            continue
        if row["n"] < min_seeds:
            met = f"not judged: {row['n']} of {min_seeds} seeds"
        else:  # unrounded: 99.597 is not 99.60
            passed = row["final_mean"] > target + 1e-9 if budget in BEAT else row["final_mean"] >= target - 1e-9
            met = "yes" if passed else "no"
        lines.append([f"< {budget:,}", goal, model, f"{row['params']:,}",
                      f"{row['final_mean']:.2f} ± {row['final_std']:.2f} % ({row['n']} seeds)", met])
    return table(["budget", "goal: mean final-epoch accuracy", "model chosen on validation", "params",
                  f"test accuracy, mean ± std (≥ {min_seeds} seeds to judge)", "met?"], "lrlrrl", lines)


def params_figure(runs: list[dict]):
    """Every recorded run's final accuracy against its parameters, beside the original study's
    single runs and the frontier's goals."""
    points = [{"params": r["params"], "acc": 100 * r["final_test_acc"], "label": variant(r)}
              for r in runs]
    reference = [{"params": count_params(build_model(m)), "acc": a} for m, a in ORIGINAL_ACC.items()]
    return plot_params_vs_accuracy(points, reference, target=100 * TARGET_ACC, goals=FRONTIER_GOALS,
                                   raised_goals=RAISED_GOALS)


# --- the blocks no study owns: the draw-a-digit page's limits and runtime, the modules table --

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
    version = package["dependencies"]["onnxruntime-web"]
    return (f"The page loads onnxruntime-web {version} (pinned in `web/package.json`): of it only "
            + " and ".join(f"`{f}`" for f in RUNTIME_FILES) + ".")


PACKAGE = Path(__file__).resolve().parent
LAYERS = (("core", "`core/`"), ("studies", "`studies/`"), ("use", "`use/`"), ("", "top"))


def _opening(path: Path) -> str:
    """The first sentence of a module's opening comment (its docstring), on one line."""
    doc = ast.get_docstring(ast.parse(path.read_text()))
    if not doc:
        raise ValueError(f"{path.relative_to(PACKAGE.parent)} has no opening comment: write one that says what "
                         "the module owns (docs/package.md lists it)")
    text = " ".join(doc.split())
    return re.split(r"(?<!e\.g)(?<!i\.e)(?<=[A-Za-z0-9)`'])\. ", text, maxsplit=1)[0].rstrip(".")


def module_table(package: Path = PACKAGE) -> str:
    """docs/package.md's table of modules: every module of the package, layer by layer, with the
    first sentence of its opening comment; a new module appears by itself."""
    rows = []
    for folder, label in LAYERS:
        root = package / folder if folder else package
        paths = sorted(root.rglob("*.py") if folder else root.glob("*.py"))
        for i, path in enumerate(p for p in paths if p.name != "__init__.py" or p.parent != root):
            name = path.relative_to(root).with_suffix("").as_posix().replace("/__init__", "/")
            rows.append([label if i == 0 else "", f"`{name}`", _opening(path).replace("|", "/")])
    return table(["layer", "module", "owns"], "lll", rows)


def replace_block(text: str, marker: str, body: str, where: str) -> str:
    """`text` with the lines between `<!-- marker:start -->` and `<!-- marker:end -->` replaced."""
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    if start not in text or end not in text:
        raise ValueError(f"{where} lacks the markers {start} ... {end}")
    head, rest = text.split(start, 1)
    return f"{head}{start}\n{body}\n{end}{rest.split(end, 1)[1]}"


def tables(run_dir=RUNS_DIR, results_dir=RESULTS_DIR) -> dict[str, str]:
    """marker -> markdown for every generated block whose results exist."""
    runs = load_runs(run_dir)
    if not runs:
        raise ValueError(f"no recorded runs in {run_dir}; train some first")
    bad = check_params(runs)
    if bad:
        raise ValueError("recorded parameter counts disagree with the models: " + "; ".join(bad))
    rows = summarise_runs(runs)
    gpu_dir = Path(results_dir) / GPU_RUNS_DIR.name
    gpu_rows = summarise_runs(load_runs(gpu_dir)) if gpu_dir.is_dir() else []
    chosen = budgets.choose(Path(results_dir), [b for b, _ in RAISED_GOALS])  # validation only; every budget
    out = {"results-table": render_table(rows, gpu_rows), "goals-table": render_goals(rows, chosen=chosen),
           "raised-goals-table": render_goals(rows, RAISED_GOALS, RAISED_SEEDS, chosen),
           "budget-choice": budgets.render(chosen), "iterations-headline": headlines.iterations(rows),
           "frontier-headline": render_goals(rows, FRONTIER_GOALS, RAISED_SEEDS, chosen),
           "results-verdict": verdicts.original_gaps(rows) + " " + headlines.iterations(rows)}
    benches = load_benches(Path(results_dir) / "bench")
    if benches:
        out["bench-table"], out["bench-verdict"] = render_bench(benches), verdicts.bench(benches)
    population = load_population_benches(results_dir)
    if population:
        out["population-table"] = render_population_bench(population)
    speed_dirs = [Path(results_dir) / "speedrun" / kind for kind in ("cpu", "cuda")]
    speed = [row for d in speed_dirs if d.is_dir() for row in summarise_speed(load_runs(d))]
    if speed:
        out["speedrun-table"] = render_speed_table(speed)
    if benches or speed:
        out["speed-headline"] = headlines.speed(benches, speed)
    levers = Path(results_dir) / frontier.LEVERS_PLAN.folder
    if levers.is_dir():
        out["levers-table"] = frontier.lever_table_body(Path(results_dir))
        out["levers-verdict"] = verdicts.levers(frontier.lever_rows(Path(results_dir)))
    deployed = load_benchmarks(Path(results_dir) / "deploy")
    if deployed:
        out["deploy-table"] = render_deploy_table(deployed)
        out["deploy-headline"] = headlines.deploy(deployed)
    limits = Path(results_dir) / "deploy" / "thresholds" / "validation.json"
    if limits.is_file():
        out["page-limits"] = page_limits(json.loads(limits.read_text()))
    package = REPO_ROOT / "web" / "package.json"
    if package.is_file():
        out["page-runtime"] = page_runtime(json.loads(package.read_text()))
    searched = search_blocks.search_rows(results_dir)
    if searched:
        out["search-table"], out["search-headline"] = search_blocks.search_table(searched), search_blocks.search_headline(searched)
    throughput = search_blocks.throughput_table(results_dir)
    if throughput:
        out["search-throughput"] = throughput
    speedrun = search_blocks.speedrun_search(results_dir)
    if speedrun:
        out["speedrun-search"] = speedrun
    scores = robustness.summarise(robustness.load_scores(run_dir))
    if scores:
        out["robustness-table"] = (robustness.render_table(scores) + "\n\n" + robustness.legend() + ".\n\n"
                                   + robustness.render_goal(robustness.goal(scores)))
        out["robustness-headline"] = headlines.robustness(scores)
    out["modules-table"] = module_table()
    return out


def write_report(root=REPO_ROOT, run_dir=RUNS_DIR, results_dir=RESULTS_DIR, figures=None,
                 pages=PAGES) -> list[Path]:
    """Regenerate every block of `pages` ({file under `root`: its markers}) and the figures they
    show, under `figures` (default `results_dir`): params_vs_accuracy.png and, where their runs are
    recorded, robustness.png, levers/levers.png, speed/population_bench.png and
    searches/{front,importances,speedrun-cpu}.png. A file that lacks one of
    its markers, or a marker with no results to come from, is refused before anything is written.
    Returns the files written."""
    record_dir()  # the README and results/ are the clone's: refuse outside one
    root, figures = Path(root), Path(results_dir if figures is None else figures)
    generated = tables(run_dir, results_dir)
    texts = {}
    for name, markers in pages.items():
        if not (root / name).is_file():
            raise ValueError(f"{root / name} is missing: report writes its blocks {', '.join(markers)}; "
                             "restore it (git checkout) or drop it from PAGES")
        text = (root / name).read_text()
        for marker in markers:
            if marker not in generated:
                raise ValueError(f"{name}'s block {marker} has nothing to come from: no results for it "
                                 f"under {results_dir} (or {run_dir})")
            text = replace_block(text, marker, generated[marker], name)
        texts[root / name] = text
    for path, text in texts.items():
        path.write_text(text)
    written = [*texts, figures / "params_vs_accuracy.png"]
    params_figure(load_runs(run_dir)).savefig(written[-1], dpi=110)
    scores = robustness.summarise(robustness.load_scores(run_dir))
    if scores:
        written.append(figures / "robustness.png")
        plot_robustness(scores, highlight=(robustness.REFERENCE, robustness.robust_variant(scores))).savefig(
            written[-1], dpi=110)
    if "search-table" in generated:
        written.append(figures / "searches" / "front.png")
        written[-1].parent.mkdir(parents=True, exist_ok=True)
        search_blocks.search_figure(results_dir).savefig(written[-1], dpi=110, bbox_inches="tight")
        written.append(figures / "searches" / "importances.png")
        search_blocks.importance_figure(results_dir).savefig(written[-1], dpi=110, bbox_inches="tight")
    if "population-table" in generated:
        written.append(figures / POPULATION_FOLDER / "population_bench.png")
        written[-1].parent.mkdir(parents=True, exist_ok=True)
        plot_population_bench(load_population_benches(results_dir)).savefig(written[-1], dpi=110, bbox_inches="tight")
    if "speedrun-search" in generated:
        written.append(figures / "searches" / "speedrun-cpu.png")
        written[-1].parent.mkdir(parents=True, exist_ok=True)
        search_blocks.speedrun_figure(results_dir).savefig(written[-1], dpi=110, bbox_inches="tight")
    if "levers-table" in generated:
        written.append(figures / frontier.LEVERS_PLAN.folder / "levers.png")
        written[-1].parent.mkdir(parents=True, exist_ok=True)
        plot_levers(frontier.lever_rows(Path(results_dir)), spread=True, title=LEVERS_TITLE).savefig(
            written[-1], dpi=110, bbox_inches="tight")
    return written
