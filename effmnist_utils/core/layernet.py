"""Networks written as a string of layers, for the frontier beyond the original study.

`LayerNet("c8 c16 t8 p c16 c16 g")` builds a BatchNorm CNN token by token; `FRONTIER_SPECS`
names the frontier's candidates. The registry (`models.MODELS`) makes them trainable by name.
"""
from __future__ import annotations

import re

import torch
from torch import nn
import torch.nn.functional as F

NORMS = ("bn", "bn0")  # BatchNorm with its scale and shift (2 parameters a channel) / without
_CONV = re.compile(r"([cCsStdD])(\d+)(?:/(\d+))?")
_REPEAT = re.compile(r"r(\d+)")


def _conv(kind: str, in_ch: int, out_ch: int, groups: int) -> list[nn.Module]:
    """The convolution(s) of one conv token, without norm or activation (BN makes a bias
    redundant)."""
    stride, pad = (2, 1) if kind in "dD" else (1, 0 if kind in "cst" else 1)
    if kind in "sSD":  # depthwise 3x3, then a 1x1 (grouped when groups > 1)
        convs = [nn.Conv2d(in_ch, in_ch, 3, stride, pad, groups=in_ch, bias=False),
                 nn.Conv2d(in_ch, out_ch, 1, groups=groups, bias=False)]
    else:
        convs = [nn.Conv2d(in_ch, out_ch, 1 if kind == "t" else 3, stride, pad, groups=groups,
                           bias=False)]
    return convs + ([nn.ChannelShuffle(groups)] if groups > 1 else [])


def scale_widths(layers: str, percent: int) -> str:
    """Every conv width of a layer string scaled by `percent` / 100, rounded to a multiple of
    twice its groups (and at least that): how a model is narrowed to a smaller budget."""
    def one(m: re.Match) -> str:
        unit = 2 * int(m[3] or 1)
        return f"{m[1]}{max(unit, unit * round(int(m[2]) * percent / 100 / unit))}" + (f"/{m[3]}" if m[3] else "")
    return _CONV.sub(one, layers)


class Standardise(nn.Module):
    """Each image minus its own mean, divided by its own standard deviation (a blank image stays 0)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean((1, 2, 3), keepdim=True)
        return (x - mean) / (x.var((1, 2, 3), keepdim=True, unbiased=False) + 1e-2).sqrt()


class LayerNet(nn.Module):
    """A small CNN written as a string of layers, for the frontier beyond the original study.

    Tokens (space-separated):
      `cN` / `CN`  3x3 conv to N channels, unpadded / padded;
      `sN` / `SN`  depthwise-separable 3x3 conv (depthwise 3x3, then 1x1 to N), unpadded / padded;
      `tN`         1x1 transition conv to N;
      `dN` / `DN`  strided downsampling: 3x3 conv (`d`) or depthwise-separable 3x3 conv (`D`) with
                   stride 2 and padding 1 (28 -> 14 -> 7), to N channels; instead of a pool;
      `.../G`      on any conv token above: the conv (for `s`, `S`, `D`: its 1x1) is split into G
                   groups, and a channel shuffle (no parameters) follows so that the next grouped
                   conv mixes the groups; both channel counts must be divisible by G;
                   e.g. `C16/4` costs 16*16*9/4 weights instead of 16*16*9;
      `rK`         weight sharing: the previous conv token is applied K more times with the *same*
                   conv weights (it must keep its channel count); each application has its own
                   norm (2N parameters with norm "bn", none with "bn0"), as its statistics differ;
      `p`          2x2 max-pool;
      `i`          first, if at all: every image standardised on its own (minus its mean, divided by
                   its standard deviation; 0 parameters), so that a uniformly brighter or
                   lower-contrast image reaches the first conv unchanged;
      `g`          the head, last and once: global average pool, then Linear to 10.
    Every conv token is followed by the norm and ReLU (and Dropout2d when `dropout` > 0).
    `norm`: "bn" BatchNorm with a learnable scale and shift, or "bn0" BatchNorm without them
    (normalisation for free: 0 parameters). Examples: "c8 c16 t8 p c16 c16 g",
    "c8 s16 p S16 r2 s24 g" (one separable block applied three times).
    `models.receptive_field` counts a shared conv once per application (`rK` adds K of them).
    """

    def __init__(self, layers: str, dropout: float = 0.0, norm: str = "bn"):
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, not {norm!r}")
        self.layers, self.norm = layers, norm
        tokens = layers.split()
        if not tokens or tokens[-1] != "g" or "g" in tokens[:-1]:
            raise ValueError(f"layers must end with the head 'g' (and have it once): {layers!r}")
        mods, in_ch, shared = [], 1, None  # shared: the previous conv token's convs, for `rK`
        for k, tok in enumerate(tokens[:-1]):
            if tok == "i":
                if k:
                    raise ValueError(f"'i' (standardise each image) must be the first token in {layers!r}")
                mods.append(Standardise())
            elif tok == "p":
                mods.append(nn.MaxPool2d(2))
                shared = None
            elif m := _REPEAT.fullmatch(tok):
                if shared is None:
                    raise ValueError(f"{tok!r} must follow a conv token that keeps its channel "
                                     f"count in {layers!r}")
                for _ in range(int(m[1])):
                    mods += shared + self._post(in_ch, dropout)
            elif m := _CONV.fullmatch(tok):
                kind, out_ch, groups = m[1], int(m[2]), int(m[3] or 1)
                if out_ch < 1 or groups < 1 or out_ch % groups or in_ch % groups:
                    raise ValueError(f"{tok!r}: channels must be positive and divisible by the "
                                     f"groups (input {in_ch}) in {layers!r}")
                convs = _conv(kind, in_ch, out_ch, groups)
                mods += convs + self._post(out_ch, dropout)
                shared, in_ch = (convs if in_ch == out_ch else None), out_ch
            else:
                raise ValueError(f"unknown layer token {tok!r} in {layers!r}")
        self.features = nn.Sequential(*mods)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_ch, 10))

    def _post(self, ch: int, dropout: float) -> list[nn.Module]:
        """What follows every conv application: its own norm, ReLU and optional Dropout2d."""
        mods = [nn.BatchNorm2d(ch, affine=self.norm == "bn"), nn.ReLU()]
        return mods + ([nn.Dropout2d(dropout)] if dropout else [])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.head(self.features(x)), dim=1)


# The frontier's candidates: name -> (layers, dropout[, norm]); the name starts with the parameter
# budget it is meant for (f20 < 20k, f8 < 8k, f5 < 5k). All were ranked by proxy runs on the
# validation split (plan frontier-search, results/search); notebook 07 tells which became
# finalists.
FRONTIER_SPECS: dict[str, tuple] = {
    "f20a": ("c10 c16 c20 t10 p c16 c20 c24 c28 g", 0.0),
    "f20b": ("c12 c16 c24 t12 p c16 c24 c32 g", 0.0),
    "f8a": ("c8 c10 c16 t8 p c12 c16 c16 g", 0.0),  # the 1x1 transition + pool after 3 convs
    "f8b": ("c8 c10 t8 p c12 c14 c16 c16 g", 0.0),  # ... after 2 convs (pool earlier)
    "f8d": ("c8 c10 c16 t8 p c12 c16 c16 g", 0.05),  # f8a with 5 % Dropout2d after every conv
    "f8i": ("i c8 c10 c16 t8 p c12 c16 c16 g", 0.0),  # f8a on each image standardised (issue 19)
    "f5a": ("c6 c8 c12 t8 p c10 c12 c12 g", 0.0),
    "f5s": ("c8 c12 p s16 s24 s32 s32 g", 0.0),  # depthwise-separable after the pool
    # Issue 12, below 2,000 parameters (plan tiny-search, results/tiny). t2a is the base:
    # one 3x3 conv, then depthwise-separable convs, one pool (RF 22); each other t2 changes one
    # lever at about the same parameter count.
    "t2a": ("c8 s12 p s12 s16 s16 s16 g", 0.0),  # base
    "t2b": ("c6 c8 p s12 s12 s16 s16 g", 0.0),  # f5s's shape: two full 3x3 convs first
    "t2c": ("c8 s12 p s12 s16 p S16 S16 g", 0.0),  # a second max-pool: RF 22 -> 32
    "t2d": ("c8 D12 s12 s16 s16 s16 g", 0.0),  # a strided separable conv instead of the pool
    "t2e": ("c8 s12 p s16 s16 s16 s18 g", 0.0, "bn0"),  # BN without scale/shift, widths regrown
    "t2f": ("c8 s12 p s16 S16 r3 s20 g", 0.0),  # weight sharing: one S16 applied 4 times
    "t2g": ("c4 s8 p s12 s16 s16 t32 g", 0.0),  # very narrow early, a 1x1 expansion last
    "t2h": ("c8 s16/2 p s16/2 s24/4 s24/4 s24/4 g", 0.0),  # grouped 1x1s (+shuffle) buy width
    "t2i": ("c4 c6 t4 p c6 c8 c12 g", 0.0),  # full 3x3 convs only (f8a's shape, scaled down)
    "t2j": ("c4 c8/2 p c8/4 c12/4 c16/4 c16/4 g", 0.0),  # grouped full 3x3 convs (+shuffle)
    # Issue 12, below 1,000 parameters: t1a is the base (one 3x3 conv, separable convs, RF 18).
    "t1a": ("c4 s8 p s10 s12 s12 g", 0.0),  # base
    "t1b": ("c6 s8 p s10 s12 s12 g", 0.0),  # a wider first conv
    "t1c": ("c4 s8 p s10 s12 p S12 g", 0.0),  # a second max-pool: RF 18 -> 24
    "t1d": ("c4 D8 s10 s12 s12 g", 0.0),  # a strided separable conv instead of the pool
    "t1e": ("c4 s8 p s8 s10 s12 s12 g", 0.0, "bn0"),  # BN without scale/shift buys a 4th layer
    "t1f": ("c4 s12 p S12 r3 s14 g", 0.0),  # weight sharing: one S12 applied 4 times
    "t1g": ("c4 s8/2 p s8/2 s12/2 s12/2 s16/4 g", 0.0),  # grouped 1x1s (+shuffle): depth, width
    "t1h": ("c4 c6 p s8 s12 s12 g", 0.0),  # f5s's shape: two full 3x3 convs first
    "t1i": ("c4 s8 p s8 s12 t20 g", 0.0),  # narrow, a 1x1 expansion last (RF only 14)
    # Issue 21, below 1,000 parameters: t1b's own stage-1 levers put together (plan frontier-levers)
    "t1j": ("c6 s8 p s10 s12 p S12 g", 0.0),  # t1b with a second pool before its last layer: RF 18 -> 24
    "t1k": ("c8 s8 p s10 s12 p S12 g", 0.0, "bn0"),  # ... and BN without scale/shift buys c8 first
    # The speedrun's shapes (plans.speed): fewer multiply-adds per image than f8a at a similar
    # accuracy, for training against the clock.
    "fast": ("d16 C16 p C32 C32 g", 0.0),  # a strided first conv (28 -> 14), one pool
    "fastdeep": ("d16 C16 p C24 C24 C32 g", 0.0),  # a third conv after the pool (RF 25 -> 33)
    "fastpool": ("C8 p C16 p C24 C32 g", 0.0),  # a full-resolution first conv, then two pools
}
