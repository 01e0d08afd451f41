"""Issue 12's finals: for each budget, the stage-2 proxy run with the best validation accuracy
(ties: fewer parameters) picks the model and its recipe; that recipe then trains 20 epochs on all
60,000 images for seeds 1-3, recorded in OUT_DIR (default results/runs), and the choice is written
to results/tiny/finalists.json. The test set plays no part in the choice.

    python tools/tiny_finals.py [--device cuda] [--out-dir results/runs] [--parallel]

--parallel runs the six finals as separate processes side by side (on a GPU, where a network this
small leaves the device mostly idle; their seconds are then those of runs sharing it).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import tiny_search as plan  # noqa: E402  (the tiny search's plan and its recorded runs)

from effmnist_utils.config import HParams  # noqa: E402
from effmnist_utils.sweeps import rank, run_missing  # noqa: E402

SEEDS = (1, 2, 3)
NOT_RECIPE = ("model", "seed", "epochs", "val_size")


def choose() -> dict[str, dict]:
    """budget -> {"model", "recipe" (flat settings), "proxy", "val_acc"} from stage 2."""
    s2 = plan._load([(c["model"], tag) for c in plan.CANDIDATES for tag in plan.STAGE2])
    chosen = {}
    for budget, prefix in plan.BUDGETS.items():
        ranked = rank([r for r in s2 if r["model"].startswith(prefix)])
        if not ranked:
            raise SystemExit(f"no stage-2 run for {budget}; run tools/tiny_search.py first")
        best = next(r for r in s2 if r["name"] == ranked[0]["name"])
        recipe = {k: v for k, v in HParams.from_dict(best["hparams"]).levers(ignore=NOT_RECIPE).items()}
        chosen[budget] = {"model": best["model"], "recipe": recipe, "proxy": best["name"],
                          "val_acc": ranked[0]["val_acc"]}
    return chosen


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out-dir", default="results/runs")
    ap.add_argument("--parallel", action="store_true")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: one final, as JSON
    args = ap.parse_args(argv)
    if args.one:
        job = json.loads(args.one)
        hp = HParams.for_model(job["model"], seed=job["seed"], **job["recipe"])
        run_missing([(hp, "")], args.out_dir, args.device, progress=False)
        return
    chosen = choose()
    plan.OUT.mkdir(parents=True, exist_ok=True)
    (plan.OUT / "finalists.json").write_text(json.dumps(chosen, indent=1) + "\n")
    print(json.dumps(chosen, indent=1))
    jobs = [json.dumps({**c, "seed": s}) for c in chosen.values() for s in SEEDS]
    cmd = [sys.executable, __file__, "--device", args.device, "--out-dir", args.out_dir, "--one"]
    if args.parallel:
        procs = [subprocess.Popen(cmd + [j]) for j in jobs]
        if any(p.wait() for p in procs):
            raise SystemExit("a final failed")
    else:
        for j in jobs:
            subprocess.run(cmd + [j], check=True)


if __name__ == "__main__":
    main()
