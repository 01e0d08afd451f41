#!/usr/bin/env bash
# Execute notebooks for real (full-length runs), keeping their outputs in place.
# Usage: tools/execute_notebooks.sh [notebook ...]   (default: every notebooks/NN_*.ipynb)
# Each notebook's own run goes to notebooks/effmnist-runs/ (git-ignored), not to results/.
# TQDM_DISABLE=1: the stored notebook keeps one line per epoch instead of every progress-bar
# refresh (a reader running it live sees the bar).
set -euo pipefail
cd "$(dirname "$0")/../notebooks"
unset EFFMNIST_FAST
export TQDM_DISABLE=1
notebooks=("$@")
[ ${#notebooks[@]} -gt 0 ] || notebooks=([0-9][0-9]_*.ipynb)
for nb in "${notebooks[@]}"; do
  echo "=== $(date +%T) executing $nb"
  jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=-1 "$(basename "$nb")"
  python ../tools/shrink_figures.py "$(basename "$nb")"  # figures as palette PNGs: under 250 KB
done
echo "=== $(date +%T) done"
