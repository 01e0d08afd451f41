"""The corruption suite: the fifteen families of MNIST-C (`families`) applied to a data set.
`FAMILIES` lists them in MNIST-C's order; `corrupt_u8` applies one family to uint8 images in
chunks and rounds back to uint8, as a saved data set would be. Which held-out images a suite is
built from is `robustness`' concern.
"""
from __future__ import annotations

import torch

from .families import (SIZE, brightness, canny_edges, dotted_line, fog, glass_blur, impulse_noise,
                       motion_blur, rotate, scale, shear, shot_noise, spatter, stripe, translate, zigzag)

FAMILIES = {f.__name__: f for f in (
    shot_noise, impulse_noise, glass_blur, motion_blur, shear, scale, rotate, brightness,
    translate, stripe, fog, spatter, dotted_line, zigzag, canny_edges)}


def _family(name: str):
    if name not in FAMILIES:
        raise ValueError(f"unknown corruption {name!r}; known: {', '.join(FAMILIES)}")
    return FAMILIES[name]


def corrupt(x: torch.Tensor, family: str, seed: int) -> torch.Tensor:
    """Family `family` applied to float images in [0, 1] (N x 1 x 28 x 28) with random numbers
    from `seed`."""
    apply = _family(family)
    if x.ndim != 4 or tuple(x.shape[1:]) != (1, SIZE, SIZE):
        raise ValueError(f"expected images N x 1 x {SIZE} x {SIZE}, got {tuple(x.shape)}")
    return apply(x, torch.Generator().manual_seed(seed))


CHUNK = 2000  # images corrupted at once; part of the suite's definition (one generator runs on)


def corrupt_u8(images_u8: torch.Tensor, family: str, seed: int, device="cpu") -> torch.Tensor:
    """uint8 images N x 28 x 28 (MNIST's) corrupted by `family` in chunks of CHUNK images on
    `device` (one generator runs through the chunks in order), rounded back to uint8 on the CPU,
    as a saved data set would be."""
    apply, g = _family(family), torch.Generator().manual_seed(seed)
    out = []
    for start in range(0, len(images_u8), CHUNK):
        x = images_u8[start:start + CHUNK].to(device).float().unsqueeze(1) / 255
        out.append((apply(x, g) * 255).round().clamp(0, 255).to(torch.uint8).squeeze(1).cpu())
    return torch.cat(out) if out else images_u8.clone()
