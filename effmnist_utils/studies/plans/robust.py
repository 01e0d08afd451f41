"""Robustness as plans: every recorded model scored on the corruption suite, the search for a
robust < 8K recipe on the validation split (scored on the suite's validation twin, chosen on its
`CHOSEN` families only), and the chosen recipe's full runs. Notebook 10 shows their tables."""
from __future__ import annotations

import json
from pathlib import Path

from ...core.config import SEEDS, HParams
from ...core.markdown import table
from ...core.record import Record
from ..robustness import GOAL_ERROR_SHARE, ROBUST_TAG, is_current, robustness_path
from ..runner import Planned
from ..lever_sweeps import layer_string, proxy
from .base import Plan, folder_records
from .frontier import OC

EPOCHS = 20  # full length: what a regulariser does over 20 epochs is what counts
MODEL = "f8a"  # the < 8K frontier model

# Written down before any run was scored. Stronger geometry than the original's +-15 degrees and
# 1.27x zoom, elastic distortion, and pixel-level changes (stroke thickness, blur, lifted
# background, noise, random erasing), alone and together, at full and half strength.
GEO = {"degrees": 25, "translate": 3, "scale": 0.3, "shear": 0.4}
ELASTIC = {"elastic": 34}
PIXELS = {"thickness": 0.3, "blur": 1.5, "lift": 0.6, "noise": 0.4, "erase": 0.3}
HALF = {"degrees": 20, "translate": 2, "scale": 0.15, "shear": 0.2, "elastic": 17, "thickness": 0.15,
        "blur": 0.75, "lift": 0.3, "noise": 0.2, "erase": 0.15}
BASE_TAG = "oc01-e20"  # the frontier recipe at 20 epochs, recorded by plan frontier-search
CANDIDATES = {  # in the order they train (the last is the first to drop when time is short)
    BASE_TAG: {},
    "rob-geo": GEO,
    "rob-half": HALF,
    "rob-pix": PIXELS,
    "rob-all": {**GEO, **ELASTIC, **PIXELS},
    "rob-geo-el": {**GEO, **ELASTIC},
}
# Stage 2, written after stage 1's validation numbers: the pixel levers bought nearly all the
# robustness (rob-pix) while geometry and elastic distortion bought none on the twin, but every
# strong recipe cost 0.4 points or more of clean validation accuracy. So: each pixel lever alone,
# to see what it costs and buys, and the pixel levers at half strength.
STAGE2 = {
    "rob-noise": {"noise": 0.4},
    "rob-lift": {"lift": 0.6},
    "rob-erase": {"erase": 0.3},
    "rob-blur-thick": {"blur": 1.5, "thickness": 0.3},
    "rob-pix-half": {k: v / 2 for k, v in PIXELS.items()},
}
# Stage 3, written after the first runs of stage 2 and the BatchNorm diagnostic of notebook 10
# (statistics re-estimated on brightened digits restore iter6 from 16 % to 99 %): a model that
# standardises every image before its first conv (f8i, same parameters), alone and with the pixel
# levers at half strength, and the two pixel levers that cost least clean accuracy, together.
STAGE3 = {
    "rob-std": {"model": "f8i"},
    "rob-std-pix-half": {"model": "f8i", **{k: v / 2 for k, v in PIXELS.items()}},
    "rob-lift-noise": {"lift": 0.6, "noise": 0.4},
}
SEARCH_FOLDER = "search"  # beside the frontier's proxy runs (its f8a base run is shared)


def _proxies(candidates: dict) -> list[Planned]:
    """A candidate's levers may name another model (`model`); the default is MODEL."""
    return [Planned(proxy({**OC, "model": MODEL, **levers, "tag": tag}, EPOCHS).hp, tag, robustness=True)
            for tag, levers in candidates.items()]


def search(root: Path = None) -> list[Planned]:
    """f8a with each candidate recipe, 20 epochs, 5,000 images held out, seed 1, scored on the twin."""
    return _proxies(CANDIDATES)


def search2(root: Path = None) -> list[Planned]:
    return _proxies(STAGE2)


def search3(root: Path = None) -> list[Planned]:
    return _proxies(STAGE3)


ALL = {**CANDIDATES, **STAGE2, **STAGE3}
STAGE_OF = {**{t: 1 for t in CANDIDATES}, **{t: 2 for t in STAGE2}, **{t: 3 for t in STAGE3}}


def scored(root: Path) -> list[dict]:
    """(run record, robustness record) rows of the search, in CANDIDATES' order; all must exist."""
    runs, by_name = search() + search2() + search3(), {r["name"]: r for r in folder_records(root, SEARCH_FOLDER)}
    folder = Path(root) / SEARCH_FOLDER
    missing = [r.name for r in runs if r.name not in by_name or not is_current(folder / f"{r.name}.json")]
    if missing:
        raise ValueError(f"the robust search is not finished ({', '.join(missing)} missing or "
                         "unscored); run `plan robust-search` first")
    rows = []
    for run in runs:
        rec = by_name[run.name]
        score = json.loads(robustness_path(folder / f"{run.name}.json").read_text())
        rows.append({"tag": run.tag, "name": run.name, "params": rec["params"],
                     "levers": dict(ALL[run.tag]), "stage": STAGE_OF[run.tag],
                     "val_acc": 100 * rec["history"][-1]["val_acc"], "twin_clean": 100 * score["clean"],
                     "chosen": 100 * score["mean_chosen"], "held_out": 100 * score["mean_held_out"],
                     "mean": 100 * score["mean"]})
    return rows


def choose(rows: list[dict]) -> dict:
    """The rule, on validation numbers only, and the goal's own terms: among the candidates whose
    error on the CHOSEN families of the twin is at most half the base recipe's, the best clean
    validation accuracy (ties: the better chosen-family mean); the base recipe when none is.
    The held-out families play no part. (Stage 1 was ranked by the chosen families among the
    recipes within 0.10 points of the base's clean accuracy; none of the robust ones was, so the rule
    was rewritten as the goal reads before stage 2 ran.)"""
    floor = chosen_floor(rows)
    robust = [r for r in rows if r["chosen"] >= floor - 1e-9]
    return max(robust, key=lambda r: (r["val_acc"], r["chosen"])) if robust else base_row(rows)


def base_row(rows: list[dict]) -> dict:
    """The base recipe's row (BASE_TAG) of a search."""
    return next(r for r in rows if r["tag"] == BASE_TAG)


def chosen_floor(rows: list[dict]) -> float:
    """The least chosen-family mean (%) that the rule accepts: the base recipe's error on the
    chosen families, cut to GOAL_ERROR_SHARE of it."""
    return 100 - GOAL_ERROR_SHARE * (100 - base_row(rows)["chosen"])


def chosen_levers(root: Path) -> dict:
    return choose(scored(root))["levers"]


def finalists(root: Path) -> list[Planned]:
    """The chosen recipe (the frontier recipe and its levers, on its model) on all 60,000
    images, seeds 1-3, tagged `robust`, scored on the test suite."""
    levers = dict(chosen_levers(root))
    model = levers.pop("model", MODEL)
    return [Planned(HParams.for_model(model, seed=s, **OC, **levers), ROBUST_TAG, robustness=True)
            for s in SEEDS]


def ranking(root: Path) -> str:
    rows = scored(root)
    pick = choose(rows)
    lines = []
    for r in rows:
        levers = ", ".join(f"{k}={v}" for k, v in r["levers"].items()) or "none"
        levers = levers.replace("model=", "model ")
        mark = " **(chosen)**" if r is pick else ""
        lines.append([r["stage"], f"{r['tag']}{mark}", levers, f"{r['val_acc']:.2f} %", f"{r['chosen']:.1f} %",
                      f"{r['held_out']:.1f} %", f"{r['mean']:.1f} %"])
    return (f"# Robust recipe search ({MODEL}: `{layer_string(MODEL)}`; f8i: `{layer_string('f8i')}`; seed "
            f"{SEEDS[0]}, {EPOCHS} epochs, "
            "5,000-image validation split and its corrupted twin)\n\n"
            "Rule (validation numbers only): among the recipes whose error on the twin's chosen families "
            f"is at most half the base recipe's ({BASE_TAG}), the best clean validation accuracy; the "
            "held-out families play no part.\n\n"
            + table(["stage", "recipe", "levers (beyond the frontier recipe)", "clean val acc",
                     "twin: chosen families", "twin: held-out families", "twin: all"], "rllrrrr", lines) + "\n")


def recorded_models(root: Path) -> list[Planned]:
    """Every run recorded in root/runs, as planned: the runner skips their training and scores
    the ones without a current robustness record."""
    return [Planned(Record(r).hp, r.get("tag", ""), robustness=True)
            for r in folder_records(root, "runs")]


PLANS = [
    Plan("robustness", "every recorded model of results/runs scored on the corruption suite", "runs",
         {"score": recorded_models}),
    Plan("robust-search", "f8a with stronger augmentation, scored on the corruption suite's validation "
         "twin (seed 1)", SEARCH_FOLDER, {"1": search, "2": search2, "3": search3}, {"robust-ranking.md": ranking}),
    Plan("robust", "the chosen robust < 8K recipe, seeds 1-3 on all 60,000 images", "runs",
         {"seeds": finalists}),
]
