"""Notebook 10's figures, drawn from hand-made rows: what each one draws, where."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from effmnist_utils.studies import robustness_figures as figures  # noqa: E402

FAMILIES = ["shot_noise", "brightness", "fog"]


def _model(name, params, clean, accs):
    return {"variant": name, "params": params, "clean": clean, "families": dict(zip(FAMILIES, accs)),
            "mean": float(np.mean(accs))}


ROWS = [_model("small", 900, 98.9, [90.0, 20.0, 13.0]), _model("big", 9000, 99.5, [98.0, 99.0, 50.0])]


def test_heatmap_one_cell_per_model_and_family_then_the_mean():
    fig = figures.plot_family_heatmap(ROWS, FAMILIES, chosen=("brightness",), short={"shot_noise": "shot"})
    (ax,) = fig.axes
    shown = np.asarray(ax.images[0].get_array())
    assert shown.shape == (2, 4) and shown[1, 1] == 99.0 and shown[0, 3] == pytest.approx(41.0)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["shot", "brightness *", "fog", "mean"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["small (900)", "big (9,000)"]
    assert {t.get_text() for t in ax.texts} >= {"90", "20", "13", "41", "99", "50"}


def test_clean_and_corrupted_share_one_axis():
    fig = figures.plot_clean_vs_corrupted(ROWS, highlight=("big",))
    (ax,) = fig.axes
    clean, mean = ax.collections[0].get_offsets(), ax.collections[1].get_offsets()
    assert tuple(clean[0]) == (98.9, 0) and tuple(mean[0]) == (pytest.approx(41.0), 0)
    assert [line.get_xdata()[1] for line in ax.lines] == [98.9, 99.5]
    bold = {t.get_text(): t.get_fontweight() for t in ax.get_yticklabels()}
    assert bold["big (9,000)"] == "bold" and bold["small (900)"] == "normal"


def test_shift_curves_one_line_per_model_coloured_by_group():
    curves = {"flat": [0.99, 0.9, 0.5], "gap": [0.99, 0.98, 0.9], "gap2": [0.98, 0.97, 0.92]}
    fig = figures.plot_shift_curves(curves, range(3), groups={"flat": "flatten", "gap": "pool", "gap2": "pool"})
    (ax,) = fig.axes
    assert [list(line.get_ydata()) for line in ax.lines] == [[99, 90, 50], [99, 98, 90], [98, 97, 92]]
    assert ax.lines[1].get_color() == ax.lines[2].get_color() != ax.lines[0].get_color()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["flatten", "pool"]


def test_recipe_choice_marks_the_floor_the_pick_and_the_noise_band():
    rows = [{"tag": "base", "val_acc": 99.48, "chosen": 86.0, "held_out": 70.8},
            {"tag": "pick", "val_acc": 99.50, "chosen": 98.1, "held_out": 72.5},
            {"tag": "rival", "val_acc": 99.48, "chosen": 96.3, "held_out": 74.2}]
    fig = figures.plot_recipe_choice(rows, "pick", floor=93.0, noise=0.1, named=("rival",))
    left, right = fig.axes
    assert [line.get_ydata()[0] for line in left.lines] == [93.0]
    assert [c.get_offsets()[0][1] for c in right.collections if len(c.get_offsets())] == [70.8, 72.5, 74.2]
    band = left.patches[0].get_bbox()  # in data x, axes y
    assert (band.x0, band.x1) == (pytest.approx(99.4), pytest.approx(99.6))
    assert {t.get_text() for t in left.texts} == {"pick", "rival"}


def test_corruptions_zoom_repeats_each_pixel():
    digits = torch.randint(0, 256, (2, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    one = np.asarray(figures.plot_corruptions({"a": digits}, per_row=2).axes[0].images[0].get_array())
    two = np.asarray(figures.plot_corruptions({"a": digits}, per_row=2, zoom=2).axes[0].images[0].get_array())
    assert two.shape == (2 * one.shape[0], 2 * one.shape[1]) and np.array_equal(two[::2, ::2], one)
