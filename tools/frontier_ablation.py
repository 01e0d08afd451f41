"""Recipe or architecture? Full-length runs that cross the two: the frontier's < 8k model with the
seed recipe, and the seed's final model (iter6) with the frontier recipe. 20 epochs x 3 seeds on
all 60,000 images, recorded in results/ablation (resumable: recorded runs are skipped).

    python tools/frontier_ablation.py
"""
from effmnist_utils.study import run_missing
from effmnist_utils.train import FRONTIER_RECIPE, HParams

SEEDS = (1, 2, 3)


def runs() -> list[HParams]:
    return ([HParams(model="f8a", tag="seed-recipe", seed=s) for s in SEEDS]
            + [HParams(model="iter6", tag="frontier-recipe", seed=s, **FRONTIER_RECIPE) for s in SEEDS])


if __name__ == "__main__":
    run_missing(runs(), out_dir="results/ablation")
