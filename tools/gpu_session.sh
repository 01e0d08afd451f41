#!/usr/bin/env bash
# Everything measured on a lent GPU, in one call of the device tool (its time is scarce): the
# speedrun (tools/speedrun_gpu.py, alone on the GPU), the tiny search and finals (tools/tiny_gpu.sh,
# runs side by side), then one full run per notebook model, each alone (tools/gpu_notebook_runs.sh
# one model at a time), as long as time is left. Each step is logged; what finished is copied to OUT.
# Usage (repository root, MNIST under $EFFMNIST_DATA): tools/gpu_session.sh OUT SECONDS
set -uo pipefail
cd "$(dirname "$0")/.."
out=$1
end=$(( $(date +%s) + $2 ))
py=${PYTHON:-python}
mkdir -p "$out"
left() { echo $(( end - $(date +%s) )); }
say() { echo "=== $(date +%T) [$(left) s left] $*" | tee -a "$out/log.txt"; }
# one archive: the device tool brings back only a limited number of files, none deeply nested
collect() { tar czf "$out/results.tgz" results/speedrun results/tiny "$out/runs" "$out/gpu" 2>/dev/null; }

nvidia-smi -L >> "$out/log.txt" 2>&1; "$py" -c "import torch; print('torch', torch.__version__)" >> "$out/log.txt"
say "speedrun"
timeout $(( $(left) * 41 / 100 )) "$py" tools/speedrun_gpu.py --budget $(( $(left) * 22 / 100 )) \
  >> "$out/log.txt" 2>&1; say "speedrun exit $?"
collect
say "tiny"
timeout $(( $(left) * 75 / 100 )) bash tools/tiny_gpu.sh "$out/runs" >> "$out/log.txt" 2>&1; say "tiny exit $?"
collect
for model in iter6 f8a iter1 iter2 iter3 iter4 iter5; do
  [ "$(left)" -gt 80 ] || { say "no time left for $model"; continue; }
  say "notebook model $model"
  timeout "$(left)" "$py" -m effmnist_utils reproduce --models "$model" --seeds 1 --device cuda \
    --out-dir "$out/gpu" >> "$out/log.txt" 2>&1
done
collect
say "done"
