"""Recorded runs: train one and write its results file and weights, read them back, summarise
them (per run and per model over seeds) and render the README's results table."""
from __future__ import annotations

import copy
import hashlib
import json
import statistics
import time
from pathlib import Path
from typing import Callable

import torch

from .config import GPU_RUNS_DIR, RESULTS_DIR, RUNS_DIR, TARGET_ACC, HParams, auto_tag, run_name
from .loaders import make_data
from .loop import TrainingError, fit
from .models import build_model, count_params
from .place import RunPlace
from .record import (Record, check_name_free, group_runs, load_run, load_runs, mean_std, recipe_diff, same_settings,
                     write_run)
from .runtime import as_device, cpu_model, device_name, git_commit, seeded, synchronize


def summarise_history(history: list[dict], target: float = TARGET_ACC) -> dict:
    """Final- and best-epoch test accuracy and the seconds until `target` was first reached;
    only the seconds for a run that never read the test set (a search's trial)."""
    timing = {"seconds_per_epoch": sum(r["seconds"] for r in history) / len(history),
              "seconds_total": history[-1]["elapsed"]}
    tested = [r for r in history if "test_acc" in r]  # every epoch, or the last when validating
    if not tested:
        return timing
    best = max(tested, key=lambda r: r["test_acc"])
    reached = next((r["elapsed"] for r in tested if r["test_acc"] >= target), None)
    return {"final_test_acc": history[-1]["test_acc"], "best_test_acc": best["test_acc"],
            "best_epoch": best["epoch"], **timing, "seconds_to_target": reached, "target_acc": target}


def _print_epoch(row: dict) -> None:
    accs = ", ".join(f"{k[:-4]} accuracy {row[k]:.2%}" for k in ("val_acc", "test_acc") if k in row)
    print(f"epoch {row['epoch']}: {accs} ({row['seconds']:.1f} s)", flush=True)


def train_run(hp: HParams, place: RunPlace | str | torch.device = "auto", resume: bool = False,
              tag: str | None = None, timed: int = 0, net=None,
              on_epoch: Callable[[dict], None] | None = None, read_test: bool = True):
    """Train `hp.model` as `hp` says on `place` (a `RunPlace`: its device, data folder, output
    folder and progress switch; or a plain device, e.g. "auto" or a torch.device) and record it
    in `place.out_dir` (default: the git-ignored scratch folder `effmnist-runs/` of the working
    folder) as `<name>.json` (the results) and `<name>.pt` (the final state_dict), where
    `<name>` is `run_name(hp, tag)`; `tag` defaults to
    `auto_tag(hp)` (what differs from the model's recipe). `net`: a class (or any callable
    without arguments) that builds the network instead of the registry, e.g. a notebook's own
    `Net`. Where it builds `hp.model`'s network (the same layers, shapes and outputs,
    `_same_network`) the run is that model's; any other network is the caller's own, recorded as `<model>-net<digest>`
    (`network_digest`) with its own parameter count and `based_on` naming `hp.model`, so it is
    never mistaken for the registry's model. Returns (model, history,
    record, data). A checkpoint `<name>.ckpt` is kept while the run is under way; after an
    interruption, `resume=True` continues from the last finished epoch. A finished run of that
    name with other settings is never replaced (RunConflict); one with the same settings is
    trained again and replaced. `timed`: see `loop.fit`. The weights are initialised (and
    dropout drawn) from torch's generators seeded with `hp.seed` inside the run only
    (`runtime.seeded`). `hp.allocator` lasts a process's life, so the process that runs the
    run applies it (`runtime.keep_freed_memory`: the CLI, the runner, the benchmark).
    `on_epoch(row)` is called after each finished epoch (after its printed line); an exception
    it raises (a search pruning its trial) stops the run; its checkpoint holds the epochs before.
    `read_test=False` (a search's trial): the test set is never loaded or read, the record has
    no test fields, and the run is judged on its validation split (`hp.val_size` > 0).
    """
    tag = auto_tag(hp) if tag is None else tag
    place = RunPlace.of(place)
    device, out_dir = as_device(place.device), place.out()
    with seeded(hp.seed, device):
        model, own = _build(hp, net)
        name = run_name(hp, tag) if own is None else f"{own}{'-' + tag if tag else ''}_seed{hp.seed}"
        out_dir.mkdir(parents=True, exist_ok=True)
        check_name_free(out_dir / f"{name}.json", hp)
        ckpt = out_dir / f"{name}.ckpt"
        if ckpt.exists() and not resume:
            raise TrainingError(f"{ckpt} holds an unfinished run; resume it (--resume) "
                                "or delete the file to start over.")
        history, data, load_seconds = _train(model.to(device), hp, place.with_(device=device), ckpt, resume, name, timed, on_epoch,
                                             read_test)
    record = run_record(hp, tag, model, history, data, device, load_seconds)
    if own is not None:  # a network of the caller's own, not hp.model's
        record = {**record, "name": name, "model": own, "based_on": hp.model}
    write_run(out_dir, record, model)
    ckpt.unlink(missing_ok=True)
    return model.eval(), history, Record(record), data  # eval mode: ready to judge, as load_run's


def run_record(hp: HParams, tag: str, model, history: list[dict], data, device, load_seconds: float) -> dict:
    """The results file of a finished run (what `write_run` writes beside its weights)."""
    return {"name": run_name(hp, tag), "model": hp.model, "tag": tag, "params": count_params(model),
            "hparams": hp.to_dict(), "seed": hp.seed, **summarise_history(history),
            "train_seconds": sum(r["train_seconds"] for r in history),
            "warm_up_seconds": history[0].get("warm_up_seconds", 0.0), "load_seconds": load_seconds,
            "train_images": data.train.num_images, "history": history,
            "device": device_name(device), "cpu": cpu_model(), "torch": torch.__version__,
            "git_commit": git_commit(), "data_source": data.source,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def network_digest(model: torch.nn.Module) -> str:
    """Six hex digits that name a network by its layers' kinds and its parameter and buffer
    shapes: an edit that changes either (a channel count, a max-pool for an average pool) gives
    another digest."""
    layers = ";".join(f"{k}:{type(m).__name__}" for k, m in model.named_modules() if k)  # not the class name
    shapes = ";".join(f"{k}:{tuple(v.shape)}" for k, v in model.state_dict().items())
    return hashlib.sha256(f"{layers}|{shapes}".encode()).hexdigest()[:6]


def _same_network(own: torch.nn.Module, reference: torch.nn.Module) -> bool:
    """Whether `own` is `reference`'s network: the same layers, and the same outputs with its weights."""
    if network_digest(own) != network_digest(reference):
        return False
    probe = copy.deepcopy(own).eval()
    probe.load_state_dict(reference.state_dict())
    x = torch.linspace(-1, 1, 2 * 28 * 28).reshape(2, 1, 28, 28)
    with torch.no_grad():
        return torch.allclose(probe(x), reference.eval()(x))


def _build(hp: HParams, net) -> tuple[torch.nn.Module, str | None]:
    """The network to train, and None where it is `hp.model`'s; for a network of the caller's own
    (a learner's edited `Net`), the name it is recorded under: the model's name plus `net` and its
    digest, e.g. `iter1-net3f2a9c`."""
    if net is None:
        return build_model(hp.model), None
    own = net()
    with torch.random.fork_rng(devices=[]):  # the reference's initialisation draws nothing of the run's
        model = build_model(hp.model)
    if _same_network(own, model):
        return own, None
    digest = network_digest(own)
    if digest == network_digest(model):  # the same layers, another forward pass
        digest = hashlib.sha256(f"{digest}|forward".encode()).hexdigest()[:6]
    return own, f"{hp.model}-net{digest}"


def load_data(hp: HParams, place: RunPlace, read_test: bool, seed: int | None = None):
    """(`make_data` as `hp` says on `place`, its shuffle drawn from `seed` (default `hp.seed`),
    the seconds loading took): a run's and a population's data, timed alike."""
    start = time.perf_counter()
    data = make_data(place, hp, seed=seed, read_test=read_test)
    synchronize(as_device(place.device))
    return data, time.perf_counter() - start


def _train(model, hp: HParams, place: RunPlace, ckpt: Path, resume: bool, name: str, timed: int, on_epoch,
           read_test: bool):
    data, load_seconds = load_data(hp, place, read_test)
    device, progress = place.device, place.progress
    if progress:
        print(f"{name}: {count_params(model):,} parameters on {device_name(device)}; {data.source}",
              flush=True)
    teacher = load_teacher(hp, device) if hp.optim.teacher else None
    hooks = [h for h in (_print_epoch if progress else None, on_epoch) if h is not None]
    history = fit(model, data, hp, teacher=teacher, checkpoint=ckpt, resume=resume, progress=progress,
                  on_epoch=lambda row: [hook(row) for hook in hooks], timed=timed)
    return history, data, load_seconds


def load_teacher(hp: HParams, device, results_dir=RESULTS_DIR) -> torch.nn.Module:
    """The model of the recorded run `hp.optim.teacher` (relative to `results_dir`), on `device`
    in eval mode. It must not have trained on `hp`'s validation images: the held-out images are
    the first `val_size` of one fixed permutation, so a teacher that held out at least as many
    never saw them."""
    path = Path(results_dir) / f"{hp.optim.teacher}.json"
    if not path.is_file():
        raise ValueError(f"teacher {hp.optim.teacher!r}: no recorded run at {path}; name a results file "
                         "relative to results/ without .json, e.g. 'runs/f20b_seed1'")
    model, record = load_run(path)
    held_out = record.hp.val_size
    if hp.val_size > held_out:
        raise ValueError(f"teacher {hp.optim.teacher!r} held out {held_out:,} images but this run chooses on "
                         f"{hp.val_size:,}: the teacher trained on some of them; use a teacher recorded with "
                         f"val_size >= {hp.val_size}")
    return model.to(device)


def describe_run(record: dict) -> str:
    """A few lines that say what a recorded run reached, for notebooks and the CLI."""
    h, target, reached = record["history"], record["target_acc"], record["seconds_to_target"]
    above = [r["epoch"] for r in h if r.get("test_acc", 0) >= target]
    own = f" (your variant of {record['based_on']})" if "based_on" in record else ""
    return "\n".join([
        f"{record['model']}{own}: {record['params']:,} parameters, seed {record['seed']}, "
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
    if "based_on" in record:
        return (f"{label} trained your variant {record['model']} ({record['params']:,} parameters), not "
                f"{record['based_on']}: no recorded run has its network, so there is nothing to compare it with")
    seeds = [r for r in load_runs(run_dir) if r.variant == record["model"]]
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
    mean, std = mean_std(finals)
    lines.append(f"final-epoch test accuracy: {label} {100 * record['final_test_acc']:.2f} %; recorded seeds "
                 f"{', '.join(str(r['seed']) for r in seeds)}: {', '.join(f'{a:.2f}' for a in finals)} % "
                 f"(mean {mean:.2f} ± {std:.2f} %)")
    return "\n".join(lines)


def recorded_times(name: str, run_dirs=(RUNS_DIR, GPU_RUNS_DIR)) -> str:
    """How long training `name` (a model, or a model-tag variant) took in its recorded runs, per
    device: the median seconds per epoch and the whole run, e.g. for a notebook's training cell."""
    runs = [r for d in run_dirs if Path(d).is_dir() for r in load_runs(d) if r.variant == name]
    by_device = group_runs(runs, key=lambda r: r["device"])
    lines = []
    for device, rs in by_device.items():
        per_epoch = statistics.median(e["seconds"] for r in rs for e in r["history"])
        epochs = len(rs[0]["history"])
        lines.append(f"{device}: {per_epoch:.1f} s per epoch, about {per_epoch * epochs / 60:.0f} min "
                     f"for {epochs} epochs (median of {len(rs)} recorded run{'s' * (len(rs) > 1)})")
    return "\n".join(lines) or f"no recorded runs of {name}"




def run_all_times(notebook: str, path=RESULTS_DIR / "notebooks" / "run_all.json") -> str:
    """How long "Run all" took in the recorded executions of `notebook` (its file name, or the
    start of it such as "01"), the latest per device: one line each, the device named."""
    rows = [r for r in json.loads(Path(path).read_text()) if r["notebook"].startswith(notebook)]
    latest = {r["device"]: r for r in sorted(rows, key=lambda r: r["executed"])}
    lines = [f"{device}: about {max(1, round(r['seconds'] / 60))} min"
             + (f" ({r['note']})" if r.get("note") else "") for device, r in sorted(latest.items())]
    return "\n".join(["Run all took, in this notebook's recorded executions:", *lines]) if lines else \
        "Run all: no execution of this notebook is recorded yet"
