"""Training: one hyperparameter object, `fit` returning a history, `evaluate` returning numbers,
and `train_run`, which records a run (results JSON + weights) and can resume an interrupted one."""
from __future__ import annotations

import json
import math
import os
import platform
import random
import subprocess
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F

from .data import make_data
from .models import build_model, count_params

TARGET_ACC = 0.994  # the study's bar; the time to first reach it is recorded with every run


@dataclass
class HParams:
    """One run's settings. The defaults are the seed study's recipe."""

    model: str = "iter6"
    epochs: int = 20
    batch_size: int = 128
    lr: float = 1e-3  # Adam
    step_size: int = 15  # StepLR: the lr is multiplied by `gamma` every `step_size` epochs
    gamma: float = 0.1
    seed: int = 1  # torch.manual_seed for the weights; also seeds shuffling and augmentation
    val_size: int = 0  # images held out of the 60k training set to choose things on
    train_subset: int = 0  # > 0: train on only this many images (smoke runs, tests)
    loader: str = "fast"  # "fast" (device-resident, batch augmentation) or "reference" (seed's)
    schedule: str = "step"  # "step" (StepLR, per epoch) or "onecycle" (peak `lr`, per batch)
    # frontier levers; these defaults are the seed's recipe
    optimizer: str = "adam"  # "adam", "adamw" (decoupled weight decay) or "sgd" (Nesterov 0.9)
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    degrees: float = 15.0  # rotation range of the augmentation
    translate: float = 0.0  # random shift of up to this many pixels (fast loader only)
    precision: str = "fp32"  # "bf16": forward passes under bfloat16 autocast (weights stay fp32)
    tag: str = ""  # names a variant of a model's recipe: results go to <model>-<tag>_seed<seed>
    eval_batch_size: int = 256  # evaluation only (measured: on a 2-core CPU 128-256 beat 1000)

    def __post_init__(self):
        for name in ("epochs", "batch_size", "step_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, not {getattr(self, name)}")
        if self.optimizer not in ("adam", "adamw", "sgd"):
            raise ValueError(f"optimizer must be 'adam', 'adamw' or 'sgd', not {self.optimizer!r}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), not {self.label_smoothing}")
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be 'fp32' or 'bf16', not {self.precision!r}")
        if self.schedule not in ("step", "onecycle"):
            raise ValueError(f"schedule must be 'step' or 'onecycle', not {self.schedule!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, not {self.lr}")

    @classmethod
    def for_model(cls, model: str, **settings) -> "HParams":
        """`model` with its own recipe (RECIPES; the seed's for the seed iterations), then `settings`."""
        return cls(**{**RECIPES.get(model, {}), "model": model, **settings})

    @classmethod
    def from_dict(cls, d: dict) -> "HParams":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def augment_args(self) -> dict | None:
        """seed_augment's settings where they differ from the seed's, else None."""
        args = {k: v for k, v in (("degrees", self.degrees), ("translate", self.translate))
                if v != getattr(HParams, k)}
        return args or None

    def run_name(self) -> str:
        return f"{self.model}{'-' + self.tag if self.tag else ''}_seed{self.seed}"


# The recipe each frontier model trains with by default (HParams.for_model, the CLI). Chosen by
# proxy runs on the validation split (tools/frontier_search.py, results/search, notebook 07).
# Stage 2 of the search: at 20 epochs, translation and label smoothing each lowered f8a's
# validation accuracy, so the recipe is the one-cycle schedule alone (peak lr 0.01, Adam, the
# seed's augmentation).
FRONTIER_RECIPE = {"schedule": "onecycle", "lr": 0.01}
RECIPES: dict[str, dict] = {name: FRONTIER_RECIPE for name in ("f20b", "f8a", "f5s")}


class TrainingError(RuntimeError):
    """A run cannot go on (non-finite loss, mismatched checkpoint); the message says why."""


def pick_device(requested: str | None = "auto") -> torch.device:
    """CUDA, then Apple MPS, then CPU for "auto"; a named device that is absent is an error."""
    requested = (requested or "auto").lower()
    has = {"cuda": torch.cuda.is_available(),
           "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available(),
           "cpu": True}
    if requested == "auto":
        return torch.device(next(d for d in ("cuda", "mps", "cpu") if has[d]))
    kind = requested.split(":")[0]
    if kind not in has:
        raise ValueError(f"unknown device {requested!r}; use auto, cuda, mps or cpu")
    if kind == "cuda" and has[kind] and ":" in requested:
        index = int(requested.split(":")[1])
        has[kind] = index < torch.cuda.device_count()
    if not has[kind]:
        raise ValueError(f"device {requested!r} was requested but is not available on this "
                         "machine; use --device auto or cpu")
    return torch.device(requested)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    return device.type


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)  # CPU and every CUDA device


@torch.no_grad()
def evaluate(model, loader) -> tuple[float, float]:
    """(mean NLL loss, accuracy in [0, 1]) of `model` over every batch of `loader`."""
    model.eval()
    loss = correct = 0.0
    for x, y in loader:
        out = model(x)
        loss += F.nll_loss(out, y, reduction="sum").item()
        correct += (out.argmax(1) == y).sum().item()
    n = loader.num_images
    return loss / n, correct / n


@torch.no_grad()
def predict(model, loader) -> tuple[torch.Tensor, torch.Tensor]:
    """(predicted labels, true labels) on the CPU, in the loader's order."""
    model.eval()
    preds, targets = zip(*[(model(x).argmax(1).cpu(), y.cpu()) for x, y in loader])
    return torch.cat(preds), torch.cat(targets)


def _progress(iterable, total, desc, enabled):
    if not enabled:
        return iterable
    from tqdm import tqdm  # text bars: they render on Colab, in a terminal and in a saved notebook

    return tqdm(iterable, total=total, desc=desc, leave=True, mininterval=1.0, ncols=100)


def _save_atomic(obj, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)  # a run killed mid-save keeps the previous checkpoint


def autocast(device: torch.device, precision: str):
    """bfloat16 autocast for "bf16" (CPU or CUDA), a no-op context for "fp32"."""
    if precision == "bf16" and device.type not in ("cpu", "cuda"):
        raise ValueError(f"precision 'bf16' needs a CPU or CUDA device, not {device.type}")
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def fit(model, data, hp: HParams, checkpoint: str | Path | None = None, resume: bool = False,
        progress: bool = True) -> list[dict]:
    """Train `model` on `data.train` with Adam and `hp.schedule`; return one dict per epoch.

    Each epoch records the learning rate, train loss/accuracy (running, augmented), test
    loss/accuracy, validation loss/accuracy when `data.val` exists, its seconds and the seconds
    elapsed since the start. With `checkpoint`, the state is saved after every epoch; with
    `resume`, training continues from it and ends exactly as an uninterrupted run (same device).
    """
    if hp.optimizer == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=hp.lr, momentum=0.9, nesterov=True,
                                    weight_decay=hp.weight_decay)
    else:
        opt = torch.optim.AdamW if hp.optimizer == "adamw" else torch.optim.Adam
        optimizer = opt(model.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)
    per_batch = hp.schedule == "onecycle"
    if per_batch:
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=hp.lr,
                                                        total_steps=hp.epochs * len(data.train))
    else:
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=hp.step_size, gamma=hp.gamma)
    history: list[dict] = []
    checkpoint = Path(checkpoint) if checkpoint else None
    if resume and checkpoint and checkpoint.exists():
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        if asdict(HParams.from_dict(state["hparams"])) != asdict(hp):
            raise TrainingError(f"{checkpoint} was written with other settings "
                                f"({state['hparams']}); delete it or resume with the same ones.")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        history = state["history"]
    device = next(model.parameters()).device
    for epoch in range(len(history) + 1, hp.epochs + 1):
        start = time.perf_counter()
        model.train()
        data.train.set_epoch(epoch)
        lr = optimizer.param_groups[0]["lr"]  # at the start of the epoch
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        seen = 0
        bar = _progress(data.train, len(data.train), f"epoch {epoch}/{hp.epochs}", progress)
        for i, (x, y) in enumerate(bar):
            with autocast(device, hp.precision):
                out = model(x).float()
            loss = F.nll_loss(out, y) if not hp.label_smoothing else (
                # the models output log-probabilities, which cross_entropy's log_softmax keeps
                F.cross_entropy(out, y, label_smoothing=hp.label_smoothing))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if per_batch:
                scheduler.step()
            # accumulate on the device; reading a number back every batch would stall a GPU
            loss_sum += loss.detach() * len(y)
            correct += (out.argmax(1) == y).sum()
            seen += len(y)
            if i % 50 == 49 or i == len(data.train) - 1:
                mean_loss = loss_sum.item() / seen
                if not math.isfinite(mean_loss):
                    raise TrainingError(f"the training loss became {mean_loss} in epoch {epoch} "
                                        f"(batch {i + 1}); lower the learning rate.")
                if progress:
                    bar.set_postfix(loss=f"{mean_loss:.4f}", acc=f"{correct.item() / seen:.2%}")
        if not per_batch:
            scheduler.step()
        row = {"epoch": epoch, "lr": lr, "train_loss": loss_sum.item() / seen,
               "train_acc": correct.item() / seen}
        if data.val is not None:
            row["val_loss"], row["val_acc"] = evaluate(model, data.val)
        if data.val is None or epoch == hp.epochs:
            # with a validation split to choose on, the test set is looked at once, at the end
            row["test_loss"], row["test_acc"] = evaluate(model, data.test)
        row["seconds"] = time.perf_counter() - start
        row["elapsed"] = row["seconds"] + (history[-1]["elapsed"] if history else 0.0)
        history.append(row)
        if progress:
            accs = ", ".join(f"{k[:-4]} accuracy {row[k]:.2%}" for k in ("val_acc", "test_acc")
                             if k in row)
            print(f"epoch {epoch}: {accs} ({row['seconds']:.1f} s)", flush=True)
        if checkpoint:
            _save_atomic({"hparams": asdict(hp), "model": model.state_dict(),
                          "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                          "rng": torch.get_rng_state(), "history": history}, checkpoint)
    return history


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--verify", "-q", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def summarise(history: list[dict], target: float = TARGET_ACC) -> dict:
    """Final- and best-epoch test accuracy and the seconds until `target` was first reached."""
    tested = [r for r in history if "test_acc" in r]  # every epoch, or the last when validating
    best = max(tested, key=lambda r: r["test_acc"])
    reached = next((r["elapsed"] for r in tested if r["test_acc"] >= target), None)
    return {"final_test_acc": history[-1]["test_acc"], "best_test_acc": best["test_acc"],
            "best_epoch": best["epoch"],
            "seconds_per_epoch": sum(r["seconds"] for r in history) / len(history),
            "seconds_total": history[-1]["elapsed"], "seconds_to_target": reached,
            "target_acc": target}


def train_run(hp: HParams, device="auto", data_dir=None, out_dir="results/runs",
              resume: bool = False, progress: bool = True):
    """Train `hp.model` as `hp` says and record it in `out_dir` as `<model>_seed<seed>.json`
    (the results) and `.pt` (the final state_dict). Returns (model, history, record, data).

    A checkpoint `<name>.ckpt` is kept while the run is under way; after an interruption,
    `resume=True` continues from the last finished epoch.
    """
    device = pick_device(device) if isinstance(device, str) else device
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = hp.run_name()
    ckpt = out_dir / f"{name}.ckpt"
    if ckpt.exists() and not resume:
        raise TrainingError(f"{ckpt} holds an unfinished run; resume it (--resume) "
                            "or delete the file to start over.")
    seed_everything(hp.seed)
    model = build_model(hp.model).to(device)
    data = make_data(device, data_dir, hp.batch_size, hp.seed, hp.val_size, hp.train_subset,
                     hp.loader, hp.eval_batch_size, hp.augment_args())
    if progress:
        print(f"{hp.model}: {count_params(model):,} parameters on {device_name(device)}; "
              f"{data.source}", flush=True)
    history = fit(model, data, hp, checkpoint=ckpt, resume=resume, progress=progress)
    record = {"name": name, "model": hp.model, "params": count_params(model),
              "hparams": asdict(hp), "seed": hp.seed, **summarise(history),
              "history": history, "device": device_name(device), "torch": torch.__version__,
              "git_commit": git_commit(), "data_source": data.source,
              "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    torch.save(model.state_dict(), out_dir / f"{name}.pt")
    (out_dir / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")
    ckpt.unlink(missing_ok=True)
    return model, history, record, data


def load_record(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


def describe_run(record: dict) -> str:
    """A few lines that say what a recorded run reached, for notebooks and the CLI."""
    h = record["history"]
    above = [r["epoch"] for r in h if r.get("test_acc", 0) >= record["target_acc"]]
    reached = record["seconds_to_target"]
    return "\n".join([
        f"{record['model']}: {record['params']:,} parameters, seed {record['seed']}, "
        f"{len(h)} epochs on {record['device']}",
        f"final-epoch test accuracy: {record['final_test_acc']:.2%} "
        f"(best {record['best_test_acc']:.2%} at epoch {record['best_epoch']})",
        f"epochs at or above {record['target_acc']:.1%}: {', '.join(map(str, above)) or 'none'}",
        f"{record['seconds_per_epoch']:.1f} s per epoch; "
        + (f"{record['target_acc']:.1%} first reached after {reached:.0f} s" if reached is not None
           else f"{record['target_acc']:.1%} not reached"),
    ])
