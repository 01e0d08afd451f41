"""Many runs at once: the multi-seed sweep, proxy searches on a validation split, their ranking
and what each lever measured. The experiments themselves are data, in `plans`."""
from __future__ import annotations

import json
from pathlib import Path

from .config import RUNS_DIR, HParams, render_levers, run_name
from .models import ITERATIONS
from .runs import train_run


def run_missing(runs: list[tuple[HParams, str]], out_dir=RUNS_DIR, device="auto", data_dir=None,
                progress: bool = True) -> list[Path]:
    """Train every (hparams, tag) of `runs` not yet recorded in `out_dir`, resuming one whose
    checkpoint an interruption left behind; a progress bar counts the whole sweep. Returns the
    results files."""
    from tqdm import tqdm

    out_dir = Path(out_dir)
    paths = [out_dir / f"{run_name(hp, tag)}.json" for hp, tag in runs]
    sweep = tqdm(total=len(runs), initial=sum(p.exists() for p in paths), desc="sweep", unit="run",
                 disable=not progress)
    for (hp, tag), path in zip(runs, paths):
        if path.exists():
            continue
        sweep.write(f"--- {path.stem}")
        resume = (out_dir / f"{path.stem}.ckpt").exists()
        train_run(hp, device, data_dir, out_dir, resume=resume, progress=progress, tag=tag)
        sweep.update()
    sweep.close()
    return paths


def reproduce(models=ITERATIONS, seeds=(1, 2, 3), out_dir=RUNS_DIR, device="auto", data_dir=None,
              progress: bool = True) -> list[Path]:
    """Every (model, seed) with the model's own recipe (the original's for the iterations), seed
    by seed, recorded in `out_dir` (default: results/runs); see `run_missing`."""
    runs = [(HParams.for_model(m, seed=s), "") for s in seeds for m in models]
    return run_missing(runs, out_dir, device, data_dir, progress)


def search(candidates: list[dict], epochs: int = 5, val_size: int = 5000, seed: int = 1,
           out_dir="results/search", device="auto", progress: bool = True) -> list[dict]:
    """Short proxy runs to rank ideas on a validation split carved from the training set.

    Each candidate is a flat dict of settings with its `model` and the `tag` that names its
    recipe (several models can share a tag), applied to the original recipe. Each runs `epochs` epochs with `val_size` images
    held out; the test set is evaluated only once, after the last epoch, and `rank` never reads
    it. Recorded runs are skipped, so a search can be extended.
    """
    # from the original recipe (not the model's own): a candidate names every lever it changes
    runs = [(HParams.from_flat({**{k: v for k, v in c.items() if k != "tag"}, "epochs": epochs,
                                "val_size": val_size, "seed": seed}), c["tag"]) for c in candidates]
    return [json.loads(p.read_text()) for p in run_missing(runs, out_dir, device, None, progress)]


def rank(records: list[dict]) -> list[dict]:
    """Proxy runs best first by final validation accuracy (ties: fewer parameters first)."""
    rows = [{"name": r["name"], "model": r["model"], "params": r["params"],
             "epochs": len(r["history"]), "val_acc": 100 * r["history"][-1]["val_acc"],
             "val_loss": r["history"][-1]["val_loss"],
             "levers": HParams.from_dict(r["hparams"]).levers(ignore=("model", "seed", "epochs", "val_size"))}
            for r in records]
    return sorted(rows, key=lambda r: (-r["val_acc"], r["params"]))


def _markdown(header: str, aligns: str, rows: list[str]) -> str:
    return "\n".join([header, "|" + "|".join("---:" if a == "r" else "---" for a in aligns) + "|", *rows])


def render_ranking(rows: list[dict]) -> str:
    return _markdown("| run | params | levers (not the original's) | val acc (final epoch) | val loss |", "lrlrr",
                     [f"| {r['name']} | {r['params']:,} | {render_levers(r['levers'])} | "
                      f"{r['val_acc']:.2f} % | {r['val_loss']:.4f} |" for r in rows])


def ablation(records: list[dict], steps: list[tuple[str, str, str]]) -> list[dict]:
    """What each lever measured: `steps` are (lever, run before, run after) by run name; each row
    gives the final validation accuracy of both proxy runs and the difference in points."""
    by_name = {r["name"]: r for r in records}
    missing = [n for _, a, b in steps for n in (a, b) if n not in by_name]
    if missing:
        raise ValueError(f"no recorded proxy run named {', '.join(missing)}; run the search first")
    val = {n: 100 * r["history"][-1]["val_acc"] for n, r in by_name.items()}
    return [{"lever": lever, "before": a, "after": b, "val_before": val[a], "val_after": val[b],
             "delta": val[b] - val[a]} for lever, a, b in steps]


def render_ablation(rows: list[dict]) -> str:
    return _markdown("| lever | from → to | val acc before | val acc after | Δ (points) |", "llrrr",
                     [f"| {r['lever']} | {r['before']} → {r['after']} | {r['val_before']:.2f} % | "
                      f"{r['val_after']:.2f} % | {r['delta']:+.2f} |" for r in rows])
