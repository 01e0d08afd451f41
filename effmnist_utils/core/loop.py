"""The training loop, the one every run goes through (the CLI, plans, the speedrun and the
benchmark): `train_step`, `fit` returning a per-epoch history, `evaluate` returning numbers, and
an exact resume from a checkpoint.

`fit` times each epoch's training from its first step to its last (synchronised on a GPU), apart
from evaluation; a timed run (`timed` > 0) reads the validation and test sets only after the last
epoch, and `warm_up` runs a few untimed steps first (compilation, cuDNN autotuning) and then
restores the model exactly, so that a timed run trains the same weights as an untimed one.
`fit` changes only the weights: the model's mode and memory format, the teacher and cuDNN's
autotuning end as found; the caller owns torch's random state (`runtime.seeded`) and the allocator.
"""
from __future__ import annotations

import copy
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from tqdm import tqdm

from .config import HParams, Optim
from .runtime import as_found, autocast, cudnn_benchmark, synchronize
from .checkpoint import TrainingError, load_checkpoint, save_checkpoint
from .weight_average import WeightAverage


def make_optimizer(model, optim: Optim):
    if optim.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=optim.lr, momentum=0.9, nesterov=True,
                               weight_decay=optim.weight_decay)
    opt = torch.optim.AdamW if optim.optimizer == "adamw" else torch.optim.Adam
    return opt(model.parameters(), lr=optim.lr, weight_decay=optim.weight_decay)


def steps_every_batch(optim: Optim) -> bool:
    """Whether the schedule steps after every batch (one-cycle) or after every epoch (StepLR)."""
    return optim.schedule == "onecycle"


def make_scheduler(optimizer, optim: Optim, steps_per_epoch: int):
    """One-cycle steps every batch (`per_batch`), StepLR every epoch."""
    if optim.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=optim.lr,
                                                   total_steps=optim.epochs * steps_per_epoch)
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=optim.step_size, gamma=optim.gamma)


DISTILL_TEMPERATURE = 4.0  # softens both sides' predictions (Hinton, Vinyals & Dean 2015)


def train_step(model, optimizer, x, y, precision: str = "fp32", label_smoothing: float = 0.0,
               teacher=None, distill: float = 0.0):
    """One optimisation step on a batch; returns (loss, log-probabilities), still on the device.
    With a `teacher` (a model in eval mode) the loss mixes in, with weight `distill`, the KL
    divergence of the student's softened prediction from the teacher's on the batch (`step_loss`)."""
    with autocast(x.device, precision):
        out = model(x).float()
        if teacher is not None:
            with torch.no_grad():
                soft = teacher(x).float()
    loss = step_loss(out, y, soft if teacher is not None else None, label_smoothing, distill)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss, out


def step_loss(out, y, soft=None, label_smoothing: float = 0.0, distill: float = 0.0):
    """A training batch's loss from the model's log-probabilities `out` and the labels `y`: the
    labels' loss (label-smoothed cross-entropy, or NLL), mixed with weight `distill` with the
    KL divergence from a teacher's log-probabilities `soft` (when given), both softened by
    DISTILL_TEMPERATURE and scaled by its square so that its gradients keep their size."""
    # the models output log-probabilities, which cross_entropy's log_softmax leaves unchanged
    loss = (F.cross_entropy(out, y, label_smoothing=label_smoothing) if label_smoothing
            else F.nll_loss(out, y))
    if soft is not None:
        t = DISTILL_TEMPERATURE
        kl = F.kl_div(F.log_softmax(out / t, 1), F.log_softmax(soft / t, 1), log_target=True,
                      reduction="batchmean")
        loss = (1 - distill) * loss + distill * t * t * kl
    return loss


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
def predict_probs(model, loader) -> tuple[torch.Tensor, torch.Tensor]:
    """(probabilities N x 10, true labels) on the CPU in the loader's order (the models output
    log-probabilities); the model's train/eval mode is restored."""
    with as_found(model):
        model.eval()
        probs, targets = zip(*[(model(x).float().exp().cpu(), y.cpu()) for x, y in loader])
    return torch.cat(probs), torch.cat(targets)


def predict(model, loader) -> tuple[torch.Tensor, torch.Tensor]:
    """(predicted labels, true labels) on the CPU, in the loader's order."""
    probs, targets = predict_probs(model, loader)
    return probs.argmax(1), targets


def _bar(iterable, total, desc, enabled):
    if not enabled:
        return iterable
    # a text bar: it renders live in Colab, Jupyter and a terminal, and TQDM_DISABLE=1 (set when
    # notebooks are executed for storage) turns it off so that a stored notebook holds no refreshes
    return tqdm(iterable, total=total, desc=desc, leave=False, mininterval=1.0)


def _layout(x: torch.Tensor, hp: HParams) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if hp.channels_last else x


@dataclass(frozen=True)
class Stepper:
    """What takes a run's training steps, built once by `fit` and handed to every epoch: the
    model, the module that steps it (`step_model`: a compiled wrapper of `model`; None: the
    model itself), its optimizer and learning-rate schedule, the teacher it distils from and the
    weights' moving average it updates (None where the run has none)."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object
    step_model: torch.nn.Module | None = None
    teacher: torch.nn.Module | None = None
    ema: WeightAverage | None = None


def train_epoch(stepper: Stepper, loader, hp: HParams, epoch: int, progress: bool, lean: bool = False) -> dict:
    """One epoch over `loader`; returns its learning rate (at the start), loss and accuracy and
    the seconds from its first step to its last. `lean` (a timed run): no progress bar, no
    running accuracy and no read-back during the epoch, only the loss summed on the device and
    checked at its end."""
    model, optimizer, scheduler, ema = stepper.model, stepper.optimizer, stepper.scheduler, stepper.ema
    step_model = model if stepper.step_model is None else stepper.step_model
    model.train()
    loader.set_epoch(epoch)
    lr = optimizer.param_groups[0]["lr"]
    device = next(model.parameters()).device
    loss_sum, correct, seen = torch.zeros((), device=device), torch.zeros((), device=device), 0
    bar = _bar(loader, len(loader), f"epoch {epoch}/{hp.optim.epochs}", progress and not lean)
    synchronize(device)
    start = time.perf_counter()
    for i, (x, y) in enumerate(bar):
        loss, out = train_step(step_model, optimizer, _layout(x, hp), y, hp.precision,
                               hp.optim.label_smoothing, stepper.teacher, hp.optim.distill)
        if ema is not None:
            ema.update()
        if steps_every_batch(hp.optim):
            scheduler.step()
        # accumulate on the device; reading a number back every batch would stall a GPU
        loss_sum += loss.detach() * len(y)
        seen += len(y)
        if lean:
            continue
        correct += (out.argmax(1) == y).sum()
        if i % 50 == 49 or i == len(loader) - 1:
            mean_loss = loss_sum.item() / seen
            if not math.isfinite(mean_loss):
                raise TrainingError(f"the training loss became {mean_loss} in epoch {epoch} "
                                    f"(batch {i + 1}); lower the learning rate.")
            if progress:
                bar.set_postfix(loss=f"{mean_loss:.4f}", acc=f"{correct.item() / seen:.2%}")
    if not steps_every_batch(hp.optim):
        scheduler.step()
    synchronize(device)
    seconds, mean_loss = time.perf_counter() - start, loss_sum.item() / seen
    if not math.isfinite(mean_loss):
        raise TrainingError(f"the training loss became {mean_loss} in epoch {epoch}; lower the learning rate.")
    row = {"epoch": epoch, "lr": lr, "train_loss": mean_loss, "train_seconds": seconds}
    return row if lean else {**row, "train_acc": correct.item() / seen}


def warm_up(step_model, model, loader, hp: HParams, steps: int = 3) -> float:
    """Untimed training steps on every batch shape an epoch of `loader` has (compilation and
    cuDNN autotuning happen here), with a throwaway optimizer; afterwards the model's weights and
    BatchNorm statistics and torch's random state are restored exactly. Returns the seconds."""
    device = next(model.parameters()).device
    state, rng = copy.deepcopy(model.state_dict()), torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if device.type == "cuda" else None
    optimizer = make_optimizer(model, hp.optim)
    x, y = next(iter(loader))  # epoch 0's first batch: no trained epoch draws from it
    n, bs = loader.num_images, hp.optim.batch_size
    sizes = [len(y)] * steps + ([n % bs] * 2 if n > bs and n % bs else [])
    model.train()
    synchronize(device)
    start = time.perf_counter()
    for size in sizes:
        train_step(step_model, optimizer, _layout(x[:size], hp), y[:size], hp.precision)
    synchronize(device)
    seconds = time.perf_counter() - start
    model.load_state_dict(state)  # in place: compiled graphs keep pointing at the same tensors
    torch.set_rng_state(rng)
    if cuda_rng is not None:
        torch.cuda.set_rng_state_all(cuda_rng)
    return seconds


def fit(model, data, hp: HParams, *, teacher=None, checkpoint: str | Path | None = None,
        resume: bool = False, on_epoch: Callable[[dict], None] | None = None, progress: bool = True,
        timed: int = 0) -> list[dict]:
    """Train `model` on `data.train` as `hp` says; return one dict per epoch: its learning rate,
    train loss and accuracy (running, augmented), training seconds (first step to last), the
    validation loss and accuracy when `data.val` exists, test loss and accuracy (every epoch when
    there is no validation split to choose on, else after the last; never when `data.test` is
    None), its seconds with evaluation and the seconds since the start.

    `teacher`: the model of `hp.optim.teacher` (`runs.load_teacher`). With `hp.optim.ema` every
    evaluation judges the weights' moving average, and `model` ends holding it. `checkpoint`: the
    state is saved there after every epoch; `resume` continues from it and ends exactly as an
    uninterrupted run (same device). `on_epoch` is called with each finished row; `progress`
    shows a bar per epoch. `timed` > 0 makes a timed run: that many untimed warm-up steps first
    (`warm_up`, recorded as the first row's `warm_up_seconds`), nothing read back during an epoch
    (no running accuracy, no bar), validation and test read only after the last epoch.
    `model` and `teacher` end in the mode and memory format they came in; cuDNN autotuning
    (`hp.cudnn_benchmark`) is switched for the run and restored after it.
    """
    if (teacher is not None) != bool(hp.optim.teacher):
        raise ValueError(f"settings with teacher {hp.optim.teacher!r} need its model as `teacher` "
                         "(runs.load_teacher loads it), and a teacher model needs settings that name it")
    with as_found(model, teacher):  # the weights change; nothing else the caller holds does
        teacher = teacher.eval() if teacher is not None else None  # no_grad in train_step: grads untouched
        if hp.channels_last:
            model.to(memory_format=torch.channels_last)
        step_model = torch.compile(model, mode=hp.compile_mode, dynamic=False) if hp.compile_mode else model
        with cudnn_benchmark(hp.cudnn_benchmark):
            warm_seconds = warm_up(step_model, model, data.train, hp, timed) if timed else None
            optimizer = make_optimizer(model, hp.optim)
            scheduler = make_scheduler(optimizer, hp.optim, len(data.train))
            ema = WeightAverage(model, hp.optim.ema) if hp.optim.ema else None
            checkpoint = Path(checkpoint) if checkpoint else None
            history = load_checkpoint(checkpoint, hp, model, optimizer, scheduler, ema) if (
                resume and checkpoint and checkpoint.exists()) else []
            stepper = Stepper(model, optimizer, scheduler, step_model, teacher, ema)
            for epoch in range(len(history) + 1, hp.optim.epochs + 1):
                start, last = time.perf_counter(), epoch == hp.optim.epochs
                row = train_epoch(stepper, data.train, hp, epoch, progress and not timed, lean=bool(timed))
                if warm_seconds is not None and epoch == 1:
                    row["warm_up_seconds"] = warm_seconds
                with ema.swapped_into(model) if ema is not None else nullcontext(model) as judged:
                    if data.val is not None and (last or not timed):
                        row["val_loss"], row["val_acc"] = evaluate(judged, data.val)
                    if data.test is not None and (last or (data.val is None and not timed)):
                        row["test_loss"], row["test_acc"] = evaluate(judged, data.test)
                row["seconds"] = time.perf_counter() - start
                row["elapsed"] = row["seconds"] + (history[-1]["elapsed"] if history else 0.0)
                history.append(row)
                if on_epoch:
                    on_epoch(row)
                if checkpoint:
                    save_checkpoint(checkpoint, hp, model, optimizer, scheduler, history, ema)
        if ema is not None:
            model.load_state_dict(ema.state)  # the run's weights are the ones its numbers judged
    return history
