#!/usr/bin/env bash
# Execute iteration notebooks for real (full-length runs), keeping their outputs in place.
# Usage: tools/execute_notebooks.sh [notebook ...]   (default: every notebooks/0*.ipynb)
# Each full run also records results/runs/<model>_seed1.{json,pt}.
set -euo pipefail
cd "$(dirname "$0")/../notebooks"
unset EFFMNIST_FAST
notebooks=("$@")
[ ${#notebooks[@]} -gt 0 ] || notebooks=(0*.ipynb)
for nb in "${notebooks[@]}"; do
  echo "=== $(date +%T) executing $nb"
  jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=-1 "$(basename "$nb")"
done
echo "=== $(date +%T) done"
