"""The lessons' figures of what flows through a network (notebooks 04 and 05): the spread of what
each ReLU receives with and without BatchNorm, and what global average pooling keeps. Checked for
what they draw, on hand-built and untrained models and random digits (no training, no MNIST)."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from effmnist_utils.core import activations as A, inside  # noqa: E402
from effmnist_utils.core.models import build_model  # noqa: E402
from helpers import seeded_model  # noqa: E402


def _digits(n=16, seed=0):
    return torch.randn(n, 28, 28, generator=torch.Generator().manual_seed(seed))


def _constant_net(biases):
    """One 3x3 conv with zero weights and the given biases, then a ReLU: channel k receives
    exactly biases[k] everywhere."""
    conv = nn.Conv2d(1, len(biases), 3)
    with torch.no_grad():
        conv.weight.zero_()
        conv.bias.copy_(torch.tensor(biases))
    return nn.Sequential(conv, nn.ReLU())


def _normalised_net(images):
    """A random conv, BatchNorm and ReLU whose running statistics were taken on `images` (the
    cumulative average of one pass): in eval mode each channel reaches the ReLU at mean 0, std 1."""
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3, momentum=None), nn.ReLU())
    with torch.no_grad():
        net.train()(images[:, None])
    return net.eval()


def _errorbars(ax):
    """(means, lower ends, upper ends) of every error bar drawn on `ax`, in drawing order."""
    means, low, high = [], [], []
    for container in ax.containers:
        line, _, (bars,) = container.lines
        means += list(line.get_ydata())
        for seg in bars.get_segments():
            low.append(seg[0][1])
            high.append(seg[1][1])
    return (torch.tensor(means, dtype=torch.float32), torch.tensor(low, dtype=torch.float32),
            torch.tensor(high, dtype=torch.float32))


# --- what each ReLU receives ----------------------------------------------------------------------

def test_relu_inputs_are_measured_per_channel():
    """Zero weights and biases 1.5 and -2: each channel receives its bias everywhere (spread 0)."""
    (row,) = A.relu_inputs(_constant_net([1.5, -2.0]), _digits())
    assert row["mean"].tolist() == [1.5, -2.0] and row["std"].tolist() == [0.0, 0.0]
    assert row["shape"] == (2, 26, 26) and row["bn"] is False


def test_spread_draws_each_channels_mean_and_std():
    """Left: the constant net's channels at their biases with no spread; right: BatchNorm's
    channels at mean 0 and std 1 on the images its statistics came from."""
    digits = _digits(32)
    fig = A.plot_activation_spread(_constant_net([1.5, -2.0]), _normalised_net(digits), digits)
    left, right = fig.axes
    means, low, high = _errorbars(left)
    assert means.tolist() == [1.5, -2.0] and torch.equal(low, means) and torch.equal(high, means)
    means, low, high = _errorbars(right)
    assert len(means) == 3
    assert torch.allclose(means, torch.zeros(3), atol=1e-4)
    assert torch.allclose(high - means, torch.ones(3), atol=1e-2)
    assert torch.allclose(means - low, torch.ones(3), atol=1e-2)
    assert left.get_title() == "without BatchNorm" and right.get_title() == "with BatchNorm"
    assert "32 digits" in fig._suptitle.get_text()


def test_spread_one_slot_per_layer_and_the_layers_without_batchnorm_marked():
    """iter3 and iter4: seven ReLUs each with the block's channels and size; BatchNorm feeds all
    of iter4's but the last, none of iter3's."""
    fig = A.plot_activation_spread(seeded_model("iter3"), seeded_model("iter4"), _digits())
    left, right = fig.axes
    shapes = ["8×26×26", "10×24×24", "16×22×22", "8×22×22", "10×9×9", "16×7×7", "28×5×5"]
    for ax in (left, right):
        labels = [t.get_text() for t in ax.get_xticklabels()]
        assert [label.split("\n")[1] for label in labels] == shapes
    assert all("no BN" in t.get_text() for t in left.get_xticklabels())
    assert ["no BN" in t.get_text() for t in right.get_xticklabels()] == [False] * 6 + [True]
    assert len(_errorbars(right)[0]) == 8 + 10 + 16 + 8 + 10 + 16 + 28


@pytest.mark.parametrize("train", [True, False])
def test_spread_leaves_the_models_as_they_were(train):
    """Measured in eval mode (a training-mode pass would move BatchNorm's running statistics);
    each model handed back in its own mode, with no hooks left."""
    models = [seeded_model("iter3").train(train), seeded_model("iter4").train(train)]
    before = [{k: v.clone() for k, v in m.state_dict().items()} for m in models]
    A.plot_activation_spread(*models, _digits())
    for m, b in zip(models, before):
        assert all(x.training == train for x in m.modules())
        assert all(torch.equal(b[k], v) for k, v in m.state_dict().items())
        assert not any(x._forward_hooks for x in m.modules())


def test_uint8_digits_are_normalised_as_in_training():
    from effmnist_utils.core.loaders import normalise

    u8 = (torch.rand(8, 28, 28, generator=torch.Generator().manual_seed(2)) * 255).to(torch.uint8)
    a = A.relu_inputs(seeded_model("iter4"), u8)
    b = A.relu_inputs(seeded_model("iter4"), normalise(u8)[:, 0])
    assert all(torch.allclose(x["mean"], y["mean"]) for x, y in zip(a, b))


@pytest.mark.parametrize("bad", [torch.zeros(4, 27, 28), torch.zeros(784), torch.zeros(0, 28, 28)])
def test_spread_names_the_images_shape_it_needs(bad):
    with pytest.raises(ValueError, match=r"N x 28 x 28.*not"):
        A.plot_activation_spread(seeded_model("iter3"), seeded_model("iter4"), bad)


def test_a_model_without_relu_is_refused():
    with pytest.raises(ValueError, match="no ReLU over a feature map"):
        A.relu_inputs(nn.Sequential(nn.Conv2d(1, 2, 3)), _digits())


# --- what global average pooling keeps ------------------------------------------------------------

def _digit(seed=0):
    return torch.randn(28, 28, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name, channels, side", [("iter5", 28, 5), ("iter6", 28, 5), ("f8a", 16, 5)])
def test_gap_draws_the_maps_their_averages_and_the_head(name, channels, side):
    """One map per channel of the last block (its pool's input), each titled with its average;
    one bar per average; the head's 10 x C weights; and the ten scores the head gives, the
    highest in red: all computed here from the model's own features and head."""
    model, digit = seeded_model(name).eval(), _digit()
    with torch.no_grad():
        maps = model.features(digit.reshape(1, 1, 28, 28))[0]
        scores = model.head(maps[None])[0]
    fig = inside.plot_gap(model, digit)
    images = [ax for ax in fig.axes if ax.images]
    shown = [ax for ax in images if ax.images[0].get_array().shape == (side, side)]
    assert len(shown) == channels
    for ax, fmap in zip(shown, maps):
        assert torch.allclose(torch.as_tensor(ax.images[0].get_array().data), fmap)
        assert ax.get_title() == f"{float(fmap.mean()):.2f}"
    bars, heat, out = fig.axes[-3:]
    heights = torch.tensor([p.get_height() for p in bars.patches], dtype=torch.float32)
    assert torch.allclose(heights, maps.mean((1, 2)), atol=1e-5)
    assert heat.images[0].get_array().shape == (10, channels)
    assert f"{10 * channels + 10:,} parameters" in heat.get_title()
    widths = torch.tensor([p.get_width() for p in out.patches], dtype=torch.float32)
    assert torch.allclose(widths, scores, atol=1e-4)
    red = [i for i, p in enumerate(out.patches) if p.get_facecolor() == matplotlib.colors.to_rgba("tab:red")]
    assert red == [int(scores.argmax())]
    assert fig._suptitle.get_text().endswith(f"predicted {int(scores.argmax())}")


def test_gap_refuses_a_flatten_head():
    with pytest.raises(ValueError, match="no global average pool"):
        inside.plot_gap(seeded_model("iter4"), _digit())


def test_gap_leaves_the_model_as_it_was():
    model = seeded_model("iter5").train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    inside.plot_gap(model, _digit())
    assert model.training and not any(m._forward_hooks for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


# --- the order of the pool and the 1x1 transition (notebook 03) -----------------------------------

def test_pool_and_transition_follow_each_models_order():
    """iter2 pools the 16 maps, then mixes them to 8; iter3 mixes at 22x22, then pools. Each pool
    step is the 2x2 max of the step before it, and the steps are what the notebook's labels say."""
    import torch.nn.functional as F
    from effmnist_utils.core.inside import pool_and_transition
    digit = _digits(1)[0]
    two, three = pool_and_transition(seeded_model("iter2"), digit), pool_and_transition(seeded_model("iter3"), digit)
    assert [(s, tuple(m.shape)) for s, m in two] == [("conv 3x3", (16, 22, 22)), ("pool 2x2", (16, 11, 11)),
                                                    ("conv 1x1", (8, 11, 11))]
    assert [(s, tuple(m.shape)) for s, m in three] == [("conv 3x3", (16, 22, 22)), ("conv 1x1", (8, 22, 22)),
                                                      ("pool 2x2", (8, 11, 11))]
    assert torch.equal(two[1][1], F.max_pool2d(two[0][1][None], 2)[0])
    assert torch.equal(three[2][1], F.max_pool2d(three[1][1][None], 2)[0])
    with pytest.raises(ValueError, match="1x1 convolution"):
        pool_and_transition(nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2)), digit)


def test_pool_orders_draws_one_column_per_network():
    from effmnist_utils.core.inside import plot_pool_orders
    fig = plot_pool_orders({"pool first": seeded_model("iter2"), "1x1 first": seeded_model("iter3")}, _digits(1)[0], channels=3)
    assert len(fig.axes) == 2 * 3 * 3 and sum(bool(ax.images) for ax in fig.axes) == 18
    titles = [ax.get_title(loc="left") for ax in fig.axes if ax.get_title(loc="left")]
    assert titles == ["1. conv 3x3 → 16 ch · 22×22", "2. then pool 2x2 → 16 ch · 11×11", "3. then conv 1x1 → 8 ch · 11×11",
                      "1. conv 3x3 → 16 ch · 22×22", "2. then conv 1x1 → 8 ch · 22×22", "3. then pool 2x2 → 8 ch · 11×11"]
    assert {t.get_text() for t in fig.texts} >= {"pool first", "1x1 first"}
    with pytest.raises(ValueError, match="at least one"):
        plot_pool_orders({}, _digits(1)[0])


# --- the drift BatchNorm removes (notebook 04) ----------------------------------------------------

def _pair():
    torch.manual_seed(0)
    without = build_model("iter3")
    torch.manual_seed(0)
    return without, build_model("iter4")


def test_layer_drift_records_what_the_relu_receives_step_by_step():
    """Six steps on random digits: in training mode BatchNorm hands its ReLU each channel at mean 0
    and spread 1 at the first step (gamma 1, beta 0), while the conv below it has its own scale;
    without BatchNorm the ReLU's input is the convolution's output. The models are trained."""
    without, with_bn = _pair()
    before = without.features[0].weight.detach().clone()
    images, labels = _digits(64), torch.arange(64) % 10
    drift = A.layer_drift({"a": without, "b": with_bn}, images, labels, layer=2, steps=6, batch_size=16)
    a, b = drift["a"], drift["b"]
    assert a["relu_mean"].shape == (6, 10) and b["conv_std"].shape == (6, 10)
    assert torch.equal(a["conv_mean"], a["relu_mean"]) and torch.equal(a["conv_std"], a["relu_std"])
    assert torch.allclose(b["relu_mean"][0], torch.zeros(10), atol=1e-5)
    assert torch.allclose(b["relu_std"][0], torch.ones(10), atol=1e-3)
    assert not torch.allclose(b["conv_std"][0], torch.ones(10), atol=0.05)
    assert not torch.equal(without.features[0].weight, before)
    # the same start and the same batches give the same record
    again = A.layer_drift({"a": _pair()[0]}, images, labels, layer=2, steps=6, batch_size=16)["a"]
    assert torch.equal(again["relu_std"], a["relu_std"])


def test_layer_drift_refuses_bad_input_and_plots_dashes_only_for_batchnorm():
    without, with_bn = _pair()
    images, labels = _digits(32), torch.arange(32) % 10
    with pytest.raises(ValueError, match="layer must be 1 to 7"):
        A.layer_drift({"a": without}, images, labels, layer=9, steps=2, batch_size=8)
    with pytest.raises(ValueError, match="one label per image"):
        A.layer_drift({"a": without}, images, labels[:5], steps=2, batch_size=8)
    with pytest.raises(ValueError, match="batch_size"):
        A.layer_drift({"a": without}, images, labels, steps=2, batch_size=64)
    drift = A.layer_drift({"a": without, "b": with_bn}, images, labels, layer=1, steps=3, batch_size=8)
    fig = A.plot_layer_drift(drift, channels=2)
    left, right = fig.axes
    styles = [line.get_linestyle() for line in left.lines]
    assert styles == ["-", "-", "-", "--", "-", "--"]  # a: 2 solid; b: solid + dashed per channel
    assert list(left.lines[0].get_ydata()) == pytest.approx(drift["a"]["relu_mean"][:, 0].tolist())
    assert list(right.lines[4].get_ydata()) == pytest.approx(drift["b"]["relu_std"][:, 1].tolist())
