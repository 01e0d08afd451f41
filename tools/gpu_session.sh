#!/usr/bin/env bash
# A session on a lent GPU machine, in one call of the device tool (its time is scarce): run the
# named plans in order (`python -m effmnist_utils plan NAME --record --device cuda`; recorded
# runs are skipped, so a second session resumes), each under what is left of SECONDS, and after
# each plan pack everything under results/ into OUT/results.tgz: the device tool brings back only
# a few files and no deep folders, so one archive is what keeps every run. A log goes to OUT/log.txt.
# Usage (repository root, MNIST under $EFFMNIST_DATA): tools/gpu_session.sh OUT SECONDS PLAN [PLAN ...]
# e.g.  tools/gpu_session.sh "$OUT" 500 speedrun-cuda-search speedrun-cuda gpu-times
# Back here: tar xzf results.tgz (the same paths as in the checkout), then commit.
set -uo pipefail
cd "$(dirname "$0")/.."
out=$1
end=$(( $(date +%s) + $2 ))
shift 2
py=${PYTHON:-python}
mkdir -p "$out"
left() { echo $(( end - $(date +%s) )); }
say() { echo "=== $(date +%T) [$(left) s left] $*" | tee -a "$out/log.txt"; }
pack() { tar czf "$out/results.tgz" results 2>>"$out/log.txt"; }

nvidia-smi -L >> "$out/log.txt" 2>&1; "$py" -c "import torch; print('torch', torch.__version__)" >> "$out/log.txt"
for plan in "$@"; do
  [ "$(left)" -gt 30 ] || { say "no time left for $plan"; continue; }
  say "plan $plan"
  timeout "$(left)" "$py" -m effmnist_utils plan "$plan" --record --device cuda >> "$out/log.txt" 2>&1
  say "plan $plan exit $?"
  pack
done
say "done"
