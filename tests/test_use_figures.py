"""The preparation's public steps (what notebook 09 writes out one by one), one convolution read
back from the ONNX files, and the use layer's figures: what each panel draws."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from effmnist_utils.core.config import RUNS_DIR  # noqa: E402
from effmnist_utils.use import digits  # noqa: E402
from effmnist_utils.use.figures import plot_quantised, plot_steps  # noqa: E402

RUN = RUNS_DIR / "f8a_seed1.json"  # recorded: read only


def _page():
    """A 60x40 light page (0.9) with a dark 10x6 bar of ink (0.1) at rows 20-29, columns 5-10."""
    page = np.full((60, 40), 0.9, dtype=np.float32)
    page[20:30, 5:11] = 0.1
    return page


def test_the_public_steps_are_the_preparation():
    """Written out one by one, the steps give prepare_steps' images, in its order."""
    gray = digits.to_grayscale(_page())
    assert digits.is_light(gray) and digits.border(gray).size == 2 * 60 + 2 * 38
    inverted = 1 - gray
    ink = digits.stretch_ink(inverted)
    assert ink.max() == 1 and ink[0, 0] == 0 and ink[25, 7] == 1
    crop = digits.crop_to_ink(ink)
    assert crop.shape == (10, 6)
    box = digits.scale_to_box(crop)
    assert box.shape == (20, 12)  # longer side 20, aspect ratio kept
    field = digits.paste_centred(box)
    assert field.shape == (28, 28)
    assert all(abs(c - digits.CENTRE) <= 0.5 for c in digits.centre_of_mass(field))
    steps = digits.prepare_steps(_page())
    assert len(steps) == 6
    for (title, shown), mine in zip(steps, (gray, inverted, ink, crop, box, field)):
        assert np.array_equal(shown, mine), title


def test_dark_paper_is_kept_and_a_blank_page_is_refused():
    assert not digits.is_light(1 - digits.to_grayscale(_page()))
    with pytest.raises(ValueError, match="blank"):
        digits.stretch_ink(np.full((20, 20), 0.3, dtype=np.float32))


def test_plot_steps_draws_each_step_framed():
    steps = digits.prepare_steps(_page())
    fig = plot_steps(steps)
    assert [ax.get_title() for ax in fig.axes] == [t for t, _ in steps]
    for ax, (_, picture) in zip(fig.axes, steps):
        assert np.array_equal(np.asarray(ax.images[0].get_array()), picture)
        assert all(s.get_visible() and s.get_linewidth() >= 2 for s in ax.spines.values())
    assert fig.axes[0].get_xlabel() == "40x60 px"
    with pytest.raises(ValueError, match="no steps"):
        plot_steps([])


def test_plot_quantised_draws_each_weight_and_its_rounding_error():
    w = np.array([-0.31, -0.02, 0.0, 0.13, 0.5])
    conv = {"weights": w, "int8": np.round(w / 0.01), "scale": 0.01, "zero_point": 0}
    fig = plot_quantised(conv)
    left, right = fig.axes
    assert np.allclose(left.collections[0].get_offsets(), np.c_[w, [-31, -2, 0, 13, 50]])
    assert np.allclose(right.collections[0].get_offsets()[:, 1], 0, atol=1e-12)
    assert sorted(line.get_ydata()[0] for line in right.lines) == [-0.005, 0.005]


@pytest.mark.slow
def test_quantised_conv_reads_the_same_convolution_from_both_files(tmp_path):
    """The first convolution's fp32 weights are PyTorch's with BatchNorm folded in, and its int8
    integers times the scale come back within half a step of them."""
    pytest.importorskip("onnxruntime")
    import torch

    from effmnist_utils.use.deploy import export_run, load_run, quantised_conv

    paths = export_run(RUN, tmp_path, int8=True, calibration=100)
    conv = quantised_conv(paths["fp32"], paths["int8"])
    model = load_run(RUN)[0]
    c, bn = model.features[0], model.features[1]
    folded = c.weight * (bn.weight / torch.sqrt(bn.running_var + bn.eps))[:, None, None, None]
    assert np.allclose(conv["weights"], folded.detach().numpy(), atol=1e-6)
    assert conv["int8"].dtype == np.int8 and conv["int8"].shape == (8, 1, 3, 3)
    back = conv["scale"] * (conv["int8"].astype(float) - conv["zero_point"])
    assert np.abs(back - conv["weights"]).max() <= conv["scale"] / 2 + 1e-7
    with pytest.raises(ValueError, match="no convolution number 99"):
        quantised_conv(paths["fp32"], paths["int8"], index=99)
