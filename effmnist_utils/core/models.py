"""The original study's six iterations as one spec-driven network, and the registry of every model.

The original study is github.com/divya-r-kamat/EfficientMnist-Under20K. Every iteration is the same skeleton: seven (Iter 1: six) unpadded convolutions, the 4th
one a 1x1 "transition" that compresses channels, one 2x2 max-pool, and a head that is either a
flatten + Linear or a global average pool + Linear. What changes from one iteration to the next
is a handful of settings, so each iteration is a `IterSpec` and a notebook can show exactly
what changed with `spec_diff(previous, current)`.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import nn
import torch.nn.functional as F

from .layernet import FRONTIER_SPECS, LayerNet

TRANSITION = 3  # zero-based index of the 1x1 conv (the original's "conv4") in every iteration


@dataclass(frozen=True)
class IterSpec:
    """The settings that distinguish one iteration of the original study from another."""

    channels: tuple[int, ...]  # output channels of conv1, conv2, ...; conv4 is the 1x1
    pool_after: int  # 1-based index of the conv the 2x2 max-pool follows
    batchnorm: bool  # BatchNorm2d after every conv but the last
    head: str  # "flatten" (Linear over the whole last feature map) or "gap"


class IterNet(nn.Module):
    """An original-study CNN built from a `IterSpec`; 28x28x1 in, log-probabilities of 10 classes out."""

    def __init__(self, spec: IterSpec):
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


ITER_SPECS: dict[str, IterSpec] = {
    "iter1": IterSpec((8, 16, 28, 8, 16, 28), pool_after=3, batchnorm=False, head="flatten"),
    "iter2": IterSpec((8, 10, 16, 8, 10, 16, 28), pool_after=3, batchnorm=False, head="flatten"),
    "iter3": IterSpec((8, 10, 16, 8, 10, 16, 28), pool_after=4, batchnorm=False, head="flatten"),
    "iter4": IterSpec((8, 10, 16, 8, 10, 16, 28), pool_after=4, batchnorm=True, head="flatten"),
    "iter5": IterSpec((8, 10, 16, 8, 10, 16, 28), pool_after=4, batchnorm=True, head="gap"),
    "iter6": IterSpec((8, 16, 28, 8, 16, 16, 28), pool_after=4, batchnorm=True, head="gap"),
}
ITERATIONS = tuple(ITER_SPECS)
# The original study's own results: one run each, test accuracy of epoch 20 (its README,
# github.com/divya-r-kamat/EfficientMnist-Under20K).
ORIGINAL_ACC = {"iter1": 99.39, "iter2": 99.29, "iter3": 99.44, "iter4": 99.59, "iter5": 99.41,
                "iter6": 99.52}


# name -> zero-argument constructor. New models join here and are then available to the CLI.
MODELS = {name: (lambda spec=spec: IterNet(spec)) for name, spec in ITER_SPECS.items()}
MODELS.update({name: (lambda spec=spec: LayerNet(*spec)) for name, spec in FRONTIER_SPECS.items()})


LAYERS_PREFIX = {"L": "bn", "L0": "bn0"}  # a model named by its layers: "L.c8.s12.p.s16.g"


def layers_name(layers: str, norm: str = "bn") -> str:
    """The model name of a `LayerNet` given by its layer string (the searches' networks, which
    have no name of their own): "c8 s12 p s16 g" -> "L.c8.s12.p.s16.g" ("L0." with norm bn0)."""
    if "/" in layers or "." in layers:
        raise ValueError(f"a layer string with '/' or '.' cannot name a model: {layers!r}")
    prefix = next(k for k, v in LAYERS_PREFIX.items() if v == norm)
    return ".".join([prefix, *layers.split()])


def build_model(name: str) -> nn.Module:
    """A fresh model from the registry, or a LayerNet named by its layers (`layers_name`); an
    unknown name raises a ValueError listing the known ones."""
    prefix, _, layers = name.partition(".")
    if prefix in LAYERS_PREFIX and layers:
        return LayerNet(layers.replace(".", " "), norm=LAYERS_PREFIX[prefix])
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(MODELS)} "
                         "(or a LayerNet by its layers, e.g. L.c8.s12.p.s16.g)")
    return MODELS[name]()


def count_params(model: nn.Module) -> int:
    """All trainable parameters, BatchNorm's included."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _first(value) -> int:
    """A conv/pool setting given as an int or as a (height, width) pair: its first value."""
    return value if isinstance(value, int) else value[0]


def describe_layer(m: nn.Module) -> str:
    """A conv's or max-pool's shape in a few words: "3x3", "3x3 dw" (depthwise), "1x1 /2" (2
    groups), "3x3 stride 2"; a pool's is "2x2"."""
    k, s = _first(m.kernel_size), _first(m.stride)
    if isinstance(m, nn.MaxPool2d):
        return f"{k}x{k}"
    g = m.groups
    kind = " dw" if g == m.in_channels > 1 else (f" /{g}" if g > 1 else "")
    return f"{k}x{k}{kind}" + (f" stride {s}" if s > 1 else "")


def layer_receptive_fields(model: nn.Module, size: int = 28) -> list[dict]:
    """Every conv and max-pool in the order the model applies them (the order they are
    registered in, as in these Sequential nets; a weight-shared conv once per application), and
    what one unit of its output sees of a `size` x `size` input:
    {"layer": "conv3 1x1" / "pool 2x2", "out": output side in pixels, "rf": receptive
    field in input pixels, "jump": input pixels between neighbouring units, "centre": the input
    pixel (0-based, may be a half) at the centre of the field of the output's centre unit}.
    Padding moves a field but does not change its size; the last "rf" is `receptive_field`."""
    rows, rf, jump, start, n, convs = [], 1, 1, 0.0, size, 0
    for _, m in model.named_modules(remove_duplicate=False):
        if not isinstance(m, (nn.Conv2d, nn.MaxPool2d)):
            continue
        k, s, p, d = (_first(v) for v in (m.kernel_size, m.stride, m.padding, m.dilation))
        rf += (k - 1) * d * jump
        start += ((k - 1) * d / 2 - p) * jump
        jump *= s
        n = (n + 2 * p - d * (k - 1) - 1) // s + 1
        convs += isinstance(m, nn.Conv2d)
        name = f"conv{convs}" if isinstance(m, nn.Conv2d) else "pool"
        if n < 1:
            raise ValueError(f"{name} ({describe_layer(m)}): a {size}x{size} input is too small for it")
        rows.append({"layer": f"{name} {describe_layer(m)}", "out": n, "rf": rf, "jump": jump,
                     "centre": start + (n - 1) // 2 * jump})
    return rows


def receptive_field(model: nn.Module) -> int:
    """Receptive field in input pixels of one unit of the last conv/pool layer (a weight-shared
    conv counted once per application); `layer_receptive_fields` gives it layer by layer."""
    fields = layer_receptive_fields(model)
    return fields[-1]["rf"] if fields else 1


def spec_diff(old: IterSpec, new: IterSpec) -> dict[str, tuple]:
    """{setting: (old value, new value)} for every setting that differs between two specs."""
    return {f.name: (getattr(old, f.name), getattr(new, f.name))
            for f in fields(IterSpec) if getattr(old, f.name) != getattr(new, f.name)}

