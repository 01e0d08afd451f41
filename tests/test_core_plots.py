"""The plots the lessons (notebooks 01-06) draw with: each figure is checked for what it shows (its
panels, titles and labels, the lines' data, the pixels of each image, the numbers in each cell) on
a hand-made history and synthetic digits: no training, no MNIST."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from effmnist_utils.core.augment import Augment  # noqa: E402
from effmnist_utils.core.data import MEAN, STD  # noqa: E402
from effmnist_utils.core.loaders import normalise  # noqa: E402
from effmnist_utils.core.plots import (plot_augmented, plot_confusion, plot_curves,  # noqa: E402
                                       plot_misclassified, show_images)


def _digits(n, seed=0):
    """n uint8 28x28 images of random pixels: every pixel tells which image is shown."""
    return torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def _shown(ax):
    """The pixels an axes shows, as a float array."""
    return np.asarray(ax.images[0].get_array(), dtype=float)


def _with_images(fig):
    return [ax for ax in fig.axes if ax.images]


# --- plot_curves ----------------------------------------------------------------------------------

# Four epochs of a step schedule: the learning rate drops tenfold after epoch 2.
HISTORY = [{"epoch": e, "lr": lr, "train_loss": tl, "train_acc": ta, "test_loss": vl, "test_acc": va}
           for e, lr, tl, ta, vl, va in [(1, 1e-3, 0.90, 0.700, 0.50, 0.9500),
                                         (2, 1e-3, 0.40, 0.880, 0.20, 0.9800),
                                         (3, 1e-4, 0.20, 0.950, 0.08, 0.9920),
                                         (4, 1e-4, 0.15, 0.970, 0.05, 0.9950)]]


def _panels(fig):
    return {ax.get_title(): ax for ax in fig.axes}


def _curve(ax, label=None):
    """(x, y) of the panel's data line (`label`: the one so labelled), not its marker lines."""
    lines = [line for line in ax.lines if line.get_marker() not in ("None", None, "")]
    if label is not None:
        lines = [line for line in lines if line.get_label() == label]
    (line,) = lines[:1]
    return list(line.get_xdata()), list(line.get_ydata())


def test_curves_two_panels_with_train_and_test_on_one_axis():
    """Accuracy and loss, one panel each; in each, the training and the test curve per epoch on
    the same axis (accuracies in percent, losses as recorded); the title on top."""
    fig = plot_curves(HISTORY, title="iter6, seed 1")
    panels = _panels(fig)
    assert list(panels) == ["Accuracy", "Loss"]
    assert fig._suptitle.get_text() == "iter6, seed 1"
    epochs = [1, 2, 3, 4]
    assert _curve(panels["Loss"], "train") == (epochs, [0.90, 0.40, 0.20, 0.15])
    assert _curve(panels["Loss"], "test") == (epochs, [0.50, 0.20, 0.08, 0.05])
    assert _curve(panels["Accuracy"], "train")[1] == pytest.approx([70.0, 88.0, 95.0, 97.0])
    assert _curve(panels["Accuracy"], "test") == (epochs, pytest.approx([95.0, 98.0, 99.2, 99.5]))
    assert [(ax.get_xlabel(), ax.get_ylabel()) for ax in panels.values()] == [("epoch", "%"), ("epoch", "NLL")]


def test_curves_mark_the_target_and_the_learning_rate_drops():
    """The accuracy panel has the 99.4 % line (and the loss panel none); both mark the step drop
    between epochs 2 and 3; a one-cycle schedule's gradual fall is not marked."""
    panels = _panels(plot_curves(HISTORY))
    (target,) = [line for line in panels["Accuracy"].lines if line.get_label() == "99.4%"]
    assert list(target.get_ydata()) == pytest.approx([99.4, 99.4])
    assert not [line for line in panels["Loss"].lines if line.get_label() == "99.4%"]
    for ax in panels.values():
        (drop,) = [line for line in ax.lines if line.get_color() == "tab:green"]
        assert list(drop.get_xdata()) == [2.5, 2.5]
    gradual = [dict(r, lr=lr) for r, lr in zip(HISTORY, (1e-2, 8e-3, 5e-3, 2e-3))]
    assert not [line for ax in plot_curves(gradual).axes for line in ax.lines
                if line.get_color() == "tab:green"]


def test_curves_with_a_validation_split_show_it_beside_the_final_test():
    """A run with a validation split: its validation curve each epoch, the test set once at the
    end, in the same panels, told apart by their legend."""
    history = [{k: v for k, v in r.items() if not k.startswith("test")} for r in HISTORY]
    for r, acc in zip(history, (0.94, 0.97, 0.985, 0.99)):
        r.update(val_acc=acc, val_loss=1 - acc)
    history[-1].update(test_acc=0.9930, test_loss=0.03)
    panels = _panels(plot_curves(history))
    assert _curve(panels["Accuracy"], "validation") == ([1, 2, 3, 4], pytest.approx([94.0, 97.0, 98.5, 99.0]))
    assert _curve(panels["Accuracy"], "test") == ([4], pytest.approx([99.3]))
    assert _curve(panels["Loss"], "validation")[1] == pytest.approx([0.06, 0.03, 0.015, 0.01])
    legend = [t.get_text() for t in panels["Accuracy"].get_legend().get_texts()]
    assert legend[:4] == ["train", "test", "validation", "99.4%"]


# --- show_images and plot_augmented ----------------------------------------------------------------

def test_show_images_draws_each_image_under_its_title_in_a_grid():
    """13 images in rows of 5: a 3 x 5 grid, 13 panels showing the pixels (uint8 scaled to
    [0, 1]) in order, each titled, on a fixed grey scale; the two spare panels blank."""
    images = _digits(13)
    titles = [f"digit {i}" for i in range(13)]
    fig = show_images(images, titles, cols=5)
    assert len(fig.axes) == 15
    shown = _with_images(fig)
    assert [ax.get_title() for ax in shown] == titles
    for ax, image in zip(shown, images):
        assert _shown(ax) == pytest.approx(image.numpy() / 255)
        assert ax.images[0].get_clim() == (0, 1)
    assert [ax.axison for ax in fig.axes[13:]] == [False, False] and not fig.axes[13].images


def test_show_images_un_normalises_what_the_model_sees():
    """Normalised images (as a loader hands them to the model) are shown as the same pixels as
    the uint8 images they came from."""
    images = _digits(4, seed=1)
    fig = show_images(normalise(images), ["a", "b", "c", "d"])
    for ax, image in zip(_with_images(fig), images):
        assert _shown(ax) == pytest.approx(image.numpy() / 255, abs=1e-5)


def test_augmented_first_row_as_stored_then_one_row_per_copy():
    """Row one: the digits as stored; each further row: the augmentation drawn with generator
    `seed`, copy after copy, as training sees them; the same seed draws the same figure."""
    images, augment = _digits(3, seed=2), Augment(degrees=30, translate=3)
    fig = plot_augmented(images, augment, copies=2, seed=5)
    shown = _with_images(fig)
    assert len(shown) == 9 and len(fig.axes) == 9  # 3 columns, one per digit
    assert [ax.get_title() for ax in shown] == ["original"] * 3 + ["augmented 1"] * 3 + ["augmented 2"] * 3
    g = torch.Generator().manual_seed(5)
    x = normalise(images)
    rows = [images.float() / 255] + [augment(x, g)[:, 0] * STD + MEAN for _ in range(2)]
    for ax, pixels in zip(shown, torch.cat(rows)):
        assert _shown(ax) == pytest.approx(pixels.numpy(), abs=1e-5)
    assert not np.allclose(_shown(shown[3]), _shown(shown[6]))  # two copies, two draws
    again = _with_images(plot_augmented(images, augment, copies=2, seed=5))
    assert all(np.array_equal(_shown(a), _shown(b)) for a, b in zip(shown, again))


# --- plot_misclassified -----------------------------------------------------------------------------

def test_misclassified_shows_only_the_wrong_digits_titled_true_to_predicted():
    images = _digits(8, seed=3)
    targets = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7])
    preds = torch.tensor([0, 7, 2, 8, 4, 5, 1, 9])  # wrong: images 1, 3, 6, 7
    fig = plot_misclassified(images, preds, targets, limit=3, cols=4)
    shown = _with_images(fig)
    assert [ax.get_title() for ax in shown] == ["1 → 7", "3 → 8", "6 → 1"]  # the first 3
    for ax, i in zip(shown, (1, 3, 6)):
        assert _shown(ax) == pytest.approx(images[i].numpy() / 255)
    assert fig._suptitle.get_text() == "4 of 8 test digits misclassified (first 3: true → predicted)"


# --- plot_confusion ----------------------------------------------------------------------------------

def _cells(ax):
    """{(true, predicted): the count written in that cell}."""
    return {(int(round(t.get_position()[1])), int(round(t.get_position()[0]))): int(t.get_text())
            for t in ax.texts}


def test_confusion_writes_each_count_in_its_cell_and_colours_only_errors():
    targets = torch.tensor([3, 3, 3, 5, 5, 8, 0, 0, 0, 0])
    preds = torch.tensor([3, 5, 5, 5, 3, 8, 0, 0, 6, 0])
    fig = plot_confusion(preds, targets)
    ax = fig.axes[0]
    assert (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) == (
        "Confusion matrix (colour: errors only)", "predicted", "true")
    cells = _cells(ax)
    assert len(cells) == 100
    expected = {(3, 3): 1, (3, 5): 2, (5, 5): 1, (5, 3): 1, (8, 8): 1, (0, 0): 3, (0, 6): 1}
    assert {k: v for k, v in cells.items() if v} == expected
    colour = _shown(ax)
    assert colour.shape == (10, 10) and np.diag(colour).sum() == 0  # the diagonal not coloured
    assert {(t, p): int(colour[t, p]) for t, p in zip(*colour.nonzero())} == {
        k: v for k, v in expected.items() if k[0] != k[1]}
    bold = {(int(round(t.get_position()[1])), int(round(t.get_position()[0]))) for t in ax.texts
            if t.get_fontweight() == "bold"}
    assert bold == {(d, d) for d in range(10)}
