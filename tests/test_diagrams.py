"""The lessons' figures (core/diagrams.py) and the learning curves: each is checked for what it
draws (boxes, bar heights, lines, texts) on untrained models and synthetic runs, no training."""
import json

import matplotlib
from matplotlib.container import BarContainer, ErrorbarContainer

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from effmnist_utils.core import diagrams as D  # noqa: E402
from effmnist_utils.core.config import MAX_PARAMS  # noqa: E402
from effmnist_utils.core.models import ITERATIONS, build_model, count_params  # noqa: E402
from effmnist_utils.core.plots import plot_curves  # noqa: E402
from effmnist_utils.core.record import RecordError  # noqa: E402


def _boxes(fig):
    """The drawn layer boxes, by the name each carries (the input box first)."""
    return {p.get_gid(): p for p in fig.axes[0].patches if p.get_gid()}


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts]


# --- the architecture ------------------------------------------------------------------------------

def test_layer_boxes_of_the_baseline_by_hand():
    """iter1: three 3x3 convs (28 -> 26 -> 24 -> 22), the pool (11), the 1x1 transition (28 -> 8
    channels: 28 * 8 + 8 = 232 parameters), two 3x3 convs (9, 7) and the linear layer over
    28 x 7 x 7 = 1,372 values (13,730 parameters)."""
    boxes = D.layer_boxes(build_model("iter1"))
    assert [(b["name"], b["kind"], b["shape"], b["params"]) for b in boxes] == [
        ("conv1", "3x3", (8, 26, 26), 80), ("conv2", "3x3", (16, 24, 24), 1168),
        ("conv3", "3x3", (28, 22, 22), 4060), ("pool", "max-pool 2x2", (28, 11, 11), 0),
        ("conv4", "1x1", (8, 11, 11), 232), ("conv5", "3x3", (16, 9, 9), 1168),
        ("conv6", "3x3", (28, 7, 7), 4060), ("linear", "linear 1,372→10", (10,), 13730)]


@pytest.mark.parametrize("name", ["iter4", "iter6", "f8a"])
def test_layer_boxes_hold_every_parameter_batchnorm_with_its_conv(name):
    """With BatchNorm, each conv's box counts its norm too (2 per channel) and says so; the boxes'
    parameters add up to the model's; a GAP head is a box of its own before the linear layer."""
    model = build_model(name)
    boxes = D.layer_boxes(model)
    assert sum(b["params"] for b in boxes) == count_params(model)
    assert boxes[0]["kind"] == "3x3 + BN" and [b["name"] for b in boxes][-1] == "linear"
    assert ("gap" in [b["name"] for b in boxes]) == (name != "iter4")


def test_architecture_draws_a_box_per_layer_high_as_its_channels():
    """One box per layer plus the input, in order left to right, each box's height growing with
    its output channels, and each labelled with its kind, output shape and parameters."""
    model = build_model("iter2")
    boxes = D.layer_boxes(model)
    fig = D.plot_architecture(model)
    drawn = _boxes(fig)
    assert list(drawn) == ["input"] + [b["name"] for b in boxes]
    xs = [drawn[b["name"]].get_x() for b in boxes]
    assert xs == sorted(xs)
    by_channels = sorted(boxes, key=lambda b: b["shape"][0])
    heights = [drawn[b["name"]].get_height() for b in by_channels]
    assert heights == sorted(heights) and heights[0] < heights[-1]
    assert drawn["conv7"].get_height() == max(heights)  # 28 channels, the most
    assert "3x3\n10×24×24\n730 params" in _texts(fig)
    assert "linear 700→10\n10\n7,010 params" in _texts(fig)
    assert "15,658 parameters" in fig.axes[0].get_title()


@pytest.mark.parametrize("changed", [("pool", "conv4"), (3, 4), ("features.6", "features.8")])
def test_architecture_highlights_the_changed_layers(changed):
    """The changed layers, named by index, name or module, are drawn in the highlight colour and
    only they; the title says what the colour means."""
    fig = D.plot_architecture(build_model("iter3"), changed=changed, title="iter3")
    colours = {name: to_hex(p.get_facecolor()) for name, p in _boxes(fig).items() if name != "input"}
    assert {n for n, c in colours.items() if c == D.HIGHLIGHT} == {"conv4", "pool"}
    assert all(c == D.PLAIN for n, c in colours.items() if n not in ("conv4", "pool"))
    assert fig.axes[0].get_title().startswith("iter3: ") and "orange" in fig.axes[0].get_title()


def test_architecture_says_which_changed_layer_the_network_lacks():
    """A learner who removed a layer still gets the picture: the missing name is in the title, the
    others are marked."""
    fig = D.plot_architecture(build_model("iter3"), changed=["conv9", "pool"], title="iter3")
    assert fig.axes[0].get_title().endswith("not in this network: conv9")
    assert _boxes(fig)["pool"].get_facecolor() != _boxes(fig)["conv1"].get_facecolor()


# --- where the parameters go ----------------------------------------------------------------------

def test_param_shares_of_the_six_iterations():
    """The parts add up to each model's parameters; the head's share falls from 56 % (iter1's
    13,730 of 24,498) to 3 % and 2 % once global average pooling replaces the flatten (28 x 10 + 10
    = 290 parameters); BatchNorm appears from iter4 on (2 per channel of the six convs it follows)."""
    rows = D.param_shares({n: build_model(n) for n in ITERATIONS})
    for r in rows:
        assert sum(r["parts"].values()) == r["params"] == count_params(build_model(r["model"]))
    shares = {r["model"]: round(100 * r["head_share"]) for r in rows}
    assert shares == {"iter1": 56, "iter2": 45, "iter3": 45, "iter4": 44, "iter5": 3, "iter6": 2}
    parts = {r["model"]: r["parts"] for r in rows}
    assert parts["iter1"]["head"] == 13730 and parts["iter1"]["1x1 transition"] == 232
    assert "BatchNorm" not in parts["iter3"] and parts["iter4"]["BatchNorm"] == 2 * (8 + 10 + 16 + 8 + 10 + 16)
    assert parts["iter3"]["stage 1 convs"] == 80 + 730 + 1456  # the convs before the pool, the 1x1 aside


def test_render_param_shares_is_a_markdown_table_with_a_row_per_model():
    rows = D.param_shares({n: build_model(n) for n in ("iter1", "iter4")})
    table = D.render_param_shares(rows)
    lines = table.splitlines()
    assert lines[0] == ("| model | params | stage 1 convs | 1x1 transition | stage 2 convs | BatchNorm | head "
                        "| head share |")
    assert lines[2] == "| iter1 | 24,498 | 5,308 | 232 | 5,228 | 0 | 13,730 | 56% |"
    assert len(lines) == 4 and table._repr_markdown_() == table


def test_plot_param_shares_stacks_each_models_parts_to_its_total():
    """Each model's bar stacks its parts to its parameter count, the head on top, with the
    head's share written above it and the budget drawn as a line."""
    rows = D.param_shares({n: build_model(n) for n in ("iter1", "iter5")})
    fig = D.plot_param_shares(rows)
    ax = fig.axes[0]
    stacks = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert [c.get_label() for c in stacks][-1] == "head"
    tops = [max(b.get_y() + b.get_height() for c in stacks for b in [c[i]]) for i in range(2)]
    assert tops == [24498, 9074]
    assert [b.get_height() for b in stacks[-1]] == [13730, 290]
    assert _texts(fig) == ["head 56%", "head 3%"]
    assert any(tuple(line.get_ydata()) == (MAX_PARAMS, MAX_PARAMS) for line in ax.lines)


# --- curves ----------------------------------------------------------------------------------------

HISTORY = [{"epoch": e, "lr": 1e-3 if e < 3 else 1e-4, "train_loss": 0.5 / e, "test_loss": 0.3 / e,
            "train_acc": 0.90 + 0.02 * e, "test_acc": 0.95 + 0.01 * e} for e in (1, 2, 3, 4)]


def _line(ax, label):
    return next(line for line in ax.lines if line.get_label() == label)


def test_curves_put_train_and_test_on_one_axis():
    """Accuracy: train and test in % on the same axes with the 99.4 % line; loss beside it; the
    learning-rate drop before epoch 3 marked on both."""
    fig = plot_curves(HISTORY, "run")
    acc, loss = fig.axes
    assert list(_line(acc, "train").get_ydata()) == pytest.approx([92, 94, 96, 98])
    assert list(_line(acc, "test").get_ydata()) == pytest.approx([96, 97, 98, 99])
    assert list(_line(loss, "test").get_ydata()) == pytest.approx([0.3, 0.15, 0.1, 0.075])
    assert tuple(_line(acc, "99.4%").get_ydata()) == (99.4, 99.4)
    assert all(_line(ax, "lr drop").get_xdata()[0] == 2.5 for ax in (acc, loss))


def test_histories_one_line_per_run():
    other = [dict(r, test_acc=r["test_acc"] - 0.01) for r in HISTORY]
    fig = D.plot_histories({"iter2": HISTORY, "iter3": other})
    ax = fig.axes[0]
    assert list(_line(ax, "iter3").get_ydata()) == pytest.approx([95, 96, 97, 98])
    assert list(_line(ax, "iter2").get_xdata()) == [1, 2, 3, 4] and _line(ax, "99.4%")
    loss = D.plot_histories({"a": HISTORY}, key="train_loss").axes[0]
    assert list(_line(loss, "a").get_ydata()) == pytest.approx([0.5, 0.25, 0.5 / 3, 0.125])
    with pytest.raises(ValueError, match="no 'val_acc'; pick one of"):
        D.plot_histories({"a": HISTORY}, key="val_acc")


# --- the recap of the six --------------------------------------------------------------------------

def _write_runs(folder, model, finals, seconds):
    for seed, (acc, secs) in enumerate(zip(finals, seconds), start=1):
        history = [{"epoch": i + 1, "seconds": s, "test_acc": acc, "train_acc": acc - 0.001 * i}
                   for i, s in enumerate(secs)]
        record = {"name": f"{model}_seed{seed}", "model": model, "seed": seed, "final_test_acc": acc,
                  "history": history, "device": "cpu", "hparams": {"model": model, "seed": seed}}
        (folder / f"{model}_seed{seed}.json").write_text(json.dumps(record))


def test_recap_rows_from_recorded_runs(tmp_path):
    """Mean and sample std of the seeds' final test accuracy, the mean of their final training
    accuracy, median seconds of all their epochs, the
    model's parameters and head share; iterations without runs and other variants left out."""
    _write_runs(tmp_path, "iter1", [0.9940, 0.9950, 0.9930], [[10, 11], [12, 30], [13, 14]])
    _write_runs(tmp_path, "iter5", [0.9940], [[5]])
    (tmp_path / "iter1-epochs1_seed1.json").write_text(json.dumps({"name": "iter1-epochs1_seed1"}))
    rows = D.recap(tmp_path)
    assert [r["model"] for r in rows] == ["iter1", "iter5"]
    one = rows[0]
    assert one["final_mean"] == pytest.approx(99.40) and one["final_std"] == pytest.approx(0.10)
    assert one["sec_per_epoch"] == 12.5 and one["seeds"] == [1, 2, 3]
    assert one["train_mean"] == pytest.approx(99.30)  # the last epoch's, not the first's
    assert one["params"] == 24498 and round(100 * one["head_share"]) == 56
    assert rows[1]["final_std"] == 0
    table = D.render_recap(rows).splitlines()
    assert one["finals"] == pytest.approx([99.40, 99.50, 99.30])  # by seed
    assert table[2] == "| iter1 | 24,498 | 56% | 99.40 ± 0.10 % | 99.40, 99.50, 99.30 | 99.30 % | 1, 2, 3 | 12.5 | cpu |"


def test_recap_without_runs_says_so(tmp_path):
    with pytest.raises(RecordError, match="no recorded runs of iter1"):
        D.recap(tmp_path)


def test_plot_recap_draws_params_accuracy_and_time(tmp_path):
    _write_runs(tmp_path, "iter1", [0.9940, 0.9950], [[10], [20]])
    _write_runs(tmp_path, "iter6", [0.9946, 0.9946], [[30], [30]])
    fig = D.plot_recap(D.recap(tmp_path))
    params, acc, time = fig.axes[:3]
    bars = [c for c in params.containers if isinstance(c, BarContainer)]
    assert [b.get_height() for b in bars[0]] == [24498, 13562]
    assert [b.get_height() for b in bars[1]] == pytest.approx([13730, 290])
    err = next(c for c in acc.containers if isinstance(c, ErrorbarContainer))
    assert list(err.lines[0].get_ydata()) == pytest.approx([99.45, 99.46])
    assert [b.get_height() for b in time.containers[0]] == [15, 30]
