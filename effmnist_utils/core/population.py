"""A population: N members of one network and recipe, each with its own seed (its initial
weights, its shuffle, its augmentation), trained in one pass as one wide network.

`Population` holds the members' parameters and buffers stacked along a first axis of size N and
runs them with `torch.func.vmap` over `functional_call` (PyTorch's "model ensembling" recipe):
one call computes every member on its own batch. BatchNorm's running statistics are stacked
buffers too, which each member's forward pass updates in its own slice. Nothing mixes the
members: the loss is the sum of the members' own losses, so each member's gradient is its own;
Adam, AdamW and SGD with momentum act element by element, weight decay included, and the
learning-rate schedule is the same for all, so one optimizer over the stacked tensors steps
every member exactly as its solo run would (up to float rounding: the stacked convolutions add
up in another order). A member comes out as an ordinary network (`Population.member`) and is
evaluated as a solo run is; `population_runs` builds populations and records their members.
"""
from __future__ import annotations

import copy
import math
import time
from pathlib import Path

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from .config import HParams
from .loaders import DeviceLoader
from .loop import Stepper, evaluate, make_optimizer, make_scheduler, step_loss, steps_every_batch
from .runtime import autocast, cudnn_benchmark, synchronize
from .checkpoint import TrainingError, load_checkpoint, save_checkpoint
from .weight_average import WeightAverage


def check_population(hp: HParams) -> None:
    """A ValueError naming each setting of `hp` a population cannot train exactly as N solo runs."""
    refused = [why for why, bad in (
        (f"loader={hp.loader!r} (a population needs loader='fast': one batch per member from one "
         "shared tensor)", hp.loader != "fast"),
        (f"compile_mode={hp.compile_mode!r} (a population runs eager; use compile_mode='')", bool(hp.compile_mode)),
        ("channels_last=True (a population's batches are 5-D: members x images; use channels_last=False)",
         hp.channels_last)) if bad]
    if refused:
        raise ValueError("a population cannot train these settings: " + "; ".join(refused))


class Population(nn.Module):
    """N networks of one architecture as stacked tensors: `forward` takes N batches (members x
    images x ...) and returns each member's output on its own batch. Its `state_dict` holds the
    stacked tensors, so the loop's optimizer, scheduler and `WeightAverage` work on it as on one
    model. `member(k)` is member k as an ordinary network."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        if not members:
            raise ValueError("a population needs at least one member")
        names = [tuple(m.state_dict()) for m in members]
        if any(n != names[0] for n in names):
            raise ValueError("a population's members must be the same network (the same parameter names)")
        dropout = [n for n, m in members[0].named_modules()
                   if isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0]
        if dropout:
            raise ValueError(f"a population cannot train a network with dropout ({', '.join(dropout)}): its "
                             "members would draw their masks from one generator, not each from its own seed")
        params, buffers = stack_module_state(members)
        self.size = len(members)
        self._param_names, self._buffer_names = list(params), list(buffers)
        for i, name in enumerate(self._param_names):
            self.register_parameter(f"p{i}", nn.Parameter(params[name]))
        for i, name in enumerate(self._buffer_names):
            self.register_buffer(f"b{i}", buffers[name])
        # the architecture without storage, outside the module's registry: functional_call runs it
        # with the stacked tensors, and `member` fills a copy of it
        self._skeleton = [copy.deepcopy(members[0]).to("meta")]

    def _stacked(self) -> tuple[dict, dict]:
        return ({n: getattr(self, f"p{i}") for i, n in enumerate(self._param_names)},
                {n: getattr(self, f"b{i}") for i, n in enumerate(self._buffer_names)})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] != self.size:
            raise ValueError(f"a population of {self.size} takes one batch per member (a first axis of "
                             f"{self.size}), not {x.shape[0]}")
        skeleton = self._skeleton[0].train(self.training)
        params, buffers = self._stacked()
        return vmap(lambda p, b, xb: functional_call(skeleton, (p, b), (xb,)))(params, buffers, x)

    def member_state(self, k: int, state: dict | None = None) -> dict:
        """Member k's state_dict, by the ordinary network's names, from the population's own
        tensors or from `state` (a state_dict of the population, e.g. a WeightAverage's)."""
        state = self.state_dict() if state is None else state
        keys = [f"p{i}" for i in range(len(self._param_names))] + [f"b{i}" for i in range(len(self._buffer_names))]
        return {name: state[key][k].detach().clone()
                for name, key in zip(self._param_names + self._buffer_names, keys)}

    def member(self, k: int, state: dict | None = None) -> nn.Module:
        """Member k as an ordinary network on the population's device, in eval mode."""
        device = next(iter(self.parameters())).device
        model = copy.deepcopy(self._skeleton[0]).to_empty(device=device)
        model.load_state_dict(self.member_state(k, state))
        return model.eval()


def member_loaders(train: DeviceLoader, seeds: list[int]) -> list[DeviceLoader]:
    """One training loader per member, sharing `train`'s images: member k shuffles and augments
    with seed `seeds[k]`, as its solo run's loader does."""
    if not isinstance(train, DeviceLoader):
        raise ValueError("a population's members need the fast loader (loader='fast')")
    loaders = []
    for seed in seeds:
        loader = copy.copy(train)  # shares the image tensor, not a copy of it
        loader.seed = seed
        loaders.append(loader)
    return loaders


def population_step(pop: Population, optimizer, x, y, hp: HParams, teacher=None):
    """One optimisation step of every member on its own batch (`x`: members x images x ...);
    returns (each member's loss, log-probabilities), on the device. Each member's loss is the
    solo run's (`loop.step_loss`); their sum is differentiated, so each gets its own gradient."""
    with autocast(x.device, hp.precision):
        out = pop(x).float()
        soft = None
        if teacher is not None:
            with torch.no_grad():
                soft = teacher(x.flatten(0, 1)).float().view(*out.shape)
    o = hp.optim
    if soft is None:
        losses = vmap(lambda a, b: step_loss(a, b, None, o.label_smoothing))(out, y)
    else:
        losses = vmap(lambda a, b, s: step_loss(a, b, s, o.label_smoothing, o.distill))(out, y, soft)
    optimizer.zero_grad(set_to_none=True)
    losses.sum().backward()
    optimizer.step()
    return losses, out


def train_population_epoch(stepper: Stepper, loaders, hp: HParams, epoch: int, lean: bool = False) -> dict:
    """One epoch of every member of `stepper.model` (the population) over its own loader, as
    `loop.train_epoch` is one of a solo run; returns the learning rate (at the start), each
    member's train loss and accuracy (running, augmented) and the seconds from the first step to
    the last. `lean`: no accuracy, the loss checked only at the end."""
    pop, optimizer, scheduler, ema = stepper.model, stepper.optimizer, stepper.scheduler, stepper.ema
    pop.train()
    for loader in loaders:
        loader.set_epoch(epoch)
    lr = optimizer.param_groups[0]["lr"]
    device = next(iter(pop.parameters())).device
    loss_sum = torch.zeros(pop.size, device=device)
    correct, seen = torch.zeros(pop.size, device=device), 0
    synchronize(device)
    start = time.perf_counter()
    for batches in zip(*loaders):
        x = torch.stack([b[0] for b in batches])
        y = torch.stack([b[1] for b in batches])
        losses, out = population_step(pop, optimizer, x, y, hp, stepper.teacher)
        if ema is not None:
            ema.update()
        if steps_every_batch(hp.optim):
            scheduler.step()
        loss_sum += losses.detach() * y.shape[1]
        seen += y.shape[1]
        if not lean:
            correct += (out.argmax(-1) == y).sum(1)
    if not steps_every_batch(hp.optim):
        scheduler.step()
    synchronize(device)
    seconds = time.perf_counter() - start
    mean_loss = (loss_sum / seen).tolist()
    bad = [k for k, v in enumerate(mean_loss) if not math.isfinite(v)]
    if bad:
        raise TrainingError(f"the training loss of member(s) {', '.join(map(str, bad))} became non-finite "
                            f"in epoch {epoch}; lower the learning rate.")
    row = {"epoch": epoch, "lr": lr, "train_loss": mean_loss, "train_seconds": seconds}
    return row if lean else {**row, "train_acc": (correct / seen).tolist()}


def warm_up_population(pop: Population, loaders, hp: HParams, steps: int) -> float:
    """Untimed steps with a throwaway optimizer; the members' weights and statistics are restored
    exactly afterwards. Returns the seconds."""
    device = next(iter(pop.parameters())).device
    state = copy.deepcopy(pop.state_dict())
    optimizer = make_optimizer(pop, hp.optim)
    first = [next(iter(loader)) for loader in loaders]
    x, y = torch.stack([b[0] for b in first]), torch.stack([b[1] for b in first])
    pop.train()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        population_step(pop, optimizer, x, y, hp)
    synchronize(device)
    seconds = time.perf_counter() - start
    pop.load_state_dict(state)
    return seconds


def fit_population(pop: Population, data, seeds: list[int], hp: HParams, *, teacher=None,
                   on_epoch=None, timed: int = 0, checkpoint: str | Path | None = None,
                   resume: bool = False) -> list[list[dict]]:
    """Train every member of `pop` (member k with seed `seeds[k]`) on `data.train` as `hp` says;
    return one history per member, each as `loop.fit` returns a solo run's: per epoch its
    learning rate, train loss and accuracy, the population's training seconds (first step to
    last, all members together), validation and test as `fit` reads them (each member judged
    as an ordinary network by `loop.evaluate`), the seconds with evaluation and since the start.
    With `hp.optim.ema` the members are judged by, and end holding, their weights' averages.
    `on_epoch(rows)` gets each epoch's rows (one per member). `timed` > 0: that many untimed
    warm-up steps first, no accuracy during an epoch, validation and test after the last only.
    `checkpoint`: every member's state is saved there after every epoch (after `on_epoch`, so a
    search pruning the population keeps the epochs before); `resume` continues from it and ends
    as an uninterrupted population (same device)."""
    check_population(hp)
    if len(seeds) != pop.size:
        raise ValueError(f"{len(seeds)} seeds for a population of {pop.size}: give one seed per member")
    if (teacher is not None) != bool(hp.optim.teacher):
        raise ValueError(f"settings with teacher {hp.optim.teacher!r} need its model as `teacher` "
                         "(runs.load_teacher loads it), and a teacher model needs settings that name it")
    loaders = member_loaders(data.train, seeds)
    teacher_was_training = teacher.training if teacher is not None else None
    teacher = teacher.eval() if teacher is not None else None
    histories: list[list[dict]] = [[] for _ in seeds]
    try:
        with cudnn_benchmark(hp.cudnn_benchmark):
            warm_seconds = warm_up_population(pop, loaders, hp, timed) if timed else None
            optimizer = make_optimizer(pop, hp.optim)
            scheduler = make_scheduler(optimizer, hp.optim, len(data.train))
            ema = WeightAverage(pop, hp.optim.ema) if hp.optim.ema else None
            checkpoint = Path(checkpoint) if checkpoint else None
            if resume and checkpoint and checkpoint.exists():
                saved = len(torch.load(checkpoint, map_location="cpu", weights_only=False)["history"])
                if saved != pop.size:
                    raise TrainingError(f"{checkpoint} holds {saved} members, not {pop.size}; "
                                        "delete it or resume with the same seeds")
                histories = load_checkpoint(checkpoint, hp, pop, optimizer, scheduler, ema)
            stepper = Stepper(pop, optimizer, scheduler, teacher=teacher, ema=ema)
            for epoch in range(len(histories[0]) + 1, hp.optim.epochs + 1):
                start, last = time.perf_counter(), epoch == hp.optim.epochs
                shared = train_population_epoch(stepper, loaders, hp, epoch, lean=bool(timed))
                rows = []
                for k in range(pop.size):
                    row = {"epoch": epoch, "lr": shared["lr"], "train_loss": shared["train_loss"][k],
                           "train_seconds": shared["train_seconds"]}
                    if "train_acc" in shared:
                        row["train_acc"] = shared["train_acc"][k]
                    if warm_seconds is not None and epoch == 1:
                        row["warm_up_seconds"] = warm_seconds
                    judged = pop.member(k, ema.state if ema is not None else None)
                    if data.val is not None and (last or not timed):
                        row["val_loss"], row["val_acc"] = evaluate(judged, data.val)
                    if data.test is not None and (last or (data.val is None and not timed)):
                        row["test_loss"], row["test_acc"] = evaluate(judged, data.test)
                    rows.append(row)
                seconds = time.perf_counter() - start
                for history, row in zip(histories, rows):
                    row["seconds"] = seconds
                    row["elapsed"] = seconds + (history[-1]["elapsed"] if history else 0.0)
                    history.append(row)
                if on_epoch:
                    on_epoch(rows)
                if checkpoint:
                    save_checkpoint(checkpoint, hp, pop, optimizer, scheduler, histories, ema)
        if ema is not None:
            pop.load_state_dict(ema.state)  # the members' weights are the ones their numbers judged
    finally:
        if teacher is not None:
            teacher.train(teacher_was_training)
    return histories
