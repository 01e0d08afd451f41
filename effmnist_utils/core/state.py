"""What a run keeps beside its weights: the weights' moving average, and the checkpoint an
interrupted run resumes from."""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import torch


class TrainingError(RuntimeError):
    """A run cannot go on (non-finite loss, mismatched checkpoint); the message says why."""


class WeightAverage:
    """An exponential moving average of a model's weights and BatchNorm statistics, updated
    after every training step: average <- decay x average + (1 - decay) x current (integer
    buffers, such as BatchNorm's batch count, are copied)."""

    def __init__(self, model, decay: float):
        self.decay = decay
        self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        live = model.state_dict()  # the model's own tensors: steps update them in place
        self._pairs = [(self.state[k], live[k]) for k in self.state if live[k].is_floating_point()]
        self._copies = [(self.state[k], live[k]) for k in self.state if not live[k].is_floating_point()]

    @torch.no_grad()
    def update(self) -> None:
        torch._foreach_lerp_([a for a, _ in self._pairs], [v for _, v in self._pairs], 1 - self.decay)
        for a, v in self._copies:
            a.copy_(v)

    @contextmanager
    def swapped_into(self, model):
        """`model` holds the average inside the block and its trained weights again after it."""
        live = {k: v.clone() for k, v in model.state_dict().items()}
        model.load_state_dict(self.state)
        try:
            yield model
        finally:
            model.load_state_dict(live)


def save_checkpoint(path: Path, hp, model, optimizer, scheduler, history, ema=None) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save({"hparams": asdict(hp), "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "rng": torch.get_rng_state(),
                "history": history, **({"ema": ema.state} if ema is not None else {})}, tmp)
    os.replace(tmp, path)  # a run killed mid-save keeps the previous checkpoint


def load_checkpoint(path: Path, hp, model, optimizer, scheduler, ema=None) -> list[dict]:
    """Restore the state saved after the last finished epoch; return the history so far."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state["hparams"] != asdict(hp):
        raise TrainingError(f"{path} was written with other settings ({state['hparams']}); "
                            "delete it or resume with the same ones.")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"])
    if ema is not None:
        for k, v in state["ema"].items():
            ema.state[k].copy_(v)
    return state["history"]
