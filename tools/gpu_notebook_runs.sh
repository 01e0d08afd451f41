#!/usr/bin/env bash
# One full run of each notebook's model on a GPU (its recipe, seed 1, 20 epochs, batch 128), one
# after the other so that each has the GPU to itself: what the README's GPU column and each
# notebook's "how long this cell takes" read. Recorded in OUT_DIR (default results/gpu).
# Usage: tools/gpu_notebook_runs.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/gpu}
"${PYTHON:-python}" -m effmnist_utils reproduce --models iter1 iter2 iter3 iter4 iter5 iter6 f8a \
  --seeds 1 --device cuda --out-dir "$out"
