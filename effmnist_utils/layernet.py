"""Networks written as a string of layers, for the frontier beyond the original study.

`LayerNet("c8 c16 t8 p c16 c16 g")` builds a BatchNorm CNN token by token; `FRONTIER_SPECS`
names the frontier's candidates. The registry (`models.MODELS`) makes them trainable by name.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


class LayerNet(nn.Module):
    """A small CNN written as a string of layers, for the frontier beyond the original study.

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

