"""Recorded runs: train one and write its results file and weights, read them back, summarise
them (per run and per model over seeds) and render the README's results table."""
from __future__ import annotations

import json
import statistics
import time
from collections import defaultdict
from pathlib import Path

import torch

from .config import (GPU_RUNS_DIR, RESULTS_DIR, RUNS_DIR, SCRATCH_DIR, TARGET_ACC, HParams, describe_levers,
                     run_name)
from .loaders import make_data
from .loop import TrainingError, fit
from .models import MODELS, ORIGINAL_ACC, build_model, count_params
from .runtime import as_device, cpu_model, device_name, git_commit, seed_everything, synchronize


def summarise_history(history: list[dict], target: float = TARGET_ACC) -> dict:
    """Final- and best-epoch test accuracy and the seconds until `target` was first reached."""
    tested = [r for r in history if "test_acc" in r]  # every epoch, or the last when validating
    best = max(tested, key=lambda r: r["test_acc"])
    reached = next((r["elapsed"] for r in tested if r["test_acc"] >= target), None)
    return {"final_test_acc": history[-1]["test_acc"], "best_test_acc": best["test_acc"],
            "best_epoch": best["epoch"],
            "seconds_per_epoch": sum(r["seconds"] for r in history) / len(history),
            "seconds_total": history[-1]["elapsed"], "seconds_to_target": reached,
            "target_acc": target}


def _print_epoch(row: dict) -> None:
    accs = ", ".join(f"{k[:-4]} accuracy {row[k]:.2%}" for k in ("val_acc", "test_acc") if k in row)
    print(f"epoch {row['epoch']}: {accs} ({row['seconds']:.1f} s)", flush=True)


def recipe_diff(here: dict, there: dict | None) -> list[tuple[str, object, object]]:
    """The settings in which two runs' `hparams` differ: [(name, value here, value there)]."""
    ours = HParams.from_dict(here).flat()
    theirs = HParams.from_dict(there).flat() if there else {}
    return [(k, v, theirs.get(k)) for k, v in ours.items() if theirs.get(k) != v]


def same_settings(a: dict | None, b: dict | None) -> bool:
    """Whether two recorded `hparams` define the same run. Read back through HParams, so that a
    setting added since one was recorded counts at its default (which leaves runs unchanged)."""
    try:
        return a is not None and b is not None and HParams.from_dict(a) == HParams.from_dict(b)
    except (TypeError, ValueError):
        return False


class RunConflict(TrainingError):
    """A finished run with other settings already has this run's name."""


def check_name_free(path: Path, hp: HParams) -> bool:
    """True when `path` holds a finished run with exactly `hp`'s settings (it may be skipped);
    False when nothing is recorded there; a RunConflict when a run with other settings is."""
    if not path.exists():
        return False
    recorded = json.loads(path.read_text()).get("hparams")
    if same_settings(recorded, hp.to_dict()):
        return True
    diff = ", ".join(f"{k} {b!r} there, {a!r} here" for k, a, b in recipe_diff(hp.to_dict(), recorded))
    raise RunConflict(f"{path} holds a finished run with other settings ({diff}); give this run "
                      "another tag (train --tag), another --out-dir, or delete that file to replace it.")


def train_run(hp: HParams, device="auto", data_dir=None, out_dir=SCRATCH_DIR, resume: bool = False,
              progress: bool = True, tag: str = "", evaluate_every_epoch: bool = True,
              warm_up_steps: int = 0):
    """Train `hp.model` as `hp` says and record it in `out_dir` (default: the git-ignored scratch
    folder `effmnist-runs/` of the working folder) as `<name>.json` (the results) and `<name>.pt`
    (the final state_dict), where `<name>` is `run_name(hp, tag)`. Returns (model, history,
    record, data). A checkpoint `<name>.ckpt` is kept while the run is under way; after an
    interruption, `resume=True` continues from the last finished epoch. A finished run of that
    name with other settings is never replaced (RunConflict); one with the same settings is
    trained again and replaced. `evaluate_every_epoch` and `warm_up_steps`: see `loop.fit`.
    """
    device, out_dir, name = as_device(device), Path(out_dir), run_name(hp, tag)
    out_dir.mkdir(parents=True, exist_ok=True)
    check_name_free(out_dir / f"{name}.json", hp)
    ckpt = out_dir / f"{name}.ckpt"
    if ckpt.exists() and not resume:
        raise TrainingError(f"{ckpt} holds an unfinished run; resume it (--resume) "
                            "or delete the file to start over.")
    seed_everything(hp.seed)
    model = build_model(hp.model).to(device)
    start = time.perf_counter()
    data = make_data(device, data_dir, hp.optim.batch_size, hp.seed, hp.val_size, hp.train_subset,
                     hp.loader, hp.augment)
    synchronize(device)
    load_seconds = time.perf_counter() - start
    if progress:
        print(f"{name}: {count_params(model):,} parameters on {device_name(device)}; {data.source}",
              flush=True)
    teacher = load_teacher(hp, device) if hp.optim.teacher else None
    history = fit(model, data, hp, checkpoint=ckpt, resume=resume, progress=progress,
                  on_epoch=_print_epoch if progress else None,
                  evaluate_every_epoch=evaluate_every_epoch, warm_up_steps=warm_up_steps, teacher=teacher)
    record = {"name": name, "model": hp.model, "tag": tag, "params": count_params(model),
              "hparams": hp.to_dict(), "seed": hp.seed, **summarise_history(history),
              "train_seconds": sum(r["train_seconds"] for r in history),
              "warm_up_seconds": history[0].get("warm_up_seconds", 0.0), "load_seconds": load_seconds,
              "train_images": data.train.num_images, "history": history,
              "device": device_name(device), "cpu": cpu_model(), "torch": torch.__version__,
              "git_commit": git_commit(), "data_source": data.source,
              "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    # CPU tensors: a run recorded on a GPU loads anywhere
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, out_dir / f"{name}.pt")
    (out_dir / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")
    ckpt.unlink(missing_ok=True)
    return model, history, record, data


def load_teacher(hp: HParams, device, results_dir=RESULTS_DIR) -> torch.nn.Module:
    """The model of the recorded run `hp.optim.teacher` (relative to `results_dir`), on `device`
    in eval mode. It must not have trained on `hp`'s validation images: the held-out images are
    the first `val_size` of one fixed permutation, so a teacher that held out at least as many
    never saw them."""
    from .deploy import load_run  # deploy imports this module

    path = Path(results_dir) / f"{hp.optim.teacher}.json"
    if not path.is_file():
        raise ValueError(f"teacher {hp.optim.teacher!r}: no recorded run at {path}; name a results file "
                         "relative to results/ without .json, e.g. 'runs/f20b_seed1'")
    model, record = load_run(path)
    held_out = record["hparams"]["val_size"]
    if hp.val_size > held_out:
        raise ValueError(f"teacher {hp.optim.teacher!r} held out {held_out:,} images but this run chooses on "
                         f"{hp.val_size:,}: the teacher trained on some of them; use a teacher recorded with "
                         f"val_size >= {hp.val_size}")
    return model.to(device)


def load_runs(run_dir=RUNS_DIR) -> list[dict]:
    """Every results file (`<name>_seed<k>.json`) in `run_dir`, by name; a missing folder is an
    error that says why."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"no recorded results at {run_dir}: they live in the project's clone "
                         "(on Colab the notebook's first cell clones it)")
    return [json.loads(p.read_text()) for p in sorted(run_dir.glob("*_seed*.json"))]


def describe_run(record: dict) -> str:
    """A few lines that say what a recorded run reached, for notebooks and the CLI."""
    h, target, reached = record["history"], record["target_acc"], record["seconds_to_target"]
    above = [r["epoch"] for r in h if r.get("test_acc", 0) >= target]
    return "\n".join([
        f"{record['model']}: {record['params']:,} parameters, seed {record['seed']}, "
        f"{len(h)} epochs on {record['device']}",
        f"final-epoch test accuracy: {record['final_test_acc']:.2%} "
        f"(best {record['best_test_acc']:.2%} at epoch {record['best_epoch']})",
        f"epochs at or above {target:.1%}: {', '.join(map(str, above)) or 'none'}",
        f"{record['seconds_per_epoch']:.1f} s per epoch; "
        + (f"{target:.1%} first reached after {reached:.0f} s" if reached is not None
           else f"{target:.1%} not reached"),
    ])


def _where(record: dict) -> str:
    cpu = f", CPU {record.get('cpu', 'model not recorded')}" if record["device"].startswith("cpu") else ""
    return f"{record['device']}{cpu}, torch {record['torch']}"


def compare_with_recorded(record: dict, run_dir=RUNS_DIR, label: str = "this run") -> str:
    """A fresh run beside the recorded run of its model and seed (same recipe): where each was
    trained, how many epochs have the same test accuracy, and the recorded seeds' spread. The
    same code, seed, torch version and CPU model (or GPU) repeat a run to the last digit; any
    other machine rounds differently from the first step on and gives another run, which should
    fall inside that spread."""
    seeds = [r for r in load_runs(run_dir) if variant(r) == record["model"]]
    twin = next((r for r in seeds if r["seed"] == record["seed"]), None)
    if twin is None:
        return f"no recorded run of {record['model']} seed {record['seed']} in {run_dir}"
    lines = [f"recorded run {twin['name']}: {_where(twin)}", f"{label}: {_where(record)}"]
    if not same_settings(record["hparams"], twin["hparams"]):
        diff = ", ".join(f"{k} {a!r} here, {b!r} there" for k, a, b in recipe_diff(record["hparams"], twin["hparams"]))
        lines.append(f"{label}: the recipe differs from the recorded one ({diff}): no epoch is expected to match")
    else:
        same = sum(a["test_acc"] == b["test_acc"] for a, b in zip(record["history"], twin["history"]))
        lines.append(f"epochs whose test accuracy equals the recorded run's: {same} of "
                     f"{len(record['history'])}")
    seeds.sort(key=lambda r: r["seed"])
    finals = [100 * r["final_test_acc"] for r in seeds]
    mean, std = _mean_std(finals)
    lines.append(f"final-epoch test accuracy: {label} {100 * record['final_test_acc']:.2f} %; recorded seeds "
                 f"{', '.join(str(r['seed']) for r in seeds)}: {', '.join(f'{a:.2f}' for a in finals)} % "
                 f"(mean {mean:.2f} ± {std:.2f} %)")
    return "\n".join(lines)


def recorded_times(name: str, run_dirs=(RUNS_DIR, GPU_RUNS_DIR)) -> str:
    """How long training `name` (a model, or a model-tag variant) took in its recorded runs, per
    device: the median seconds per epoch and the whole run, e.g. for a notebook's training cell."""
    runs = [r for d in run_dirs if Path(d).is_dir() for r in load_runs(d) if variant(r) == name]
    by_device = defaultdict(list)
    for r in runs:
        by_device[r["device"]].append(r)
    lines = []
    for device, rs in by_device.items():
        per_epoch = statistics.median(e["seconds"] for r in rs for e in r["history"])
        epochs = len(rs[0]["history"])
        lines.append(f"{device}: {per_epoch:.1f} s per epoch, about {per_epoch * epochs / 60:.0f} min "
                     f"for {epochs} epochs (median of {len(rs)} recorded run{'s' * (len(rs) > 1)})")
    return "\n".join(lines) or f"no recorded runs of {name}"


def timed_on(record: dict) -> str:
    """The CPU model a record (a run or a benchmark) was measured on; "not recorded" for records
    older than the field."""
    return record.get("cpu") or "not recorded"


def variant(record: dict) -> str:
    """A recorded run's model and recipe tag without the seed: what its seeds are grouped by."""
    return record["name"].rsplit("_seed", 1)[0]


def _mean_std(values):
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _summarise_group(name: str, rs: list[dict]) -> dict:
    # read back through HParams (as same_settings does): a setting added since a seed was
    # recorded counts at its default, so seeds recorded by older code still group with new ones
    recipes = {HParams.from_dict(r["hparams"]).with_(seed=0) for r in rs}
    if len(recipes) > 1:
        raise ValueError(f"the recorded runs of {name} use different recipes; "
                         "move the odd ones out of the run folder")
    final = _mean_std([100 * r["final_test_acc"] for r in rs])
    reached = [r["seconds_to_target"] for r in rs if r["seconds_to_target"] is not None]
    return {"model": name, "params": rs[0]["params"], "n": len(rs),
            "recipe": HParams.from_dict(rs[0]["hparams"]).levers(),
            "seeds": sorted(r["seed"] for r in rs), "final_mean": final[0], "final_std": final[1],
            "best_mean": statistics.mean(100 * r["best_test_acc"] for r in rs),
            "original_acc": ORIGINAL_ACC.get(name),
            # the median: epochs that shared the 2 cores with other work run several times
            # slower, and one such epoch would move a mean far more
            "sec_per_epoch": statistics.median(e["seconds"] for r in rs for e in r["history"]),
            "sec_to_target": statistics.mean(reached) if reached else None,
            "n_reached": len(reached), "devices": sorted({r["device"] for r in rs})}


def summarise_runs(runs: list[dict]) -> list[dict]:
    """One row per model and recipe variant (registry order): params, seeds, mean/std of the
    final and mean of the best accuracy (%), seconds per epoch and to TARGET_ACC, devices. Runs of one
    variant must share their recipe."""
    groups = defaultdict(list)
    for r in runs:
        groups[variant(r)].append(r)
    order = sorted(groups, key=lambda g: (list(MODELS).index(groups[g][0]["model"]), g))
    return [_summarise_group(g, groups[g]) for g in order]


def render_table(rows: list[dict], gpu_rows: list[dict] = ()) -> str:
    """The README's results table (markdown), generated from `summarise_runs` rows; `gpu_rows`
    (the same, of runs on a GPU) add each model's GPU seconds per epoch."""
    gpu = {r["model"]: r["sec_per_epoch"] for r in gpu_rows}
    lines = ["| model | params | recipe | original study (1 run) | ours: final epoch, mean ± std | seeds "
             f"| ours: best epoch, mean | s / epoch (median) | time to {100 * TARGET_ACC:g} % (runs reaching it) | device "
             "| s / epoch on a GPU (1 run) |",
             "|---|---:|---|---:|---:|---|---:|---:|---:|---|---:|"]
    for r in rows:
        original = f"{r['original_acc']:.2f} %" if r["original_acc"] is not None else "—"
        to_target = (f"{r['sec_to_target']:.0f} s ({r['n_reached']}/{r['n']})" if r["sec_to_target"]
                     else f"not reached (0/{r['n']})")
        spread = f" ± {r['final_std']:.2f} %" if r["n"] > 1 else " % (1 run)"
        lines.append(f"| {r['model']} | {r['params']:,} | {describe_levers(r['recipe'])} | {original} | "
                     f"{r['final_mean']:.2f}{spread} | {', '.join(map(str, r['seeds']))} | "
                     f"{r['best_mean']:.2f} % | {r['sec_per_epoch']:.1f} | {to_target} | "
                     f"{'; '.join(r['devices'])} | {_gpu_cell(gpu.get(r['model']))} |")
    return "\n".join(lines)


def _gpu_cell(seconds):
    return f"{seconds:.2f}" if seconds is not None else "not measured"


def check_params(runs: list[dict]) -> list[str]:
    """Runs whose recorded parameter count differs from the model's (empty when all agree)."""
    return [f"{r['name']}: recorded {r['params']}, model has {count_params(build_model(r['model']))}"
            for r in runs if r["params"] != count_params(build_model(r["model"]))]
