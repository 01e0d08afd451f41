"""Issue 12, the frontier below 2,000 and 1,000 parameters: proxy runs on a 5,000-image validation
split, ranked by validation accuracy (never by the test set). Resumable: recorded runs in
results/tiny are skipped.

    python tools/tiny_search.py --stage 1 --index 3   # one run (stage 1: one candidate)
    python tools/tiny_search.py --stage 1 --count     # how many runs stage 1 has
    python tools/tiny_search.py --rank                # writes results/tiny/ranking.md
    python tools/tiny_search.py                       # everything missing, then the ranking

On a shared CPU, one run per invocation, each under the lock, e.g.
    for i in $(seq 0 18); do
        flock /tmp/effmnist-cpu.lock python tools/tiny_search.py --stage 1 --index $i; done

Stage 1: every candidate for 5 epochs with the frontier recipe (one-cycle, Adam, peak lr 0.01,
the original augmentation). Stage 2: the best two of each budget (by stage-1 validation
accuracy) for 8 epochs, with peak lr 0.01 and 0.02 and with weaker rotation (8 degrees).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

try:
    from effmnist_utils.sweeps import ablation, rank, render_ablation, render_ranking, search
except ImportError:
    from effmnist_utils.study import ablation, rank, render_ablation, render_ranking, search

OUT = Path("results/tiny")
SEED, VAL_SIZE = 1, 5000
STAGE1_EPOCHS, STAGE2_EPOCHS = 5, 8  # stage 2: 8, not 10, to fit ~45 CPU minutes
OC = {"schedule": "onecycle", "lr": 0.01}  # the frontier recipe (peak lr 0.01)
BUDGETS = {"< 2,000": "t2", "< 1,000": "t1"}  # a model's name starts with its budget

# The candidates as data: model (layernet.FRONTIER_SPECS), the recipe tag and the lever it
# measures against its budget's base (t2a, t1a).
CANDIDATES = [
    {"model": "t2a", "tag": "oc01", "levers": "base: c3x3, separable convs, one pool (RF 22)"},
    {"model": "t2b", "tag": "oc01", "levers": "two full 3x3 convs first (f5s's shape)"},
    {"model": "t2c", "tag": "oc01", "levers": "a second max-pool (RF 22 -> 32)"},
    {"model": "t2d", "tag": "oc01", "levers": "strided separable conv instead of the pool"},
    {"model": "t2e", "tag": "oc01", "levers": "BN without scale/shift, widths regrown"},
    {"model": "t2f", "tag": "oc01", "levers": "weight sharing: one S16 applied 4 times"},
    {"model": "t2g", "tag": "oc01", "levers": "narrow early layers, 1x1 expansion last"},
    {"model": "t2h", "tag": "oc01", "levers": "grouped 1x1s (+shuffle) buy width"},
    {"model": "t2i", "tag": "oc01", "levers": "full 3x3 convs only (f8a's shape)"},
    {"model": "t2j", "tag": "oc01", "levers": "grouped full 3x3 convs (+shuffle)"},
    {"model": "t1a", "tag": "oc01", "levers": "base: c3x3, separable convs, one pool (RF 18)"},
    {"model": "t1b", "tag": "oc01", "levers": "a wider first conv (c6)"},
    {"model": "t1c", "tag": "oc01", "levers": "a second max-pool (RF 18 -> 24)"},
    {"model": "t1d", "tag": "oc01", "levers": "strided separable conv instead of the pool"},
    {"model": "t1e", "tag": "oc01", "levers": "BN without scale/shift buys a 4th layer"},
    {"model": "t1f", "tag": "oc01", "levers": "weight sharing: one S12 applied 4 times"},
    {"model": "t1g", "tag": "oc01", "levers": "grouped 1x1s (+shuffle): depth and width"},
    {"model": "t1h", "tag": "oc01", "levers": "two full 3x3 convs first (f5s's shape)"},
    {"model": "t1i", "tag": "oc01", "levers": "narrow, 1x1 expansion last (RF 14)"},
]
# Stage 2's recipes (tag -> settings), each for STAGE2_EPOCHS epochs.
E2 = f"e{STAGE2_EPOCHS}"
STAGE2 = {
    f"oc01-{E2}": OC,
    f"oc02-{E2}": {**OC, "lr": 0.02},
    f"oc01-rot8-{E2}": {**OC, "degrees": 8},
}
TOP = 2  # stage 2 takes the best TOP models of each budget


def _settings(candidate: dict) -> dict:
    """What `search` takes: the HParams settings and the tag (the `levers` note stays here)."""
    return {**OC, **{k: v for k, v in candidate.items() if k != "levers"}}


def _path(model: str, tag: str) -> Path:
    return OUT / f"{model}-{tag}_seed{SEED}.json"


def _load(runs: list[tuple[str, str]]) -> list[dict]:
    """The recorded (model, tag) runs among `runs` (missing ones are left out)."""
    return [json.loads(p.read_text()) for p in (_path(m, t) for m, t in runs) if p.exists()]


def stage1_records() -> list[dict]:
    return _load([(c["model"], c["tag"]) for c in CANDIDATES])


def finalists() -> list[str]:
    """The best TOP models of each budget by stage-1 validation accuracy (all must be recorded)."""
    ranked = rank(stage1_records())
    if len(ranked) < len(CANDIDATES):
        raise SystemExit("stage 2 needs every stage-1 run recorded; run stage 1 first")
    return [r["model"] for prefix in BUDGETS.values()
            for r in [r for r in ranked if r["model"].startswith(prefix)][:TOP]]


def stage2_candidates() -> list[dict]:
    return [{**settings, "model": m, "tag": tag}
            for m in finalists() for tag, settings in STAGE2.items()]


def run(stage: int, index: int | None, device: str = "cpu") -> None:
    todo = [_settings(c) for c in CANDIDATES] if stage == 1 else stage2_candidates()
    epochs = STAGE1_EPOCHS if stage == 1 else STAGE2_EPOCHS
    if index is not None:
        todo = todo[index:index + 1]
    search(todo, epochs=epochs, val_size=VAL_SIZE, seed=SEED, out_dir=str(OUT), device=device)


def _lever_steps(records: list[dict]) -> list[tuple[str, str, str]]:
    names = {r["name"] for r in records}
    steps = [(c["levers"], f"{c['model'][:2]}a-{c['tag']}_seed{SEED}",
              f"{c['model']}-{c['tag']}_seed{SEED}")
             for c in CANDIDATES if not c["model"].endswith("a")]  # each against its base
    for m in sorted({r["model"] for r in records if r["name"].endswith(f"-{E2}_seed{SEED}")}):
        base = f"{m}-oc01-{E2}_seed{SEED}"
        steps += [(f"{m}: peak lr 0.01 -> 0.02", base, f"{m}-oc02-{E2}_seed{SEED}"),
                  (f"{m}: rotation 15 -> 8 degrees", base, f"{m}-oc01-rot8-{E2}_seed{SEED}")]
    return [s for s in steps if s[1] in names and s[2] in names]


def write_ranking() -> str:
    s1 = stage1_records()
    s2 = _load([(c["model"], tag) for c in CANDIDATES for tag in STAGE2])
    parts = [f"## Stage 1: {STAGE1_EPOCHS} epochs, {budget} parameters\n\n"
             f"{render_ranking(rank([r for r in s1 if r['model'].startswith(prefix)]))}"
             for budget, prefix in BUDGETS.items()]
    if s2:
        parts.append(f"## Stage 2: {STAGE2_EPOCHS} epochs, the best {TOP} of each budget\n\n"
                     f"{render_ranking(rank(s2))}")
    parts.append("## What each lever measured (validation accuracy, final epoch; one seed, so "
                 "differences below ~0.15 points are noise)\n\n"
                 f"{render_ablation(ablation(s1 + s2, _lever_steps(s1 + s2)))}")
    text = "\n\n".join(parts)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "ranking.md").write_text(
        f"# Tiny-network proxy ranking (seed {SEED}, {VAL_SIZE:,}-image validation split)\n\n"
        f"Written by tools/tiny_search.py from the runs in this folder.\n\n{text}\n")
    return text


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stage", type=int, choices=(1, 2))
    ap.add_argument("--index", type=int, help="run only this run of the stage (0-based)")
    ap.add_argument("--count", action="store_true", help="print how many runs the stage has")
    ap.add_argument("--rank", action="store_true", help="only write results/tiny/ranking.md")
    ap.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    args = ap.parse_args(argv)
    if args.count:
        print(len(CANDIDATES) if args.stage != 2 else len(stage2_candidates()))
    elif args.rank:
        print(write_ranking())
    else:
        for stage in [args.stage] if args.stage else [1, 2]:
            run(stage, args.index, args.device)
        print(write_ranking())


if __name__ == "__main__":
    main()
