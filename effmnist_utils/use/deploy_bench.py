"""The exported models on the test set: accuracy of PyTorch fp32, ONNX Runtime fp32 and int8,
file sizes and batch-1 latency on the CPU. A measurement to record, not a timed test.

Latency is the median over `latency_images` single-image calls after a warm-up, with one thread
in both PyTorch and ONNX Runtime (what a small device has, and steadier on a shared machine).
"""
from __future__ import annotations

import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from .deploy import (INT8_GOAL_BYTES, INT8_GOAL_POINTS, onnx_modules, export_run, load_run)
from ..core.data import load_mnist
from ..core.loaders import normalise
from ..core.markdown import table


def _median_us(call, images, n: int) -> float:
    for i in range(min(20, n)):  # warm-up
        call(images[i:i + 1])
    times = []
    for i in range(n):
        start = time.perf_counter()
        call(images[i:i + 1])
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def _pytorch_row(model, x: torch.Tensor, n_latency: int) -> tuple[dict, torch.Tensor]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            out = torch.cat([model(b) for b in x.split(1000)])
            latency = _median_us(model, x, n_latency)
    finally:
        torch.set_num_threads(threads)
    return {"runtime": "PyTorch fp32", "latency_us": latency}, out


def _ort_row(path: Path, x: torch.Tensor, reference: torch.Tensor, n_latency: int, label: str) -> dict:
    ort = onnx_modules()[1]
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    images = x.numpy()
    out = torch.cat([torch.from_numpy(session.run(None, {"image": images[i:i + 1000]})[0])
                     for i in range(0, len(images), 1000)])
    return {"runtime": f"ONNX Runtime {label}", "file": path.name, "bytes": path.stat().st_size,
            "latency_us": _median_us(lambda b: session.run(None, {"image": b}), images, n_latency),
            "max_abs_diff": float((out - reference).abs().max()),
            "same_digit_as_pytorch": int((out.argmax(1) == reference.argmax(1)).sum()),
            "predictions": out.argmax(1)}


def benchmark(run: str | Path, out_dir: str | Path | None = None, images: int | None = None,
              latency_images: int = 1000, calibration: int = 1000, data_dir=None) -> dict:
    """Export the run (fp32 and int8, in a temporary folder), then measure all three on the first
    `images` test images (default: all 10,000). Saves `<out_dir>/<name>.json` only if `out_dir` is given."""
    model, record = load_run(run)
    _, (test_x, test_y), _ = load_mnist(data_dir)
    test_x, test_y = test_x[:images], test_y[:images]
    x = normalise(test_x)
    n_latency = min(latency_images, len(x))
    row, reference = _pytorch_row(model, x, n_latency)
    weights = Path(run).with_suffix(".pt")
    rows = [dict(row, file=weights.name, bytes=weights.stat().st_size,
                 same_digit_as_pytorch=len(x), max_abs_diff=0.0, predictions=reference.argmax(1))]
    with tempfile.TemporaryDirectory() as tmp:
        paths = export_run(run, tmp, int8=True, calibration=calibration, data_dir=data_dir)
        rows += [_ort_row(paths[k], x, reference, n_latency, k) for k in ("fp32", "int8")]
    for r in rows:
        r["accuracy"] = int((r.pop("predictions") == test_y).sum()) / len(test_y)
        r["latency_us"] = round(r["latency_us"], 1)
    result = {"name": record["name"], "model": record["model"], "params": record["params"],
              "seed": record["seed"], "test_images": len(x), "calibration_images": calibration,
              "latency_images": n_latency, "threads": 1, "rows": rows,
              "device": f"cpu ({platform.machine()}, 1 thread)",
              "versions": _versions(), "goals": _goals(rows)}
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"{record['name']}.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def _versions() -> dict:
    onnx, ort = onnx_modules()
    return {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": ort.__version__}


def _goals(rows: list[dict]) -> dict:
    torch_row, fp32, int8 = rows
    loss = 100 * (fp32["accuracy"] - int8["accuracy"])
    return {"onnx_fp32_same_digit_everywhere": fp32["same_digit_as_pytorch"] == torch_row["same_digit_as_pytorch"],
            "int8_loss_points": round(loss, 4), "int8_loss_ok": loss <= INT8_GOAL_POINTS + 1e-9,
            "int8_bytes": int8["bytes"], "int8_under_12kb": int8["bytes"] < INT8_GOAL_BYTES}


def load_benchmarks(folder: str | Path) -> list[dict]:
    """Every recorded benchmark JSON in `folder` (e.g. results/deploy), sorted by name."""
    return [json.loads(p.read_text()) for p in sorted(Path(folder).glob("*.json"))]


def render_deploy_table(results) -> str:
    """A markdown table of one benchmark result or a list of them, with a line on the goals."""
    results = [results] if isinstance(results, dict) else list(results)
    rows = []
    for res in results:
        base = res["rows"][0]["accuracy"]
        rows += [[res["name"], r["runtime"], f"`{r['file']}`", f"{r['bytes']:,}", f"{r['accuracy']:.2%}",
                  f"{100 * (r['accuracy'] - base):+.2f}", f"{r['same_digit_as_pytorch']:,} / {res['test_images']:,}",
                  f"{r['latency_us']:.0f}"] for r in res["rows"]]
    lines = [table(["run", "runtime", "file", "bytes", "test accuracy", "Δ vs PyTorch (points)",
                    "same digit as PyTorch", "batch-1 latency (µs / image)"], "lllrrrrr", rows)]
    for res in results:
        g = res["goals"]
        lines.append(f"\n{res['name']}, {res['test_images']:,} test images, {res['device']}: "
                     f"ONNX fp32 gives PyTorch's digit on every image: "
                     f"{'yes' if g['onnx_fp32_same_digit_everywhere'] else 'no'}; int8 loses "
                     f"{g['int8_loss_points']:.2f} points (goal ≤ {INT8_GOAL_POINTS:.2f}): "
                     f"{'met' if g['int8_loss_ok'] else 'not met'}; int8 file {g['int8_bytes']:,} bytes "
                     f"(goal < {INT8_GOAL_BYTES:,}): {'met' if g['int8_under_12kb'] else 'not met'}.")
    return "\n".join(lines)
