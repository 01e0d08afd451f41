"""How recorded runs fare on corrupted digits: the corruption suite (`corrupt`) built from held-out
images, each run's accuracy on every family, its results file, and the README's table.

Two suites are built identically: the **test suite** from MNIST's 10,000 test images, which only
reports, and its **validation twin** from the 5,000 training images that `val_size` runs hold out,
the only one that choices are made on. A run is scored on the suite its training left unseen: a
run that held out the validation split on the twin, a run trained on all 60,000 images on the
test suite. The families are split in two before anything is scored (MNIST-C's authors found that
training against some corruptions need not help against others): a recipe is chosen on
`CHOSEN`, and `HELD_OUT` reports whether what it learnt carries over.

A run's robustness record lives beside its results file, in `robustness/<name>.json`.
"""
from __future__ import annotations

import copy
import json
import statistics
import time
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from ..core.config import RUNS_DIR, VAL_SIZE
from .corrupt import CHUNK, FAMILIES, corrupt_u8
from ..core.data import load_mnist
from ..core.loaders import EVAL_BATCH_SIZE, DeviceLoader, validation_split
from ..core.loop import evaluate as evaluate_loader
from ..core.markdown import table
from ..core.record import Record, group_runs, load_run
from ..core.runtime import cpu_model, device_name

# Fixed before any model was scored: one of each related pair is held out.
CHOSEN = ("shot_noise", "glass_blur", "shear", "scale", "brightness", "spatter", "dotted_line")
HELD_OUT = ("impulse_noise", "motion_blur", "rotate", "translate", "stripe", "fog", "zigzag",
            "canny_edges")
SPLITS = {"test": 19_000, "val": 29_000}  # suite seeds: family i of a split uses base + i
SUITE = f"mnist-c-15/v1/chunk{CHUNK}"  # changes when a family or severity does: records re-score
SHORT = {"shot_noise": "shot", "impulse_noise": "impulse", "glass_blur": "glass", "motion_blur": "motion",
         "shear": "shear", "scale": "scale", "rotate": "rotate", "brightness": "bright",
         "translate": "transl", "stripe": "stripe", "fog": "fog", "spatter": "spatter",
         "dotted_line": "dotted", "zigzag": "zigzag", "canny_edges": "canny"}
assert set(CHOSEN) | set(HELD_OUT) == set(FAMILIES) and not set(CHOSEN) & set(HELD_OUT)


def split_of(record: dict) -> str:
    """The suite a run is scored on: the twin when it held out the validation split."""
    return "val" if Record(record).hp.val_size else "test"


@lru_cache(maxsize=2)
def clean_images(split: str, data_dir=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(uint8 images, labels) a suite is built from: MNIST's test set, or the validation split."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
    (x_train, y_train), (x_test, y_test), _ = load_mnist(data_dir)
    if split == "test":
        return x_test, y_test
    (x_val, y_val), _ = validation_split(x_train, y_train, VAL_SIZE)
    return x_val, y_val


@lru_cache(maxsize=32)
def suite_images(split: str, family: str, data_dir=None) -> torch.Tensor:
    """The uint8 images of one family of a suite (deterministic: seeded by split and family)."""
    images, _ = clean_images(split, data_dir)
    return corrupt_u8(images, family, SPLITS[split] + list(FAMILIES).index(family))


def accuracy(model, images_u8, labels, device="cpu") -> float:
    """The share of `images_u8` (uint8 N x 28 x 28) that `model` labels right."""
    return evaluate_loader(model, DeviceLoader(images_u8, labels, EVAL_BATCH_SIZE, device))[1]


def evaluate(model, split: str = "val", device="cpu", data_dir=None, families=tuple(FAMILIES)) -> dict:
    """{"clean": accuracy, family: accuracy, ...} of `model` on a suite, in [0, 1]."""
    images, labels = clean_images(split, data_dir)
    model = model.to(device)
    out = {"clean": accuracy(model, images, labels, device)}
    for family in families:
        out[family] = accuracy(model, suite_images(split, family, data_dir), labels, device)
    return out


@torch.no_grad()
def batchnorm_diagnostic(model, images_u8, labels, device="cpu") -> dict:
    """Why a BatchNorm network can fail on shifted inputs: its accuracy on `images_u8` with the
    statistics stored in training ("stored"), and with every BatchNorm's statistics re-estimated
    on these images themselves ("adapted": a diagnostic, not a model; the labels only score), and
    how far the first BatchNorm's input has moved: the mean over its channels of |this batch's
    mean - the stored mean| in stored standard deviations ("shift")."""
    model = model.to(device).eval()
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    if not bns:
        raise ValueError(f"{type(model).__name__} has no BatchNorm2d layer")
    seen = []
    hook = bns[0].register_forward_hook(lambda m, inp, out: seen.append(inp[0].mean((0, 2, 3))))
    stored = accuracy(model, images_u8, labels, device)
    hook.remove()
    batch_mean = torch.stack(seen).mean(0)
    shift = ((batch_mean - bns[0].running_mean).abs() / bns[0].running_var.sqrt()).mean().item()
    adapted = copy.deepcopy(model)
    for bn in (m for m in adapted.modules() if isinstance(m, nn.BatchNorm2d)):
        bn.reset_running_stats()
        bn.momentum = None  # a cumulative average over every batch
    adapted.train()
    for x, _ in DeviceLoader(images_u8, labels, EVAL_BATCH_SIZE, device):
        adapted(x)
    return {"stored": stored, "adapted": accuracy(adapted.eval(), images_u8, labels, device), "shift": shift}


def means(accuracies: dict) -> dict:
    """The mean over all families, the chosen and the held-out ones."""
    return {"mean": statistics.mean(accuracies[f] for f in FAMILIES),
            "mean_chosen": statistics.mean(accuracies[f] for f in CHOSEN),
            "mean_held_out": statistics.mean(accuracies[f] for f in HELD_OUT)}


def robustness_path(run_json) -> Path:
    run_json = Path(run_json)
    return run_json.parent / "robustness" / run_json.name


def score_run(run_json, device="cpu", data_dir=None) -> dict:
    """A recorded run scored on the suite its training left unseen (`split_of`): its robustness
    record (not written)."""
    model, record = load_run(run_json)
    start = time.perf_counter()
    split = split_of(record)
    acc = evaluate(model, split, device, data_dir)
    return {"name": record["name"], "model": record["model"], "tag": record.get("tag", ""),
            "params": record["params"], "seed": record["seed"], "split": split, "suite": SUITE,
            "clean": acc.pop("clean"), "families": acc, **means(acc),
            "seconds": time.perf_counter() - start, "device": device_name(torch.device(device)),
            "cpu": cpu_model(), "torch": torch.__version__}


def is_current(run_json) -> bool:
    """True when the run's robustness record exists and was scored on this suite."""
    path = robustness_path(run_json)
    return path.is_file() and json.loads(path.read_text()).get("suite") == SUITE


def record_run(run_json, device="cpu", data_dir=None, force: bool = False) -> dict:
    """Score a run and write its robustness record beside it, unless a current one is there."""
    path = robustness_path(run_json)
    if is_current(run_json) and not force:
        return json.loads(path.read_text())
    result = score_run(run_json, device, data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    return result


def load_scores(run_dir=RUNS_DIR) -> list[dict]:
    """The current robustness records of the runs in `run_dir`."""
    folder = Path(run_dir) / "robustness"
    found = [json.loads(p.read_text()) for p in sorted(folder.glob("*_seed*.json"))] if folder.is_dir() else []
    return [r for r in found if r.get("suite") == SUITE]


def summarise(scores: list[dict]) -> list[dict]:
    """Per variant (a run's name without its seed): mean clean and per-family accuracy (%) over
    its seeds, the means over families and the seeds; fewest parameters first."""
    groups = group_runs(scores)
    rows = []
    for name, ss in groups.items():
        mean = lambda get: 100 * statistics.mean(get(s) for s in ss)  # noqa: E731
        rows.append({"variant": name, "model": ss[0]["model"], "params": ss[0]["params"],
                     "split": ss[0]["split"], "seeds": sorted(s["seed"] for s in ss),
                     "clean": mean(lambda s: s["clean"]),
                     "families": {f: mean(lambda s, f=f: s["families"][f]) for f in FAMILIES},
                     **{k: mean(lambda s, k=k: s[k]) for k in ("mean", "mean_chosen", "mean_held_out")}})
    return sorted(rows, key=lambda r: (r["params"], r["variant"]))


def render_table(rows: list[dict]) -> str:
    """Clean accuracy, every family and the means (%), one row per variant."""
    return table(["model", "params", "seeds", "clean", *(SHORT[f] for f in FAMILIES), "mean", "chosen", "held out"],
                 "l" + "r" * (len(FAMILIES) + 6),
                 [[r["variant"], f"{r['params']:,}", len(r["seeds"]), f"{r['clean']:.2f}",
                   *(f"{r['families'][f]:.1f}" for f in FAMILIES), f"**{r['mean']:.1f}**", f"{r['mean_chosen']:.1f}",
                   f"{r['mean_held_out']:.1f}"] for r in rows])


def legend() -> str:
    """What the table's short column names stand for, chosen and held-out families apart."""
    return ("chosen families: " + ", ".join(f"{SHORT[f]} = {f}" for f in CHOSEN)
            + "; held out: " + ", ".join(f"{SHORT[f]} = {f}" for f in HELD_OUT))


# The goal: a < 8K recipe whose mean over >= 3 seeds keeps clean test accuracy >= 99.50 % with at
# most half the reference's error on the corrupted families, the chosen and the held-out ones alike.
GOAL_CLEAN, GOAL_ERROR_SHARE, GOAL_SEEDS = 99.50, 0.5, 3
REFERENCE, ROBUST_TAG = "f8a", "robust"  # the robust model's runs are tagged ROBUST_TAG


def robust_variant(rows: list[dict]) -> str:
    """The variant tagged ROBUST_TAG among `rows` (`<model>-robust`), "f8a-robust" while none is."""
    found = sorted({r["variant"] for r in rows if r["variant"].endswith(f"-{ROBUST_TAG}")})
    if len(found) > 1:
        raise ValueError(f"more than one robust variant recorded: {', '.join(found)}")
    return found[0] if found else f"{REFERENCE}-{ROBUST_TAG}"


def goal(rows: list[dict], robust: str | None = None, reference: str = REFERENCE) -> dict:
    """Whether `robust` (default: the recorded robust variant) meets the goal against `reference`
    (`summarise` rows of the test suite): the numbers and a verdict; `met` is False while either
    is missing or has too few seeds."""
    robust = robust or robust_variant(rows)
    by = {r["variant"]: r for r in rows if r["split"] == "test"}
    out = {"robust": robust, "reference": reference, "met": False}
    if robust not in by or reference not in by:
        return {**out, "why": f"{robust if robust not in by else reference} has not been scored"}
    a, b = by[robust], by[reference]
    checks = {"seeds": len(a["seeds"]) >= GOAL_SEEDS, "clean": a["clean"] >= GOAL_CLEAN - 1e-9}
    for part in ("mean_chosen", "mean_held_out"):
        out[f"{part}_error"], out[f"{part}_error_reference"] = 100 - a[part], 100 - b[part]
        checks[part] = 100 - a[part] <= GOAL_ERROR_SHARE * (100 - b[part]) + 1e-9
    return {**out, "clean": a["clean"], "seeds": len(a["seeds"]), "checks": checks, "met": all(checks.values()),
            "why": "met" if all(checks.values()) else "not met: " + ", ".join(k for k, v in checks.items() if not v)}


def render_goal(g: dict) -> str:
    if "checks" not in g:
        return f"Goal for {g['robust']}: not judged yet ({g['why']})."
    yes = lambda ok: "met" if ok else "not met"  # noqa: E731
    return (f"Goal for {g['robust']} ({g['seeds']} seeds, goal ≥ {GOAL_SEEDS}: {yes(g['checks']['seeds'])}) "
            f"against {g['reference']}: clean test accuracy "
            f"{g['clean']:.2f} % (goal ≥ {GOAL_CLEAN:.2f} %: {yes(g['checks']['clean'])}); error on the chosen "
            f"families {g['mean_chosen_error']:.1f} % against {g['mean_chosen_error_reference']:.1f} % "
            f"(goal ≤ half: {yes(g['checks']['mean_chosen'])}); on the held-out families "
            f"{g['mean_held_out_error']:.1f} % against {g['mean_held_out_error_reference']:.1f} % "
            f"(goal ≤ half: {yes(g['checks']['mean_held_out'])}).")


def predict_default(run_dir=RUNS_DIR) -> tuple[str, str]:
    """(predict's default variant, why): the robust < 8K model if it meets `goal`, else f8a."""
    g = goal(summarise(load_scores(run_dir)))
    if g["met"]:
        return g["robust"], "the default: the robust < 8K model, which meets the robustness goal"
    return g["reference"], f"the default: the < 8K frontier model ({g['robust']}: robustness goal {g['why']})"
