"""The drawing helpers of issue 17 (what the network sees, the speedrun and lever charts): each
figure is checked for what it must show, on untrained models, synthetic digits and the recorded
runs' JSON (no training, no MNIST)."""
import math
import re

import matplotlib
from matplotlib.container import BarContainer

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from effmnist_utils.core import inside, plots  # noqa: E402
from effmnist_utils.studies import figures  # noqa: E402
from effmnist_utils.studies import speedrun as T  # noqa: E402
from effmnist_utils.core.config import RESULTS_DIR  # noqa: E402
from effmnist_utils.core.layernet import LayerNet  # noqa: E402
from effmnist_utils.core.loop import predict  # noqa: E402
from effmnist_utils.core.models import build_model, layer_receptive_fields, receptive_field  # noqa: E402
from effmnist_utils.studies.plans import frontier  # noqa: E402
from effmnist_utils.core.record import load_runs  # noqa: E402
from effmnist_utils.studies.lever_sweeps import lever_steps  # noqa: E402
from helpers import seeded_model  # noqa: E402


def _digit(seed=0):
    return torch.randn(28, 28, generator=torch.Generator().manual_seed(seed))


def _image_axes(fig):
    return [ax for ax in fig.axes if ax.images]


# --- per-layer receptive field --------------------------------------------------------------------

def test_layer_receptive_fields_by_hand():
    """c4 p s8: a 3x3 conv sees 3 px; the 2x2 pool 4 px and doubles the jump; the depthwise 3x3
    then adds 2 x 2 = 4 px (8), its 1x1 nothing. Output sides 26, 13, 11, 11."""
    fields = layer_receptive_fields(LayerNet("c4 p s8 g"))
    assert [(f["layer"], f["out"], f["rf"], f["jump"]) for f in fields] == [
        ("conv1 3x3", 26, 3, 1), ("pool 2x2", 13, 4, 2), ("conv2 3x3 dw", 11, 8, 2), ("conv3 1x1", 11, 8, 2)]
    # the centre unit of conv1 (index 12 of 26) sees pixels 12..14; after the pool, unit 6 of 13
    # covers conv units 12 and 13, centred on pixel 13.5
    assert [f["centre"] for f in fields] == [13.0, 13.5, 13.5, 13.5]


def _measured_fields(model: torch.nn.Module, size: int = 28) -> list[tuple[int, int]]:
    """For each conv and max-pool application, in the order the model runs them: the first and
    last input row that its centre unit depends on, measured by autograd over random digits
    (summed over many, so that no max-pool or ReLU hides a pixel that can matter)."""
    outputs = []
    hooks = [m.register_forward_hook(lambda m, i, o: outputs.append(o)) for m in model.modules()
             if isinstance(m, (torch.nn.Conv2d, torch.nn.MaxPool2d))]
    x = torch.randn(64, 1, size, size, generator=torch.Generator().manual_seed(0), requires_grad=True)
    try:
        model.eval()(x)
    finally:
        for h in hooks:
            h.remove()
    rows = []
    for out in outputs:
        c = (out.shape[-1] - 1) // 2
        (grad,) = torch.autograd.grad(out[:, :, c, c].sum(), x, retain_graph=True)
        seen = grad.abs().sum((0, 1, 3)).nonzero().flatten()
        rows.append((int(seen[0]), int(seen[-1])))
    return rows


@pytest.mark.parametrize("name, last", [("iter6", 20), ("f8a", 20), ("t1b", 18), ("fast", 25), ("t1f", 26),
                                        ("t2c", 32)])
def test_layer_receptive_fields_are_what_the_units_see(name, last):
    """Each layer's receptive field and centre are the input pixels its centre unit's output
    depends on, measured by autograd (clipped to the image where the field is larger); the last
    is the model's receptive field (values by hand: iter6/f8a 3 convs, pool, 3 convs: 20; t1f's
    S12 r3 counts 4 times; t2c's second pool takes it past the image)."""
    model = seeded_model(name)
    fields = layer_receptive_fields(model)
    expected = [(max(0, int(f["centre"] - (f["rf"] - 1) / 2)), min(27, int(f["centre"] + (f["rf"] - 1) / 2)))
                for f in fields]
    assert _measured_fields(model) == expected
    assert receptive_field(model) == last


# --- first-layer filters ----------------------------------------------------------------------------

@pytest.mark.parametrize("name, channels", [("iter6", 8), ("t1b", 6), ("f20b", 12)])
def test_filters_one_image_per_first_layer_channel(name, channels):
    """One image per output channel of the first conv, showing its weights, on one colour scale
    symmetric about 0."""
    model = seeded_model(name)
    fig = inside.plot_filters(model)
    images = [ax.images[0] for ax in _image_axes(fig)]
    weight = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d)).weight.detach()
    assert len(images) == channels == len(weight)
    for im, w in zip(images, weight[:, 0]):
        assert torch.equal(torch.as_tensor(im.get_array().data), w)
        low, high = im.get_clim()
        assert low == -high == pytest.approx(-float(weight.abs().max()))


# --- feature maps -----------------------------------------------------------------------------------

def _row_labels(fig):
    return [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]


@pytest.mark.parametrize("name, sizes, channels", [
    ("iter6", [26, 24, 22, 22, 9, 7, 5], [8, 16, 28, 8, 16, 16, 28]),
    ("t1b", [26, 24, 10, 8, 6], [6, 8, 10, 12, 12]),
])
def test_feature_maps_one_row_per_conv_block(name, sizes, channels):
    """The input row, then one row per conv block with its channel count and spatial size."""
    fig = inside.plot_feature_maps(seeded_model(name), _digit())
    labels = _row_labels(fig)
    assert labels[0].startswith("input")
    found = [re.search(r"→ (\d+) ch · (\d+)×(\d+)$", label).groups() for label in labels[1:]]
    assert [int(h) for _, h, _ in found] == sizes
    assert [int(c) for c, _, _ in found] == channels


def test_feature_maps_show_the_blocks_outputs():
    """A map shown is the block's output in eval mode: iter6's first row, channel 2, is
    conv -> BatchNorm -> ReLU of the digit; the label names the layers since the row above."""
    model, digit = seeded_model("iter6"), _digit()
    fig = inside.plot_feature_maps(model, digit, channels=4)
    rows = [ax for ax in fig.axes if ax.images]
    with torch.no_grad():
        expected = model.eval().features[:3](digit.reshape(1, 1, 28, 28))[0]
    assert torch.allclose(torch.as_tensor(rows[3].images[0].get_array().data), expected[2])
    assert len(rows) == 1 + 7 * 4  # the input, then 4 maps in each of 7 rows
    assert "pool 2x2, conv 3x3" in _row_labels(fig)[5]


@pytest.mark.parametrize("train", [True, False])
def test_feature_maps_restore_the_mode_and_leave_batchnorm_alone(train):
    """The model is run in eval mode (a training-mode pass would move BatchNorm's running
    statistics) and handed back in the mode it came in, with no hooks left."""
    model = seeded_model("f8a").train(train)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    inside.plot_feature_maps(model, _digit())
    inside.plot_receptive_field(model, _digit())
    assert all(m.training == train for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not any(m._forward_hooks for m in model.modules())


def test_a_uint8_digit_is_normalised_like_a_float_one():
    from effmnist_utils.core.loaders import normalise

    u8 = (torch.rand(28, 28, generator=torch.Generator().manual_seed(1)) * 255).to(torch.uint8)
    a = inside.plot_feature_maps(seeded_model("t1b"), u8)
    b = inside.plot_feature_maps(seeded_model("t1b"), normalise(u8[None])[0, 0])
    first = [ax.images[0].get_array().data for ax in a.axes if ax.images][1]
    again = [ax.images[0].get_array().data for ax in b.axes if ax.images][1]
    assert (first == again).all()


@pytest.mark.parametrize("bad", [torch.zeros(27, 28), torch.zeros(2, 28, 28), torch.zeros(784)])
def test_a_wrong_image_shape_names_the_expected_one(bad):
    for plot in (inside.plot_feature_maps, inside.plot_receptive_field):
        with pytest.raises(ValueError, match=r"28x28.*not \("):
            plot(seeded_model("t1b"), bad)


# --- receptive field on the image -------------------------------------------------------------------

def _squares(fig):
    return [p for p in fig.axes[0].patches if isinstance(p, plt.Rectangle)]


def test_receptive_field_one_square_per_size():
    """iter6's fields 3, 5, 7, 7 (the 1x1 conv4 shares conv3's), 8, 12, 16, 20 px: seven squares of
    those sides, the 1x1 conv named in the 7 px square's legend entry."""
    fig = inside.plot_receptive_field(seeded_model("iter6"), _digit())
    squares = _squares(fig)
    assert [p.get_width() for p in squares] == [3, 5, 7, 8, 12, 16, 20]
    assert [p.get_height() for p in squares] == [3, 5, 7, 8, 12, 16, 20]
    assert "conv4 1x1" in squares[2].get_label() and squares[2].get_label().startswith("7×7 px")


def test_receptive_field_is_clipped_to_the_image():
    """t2c's second pool makes its last field 32 px: drawn as the whole 28 px image, marked."""
    fig = inside.plot_receptive_field(seeded_model("t2c"), _digit())
    last = _squares(fig)[-1]
    assert (last.get_x(), last.get_y(), last.get_width()) == (-0.5, -0.5, 28)
    assert last.get_label().startswith("32×32 px (clipped)")


# --- confident mistakes -----------------------------------------------------------------------------

def _probs(rows):
    """Rows of (predicted digit, its probability): the rest of the mass spread over the others."""
    out = torch.zeros(len(rows), 10)
    for i, (digit, p) in enumerate(rows):
        out[i] = (1 - p) / 9
        out[i, digit] = p
    return out


def test_confident_mistakes_only_wrong_ones_most_confident_first():
    probs = _probs([(3, 0.90), (1, 0.60), (7, 0.95), (4, 0.99), (9, 0.80), (2, 0.70)])
    targets = torch.tensor([3, 7, 1, 4, 4, 5])  # images 0 and 3 right; 1, 2, 4, 5 wrong
    fig = inside.plot_confident_mistakes(torch.zeros(6, 28, 28), probs, targets, n=3)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["1 → 7  95.0%", "4 → 9  80.0%", "5 → 2  70.0%"]
    assert fig._suptitle.get_text().startswith("4 of 6 digits misclassified; the 3 most confident")


def test_confident_mistakes_refuse_log_probabilities():
    probs = _probs([(3, 0.9), (1, 0.6)])
    with pytest.raises(ValueError, match="probabilities"):
        inside.plot_confident_mistakes(torch.zeros(2, 28, 28), probs.log(), torch.tensor([3, 2]))
    with pytest.raises(ValueError, match="N x 10"):
        inside.plot_confident_mistakes(torch.zeros(3, 28, 28), probs, torch.tensor([3, 2]))


def test_predict_probs_are_the_eval_mode_softmax_in_order():
    """Rows summing to 1 that are the eval-mode model's probabilities, batch after batch, with
    the labels beside them; `predict` answers their argmax; the train mode is restored."""
    from effmnist_utils.core.loop import predict_probs

    model = seeded_model("t1b").train()
    g = torch.Generator().manual_seed(0)
    loader = [(torch.randn(5, 1, 28, 28, generator=g), torch.arange(5) + 5 * k) for k in range(2)]
    probs, targets = predict_probs(model, loader)
    assert model.training
    assert probs.shape == (10, 10) and torch.allclose(probs.sum(1), torch.ones(10))
    with torch.no_grad():
        expected = torch.cat([model.eval()(x).exp() for x, _ in loader])
    assert torch.allclose(probs, expected) and torch.equal(targets, torch.arange(10))
    model.train()
    assert torch.equal(predict(model, loader)[0], expected.argmax(1))


# --- the speedrun and the levers --------------------------------------------------------------------

@pytest.fixture(scope="module")
def speedruns():
    return load_runs(RESULTS_DIR / "speedrun" / "cpu") + load_runs(RESULTS_DIR / "speedrun" / "cuda")


def _lines(ax):
    return {line.get_label(): line for line in ax.lines}


def test_speedrun_one_point_per_seed_and_the_goal_lines(speedruns):
    fig = figures.plot_speedrun(speedruns)
    panels = {ax.get_title().split(":")[0]: ax for ax in fig.axes if ax.get_title()}
    assert set(panels) == {"cpu", "cuda"}
    for kind, ax in panels.items():
        mine = [r for r in speedruns if T.device_kind(r) == kind]
        points = sorted(tuple(xy) for c in ax.collections if c.get_gid() == "seeds" for xy in c.get_offsets())
        assert points == sorted((r["train_seconds"], 100 * r["final_test_acc"]) for r in mine)
        lines = _lines(ax)
        assert list(lines[f"goal: mean ≥ {T.GOAL_MEAN:.2f} %"].get_ydata()) == [99.40, 99.40]
        assert list(lines[f"goal: every seed ≥ {T.GOAL_MIN:.2f} %"].get_ydata()) == [99.30, 99.30]
        limit = {"cpu": 60, "cuda": 2}[kind]
        assert list(lines[f"goal: ≤ {limit} s of training"].get_xdata()) == [limit, limit]


def test_speedrun_draws_the_goals_it_is_given(speedruns):
    fig = figures.plot_speedrun([r for r in speedruns if T.device_kind(r) == "cpu"], goal_seconds={"cpu": 45},
                              goal_acc=99.5, min_acc=99.2)
    (ax,) = [ax for ax in fig.axes if ax.get_title()]
    assert {round(line.get_ydata()[0], 2) for line in ax.lines if line.get_label().startswith("goal: mean")} == {99.5}
    assert [line.get_xdata()[0] for line in ax.lines if "s of training" in line.get_label()] == [45]


@pytest.fixture(scope="module")
def lever_rows():
    return lever_steps(load_runs(RESULTS_DIR / frontier.SEARCH.folder), frontier.LEVER_STEPS)


@pytest.mark.parametrize("noise", [0.1, 0.15])
def test_levers_one_bar_per_row_on_a_band_of_the_noise(lever_rows, noise):
    fig = figures.plot_levers(lever_rows, noise=noise)
    ax = fig.axes[0]
    bars = ax.containers[0]
    assert [b.get_width() for b in bars] == [r["delta"] for r in lever_rows]
    (band,) = [p for p in ax.patches if p.get_label().startswith("noise")]
    assert (band.get_x(), band.get_x() + band.get_width()) == pytest.approx((-noise, noise))
    inside = [abs(r["delta"]) <= noise for r in lever_rows]
    assert [tuple(b.get_facecolor()) == matplotlib.colors.to_rgba("grey") for b in bars] == inside
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == len(lever_rows)
    assert labels[0] == "f8a: one-cycle lr (peak 0.01) instead of the original step schedule"
    tiny = figures.plot_levers([{**lever_rows[0], "lever": "t1c: peak lr 0.01 -> 0.02", "after": "t1c-oc02-e8"}])
    assert [t.get_text() for t in tiny.axes[0].get_yticklabels()] == ["t1c: peak lr 0.01 -> 0.02"]  # named once


def test_levers_with_spread_judge_each_bar_by_its_own_standard_error():
    """spread=True: no common band; each bar's error bar is twice its row's standard error and
    the bar is grey only when Δ lies within it; rows of one seed (no 'se') are refused."""
    row = {"lever": "x", "before": "f8a-v10k", "after": "f8a-x-v10k", "val_before": 99.4}
    rows = [{**row, "lever": "beyond", "delta": 0.10, "se": 0.03},
            {**row, "lever": "within", "delta": -0.10, "se": 0.06}]
    ax = figures.plot_levers(rows, spread=True).axes[0]
    (bars,) = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert [b.get_width() for b in bars] == [0.10, -0.10]
    assert not [p for p in ax.patches if p.get_label().startswith("noise")]
    assert [tuple(b.get_facecolor()) for b in bars] == [matplotlib.colors.to_rgba("tab:green"),
                                                       matplotlib.colors.to_rgba("grey")]
    segments = bars.errorbar.lines[2][0].get_segments()  # the error bars' lines, one per bar
    assert [s[1][0] - s[0][0] for s in segments] == pytest.approx([0.12, 0.24])
    with pytest.raises(ValueError, match="spread=True needs every row over several seeds"):
        figures.plot_levers([{**rows[0], "se": None}], spread=True)


def test_lever_times_one_bar_per_row_coloured_by_the_timing_noise():
    """One bar per lever: log2 of its speed-up, green faster than the noise, red slower, grey
    within it, labelled with the speed-up and the accuracy change; rows without seconds refused."""
    row = {"lever": "x", "before": "a", "after": "b", "val_before": 99.0, "val_after": 99.1, "delta": 0.1}
    rows = [{**row, "lever": "2x", "seconds_before": 40.0, "seconds_after": 20.0},
            {**row, "lever": "same", "seconds_before": 40.0, "seconds_after": 38.0},
            {**row, "lever": "slower", "seconds_before": 20.0, "seconds_after": 40.0, "delta": -0.2}]
    ax = figures.plot_lever_times(rows, noise=0.1).axes[0]
    bars = ax.containers[0]
    assert [b.get_width() for b in bars] == pytest.approx([1.0, math.log2(40 / 38), -1.0])
    assert [matplotlib.colors.to_hex(b.get_facecolor()) for b in bars] == [
        matplotlib.colors.to_hex(c) for c in ("tab:green", "grey", "tab:red")]
    assert [t.get_text() for t in ax.texts] == ["2.00×, +0.10 pts", "1.05×, +0.10 pts", "0.50×, -0.20 pts"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["2x", "same", "slower"]
    band = ax.patches[0].get_x(), ax.patches[0].get_x() + ax.patches[0].get_width()  # the noise band
    assert band == pytest.approx((-math.log2(1.1), math.log2(1.1)))  # on the bars' log2 axis
    with pytest.raises(ValueError, match="training seconds"):
        figures.plot_lever_times([{**rows[0], "seconds_after": None}])


def test_lr_schedules_draw_the_step_drop_and_the_one_cycle_peak():
    """The original recipe's rate is flat, then drops tenfold at its step; one-cycle rises to its
    peak at 30 % of the steps and falls to almost nothing by the last."""
    from effmnist_utils.core.config import HParams

    original = HParams.from_flat({"model": "f8a", "epochs": 4, "step_size": 3})
    onecycle = HParams.for_model("f8a", epochs=4)
    fig = plots.plot_lr_schedules({"step": original, "one-cycle": onecycle}, images=1280)
    step, cycle = fig.axes[0].get_lines()
    assert [line.get_label() for line in (step, cycle)] == ["step", "one-cycle"]
    x, y = step.get_xdata(), step.get_ydata()
    assert len(y) == 4 * 10 and set(y[x < 3]) == {original.optim.lr}
    assert list(y[x >= 3]) == pytest.approx([original.optim.lr * original.optim.gamma] * 10)
    x, y = cycle.get_xdata(), cycle.get_ydata()
    assert max(y) == pytest.approx(onecycle.optim.lr) and x[y.argmax()] == pytest.approx(0.3 * 4, abs=0.15)
    assert y[-1] < onecycle.optim.lr / 1000 and y[0] == pytest.approx(onecycle.optim.lr / 25)
