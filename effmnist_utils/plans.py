"""The experiments, as data: the frontier's proxy search and its crossed full-length runs, and
the steps notebook 07's ablation table compares. `run_frontier_search` / `run_crossed` (and the
scripts in tools/) execute them; recorded runs are skipped, so each can be resumed."""
from __future__ import annotations

from pathlib import Path

from . import sweeps
from .config import FRONTIER_RECIPE, RESULTS_DIR, HParams

SEARCH_DIR, CROSSED_DIR = RESULTS_DIR / "search", RESULTS_DIR / "ablation"
PROXY_EPOCHS = 5  # a fifth of the real budget
ORIGINAL_STEP = {"step_size": 4}  # the original recipe's late lr drop, compressed to 5 epochs
OC = {"schedule": "onecycle", "lr": 0.01}
AUG = {**OC, "translate": 2}
BEST = {**AUG, "label_smoothing": 0.05}  # the recipe the architectures are compared under

# tag -> settings: first the recipe levers, one at a time, on one < 8K model ...
LEVERS = {
    "original": {"model": "f8a", **ORIGINAL_STEP},
    "oc01": {"model": "f8a", **OC},
    "oc02": {"model": "f8a", **OC, "lr": 0.02},
    "oc01-tr2": {"model": "f8a", **AUG},
    "oc01-tr2-ls": {"model": "f8a", **BEST},
    "oc01-tr2-ls-rot8": {"model": "f8a", **BEST, "degrees": 8},
    "oc01-tr2-ls-bs64": {"model": "f8a", **BEST, "batch_size": 64},
    "oc01-tr2-ls-sgd": {"model": "f8a", **BEST, "optimizer": "sgd", "lr": 0.1},
    "oc01-tr2-ls-adamw": {"model": "f8a", **BEST, "optimizer": "adamw", "weight_decay": 1e-2},
    "oc01-tr2-ls-bf16": {"model": "f8a", **BEST, "precision": "bf16"},
}
ARCHITECTURES = ("f8b", "f5a", "f5s", "f20a", "f20b", "f8d")  # ... then these under one recipe


def frontier_stage1() -> list[dict]:
    """5-epoch proxies: recipe levers on f8a and the architectures under BEST (the first five
    recipes ran first, as the finalists waited on them)."""
    recipes = [{**settings, "tag": tag} for tag, settings in LEVERS.items()]
    archs = [{**BEST, "model": m, "tag": "oc01-tr2-ls"} for m in ARCHITECTURES]
    return recipes[:5] + archs + recipes[5:]


# Stage 2. Five epochs cannot show what a regulariser does over twenty, so the recipe levers that
# regularise are decided by full-length (20-epoch) runs, still on the validation split.
STAGE2 = {"oc01": OC, "oc01-tr2": AUG, "oc01-tr2-ls": BEST}


def frontier_stage2() -> list[dict]:
    return [{**settings, "model": "f8a", "tag": f"{tag}-e20"} for tag, settings in STAGE2.items()]


# Recipe or architecture? Full runs that cross the two: the < 8K model with the original recipe,
# and the original's final model with the frontier recipe (20 epochs x 3 seeds, all 60k images).
CROSSED_SEEDS = (1, 2, 3)


def crossed_runs() -> list[tuple[HParams, str]]:
    return ([(HParams(model="f8a", seed=s), "original-recipe") for s in CROSSED_SEEDS]
            + [(HParams.for_model("iter6", seed=s, **FRONTIER_RECIPE), "frontier-recipe")
               for s in CROSSED_SEEDS])


# Notebook 07's ablation table: (lever, run before, run after), by proxy run name, seed 1.
ABLATION_STEPS = [
    ("one-cycle lr (peak 0.01) instead of the original step schedule", "f8a-original_seed1", "f8a-oc01_seed1"),
    ("peak lr 0.02 instead of 0.01", "f8a-oc01_seed1", "f8a-oc02_seed1"),
    ("+ random translation up to 2 px", "f8a-oc01_seed1", "f8a-oc01-tr2_seed1"),
    ("+ label smoothing 0.05", "f8a-oc01-tr2_seed1", "f8a-oc01-tr2-ls_seed1"),
    ("rotation ±8° instead of ±15°", "f8a-oc01-tr2-ls_seed1", "f8a-oc01-tr2-ls-rot8_seed1"),
    ("batch 64 instead of 128", "f8a-oc01-tr2-ls_seed1", "f8a-oc01-tr2-ls-bs64_seed1"),
    ("SGD + Nesterov (peak lr 0.1) instead of Adam", "f8a-oc01-tr2-ls_seed1", "f8a-oc01-tr2-ls-sgd_seed1"),
    ("AdamW, weight decay 0.01", "f8a-oc01-tr2-ls_seed1", "f8a-oc01-tr2-ls-adamw_seed1"),
    ("bf16 autocast instead of fp32", "f8a-oc01-tr2-ls_seed1", "f8a-oc01-tr2-ls-bf16_seed1"),
    ("pool after 2 convs instead of 3 (f8b)", "f8a-oc01-tr2-ls_seed1", "f8b-oc01-tr2-ls_seed1"),
    ("< 5k: depthwise-separable convs after the pool (f5s vs f5a)", "f5a-oc01-tr2-ls_seed1", "f5s-oc01-tr2-ls_seed1"),
    ("dropout 5 % after every conv (f8d)", "f8a-oc01-tr2-ls_seed1", "f8d-oc01-tr2-ls_seed1"),
    ("< 20k: f20b (3 convs after the pool, wider) vs f20a (4)", "f20a-oc01-tr2-ls_seed1", "f20b-oc01-tr2-ls_seed1"),
    ("20 epochs: + translation up to 2 px", "f8a-oc01-e20_seed1", "f8a-oc01-tr2-e20_seed1"),
    ("20 epochs: + label smoothing 0.05", "f8a-oc01-tr2-e20_seed1", "f8a-oc01-tr2-ls-e20_seed1"),
]


def run_frontier_search(out_dir=SEARCH_DIR, device="auto") -> str:
    """Both stages (what is missing), then `ranking.md` in `out_dir`; returns its tables."""
    stage1 = sweeps.search(frontier_stage1(), epochs=PROXY_EPOCHS, out_dir=out_dir, device=device)
    stage2 = sweeps.search(frontier_stage2(), epochs=20, out_dir=out_dir, device=device)
    text = "\n\n".join(f"## {title}\n\n{sweeps.render_ranking(sweeps.rank(rs))}" for title, rs in (
        (f"Stage 1: {PROXY_EPOCHS} epochs", stage1), ("Stage 2: 20 epochs", stage2)))
    Path(out_dir, "ranking.md").write_text(
        f"# Proxy ranking (seed 1, 5,000-image validation split)\n\n{text}\n")
    return text


def run_crossed(out_dir=CROSSED_DIR, device="auto"):
    return sweeps.run_missing(crossed_runs(), out_dir, device)
