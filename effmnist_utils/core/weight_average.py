"""The weights' moving average a run can keep beside its weights (`Optim.ema`): updated after
every training step, swapped into the model to evaluate it, and saved in the checkpoint."""
from __future__ import annotations

from contextlib import contextmanager

import torch


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
