"""The use layer's figures: a digit's preparation step by step, and one convolution's weights
before and after 8-bit rounding. Each takes data and returns a matplotlib figure."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..core.plots import DPI


def plot_steps(steps: list[tuple[str, np.ndarray]], width: float = 2.2):
    """One panel per (title, 2-D image in [0, 1]) step, each drawn as white = 1 and framed by a
    dark border, so that a white page on the notebook's white background still shows."""
    if not steps:
        raise ValueError("no steps to draw: give a list of (title, image) pairs")
    fig, axes = plt.subplots(1, len(steps), figsize=(width * len(steps), width + 0.5), dpi=DPI,
                             squeeze=False)
    for ax, (title, picture) in zip(axes[0], steps):
        ax.imshow(picture, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set(visible=True, color="tab:blue", linewidth=2)
        h, w = np.shape(picture)
        ax.set_xlabel(f"{w}x{h} px", fontsize=8)
    fig.tight_layout()
    return fig


def plot_quantised(conv: dict):
    """A convolution's weights in 8 bits (`deploy.quantised_conv`): left, each weight's integer
    against its real value (the steps of the rounding); right, the rounding error of each weight,
    weight - scale * (int8 - zero point), between the lines at +-scale / 2."""
    w = np.asarray(conv["weights"], dtype=float).ravel()
    q = np.asarray(conv["int8"], dtype=float).ravel()
    scale, zero = conv["scale"], conv["zero_point"]
    error = w - scale * (q - zero)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), dpi=DPI)
    axes[0].scatter(w, q, s=12)
    axes[0].set(xlabel="32-bit weight", ylabel="8-bit integer",
                title=f"{w.size} weights: integer = round(weight / {scale:.4f})")
    axes[1].scatter(w, error, s=12, color="tab:orange")
    for level in (-scale / 2, scale / 2):
        axes[1].axhline(level, color="grey", linestyle="--", linewidth=1)
    axes[1].set(xlabel="32-bit weight", ylabel="weight - scale × integer",
                title="the rounding error: never more than half a step")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
    fig.tight_layout()
    return fig
