"""Side-by-side speed of the seed's per-sample pipeline and the fast loader (a benchmark, not a test).

Both train the same model for the same number of batches in one process on one device, in
alternating rounds so that drift in the machine's speed hits both alike.
"""
from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from .data import DeviceLoader, ReferenceLoader, load_mnist
from .models import build_model
from .train import autocast, device_name, evaluate, pick_device, seed_everything


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _train_rate(model, loader, batches: int, warmup: int, device, precision="fp32") -> float:
    """Images per second over `batches` training steps, after `warmup` untimed ones."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    it = iter(loader)
    n = 0
    for i in range(warmup + batches):
        if i == warmup:
            _sync(device)
            start, n = time.perf_counter(), 0
        x, y = next(it)
        with autocast(device, precision):
            out = model(x).float()
        loss = F.nll_loss(out, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        n += len(y)
    _sync(device)
    return n / (time.perf_counter() - start)


def bench(model_name="iter6", batches=100, rounds=3, warmup=10, batch_size=128, device="auto",
          data_dir=None, compile_model=False, progress=True) -> dict:
    """{variant: median images/s}, each ratio to the reference, and evaluation rates by batch size."""
    device = pick_device(device) if isinstance(device, str) else device
    (x_train, y_train), (x_test, y_test), _ = load_mnist(data_dir)
    need = (warmup + batches) * batch_size
    x_train, y_train = x_train[:need], y_train[:need]
    loaders = {"reference": ReferenceLoader(x_train, y_train, batch_size, device, seed=1),
               "fast": DeviceLoader(x_train, y_train, batch_size, device, shuffle=True,
                                    augment=True, seed=1)}
    # the levers measured on top of the fast loader: (loader, torch.compile?, precision)
    variants = {"reference": ("reference", False, "fp32"), "fast": ("fast", False, "fp32"),
                "fast+bf16": ("fast", False, "bf16")}
    if compile_model:
        variants["fast+compile"] = ("fast", True, "fp32")
    rates = {name: [] for name in variants}
    for r in range(rounds):
        for name, (loader, compiled, precision) in variants.items():
            seed_everything(1)
            model = build_model(model_name).to(device)
            if compiled:
                model = torch.compile(model)
            rates[name].append(_train_rate(model, loaders[loader], batches, warmup, device,
                                           precision))
            if progress:
                print(f"round {r + 1}/{rounds} {name:>13}: {rates[name][-1]:8.0f} img/s", flush=True)
    result = {"model": model_name, "device": device_name(device), "torch": torch.__version__,
              "batches": batches, "batch_size": batch_size, "rounds": rounds,
              "train_img_per_s": {k: statistics.median(v) for k, v in rates.items()},
              "train_img_per_s_all": rates}
    median = result["train_img_per_s"]
    result["ratio_vs_reference"] = {k: v / median["reference"] for k, v in median.items()}
    model = build_model(model_name).to(device)
    result["eval_img_per_s"] = {}
    for eval_batch in (1000, 256):  # why 256 is the default evaluation batch
        test = DeviceLoader(x_test, y_test, eval_batch, device)
        evaluate(model, test)  # warm-up
        start = time.perf_counter()
        evaluate(model, test)
        _sync(device)
        result["eval_img_per_s"][str(eval_batch)] = len(y_test) / (time.perf_counter() - start)
    return result


def format_bench(result: dict) -> str:
    lines = [f"{result['model']} on {result['device']}, {result['batches']} batches of "
             f"{result['batch_size']}, median of {result['rounds']} rounds:"]
    for name, rate in result["train_img_per_s"].items():
        lines.append(f"  {name:>13}: {rate:8.0f} img/s (train), "
                     f"{result['ratio_vs_reference'][name]:.2f}x the reference")
    lines.append("  evaluation: " + ", ".join(f"batch {b}: {v:.0f} img/s"
                                            for b, v in result["eval_img_per_s"].items()))
    return "\n".join(lines)


def save_bench(result: dict, out_dir="results/bench") -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    kind = result["device"].split(" ")[0]
    path = out / f"bench_{result['model']}_{kind}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    return path
