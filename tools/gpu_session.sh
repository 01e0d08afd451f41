#!/usr/bin/env bash
# A session on a GPU machine, in one call (its time is scarce): each STEP runs under what is
# left of SECONDS, and after each one everything under results/ (and the executed notebooks) is
# packed into OUT/results.tgz: such a machine may bring back only a few files and no deep
# folders, so one archive keeps every run (each process logs into results/logs/, git-ignored and
# packed too). A log of the steps goes to OUT/log.txt.
# Usage (repository root, MNIST under $EFFMNIST_DATA): tools/gpu_session.sh OUT SECONDS STEP [STEP ...]
# Steps, each recorded into results/ (runs already recorded are skipped, so a later session resumes):
#   search:NAME,NAME...:WORKERS:SECONDS  the searches side by side, WORKERS processes each, no trial
#                                        starting after SECONDS (the ones under way finish)
#   plan:NAME,NAME...:SHARDS             the plans side by side, each split between SHARDS processes
#   bench:population                     population throughput against solo runs (docs/speed.md)
#   notebooks:NN,NN...                   execute those notebooks (full runs) side by side, in place
#   wait                                 wait for the notebooks started before
# Back here: tar xzf results.tgz; tar xzf searches.tgz (the same paths as in the checkout), then commit.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p "$1"
out=$(cd "$1" && pwd)
end=$(( $(date +%s) + $2 ))
shift 2
py=${PYTHON:-python3}
dev=${DEVICE:-cuda}
left() { echo $(( end - $(date +%s) )); }
say() { echo "=== $(date +%T) [$(left) s left] $*" | tee -a "$out/log.txt"; }
# two archives, each under the 16 MiB a file may have on the way back: the searches, and the rest
pack() {
  tar czf "$out/results.tmp" --exclude=results/searches results notebooks/*.ipynb 2>>"$out/log.txt" &&
    mv "$out/results.tmp" "$out/results.tgz"
  [ ! -d results/searches ] || { tar czf "$out/searches.tmp" results/searches 2>>"$out/log.txt" &&
    mv "$out/searches.tmp" "$out/searches.tgz"; }
}
notebooks=()
pids=()
mkdir -p results/logs  # git-ignored; packed with the results

nvidia-smi -L >> "$out/log.txt" 2>&1; "$py" -c "import torch; print('torch', torch.__version__)" >> "$out/log.txt"
for step in "$@"; do
  IFS=: read -r kind a b c <<< "$step"
  [ "$(left)" -gt 20 ] || { say "no time left for $step"; continue; }
  say "$step"
  case $kind in
    search)
      for name in ${a//,/ }; do
        timeout -k 30 "$(left)" "$py" -m effmnist_utils search "$name" --record --device "$dev" --workers "$b" \
          --trials 100000 --seconds "$c" > "results/logs/search-$name.txt" 2>&1 &
        pids+=($!)
      done
      wait "${pids[@]}"; pids=() ;;
    plan)
      for name in ${a//,/ }; do
        for k in $(seq 0 $(( b - 1 ))); do
          timeout "$(left)" "$py" -m effmnist_utils plan "$name" --record --device "$dev" --shard "$k/$b" \
            >> "results/logs/plan-$name-$k.txt" 2>&1 &
          pids+=($!)
        done
      done
      wait "${pids[@]}"; pids=() ;;
    bench)
      [ "$a" = population ] || { say "unknown bench $a"; continue; }
      timeout "$(left)" "$py" -m effmnist_utils bench --population --record --device "$dev" \
        > "results/logs/bench-population.txt" 2>&1 ;;
    notebooks)
      for nb in ${a//,/ }; do
        (cd notebooks && TQDM_DISABLE=1 timeout "$(left)" "$py" -m nbconvert --to notebook --execute \
          --inplace --ExecutePreprocessor.timeout=-1 "$nb"_*.ipynb >> "../results/logs/notebooks-$nb.txt" 2>&1 &&
          "$py" ../tools/shrink_figures.py "$nb"_*.ipynb >> "../results/logs/notebooks-$nb.txt") &
        notebooks+=($!)
      done ;;
    wait)
      [ ${#notebooks[@]} -eq 0 ] || wait "${notebooks[@]}"
      notebooks=() ;;
    *) say "unknown step $step" ;;
  esac
  say "$step done"
  pack
done
[ ${#notebooks[@]} -eq 0 ] || wait "${notebooks[@]}"
pack
say "done"
