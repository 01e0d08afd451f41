#!/usr/bin/env bash
# The frontier's finalists: 20 epochs x 3 seeds on all 60k images, each with its recipe (RECIPES),
# recorded in results/runs. Resumable: rerun the same command after an interruption.
# Usage: tools/frontier_finals.sh F20 F8 F5   (F8 seed 1 was first recorded by notebook 07, executed last,
# after the recipe-or-architecture runs of tools/frontier_ablation.py that it compares)
set -euo pipefail
cd "$(dirname "$0")/.."
f20=$1 f8=$2 f5=$3
py=${PYTHON:-python}
"$py" -m effmnist_utils reproduce --models "$f20" --seeds 1 2 3
"$py" -m effmnist_utils reproduce --models "$f8" --seeds 2 3
"$py" -m effmnist_utils reproduce --models "$f5" --seeds 1 2 3
"$py" tools/frontier_ablation.py  # recipe or architecture: the crossed runs notebook 07 compares
[ -f "results/runs/${f8}_seed1.json" ] || tools/execute_notebooks.sh 07_frontier.ipynb
echo "=== $(date +%T) finals done"
