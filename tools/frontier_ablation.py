"""Recipe or architecture? The crossed full-length runs of plans.crossed_runs (f8a with the
original recipe, iter6 with the frontier recipe; 20 epochs x 3 seeds on all 60,000 images),
recorded in results/ablation. Resumable: recorded runs are skipped.

    python tools/frontier_ablation.py
"""
from effmnist_utils import plans

if __name__ == "__main__":
    plans.run_crossed()
