"""How much faster a population trains its members than as many solo runs (a benchmark, not a
test): member-epochs per second, side by side in one process, for populations of N = 1 ... 32
members against solo runs of the same model and recipe.

Each measurement trains the same number of batches of 128 through the package's own loops
(`loop.fit` for a solo run, `population.fit_population` for a population), after untimed
warm-up steps, timed by their own clocks (first step to last, evaluation apart; each member's
batches are shuffled and augmented for it, as in a solo run). N solo runs take N times one
solo run's seconds, so a solo run's rate is the throughput of N solo runs per member. The
measurements alternate over rounds so that drift in the machine's speed hits all alike; the
median is kept. One epoch is the 60,000 training images of the models' recipes.
"""
from __future__ import annotations

import json
import statistics
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from ..core.config import HParams, record_dir
from ..core.loaders import make_data
from ..core.loop import fit
from ..core.markdown import table
from ..core.models import build_model
from ..core.place import RunPlace
from ..core.plots import DPI
from ..core.population import fit_population
from ..core.population_runs import build_population
from ..core.runtime import as_device, cpu_model, device_name, keep_freed_memory, seeded

MODELS = ("iter6", "f8a", "t1b")
SIZES = (1, 2, 4, 8, 16, 32)
EPOCH_IMAGES = 60_000
FOLDER = Path("speed")  # under results/: population_bench_<device kind>.json, one per device kind


def _seconds(hp: HParams, n: int | None, data, warmup: int, device) -> float:
    """Training seconds of one epoch of `data.train` (a fixed number of batches): a solo run of
    seed 1 when `n` is None, else a population of seeds 1 ... n."""
    if n is None:
        with seeded(1, device):
            model = build_model(hp.model).to(device)
        return fit(model, data, hp, progress=False, timed=warmup)[0]["train_seconds"]
    seeds = list(range(1, n + 1))
    pop = build_population(hp.model, seeds, device)
    return fit_population(pop, data, seeds, hp, timed=warmup)[0][0]["train_seconds"]


def population_bench(models=MODELS, sizes=SIZES, steps: int = 10, rounds: int = 2, warmup: int = 2,
                     threads: int | None = None, device="cpu", data_dir=None, progress: bool = True) -> dict:
    """Member-epochs per second of a solo run and of populations of each size in `sizes`, per
    model (its own recipe, `steps` batches of 128 timed after `warmup` untimed ones), the median
    over `rounds`, and each population's ratio to the solo rate. `threads`: torch's CPU threads.
    The process keeps the memory it frees (`runtime.keep_freed_memory`, for solo runs and
    populations alike): a population's larger activations would otherwise come as fresh pages."""
    device = as_device(device)
    if threads:
        torch.set_num_threads(threads)
    keep_freed_memory()
    hps = {m: HParams.for_model(m, epochs=1, train_subset=steps * 128, batch_size=128) for m in models}
    data = make_data(RunPlace(device, data_dir), HParams(train_subset=steps * 128))  # batches of 128, seed 1
    data.test = None  # a timed epoch reads nothing else; the members' loaders share these images
    seconds = {m: {"solo": [], **{str(n): [] for n in sizes}} for m in models}
    for r in range(rounds):
        for m in models:
            for n in (None, *sizes):
                key = "solo" if n is None else str(n)
                seconds[m][key].append(_seconds(hps[m], n, data, warmup, device))
                if progress:
                    print(f"round {r + 1}/{rounds} {m:>6} {key:>4}: {seconds[m][key][-1]:7.2f} s", flush=True)
    epochs = steps * 128 / EPOCH_IMAGES
    rates = {m: {k: (1 if k == "solo" else int(k)) * epochs / statistics.median(v) for k, v in s.items()}
             for m, s in seconds.items()}
    return {"device": device_name(device), "cpu": cpu_model(), "threads": torch.get_num_threads(),
            "torch": torch.__version__, "steps": steps, "batch_size": 128, "warm_up_steps": warmup,
            "rounds": rounds, "allocator": "keep", "epoch_images": EPOCH_IMAGES, "sizes": list(sizes), "seconds": seconds,
            "member_epochs_per_s": rates,
            "ratio_vs_solo": {m: {str(n): r[str(n)] / r["solo"] for n in sizes} for m, r in rates.items()}}


def save_population_bench(result: dict, results_dir=None) -> Path:
    """Record `result` as results/speed/population_bench_<cpu|cuda|...>.json (docs/speed.md's
    table and figure show every device kind recorded)."""
    folder = (Path(results_dir) if results_dir is not None else record_dir()) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"population_bench_{result['device'].split(' ')[0]}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    return path


def load_population_benches(results_dir) -> list[dict]:
    """Every recorded population benchmark under `results_dir`, by file name (cpu before cuda)."""
    return [json.loads(p.read_text()) for p in sorted((Path(results_dir) / FOLDER).glob("population_bench_*.json"))]


def render_population_bench(results: list[dict]) -> str:
    """The speed page's tables, one per recorded device: per model, a solo run's member-epochs
    per second, then each population's and its ratio to the solo rate, under a line saying where
    and how it was measured and each model's best ratio."""
    return "\n\n".join(_render_one(r) for r in results)


def _render_one(result: dict) -> str:
    sizes = result["sizes"]
    rows = [[m, f"{rates['solo']:.3f}",
             *(f"{rates[str(n)]:.3f} ({result['ratio_vs_solo'][m][str(n)]:.2f}×)" for n in sizes)]
            for m, rates in result["member_epochs_per_s"].items()]
    text = table(["model", "solo run", *(f"N = {n}" for n in sizes)], "lr" + "r" * len(sizes), rows)
    best = {m: max(sizes, key=lambda n: r[str(n)]) for m, r in result["ratio_vs_solo"].items()}
    where = (f"Member-epochs per second (× a solo run's), {_where(result)}, torch {result['torch']}: "
             f"{result['steps']} batches of {result['batch_size']} after {result['warm_up_steps']} untimed, "
             f"median of {result['rounds']} rounds. Best: "
             + "; ".join(f"{m} {result['ratio_vs_solo'][m][str(n)]:.2f}× at N = {n}" for m, n in best.items()) + ".")
    return where + "\n\n" + text


def _where(result: dict) -> str:
    return result["device"] + (f", {result['cpu']}" if result["device"].startswith("cpu") else "")


def plot_population_bench(results: list[dict]):
    """Each model's population throughput as a multiple of its solo runs', against N (log scale),
    one panel per recorded device."""
    fig, axes = plt.subplots(1, len(results), figsize=(6.4 * len(results), 3.8), dpi=DPI, squeeze=False)
    for ax, result in zip(axes[0], results):
        sizes = result["sizes"]
        for m, ratios in result["ratio_vs_solo"].items():
            ax.plot(sizes, [ratios[str(n)] for n in sizes], marker="o", label=m)
        ax.axhline(1.0, color="grey", linestyle="--", linewidth=1, label="N solo runs")
        ax.set_xscale("log", base=2)
        ax.set_xticks(sizes, [str(n) for n in sizes])
        ax.set(xlabel="members in the population (N)", ylabel="throughput (× solo runs)",
               title=f"Population training against solo runs\n{_where(result)}")
        ax.title.set_fontsize(10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=9)
    fig.tight_layout()
    return fig
