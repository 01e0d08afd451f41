"""The six seed iterations as one small, spec-driven network, plus a registry by name.

Every seed iteration is the same skeleton: seven (Iter 1: six) unpadded convolutions, the 4th
one a 1x1 "transition" that compresses channels, one 2x2 max-pool, and a head that is either a
flatten + Linear or a global average pool + Linear. What changes from one iteration to the next
is a handful of settings, so each iteration is a `SeedSpec` and a notebook can show exactly
what changed with `spec_diff(previous, current)`.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import nn
import torch.nn.functional as F

TRANSITION = 3  # zero-based index of the 1x1 conv (the seed's "conv4") in every iteration


@dataclass(frozen=True)
class SeedSpec:
    """The settings that distinguish one seed iteration from another."""

    channels: tuple[int, ...]  # output channels of conv1, conv2, ...; conv4 is the 1x1
    pool_after: int  # 1-based index of the conv the 2x2 max-pool follows
    batchnorm: bool  # BatchNorm2d after every conv but the last
    head: str  # "flatten" (Linear over the whole last feature map) or "gap"


class SeedNet(nn.Module):
    """A seed-study CNN built from a `SeedSpec`; 28x28x1 in, log-probabilities of 10 classes out."""

    def __init__(self, spec: SeedSpec):
        super().__init__()
        if spec.head not in ("flatten", "gap"):
            raise ValueError(f"head must be 'flatten' or 'gap', not {spec.head!r}")
        self.spec = spec
        layers, in_ch, size = [], 1, 28
        for i, out_ch in enumerate(spec.channels):
            k = 1 if i == TRANSITION else 3
            layers.append(nn.Conv2d(in_ch, out_ch, k))
            size -= k - 1
            if spec.batchnorm and i < len(spec.channels) - 1:
                layers.append(nn.BatchNorm2d(out_ch))
            layers.append(nn.ReLU())
            if i + 1 == spec.pool_after:
                layers.append(nn.MaxPool2d(2))  # max-pool and ReLU commute, so their order is free
                size //= 2
            in_ch = out_ch
        self.features = nn.Sequential(*layers)
        if spec.head == "gap":
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_ch, 10))
        else:
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(in_ch * size * size, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.head(self.features(x)), dim=1)


SEED_SPECS: dict[str, SeedSpec] = {
    "iter1": SeedSpec((8, 16, 28, 8, 16, 28), pool_after=3, batchnorm=False, head="flatten"),
    "iter2": SeedSpec((8, 10, 16, 8, 10, 16, 28), pool_after=3, batchnorm=False, head="flatten"),
    "iter3": SeedSpec((8, 10, 16, 8, 10, 16, 28), pool_after=4, batchnorm=False, head="flatten"),
    "iter4": SeedSpec((8, 10, 16, 8, 10, 16, 28), pool_after=4, batchnorm=True, head="flatten"),
    "iter5": SeedSpec((8, 10, 16, 8, 10, 16, 28), pool_after=4, batchnorm=True, head="gap"),
    "iter6": SeedSpec((8, 16, 28, 8, 16, 16, 28), pool_after=4, batchnorm=True, head="gap"),
}



class LayerNet(nn.Module):
    """A small CNN written as a string of layers, for the frontier search beyond the seed.

    Tokens (space-separated): `cN` 3x3 conv to N channels, unpadded; `CN` the same padded;
    `sN` / `SN` depthwise-separable 3x3 conv (depthwise 3x3, then 1x1 to N), unpadded / padded;
    `tN` 1x1 transition conv to N; `p` 2x2 max-pool; `g` global average pool then Linear to 10.
    Every conv is followed by BatchNorm and ReLU (and Dropout2d when `dropout` > 0). Example:
    "c8 c16 t8 p c16 c16 g".
    """

    def __init__(self, layers: str, dropout: float = 0.0):
        super().__init__()
        self.layers = layers
        mods, in_ch = [], 1
        tokens = layers.split()
        if not tokens or tokens[-1] != "g" or "g" in tokens[:-1]:
            raise ValueError(f"layers must end with the head 'g' (and have it once): {layers!r}")
        for tok in tokens[:-1]:
            if tok == "p":
                mods.append(nn.MaxPool2d(2))
                continue
            kind, out_ch = tok[0], int(tok[1:]) if tok[1:].isdigit() else None
            if kind not in "cCsSt" or out_ch is None:
                raise ValueError(f"unknown layer token {tok!r} in {layers!r}")
            pad = 1 if kind in "CS" else 0
            if kind in "cC":
                mods.append(nn.Conv2d(in_ch, out_ch, 3, padding=pad, bias=False))
            elif kind in "sS":
                mods += [nn.Conv2d(in_ch, in_ch, 3, padding=pad, groups=in_ch, bias=False),
                         nn.Conv2d(in_ch, out_ch, 1, bias=False)]
            else:
                mods.append(nn.Conv2d(in_ch, out_ch, 1, bias=False))
            mods += [nn.BatchNorm2d(out_ch), nn.ReLU()]  # BN makes a conv bias redundant
            if dropout:
                mods.append(nn.Dropout2d(dropout))
            in_ch = out_ch
        self.features = nn.Sequential(*mods)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_ch, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.head(self.features(x)), dim=1)


# The frontier's candidates: name -> (layers, dropout); the name starts with the parameter budget
# it is meant for (f20 < 20k, f8 < 8k, f5 < 5k). All were ranked by proxy runs on the validation
# split (tools/frontier_search.py, results/search); notebook 07 tells which became finalists.
FRONTIER_SPECS: dict[str, tuple[str, float]] = {
    "f20a": ("c10 c16 c20 t10 p c16 c20 c24 c28 g", 0.0),
    "f20b": ("c12 c16 c24 t12 p c16 c24 c32 g", 0.0),
    "f8a": ("c8 c10 c16 t8 p c12 c16 c16 g", 0.0),  # the 1x1 transition + pool after 3 convs
    "f8b": ("c8 c10 t8 p c12 c14 c16 c16 g", 0.0),  # ... after 2 convs (pool earlier)
    "f8d": ("c8 c10 c16 t8 p c12 c16 c16 g", 0.05),  # f8a with 5 % Dropout2d after every conv
    "f5a": ("c6 c8 c12 t8 p c10 c12 c12 g", 0.0),
    "f5s": ("c8 c12 p s16 s24 s32 s32 g", 0.0),  # depthwise-separable after the pool
}

# name -> zero-argument constructor. New models join here and are then available to the CLI.
MODELS = {name: (lambda spec=spec: SeedNet(spec)) for name, spec in SEED_SPECS.items()}
MODELS.update({name: (lambda spec=spec: LayerNet(*spec)) for name, spec in FRONTIER_SPECS.items()})


def build_model(name: str) -> nn.Module:
    """A fresh model from the registry; an unknown name raises a ValueError listing the known ones."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(MODELS)}")
    return MODELS[name]()


def count_params(model: nn.Module) -> int:
    """All trainable parameters, BatchNorm's included."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def receptive_field(model: nn.Module) -> int:
    """Receptive field in input pixels of one unit of the last conv/pool layer (all unpadded)."""
    rf, jump = 1, 1
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d)):
            k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
            s = m.stride if isinstance(m.stride, int) else m.stride[0]
            d = m.dilation if isinstance(m.dilation, int) else m.dilation[0]
            rf += (k - 1) * d * jump
            jump *= s
    return rf


def spec_diff(old: SeedSpec, new: SeedSpec) -> dict[str, tuple]:
    """{setting: (old value, new value)} for every setting that differs between two specs."""
    return {f.name: (getattr(old, f.name), getattr(new, f.name))
            for f in fields(SeedSpec) if getattr(old, f.name) != getattr(new, f.name)}


def layer_table(model: nn.Module, device: str = "cpu") -> str:
    """torchsummary's layer table as a string (deterministic: shapes and counts only)."""
    import contextlib
    import io

    from torchsummary import summary

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        summary(model.to(device), (1, 28, 28), device=device)
    return buf.getvalue()
