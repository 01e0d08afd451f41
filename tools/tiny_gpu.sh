#!/usr/bin/env bash
# Issue 12 on one GPU: the tiny search's stages 1 and 2 (tools/tiny_search.py; runs recorded in
# results/tiny are skipped) and the finals (tools/tiny_finals.py), each stage's runs side by side
# as separate processes: a network this small leaves the GPU mostly idle, so its seconds here are
# those of runs sharing the device; only the accuracies are used.
# Usage: tools/tiny_gpu.sh [FINALS_OUT_DIR]   (default results/runs)
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python}
export OMP_NUM_THREADS=1
side_by_side() {  # stage: every run of it at once
  local n pids=()
  n=$("$py" tools/tiny_search.py --stage "$1" --count)
  for i in $(seq 0 $((n - 1))); do
    "$py" tools/tiny_search.py --stage "$1" --index "$i" --device cuda > /dev/null &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
}
echo "=== $(date +%T) tiny stage 1"; side_by_side 1
echo "=== $(date +%T) tiny stage 2"; side_by_side 2
"$py" tools/tiny_search.py --rank > /dev/null
echo "=== $(date +%T) tiny finals"
"$py" tools/tiny_finals.py --device cuda --out-dir "${1:-results/runs}" --parallel
echo "=== $(date +%T) tiny done"
