#!/usr/bin/env bash
# One GPU window (about 15 minutes, at most 10 of them in one command) spent on the frontier
# (issue 38), prepared before any GPU was lent. On the GPU machine, from the repository root,
# with .gpu/ carried (filled here beforehand by `tools/gpu_frontier.sh prepare`: MNIST's raw files,
# gzipped to fit the 64 MiB a call may carry, and the pure-Python wheels of Optuna and what it needs
# that the machine lacks):
#   tools/gpu_frontier.sh run "$OUT" 560
# 1. the population benchmark on the GPU (member-epochs per second, N = 1-32, against solo runs);
# 2. every population search side by side (spaces.POPULATION), each trial four seeds in one pass, no trial
#    starting in the last 150 s (the ones under way finish);
# 3. plan search-confirm: each search's best trial on two fresh seeds of its split.
# Everything is recorded into results/ and packed into OUT/results.tgz and OUT/searches.tgz after
# each step (tools/gpu_session.sh). Back here: tar xzf both, then `python -m effmnist_utils report`
# and commit; the search resumes from its journal in the next window. The archive's journals
# replace the local ones: stop any local run of a CPU-capable search (2k, 1k, 700) and commit its
# trials before the window, so that the GPU continues from them. The window's end stops the
# searches as Ctrl-C does (SIGTERM): each trial under way is enqueued again, and its checkpoint
# (trials/*.ckpt, git-ignored) comes back in searches.tgz; name those files in the next window's
# `carry` and its repeat goes on from them instead of from epoch 1.
set -euo pipefail
cd "$(dirname "$0")/.."
case ${1:-} in
  prepare)  # here, with the network: what the GPU machine cannot fetch
    mkdir -p .gpu/wheels .gpu/data
    for p in optuna alembic colorlog mako sqlalchemy; do  # the versions installed here, pure Python
      v=$(.venv/bin/python -c "import importlib.metadata as m; print(m.version('$p'))")
      .venv/bin/pip download -q --no-deps --only-binary=:all: --platform any -d .gpu/wheels "$p==$v"
    done
    raw=$(.venv/bin/python -c "from effmnist_utils.core.data import ensure_mnist; import sys; \
      print(ensure_mnist('.gpu/mnist'), file=sys.stderr); print('.gpu/mnist/MNIST/raw')")
    for f in "$raw"/*-ubyte; do gzip -c "$f" > ".gpu/data/$(basename "$f").gz"; done
    rm -r .gpu/mnist
    du -sh .gpu ;;
  run)
    out=$2 seconds=$3
    pip install -q --no-index --no-deps .gpu/wheels/*.whl
    mkdir -p /tmp/effmnist/MNIST/raw
    for f in .gpu/data/*.gz; do gunzip -c "$f" > "/tmp/effmnist/MNIST/raw/$(basename "$f" .gz)"; done
    export EFFMNIST_DATA=/tmp/effmnist PYTHONPATH=$PWD
    searches=$("${PYTHON:-python3}" -c "from effmnist_utils.studies.search.spaces import SEARCHES
print(','.join(name for name in SEARCHES if name.endswith('-pop')))")
    tools/gpu_session.sh "$out" "$seconds" bench:population "search:$searches:1:$(( seconds - 60 - 150 ))" \
      plan:search-confirm:2 ;;
  *) echo "usage: tools/gpu_frontier.sh prepare | run OUT SECONDS" >&2; exit 2 ;;
esac
