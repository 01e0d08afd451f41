"""The frontier's proxy search: short runs on a 5,000-image validation split, ranked by validation
accuracy (never by the test set). Resumable: recorded runs in results/search are skipped.

    python tools/frontier_search.py   # runs what is missing, writes results/search/ranking.md
"""
from pathlib import Path

from effmnist_utils import study

EPOCHS = 5  # a proxy: a fifth of the real budget
SEED_STEP = {"step_size": 4}  # the seed recipe's late lr drop, compressed to 5 epochs
OC = {"schedule": "onecycle", "lr": 0.01}
AUG = {**OC, "translate": 2}
BEST = {**AUG, "label_smoothing": 0.05}  # the recipe the architectures are compared under

# tag -> HParams settings. First the recipe levers, one at a time, on one <8k model ...
LEVERS = {
    "seed": {"model": "f8a", **SEED_STEP},
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


def candidates() -> list[dict]:
    recipes = [{**settings, "tag": tag} for tag, settings in LEVERS.items()]
    # ... then the architectures, all under one recipe (the f8a row of it is among the recipes);
    # they run after the first five recipes, as the finalists wait on them
    archs = [{**BEST, "model": m, "tag": "oc01-tr2-ls"}
             for m in ("f8b", "f5a", "f5s", "f20a", "f20b", "f8d")]
    return recipes[:5] + archs + recipes[5:]


# Stage 2. Five epochs cannot show what a regulariser does over twenty, so the recipe levers that
# regularise are decided by full-length (20-epoch) runs, still on the validation split.
STAGE2 = {"oc01": OC, "oc01-tr2": AUG, "oc01-tr2-ls": BEST}


def stage2() -> list[dict]:
    return [{**settings, "model": "f8a", "tag": f"{tag}-e20"} for tag, settings in STAGE2.items()]


def main():
    runs = study.search(candidates(), epochs=EPOCHS, out_dir="results/search")
    long_runs = study.search(stage2(), epochs=20, out_dir="results/search")
    text = "\n\n".join(f"## {title}\n\n{study.render_ranking(study.rank(rs))}" for title, rs in (
        (f"Stage 1: {EPOCHS} epochs", runs), ("Stage 2: 20 epochs", long_runs)))
    Path("results/search/ranking.md").write_text(
        f"# Proxy ranking (seed 1, 5,000-image validation split)\n\n{text}\n")
    print(text)


if __name__ == "__main__":
    main()
