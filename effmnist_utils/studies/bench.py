"""Side-by-side speed of the original study's per-sample pipeline and the fast loader (a
benchmark, not a test), through the one training loop (`loop.fit`).

Each variant trains the same model for the same number of batches on one device (after untimed
warm-up steps), in alternating rounds so that drift in the machine's speed hits all alike, each
measurement in a fresh process: one lever (`allocator="keep"`) lasts for a process's life, and
none may inherit another's compiled code or memory. Nothing is written unless asked
(`save_bench`, `bench --record`).
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from ..core.config import HParams, record_dir
from ..core.data import load_mnist
from ..core.loaders import DeviceLoader, make_data
from ..core.loop import evaluate, fit
from ..core.markdown import table
from ..core.models import build_model
from ..core.place import RunPlace
from ..core.record import Record
from ..core.runtime import as_device, cpu_model, device_name, keep_freed_memory, seeded, synchronize

# The levers timed against the original pipeline: name -> settings on top of the original recipe.
# "keep" (glibc keeps freed memory) changes no number; compile and bf16 change the last digits.
KEEP = {"allocator": "keep"}
VARIANTS = {"reference": {"loader": "reference"}, "reference+keep": {"loader": "reference", **KEEP},
            "fast": {}, "fast+keep": KEEP, "fast+keep+compile": {**KEEP, "compile_mode": "default"},
            "fast+keep+bf16": {**KEEP, "precision": "bf16"}}
EVAL_BATCHES = (1000, 256)  # why 256 is the default evaluation batch


def train_rate(hp: HParams, warmup: int, device="cpu", data_dir=None) -> float:
    """Images per second of one epoch of `hp`'s training data, after `warmup` untimed steps:
    fit's own clock, evaluation apart. In this process (`_train_rate_apart`: in a fresh one)."""
    device = as_device(device)
    data = make_data(RunPlace(device, data_dir), hp, seed=1)
    if hp.allocator == "keep":
        keep_freed_memory()  # for the rest of the process: each variant is timed in a fresh one
    with seeded(hp.seed, device):
        model = build_model(hp.model).to(device)
        history = fit(model, data, hp, progress=False, timed=warmup)
    return data.train.num_images / history[0]["train_seconds"]


def _train_rate_apart(hp: HParams, warmup: int, device: str, data_dir) -> float:
    code = ("import json, sys; from effmnist_utils.studies.bench import train_rate; "
            "from effmnist_utils.core.config import HParams; a = json.load(sys.stdin); "
            "print(train_rate(HParams.from_dict(a['hp']), a['warmup'], a['device'], a['data_dir']))")
    args = {"hp": hp.to_dict(), "warmup": warmup, "device": device,
            "data_dir": None if data_dir is None else str(data_dir)}
    done = subprocess.run([sys.executable, "-c", code], input=json.dumps(args), capture_output=True,
                          text=True)
    if done.returncode:
        raise RuntimeError(f"the benchmark's process for {hp} failed:\n{done.stderr[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1])


def _train_rates(model_name, variants, rounds, batches, warmup, batch_size, device, data_dir, progress):
    hps = {name: HParams.for_model(model_name, epochs=1, batch_size=batch_size,
                                   train_subset=batches * batch_size).with_(**VARIANTS[name])
           for name in variants}
    rates = {name: [] for name in variants}
    for r in range(rounds):
        for name in variants:
            rates[name].append(_train_rate_apart(hps[name], warmup, str(device), data_dir))
            if progress:
                print(f"round {r + 1}/{rounds} {name:>13}: {rates[name][-1]:8.0f} img/s", flush=True)
    return rates


def _eval_rates(model, x_test, y_test, device) -> dict[str, float]:
    rates = {}
    for eval_batch in EVAL_BATCHES:
        test = DeviceLoader(x_test, y_test, eval_batch, device)
        evaluate(model, test)  # warm-up
        start = time.perf_counter()
        evaluate(model, test)
        synchronize(device)
        rates[str(eval_batch)] = len(y_test) / (time.perf_counter() - start)
    return rates


def bench(model_name="iter6", batches=100, rounds=3, warmup=10, batch_size=128, device="auto",
          data_dir=None, compile_model=False, progress=True) -> dict:
    """{variant: median images/s}, each ratio to the reference, and evaluation rates by batch size."""
    device = as_device(device)
    variants = [v for v in VARIANTS if compile_model or "compile_mode" not in VARIANTS[v]]
    rates = _train_rates(model_name, variants, rounds, batches, warmup, batch_size, device, data_dir,
                         progress)
    median = {k: statistics.median(v) for k, v in rates.items()}
    _, (x_test, y_test), _ = load_mnist(data_dir)
    return {"model": model_name, "device": device_name(device), "cpu": cpu_model(), "torch": torch.__version__,
            "batches": batches, "batch_size": batch_size, "rounds": rounds,
            "train_img_per_s": median, "train_img_per_s_all": rates,
            "ratio_vs_reference": {k: v / median["reference"] for k, v in median.items()},
            "eval_img_per_s": _eval_rates(build_model(model_name).to(device), x_test, y_test, device)}


def format_bench(result: dict) -> str:
    lines = [f"{result['model']} on {result['device']}, {result['batches']} batches of "
             f"{result['batch_size']}, median of {result['rounds']} rounds:"]
    for name, rate in result["train_img_per_s"].items():
        lines.append(f"  {name:>13}: {rate:8.0f} img/s (train), "
                     f"{result['ratio_vs_reference'][name]:.2f}x the reference")
    lines.append("  evaluation: " + ", ".join(f"batch {b}: {v:.0f} img/s"
                                            for b, v in result["eval_img_per_s"].items()))
    return "\n".join(lines)


def save_bench(result: dict, out_dir=None) -> Path:
    """Record `result` in `out_dir` (default: results/bench of the clone, which the README's
    speed table is generated from)."""
    out = Path(out_dir) if out_dir is not None else record_dir("bench")
    out.mkdir(parents=True, exist_ok=True)
    kind = result["device"].split(" ")[0]
    path = out / f"bench_{result['model']}_{kind}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    return path


def load_benches(bench_dir) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(Path(bench_dir).glob("*.json"))]


def render_bench(benches: list[dict]) -> str:
    """The README's speed table: training images/s of each variant and its ratio to the original's
    per-sample pipeline, measured side by side in one run ("reference" is named "original")."""
    shown = [v for v in VARIANTS if v != "reference"]
    lines = []
    for b in benches:
        rate, ev, ref = b["train_img_per_s"], b["eval_img_per_s"], b["train_img_per_s"]["reference"]
        cells = [f"{rate[v]:,.0f} ({rate[v] / ref:.2f}×)" if v in rate else "—" for v in shown]
        where = b["device"] + (f", {Record(b).cpu}" if b["device"].startswith("cpu") else "")
        lines.append([where, b["model"], f"{ref:,.0f}", *cells, " / ".join(f"{ev[str(k)]:,.0f}" for k in EVAL_BATCHES)])
    return table(["device", "model", "original pipeline (img/s)",
                  *(f"{v.replace('reference', 'original')} (img/s, × original)" for v in shown),
                  "evaluation, batch " + " / ".join(map(str, EVAL_BATCHES)) + " (img/s)"],
                 "ll" + "r" * (len(shown) + 2), lines)
