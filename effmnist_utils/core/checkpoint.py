"""The checkpoint an interrupted run resumes from (written after every finished epoch, with
the weights' moving average when the run keeps one), and `TrainingError`, what a run that cannot
go on raises (a checkpoint of other settings here, a non-finite loss in `loop`)."""
from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

import torch


class TrainingError(RuntimeError):
    """A run cannot go on (non-finite loss, mismatched checkpoint); the message says why."""


def save_checkpoint(path: Path, hp, model, optimizer, scheduler, history, ema=None) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save({"hparams": asdict(hp), "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "rng": torch.get_rng_state(),
                "history": history, **({"ema": ema.state} if ema is not None else {})}, tmp)
    os.replace(tmp, path)  # a run killed mid-save keeps the previous checkpoint


def _written_with(state: dict, hp) -> bool:
    return state["hparams"] == asdict(hp)


def saved_history(path: Path, hp) -> list | None:
    """The history a checkpoint holds (a run's rows, or a population's, one list per member)
    when it was written with the settings `hp`; None when there is none, or it is another's."""
    if not Path(path).is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=False)
    return state["history"] if _written_with(state, hp) else None


def load_checkpoint(path: Path, hp, model, optimizer, scheduler, ema=None) -> list[dict]:
    """Restore the state saved after the last finished epoch; return the history so far."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    if not _written_with(state, hp):
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
