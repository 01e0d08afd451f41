"""How accuracy falls as the digits move: every image shifted by whole pixels (the translate
family of the corruption suite, at any size), and a model's accuracy against the shift."""
from __future__ import annotations

import torch
from torch import nn

from .robustness import accuracy


def shifted(images_u8: torch.Tensor, pixels: int, seed: int = 0) -> torch.Tensor:
    """Each image moved by `pixels` whole pixels across and `pixels` down, each either way (a
    seeded coin per image and axis), the uncovered edge black: the translate family at any size."""
    n, size = len(images_u8), images_u8.shape[-1]
    if not 0 <= pixels < size:
        raise ValueError(f"a shift of {pixels} px: give 0 to {size - 1} for {size}x{size} images")
    g = torch.Generator().manual_seed(seed)
    signs = torch.randint(0, 2, (n, 2), generator=g) * 2 - 1
    padded = nn.functional.pad(images_u8, (pixels, pixels, pixels, pixels))
    out = torch.empty_like(images_u8)
    for k, (sx, sy) in enumerate(signs.tolist()):
        top, left = pixels - sy * pixels, pixels - sx * pixels
        out[k] = padded[k, top:top + size, left:left + size]
    return out


def shift_curve(model, images_u8, labels, shifts=range(7), device="cpu") -> list[float]:
    """`model`'s accuracy on the images `shifted` by each of `shifts` pixels, in [0, 1]."""
    return [accuracy(model, shifted(images_u8, s), labels, device) for s in shifts]
