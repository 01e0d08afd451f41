"""What a batch's activations do, for the lesson on BatchNorm (04): the spread of what each ReLU
receives from many digits, with and without BatchNorm, and how one layer's input drifts over the
first training steps. One digit through a network, what a GAP head keeps included, is `inside`."""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from torch import nn

from .inside import run_hooked
from .loaders import normalise
from .plots import DPI


def _batch(images: torch.Tensor) -> torch.Tensor:
    """N digits as the N x 1 x 28 x 28 float batch a model takes (uint8: normalised as in
    training; float: taken as normalised already)."""
    if not isinstance(images, torch.Tensor) or images.dim() < 2 or tuple(images.shape[-2:]) != (28, 28) \
            or images.numel() == 0:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a batch of 28x28 digits (shape N x 28 x 28), not {shape}")
    images = images.detach().cpu().reshape(-1, 28, 28)
    return normalise(images) if images.dtype == torch.uint8 else images.float()[:, None]


def relu_inputs(model: nn.Module, images: torch.Tensor) -> list[dict]:
    """For every ReLU over a feature map, in the order the model applies them: what it receives
    from `images` in eval mode, per channel: {"mean": C values, "std": C values, "shape":
    (C, H, W), "bn": whether a BatchNorm fed it}. `images`: N x 28 x 28, uint8 or normalised."""
    rows, last = [], [None]

    def hook(m, inputs, out):
        if not isinstance(m, nn.ReLU):
            last[0] = m
        elif inputs[0].dim() == 4:
            v = inputs[0].detach().float().cpu().transpose(0, 1).flatten(1)  # C x (N*H*W)
            rows.append({"mean": v.mean(1), "std": v.std(1, unbiased=False), "shape": tuple(inputs[0].shape[1:]),
                         "bn": isinstance(last[0], nn.BatchNorm2d)})

    run_hooked(model, _batch(images), (nn.ReLU, nn.Conv2d, nn.BatchNorm2d), hook)
    if not rows:
        raise ValueError(f"{type(model).__name__} has no ReLU over a feature map to measure")
    return rows


def plot_activation_spread(model_without_bn: nn.Module, model_with_bn: nn.Module, images: torch.Tensor,
                           labels: tuple[str, str] = ("without BatchNorm", "with BatchNorm")):
    """What each ReLU receives, layer by layer, in two networks side by side on one scale: for
    every channel a dot at its mean over `images` and a bar of ± one standard deviation. Without
    BatchNorm the channels drift apart and widen layer by layer; with it each channel arrives
    near mean 0 and spread 1 (a layer BatchNorm does not feed is marked "no BN")."""
    x = _batch(images)
    panels = [relu_inputs(model_without_bn, x), relu_inputs(model_with_bn, x)]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True, dpi=DPI)
    for ax, rows, label in zip(axes, panels, labels):
        for i, row in enumerate(rows):
            c = len(row["mean"])
            xs = i + (torch.arange(c) - (c - 1) / 2) * (0.7 / max(c, 2))
            ax.errorbar(xs.numpy(), row["mean"].numpy(), yerr=row["std"].numpy(), fmt="o", markersize=3,
                        linewidth=1, color="tab:blue" if row["bn"] else "tab:orange")
        ax.axhline(0, color="grey", linewidth=0.8)
        ticks = [f"layer {i + 1}\n{r['shape'][0]}×{r['shape'][1]}×{r['shape'][2]}" + ("" if r["bn"] else "\nno BN")
                 for i, r in enumerate(rows)]
        ax.set_xticks(range(len(rows)), ticks, fontsize=8)
        ax.set_title(label)
        ax.grid(alpha=0.3, axis="y")
    axes[0].set_ylabel("what the ReLU receives\n(per channel: mean ± std)")
    axes[1].legend(handles=[plt.Line2D([], [], color=c, marker="o", markersize=3, label=t) for c, t in
                            (("tab:orange", "straight from the conv"), ("tab:blue", "through BatchNorm"))],
                   fontsize=8, loc="lower left")
    fig.suptitle(f"Each layer's channels over {len(x)} digits, before the ReLU")
    fig.tight_layout()
    return fig


# --- the drift BatchNorm removes: one layer's input over the first training steps -----------------

def layer_drift(models: dict[str, nn.Module], images: torch.Tensor, targets: torch.Tensor, layer: int = 5,
                steps: int = 40, batch_size: int = 128, lr: float = 1e-3, seed: int = 0) -> dict[str, dict]:
    """Trains each model (in place, on the CPU, Adam at `lr`, batches of `batch_size` drawn from
    `images` in one seeded order, the same for every model) for `steps` steps, and records at
    every step what its `layer`-th ReLU (counted from 1) receives from the batch: per channel,
    its mean and standard deviation over the batch and every position, both of the convolution's
    output and of the ReLU's input (they differ where a BatchNorm sits between them).
    Returns {name: {"conv_mean", "conv_std", "relu_mean", "relu_std": steps x C tensors}}."""
    x = _batch(images)
    if not isinstance(targets, torch.Tensor) or len(targets) != len(x):
        raise ValueError(f"targets must be a tensor with one label per image ({len(x)}), "
                         f"not {len(targets) if isinstance(targets, torch.Tensor) else type(targets).__name__}")
    if steps < 1 or batch_size < 2 or batch_size > len(x):
        raise ValueError(f"need steps >= 1 and 2 <= batch_size <= the {len(x)} images; got steps={steps}, "
                         f"batch_size={batch_size}")
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    batches = [order[(i * batch_size + torch.arange(batch_size)) % len(x)] for i in range(steps)]
    out = {}
    for name, model in models.items():
        relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
        convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
        if not 1 <= layer <= min(len(relus), len(convs)):
            raise ValueError(f"{name}: layer must be 1 to {min(len(relus), len(convs))} (its ReLUs over a "
                             f"convolution), not {layer}")
        seen = {}

        def stats(key):
            def hook(m, inputs, output):
                v = (output if key == "conv" else inputs[0]).detach().float().transpose(0, 1).flatten(1)
                seen[key] = (v.mean(1), v.std(1, unbiased=False))
            return hook

        handles = [convs[layer - 1].register_forward_hook(stats("conv")),
                   relus[layer - 1].register_forward_hook(stats("relu"))]
        model.cpu().train()
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        rows = {k: [] for k in ("conv_mean", "conv_std", "relu_mean", "relu_std")}
        try:
            for idx in batches:
                loss = nn.functional.nll_loss(model(x[idx]), targets[idx].long())
                opt.zero_grad()
                loss.backward()
                opt.step()
                for key in ("conv", "relu"):
                    rows[f"{key}_mean"].append(seen[key][0])
                    rows[f"{key}_std"].append(seen[key][1])
        finally:
            for h in handles:
                h.remove()
        out[name] = {k: torch.stack(v) for k, v in rows.items()}
    return out


def plot_layer_drift(drift: dict[str, dict], channels: int = 4):
    """`layer_drift`'s record as two panels, the mean and the standard deviation of what the
    ReLU receives, step by step: one line per channel (the first `channels`), one colour per
    model; where the ReLU's input is not the convolution's own output (a BatchNorm between
    them), the convolution's output is drawn dashed in the same colour."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), dpi=DPI)
    handles = []
    for colour, (name, rec) in zip(("tab:orange", "tab:blue", "tab:green", "tab:red"), drift.items()):
        steps = range(1, len(rec["relu_mean"]) + 1)
        differs = not torch.equal(rec["conv_mean"], rec["relu_mean"])
        for ax, key in ((left, "mean"), (right, "std")):
            for k in range(min(channels, rec[f"relu_{key}"].shape[1])):
                ax.plot(steps, rec[f"relu_{key}"][:, k].numpy(), color=colour, linewidth=1.2)
                if differs:
                    ax.plot(steps, rec[f"conv_{key}"][:, k].numpy(), color=colour, linewidth=1, linestyle="--",
                            alpha=0.7)
        handles.append(plt.Line2D([], [], color=colour, label=f"{name}: what the ReLU receives"))
        if differs:
            handles.append(plt.Line2D([], [], color=colour, linestyle="--", label=f"{name}: the convolution's output"))
    left.set(xlabel="training step", ylabel="mean over the batch", title="each channel's mean")
    right.set(xlabel="training step", ylabel="standard deviation over the batch", title="each channel's spread")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.legend(handles=handles, fontsize=9, loc="lower center", ncol=2, frameon=False)
    fig.tight_layout(rect=(0, 0.06 + 0.045 * ((len(handles) + 1) // 2), 1, 1))
    return fig
