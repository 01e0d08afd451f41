#!/usr/bin/env bash
# Execute notebooks for real (full-length runs), keeping their outputs in place.
# Usage: tools/execute_notebooks.sh [notebook ...]   (default: every notebooks/NN_*.ipynb)
# Each notebook's own run goes to notebooks/effmnist-runs/ (git-ignored), not to results/; how long
# "Run all" took is appended to results/notebooks/run_all.json.
# TQDM_DISABLE=1: the stored notebook keeps one line per epoch instead of every progress-bar
# refresh (a reader running it live sees the bar).
set -euo pipefail
cd "$(dirname "$0")/../notebooks"
unset EFFMNIST_FAST
export TQDM_DISABLE=1
notebooks=("$@")
[ ${#notebooks[@]} -gt 0 ] || notebooks=([0-9][0-9]_*.ipynb)
# the device each notebook's opening names with its "Run all" time (tools/notebook_times.py)
device=$(python -c 'import torch
from effmnist_utils.core.runtime import as_device, cpu_model, device_name
d = as_device("auto")
print(f"cpu ({cpu_model()}, {torch.get_num_threads()} threads)" if d.type == "cpu" else device_name(d))')
for nb in "${notebooks[@]}"; do
  echo "=== $(date +%T) executing $nb on $device"
  jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=-1 "$(basename "$nb")"
  python ../tools/shrink_figures.py "$(basename "$nb")"  # figures as palette PNGs: under 250 KB
  python ../tools/notebook_times.py --device "$device" "$(basename "$nb")"
done
echo "=== $(date +%T) done"
