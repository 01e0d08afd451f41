"""Below 2,000 and 1,000 parameters, as plans: proxy runs on the validation split in two stages
(every candidate, then the best two of each budget with three recipes), the rule that picks each
budget's finalist and its recipe from stage 2 (validation accuracy only), and the finalists'
full runs. Notebook 07 shows the ranking."""
from __future__ import annotations

import json
from pathlib import Path

from ...core.config import FRONTIER_RECIPE, SEEDS, VAL_SIZE, HParams
from ..runner import Planned
from ..lever_sweeps import NOT_LEVERS, lever_steps, proxy, rank, render_lever_steps, render_ranking
from .base import Plan, planned_records

STAGE1_EPOCHS, STAGE2_EPOCHS = 5, 8
OC = FRONTIER_RECIPE  # the one-cycle schedule at peak lr 0.01 (core.config)
BUDGETS = {"< 2,000": "t2", "< 1,000": "t1"}  # a model's name starts with its budget
TOP = 2  # stage 2 takes the best TOP models of each budget

# model (layernet.FRONTIER_SPECS) -> the lever it measures against its budget's base (t2a, t1a)
CANDIDATES = {
    "t2a": "base: c3x3, separable convs, one pool (RF 22)",
    "t2b": "two full 3x3 convs first (f5s's shape)",
    "t2c": "a second max-pool (RF 22 -> 32)",
    "t2d": "strided separable conv instead of the pool",
    "t2e": "BN without scale/shift, widths regrown",
    "t2f": "weight sharing: one S16 applied 4 times",
    "t2g": "narrow early layers, 1x1 expansion last",
    "t2h": "grouped 1x1s (+shuffle) buy width",
    "t2i": "full 3x3 convs only (f8a's shape)",
    "t2j": "grouped full 3x3 convs (+shuffle)",
    "t1a": "base: c3x3, separable convs, one pool (RF 18)",
    "t1b": "a wider first conv (c6)",
    "t1c": "a second max-pool (RF 18 -> 24)",
    "t1d": "strided separable conv instead of the pool",
    "t1e": "BN without scale/shift buys a 4th layer",
    "t1f": "weight sharing: one S12 applied 4 times",
    "t1g": "grouped 1x1s (+shuffle): depth and width",
    "t1h": "two full 3x3 convs first (f5s's shape)",
    "t1i": "narrow, 1x1 expansion last (RF 14)",
}
E2 = f"e{STAGE2_EPOCHS}"
STAGE2 = {f"oc01-{E2}": OC, f"oc02-{E2}": {**OC, "lr": 0.02}, f"oc01-rot8-{E2}": {**OC, "degrees": 8}}


def stage1(root: Path = None) -> list[Planned]:
    return [proxy({**OC, "model": m, "tag": "oc01"}, STAGE1_EPOCHS) for m in CANDIDATES]


def _recorded(root: Path, runs: list[Planned]) -> list[dict]:
    return planned_records(root, SEARCH.folder, runs)


def stage2_models(root: Path) -> list[str]:
    """The best TOP models of each budget by stage-1 validation accuracy (all must be recorded)."""
    ranked = rank(_recorded(root, stage1()))
    if len(ranked) < len(CANDIDATES):
        raise ValueError(f"stage 2 needs every stage-1 run recorded ({len(ranked)} of "
                         f"{len(CANDIDATES)} are); run `plan tiny-search --stage 1` first")
    return [r["model"] for prefix in BUDGETS.values()
            for r in [r for r in ranked if r["model"].startswith(prefix)][:TOP]]


def stage2(root: Path) -> list[Planned]:
    return [proxy({**settings, "model": m, "tag": tag}, STAGE2_EPOCHS)
            for m in stage2_models(root) for tag, settings in STAGE2.items()]


def finalists(root: Path) -> dict[str, dict]:
    """budget -> {"model", "recipe" (flat settings), "proxy", "val_acc"}: the stage-2 run with the
    best validation accuracy (ties: fewer parameters) picks the model and its recipe."""
    s2 = _recorded(root, stage2(root))
    chosen = {}
    for budget, prefix in BUDGETS.items():
        ranked = rank([r for r in s2 if r["model"].startswith(prefix)])
        if not ranked:
            raise ValueError(f"no stage-2 run for {budget}; run `plan tiny-search --stage 2` first")
        best = next(r for r in s2 if r["name"] == ranked[0]["name"])
        chosen[budget] = {"model": best["model"], "proxy": best["name"], "val_acc": ranked[0]["val_acc"],
                          "recipe": HParams.from_dict(best["hparams"]).levers(ignore=NOT_LEVERS)}
    return chosen


def _steps(root: Path) -> list[tuple[str, str, str]]:
    """Each candidate against its budget's base, then each stage-2 model's two recipe levers."""
    steps = [(lever, f"{m[:2]}a-oc01", f"{m}-oc01") for m, lever in CANDIDATES.items() if not m.endswith("a")]
    for m in sorted(stage2_models(root)):
        steps += [(f"{m}: peak lr 0.01 -> 0.02", f"{m}-oc01-{E2}", f"{m}-oc02-{E2}"),
                  (f"{m}: rotation 15 -> 8 degrees", f"{m}-oc01-{E2}", f"{m}-oc01-rot8-{E2}")]
    return steps


def stage_records(root: Path, stage: str) -> list[dict]:
    """The recorded runs of search stage "1" or "2", in the plan's order."""
    return _recorded(root, SEARCH.runs(root, stage))


def lever_rows(root: Path) -> list[dict]:
    """What each lever measured (`lever_sweeps.lever_steps` rows): each candidate against its budget's
    base in stage 1, then each stage-2 model's two recipe levers."""
    return lever_steps(stage_records(root, "1") + stage_records(root, "2"), _steps(root))


def ranking(root: Path) -> str:
    s1, s2 = stage_records(root, "1"), stage_records(root, "2")
    parts = [f"## Stage 1: {STAGE1_EPOCHS} epochs, {budget} parameters\n\n"
             f"{render_ranking(rank([r for r in s1 if r['model'].startswith(prefix)]))}"
             for budget, prefix in BUDGETS.items()]
    parts.append(f"## Stage 2: {STAGE2_EPOCHS} epochs, the best {TOP} of each budget\n\n"
                 f"{render_ranking(rank(s2))}")
    parts.append("## What each lever measured (validation accuracy, final epoch; one seed, so "
                 "differences below ~0.15 points are noise)\n\n"
                 f"{render_lever_steps(lever_steps(s1 + s2, _steps(root)))}")  # the records read once
    return (f"# Tiny-network proxy ranking (seed {SEEDS[0]}, {VAL_SIZE:,}-image validation split)\n\n"
            f"Generated by `python -m effmnist_utils plan tiny-search --table --record` from the runs in this "
            f"folder.\n\n" + "\n\n".join(parts) + "\n")


def finals(root: Path) -> list[Planned]:
    return [Planned(HParams.for_model(c["model"], seed=s, **c["recipe"]))
            for c in finalists(root).values() for s in SEEDS]


SEARCH = Plan("tiny-search", "proxy runs below 2,000 and 1,000 parameters (validation split)", "tiny",
              {"1": stage1, "2": stage2},
              {"ranking.md": ranking, "finalists.json": lambda root: json.dumps(finalists(root), indent=1) + "\n"})
PLANS = [SEARCH, Plan("tiny-finals", "each budget's finalist with its recipe, seeds 1-3 on all 60,000 images",
                      "runs", {"seeds": finals})]
