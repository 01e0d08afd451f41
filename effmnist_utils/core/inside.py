"""Looking inside a trained network: its first layer's filters, what each stage makes of one
digit, where a unit's receptive field falls on the image, what global average pooling keeps of
it (lesson 05), what the order of pool and transition keeps, and the mistakes it is surest of."""
from __future__ import annotations


import matplotlib.pyplot as plt
import torch
from torch import nn

from .loaders import normalise
from .models import describe_layer, layer_receptive_fields, receptive_field
from .plots import DPI, pixels, show_images


def _titled(title: str, text: str) -> str:
    return f"{title}: {text}" if title else text[0].upper() + text[1:]


def one_digit(image: torch.Tensor) -> torch.Tensor:
    """One digit as the 1 x 1 x 28 x 28 float batch a model takes: a uint8 image is normalised
    as in training (`loaders.normalise`), a float one is taken as normalised already."""
    if not isinstance(image, torch.Tensor) or image.numel() != 28 * 28 or tuple(image.shape[-2:]) != (28, 28):
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"image must be one 28x28 digit tensor (shape 28x28, 1x28x28 or 1x1x28x28), "
                         f"not {shape}")
    image = image.detach().cpu().reshape(28, 28)
    return normalise(image[None]) if image.dtype == torch.uint8 else image.float().reshape(1, 1, 28, 28)


def _first_conv(model: nn.Module) -> nn.Conv2d:
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if conv is None:
        raise ValueError(f"{type(model).__name__} has no Conv2d layer")
    return conv


def plot_filters(model: nn.Module, cols: int = 8, title: str = ""):
    """The first conv layer's kernels, one small image per output channel (averaged over the
    input channels when there is more than one), on one diverging colour scale centred at 0:
    red weights add the pixel's brightness, blue ones subtract it."""
    conv = _first_conv(model)
    w = conv.weight.detach().cpu().float().mean(1)  # out x k x k
    limit, cols = float(w.abs().max()) or 1.0, min(cols, len(w))
    rows = -(-len(w) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.0 + 0.8, rows * 1.05 + 0.6), squeeze=False,
                             dpi=DPI)
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, kernel) in enumerate(zip(axes.flat, w)):
        im = ax.imshow(kernel.numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
        ax.set_title(f"channel {i}", fontsize=8)
    k = conv.kernel_size[0]
    mean = f", mean over {conv.in_channels} input channels" if conv.in_channels > 1 else ""
    fig.suptitle(_titled(title, f"first layer, {len(w)} filters of {k}x{k}{mean}"))
    fig.colorbar(im, ax=axes, fraction=0.03, label="weight")
    return fig


def run_hooked(model: nn.Module, x: torch.Tensor, hooked: tuple, hook) -> None:
    """`x` through `model` in eval mode without gradients, `hook` on every module of a `hooked`
    type; the model's mode is restored and the hooks removed afterwards."""
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, hooked)]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x.to(next(model.parameters()).device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)


def _stages(model: nn.Module, x: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """`x` through `model` in eval mode without gradients (its mode restored afterwards): at each
    ReLU over a feature map (where a conv block ends), (the convs and pools since the previous
    one, in words; the block's output C x H x W)."""
    ops, stages = [], []

    def on_op(m, inputs, out):
        ops.append(f"{'pool' if isinstance(m, nn.MaxPool2d) else 'conv'} {describe_layer(m)}")

    def on_act(m, inputs, out):
        if out.dim() == 4:
            stages.append((", ".join(ops), out[0].detach().float().cpu().clone()))
            ops.clear()

    run_hooked(model, x, (nn.ReLU, nn.Conv2d, nn.MaxPool2d),
               lambda m, inp, out: (on_act if isinstance(m, nn.ReLU) else on_op)(m, inp, out))
    if not stages:
        raise ValueError(f"{type(model).__name__} has no ReLU over a feature map to show")
    return stages


def plot_feature_maps(model: nn.Module, image: torch.Tensor, channels: int = 8, title: str = ""):
    """One digit through the network: the input, then one row per conv block (after its BatchNorm
    and ReLU) with its first `channels` channel maps, labelled with the layers since the row
    above and the block's channels and size. One colour scale per row (dark: 0), so that weak and
    dead channels show. `image`: 28x28, uint8 or normalised as in training."""
    x = one_digit(image)
    stages = _stages(model, x)
    fig, axes = plt.subplots(len(stages) + 1, channels, figsize=(channels * 1.0 + 2.6, (len(stages) + 1) * 1.05),
                             squeeze=False, dpi=DPI)
    for ax in axes.flat:
        ax.set(xticks=[], yticks=[])
        ax.set_frame_on(False)
    axes[0, 0].imshow(pixels(x)[0].numpy(), cmap="gray_r", vmin=0, vmax=1)
    axes[0, 0].set_ylabel("input · 28×28", rotation=0, ha="right", va="center", fontsize=8)
    for row, (ops, maps) in zip(axes[1:], stages):
        top = float(maps.max()) or 1.0
        for ax, fmap in zip(row, maps[:channels]):
            ax.imshow(fmap.numpy(), cmap="magma", vmin=0, vmax=top, interpolation="nearest")
        h, w = maps.shape[1:]
        row[0].set_ylabel(f"{ops}\n→ {len(maps)} ch · {h}×{w}", rotation=0, ha="right", va="center",
                          fontsize=8)
    fig.suptitle(_titled(title, f"one digit, the first {channels} channels after each conv block's ReLU"))
    fig.tight_layout()
    return fig


def plot_receptive_field(model: nn.Module, image: torch.Tensor, title: str = ""):
    """How the receptive field grows layer by layer, drawn on one digit: for each conv and pool
    (`models.layer_receptive_fields`), the square of input pixels that the centre unit of its
    output sees, clipped to the 28x28 image; layers that leave the field as it was (1x1 convs)
    share the square. `image`: 28x28, uint8 or normalised."""
    x = one_digit(image)
    fields = layer_receptive_fields(model)
    sizes = {}  # rf -> (the layers that reach it, the centre)
    for f in fields:
        names, _ = sizes.get(f["rf"], ([], None))
        sizes[f["rf"]] = (names + [f["layer"]], f["centre"])
    fig, ax = plt.subplots(figsize=(8.5, 4.6), dpi=DPI)
    ax.imshow(pixels(x)[0].numpy(), cmap="gray_r", vmin=0, vmax=1)
    colours = plt.cm.viridis([i / max(1, len(sizes) - 1) for i in range(len(sizes))])
    for colour, (rf, (names, centre)) in zip(colours, sizes.items()):
        lo, hi = max(-0.5, centre - rf / 2), min(27.5, centre + rf / 2)  # pixel edges, clipped
        clipped = " (clipped)" if (lo, hi) != (centre - rf / 2, centre + rf / 2) else ""
        ax.add_patch(plt.Rectangle((lo, lo), hi - lo, hi - lo, fill=False, edgecolor=colour, linewidth=2,
                                   label=f"{rf}×{rf} px{clipped}: {', '.join(names)}"))
    ax.set(xticks=[], yticks=[], xlim=(-0.5, 27.5), ylim=(27.5, -0.5),
           title=_titled(title, f"receptive field layer by layer, {receptive_field(model)} px at the last"))
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5), title="what the centre unit sees")
    fig.tight_layout()
    return fig


# --- which digits the model gets wrong, and how sure it was -------------------------------------

def plot_confident_mistakes(images: torch.Tensor, probs: torch.Tensor, targets: torch.Tensor,
                            n: int = 20, cols: int = 10):
    """The misclassified digits, most confident first: each titled 'true → predicted' and the
    probability the model gave its (wrong) answer. `probs`: N x 10 softmax probabilities (e.g.
    `predict_probs`), in the order of `images` and `targets`."""
    if probs.dim() != 2 or probs.shape[1] != 10 or len(probs) != len(targets) or len(images) != len(targets):
        raise ValueError(f"probs must be N x 10 with one row per image and target; got probs "
                         f"{tuple(probs.shape)}, {len(images)} images, {len(targets)} targets")
    sums = probs.sum(1)
    if not torch.allclose(sums, torch.ones_like(sums), atol=1e-3):
        raise ValueError("probs must be probabilities (rows summing to 1, e.g. from predict_probs), "
                         "not log-probabilities or logits")
    confidence, preds = probs.max(1)
    wrong = (preds != targets).nonzero().flatten()
    shown = wrong[confidence[wrong].argsort(descending=True, stable=True)][:n]
    titles = [f"{int(targets[i])} → {int(preds[i])}  {confidence[i]:.1%}" for i in shown]
    fig = show_images(images[shown], titles, cols=min(cols, max(1, len(shown))))
    width, height = fig.get_size_inches()
    fig.set_size_inches(width, height + 0.35)  # room for the headline above the digits' titles
    fig.suptitle(f"{len(wrong)} of {len(targets):,} digits misclassified; the {len(shown)} most confident "
                 f"(true → predicted, the model's probability for its answer)", y=0.99, va="top", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, height / (height + 0.35)))
    return fig


# --- what global average pooling keeps of one digit --------------------------------------------

def _gap_head(model: nn.Module) -> tuple[nn.AdaptiveAvgPool2d, nn.Linear]:
    """The model's global average pool and the first Linear after it (its classifier)."""
    mods = list(model.modules())
    pool = next((i for i, m in enumerate(mods) if isinstance(m, nn.AdaptiveAvgPool2d)
                 and m.output_size in (1, (1, 1))), None)
    linear = None if pool is None else next((m for m in mods[pool:] if isinstance(m, nn.Linear)), None)
    if linear is None:
        raise ValueError(f"{type(model).__name__} has no global average pool (AdaptiveAvgPool2d(1)) followed "
                         "by a Linear head; plot_gap shows GAP networks such as iter5 and iter6")
    return mods[pool], linear


def plot_gap(model: nn.Module, image: torch.Tensor, title: str = ""):
    """What global average pooling keeps of one digit: the last feature maps (the pool's input,
    each titled with its average), below them those averages, one bar per channel, then the
    head's weights (one row per digit) and the ten scores they give, the predicted digit in red.
    `image`: 28x28, uint8 or normalised as in training."""
    x = one_digit(image)
    pool, linear = _gap_head(model)
    seen = {}

    def hook(m, inputs, out):  # returns None: the output stays the model's own
        seen.setdefault(m, inputs[0][0].detach().float().cpu())

    run_hooked(model, x, (nn.AdaptiveAvgPool2d,), hook)
    maps = seen[pool]  # C x H x W
    kept = maps.mean((1, 2))
    weight, bias = linear.weight.detach().float().cpu(), linear.bias.detach().float().cpu()
    scores = weight @ kept + bias
    c, h, w = maps.shape
    cols = min(c, 14)
    rows = -(-c // cols)
    fig = plt.figure(figsize=(11, 1.0 * rows + 3.4), dpi=DPI)
    outer = fig.add_gridspec(2, 1, height_ratios=[rows, 2.6], hspace=0.45)
    top = outer[0].subgridspec(rows, cols + 1, wspace=0.15, hspace=0.5)
    digit = fig.add_subplot(top[0, 0])
    digit.imshow(pixels(x)[0].numpy(), cmap="gray_r", vmin=0, vmax=1)
    digit.set_title("input", fontsize=8)
    high = float(maps.max()) or 1.0
    for k in range(c):
        ax = fig.add_subplot(top[k // cols, 1 + k % cols])
        ax.imshow(maps[k].numpy(), cmap="magma", vmin=min(0.0, float(maps.min())), vmax=high,
                  interpolation="nearest")
        ax.set_title(f"{float(kept[k]):.2f}", fontsize=7)
    for ax in fig.axes:
        ax.set(xticks=[], yticks=[])
    bars, heat, out = (fig.add_subplot(s) for s in outer[1].subgridspec(1, 3, width_ratios=[3, 3, 1.4], wspace=0.3))
    bars.bar(range(c), kept.numpy(), color="tab:purple")
    bars.set(xlabel="channel", title=f"GAP keeps {c} numbers (each map's average)")
    limit = float(weight.abs().max()) or 1.0
    heat.imshow(weight.numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto", interpolation="nearest")
    heat.set(xlabel="channel", ylabel="digit", yticks=range(len(weight)),
             title=f"the head: {weight.numel() + bias.numel():,} parameters")
    predicted = int(scores.argmax())
    out.barh(range(len(scores)), scores.numpy(),
             color=["tab:red" if d == predicted else "tab:grey" for d in range(len(scores))])
    out.set(yticks=range(len(scores)), ylim=(len(scores) - 0.5, -0.5), xlabel="score", title="scores")
    fig.suptitle((f"{title}: " if title else "") + f"{c} maps of {h}×{w} → {c} numbers → {len(scores)} scores; "
                 f"predicted {predicted}")
    return fig


# --- what the order of the pool and the 1x1 transition keeps ---------------------------------------

def pool_and_transition(model: nn.Module, image: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """One digit through the first max-pool and the first 1x1 convolution, in the model's order:
    [(step, maps C x H x W)] for the block that feeds them (after its ReLU), then each of the two
    (the 1x1 after its ReLU). In iteration 2 the pool comes first, in iteration 3 the 1x1."""
    x = one_digit(image)
    events, convs = [], []  # (step, maps) after each ReLU over a feature map and each pool

    def hook(m, inputs, out):
        if isinstance(m, nn.Conv2d):
            convs.append(describe_layer(m))
        elif isinstance(m, nn.MaxPool2d):
            events.append((f"pool {describe_layer(m)}", out[0].detach().float().cpu().clone()))
        elif out.dim() == 4:
            events.append((f"conv {', '.join(convs)}", out[0].detach().float().cpu().clone()))
            convs.clear()

    run_hooked(model, x, (nn.ReLU, nn.Conv2d, nn.MaxPool2d), hook)
    pool = next((i for i, (step, _) in enumerate(events) if step.startswith("pool")), None)
    mix = next((i for i, (step, _) in enumerate(events) if step == "conv 1x1"), None)
    if pool is None or mix is None or min(pool, mix) == 0:
        raise ValueError(f"{type(model).__name__} needs a conv block, then a max-pool and a 1x1 convolution "
                         "(in either order), as iterations 2 and 3 have")
    return events[min(pool, mix) - 1:max(pool, mix) + 1]


def plot_pool_orders(models: dict[str, nn.Module], image: torch.Tensor, channels: int = 4):
    """The same digit through two (or more) networks, one column of panels each: the maps of the
    block before the max-pool and the 1x1 transition, then after each of the two in the model's
    order (`pool_and_transition`), the first `channels` maps of each step in a row, labelled
    with its channels and size. One colour scale per row (dark: 0). `image`: 28x28."""
    if not models:
        raise ValueError("models must name at least one network, e.g. {'iteration 2': m2, 'iteration 3': m3}")
    found = {name: pool_and_transition(m, image) for name, m in models.items()}
    rows = max(len(steps) for steps in found.values())
    fig = plt.figure(figsize=(len(found) * (channels * 1.05 + 1.6), rows * 1.25 + 0.7), dpi=DPI)
    grid = fig.add_gridspec(1, len(found), wspace=0.35)
    for col, (name, steps) in enumerate(found.items()):
        cells = grid[col].subgridspec(rows, channels, wspace=0.08, hspace=0.55)
        for r, (step, maps) in enumerate(steps):
            top = float(maps.max()) or 1.0
            for k in range(channels):
                ax = fig.add_subplot(cells[r, k])
                ax.set(xticks=[], yticks=[])
                ax.set_frame_on(False)
                if k < len(maps):
                    ax.imshow(maps[k].numpy(), cmap="magma", vmin=0, vmax=top, interpolation="nearest")
                if k == 0:
                    c, h, w = maps.shape
                    ax.set_title(f"{r + 1}. {'then ' if r else ''}{step} → {c} ch · {h}×{w}", fontsize=9,
                                 loc="left")
        fig.text((col + 0.5) / len(found), 0.99, name, ha="center", va="top", fontsize=11)
    fig.suptitle(f"one digit, the first {channels} channels at each step", y=0.02, va="bottom", fontsize=9)
    return fig
