"""The levers and tools of the frontier search: layer-string models, the translation lever, the
loader benchmark, and the frontier models' budgets and recipes."""
import re

import pytest
import torch

from effmnist_utils.core.config import RECIPES
from effmnist_utils.core.data import MEAN, STD
from effmnist_utils.core.layernet import FRONTIER_SPECS, LayerNet
from effmnist_utils.core.augment import Augment
from effmnist_utils.core.models import build_model, count_params, receptive_field


def test_layer_net_counts_and_shapes():
    """A layer string builds the network it says: BN after every conv, no conv bias, GAP head."""
    net = LayerNet("c8 t4 p c8 g")
    # conv 1->8 (72) + BN (16); 1x1 8->4 (32) + BN (8); conv 4->8 (288) + BN (16); Linear 8->10 (90)
    assert count_params(net) == 72 + 16 + 32 + 8 + 288 + 16 + 90
    assert net(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    assert receptive_field(net) == 3 + 1 + 2 * 2


def test_layer_net_separable_conv_is_cheaper():
    """A depthwise-separable 3x3 conv costs in*9 + in*out weights instead of in*out*9."""
    full, separable = LayerNet("C16 C32 g"), LayerNet("C16 S32 g")
    assert count_params(full) - count_params(separable) == 16 * 32 * 9 - (16 * 9 + 16 * 32)


@pytest.mark.parametrize("layers", ["c8 p", "c8 x4 g", "c8 g c8 g", "cx g", ""])
def test_layer_net_rejects_bad_strings(layers):
    """A malformed layer string is refused with a ValueError that quotes it."""
    with pytest.raises(ValueError, match=re.escape(repr(layers))):
        LayerNet(layers)


# --- the translation lever ----------------------------------------------------------------------

def _square_batch(n=64):
    x = torch.full((n, 1, 28, 28), -MEAN / STD)
    x[:, :, 12:16, 12:16] = (1 - MEAN) / STD  # a white square in the middle
    return x


def _centres(batch):
    """Each image's intensity-weighted centre (column, row) in pixels."""
    w = batch[:, 0] - batch.min()
    idx = torch.arange(28.0)
    return (w.sum(1) * idx).sum(1) / w.sum((1, 2)), (w.sum(2) * idx).sum(1) / w.sum((1, 2))


def test_translate_shifts_digits_by_at_most_its_pixels():
    """translate=t moves an image by up to ~t pixels in x and y, both ways, and not all alike."""
    shift = Augment(zoom_p=0, degrees=0, translate=3)
    moved = shift(_square_batch(), torch.Generator().manual_seed(5))
    for centre in _centres(moved):
        offset = centre - 13.5
        assert offset.abs().max() <= 3.5 and offset.abs().max() > 1.0
        assert (offset > 0.5).any() and (offset < -0.5).any()


def test_translate_is_drawn_after_the_original_augmentation():
    """translate > 0 draws its shifts after the original's zoom and angle numbers, so from one
    generator seed the zoom and rotation are the same with and without it: with a 1e-4 px shift
    the batch is the original's but for pixels on a nearest-sampling boundary."""
    x = torch.randn(256, 1, 28, 28)
    original = Augment()(x, torch.Generator().manual_seed(5))
    nudged = Augment(translate=1e-4)(x, torch.Generator().manual_seed(5))
    assert (original != nudged).float().mean() < 1e-3
    shifted = Augment(translate=2)(x, torch.Generator().manual_seed(5))
    assert (original != shifted).float().mean() > 0.5  # the check above can fail


# --- the loader benchmark -----------------------------------------------------------------------

@pytest.mark.slow
def test_bench_measures_every_variant():
    """The loader benchmark times every variant in every round and evaluation at every batch
    size, and its summary quotes each variant's ratio to the reference. (Which loader is faster
    is a measurement, recorded under results/bench, not something a test on a shared CPU can
    assert.)"""
    from effmnist_utils.studies.bench import EVAL_BATCHES, bench, format_bench

    result = bench("iter5", batches=10, rounds=2, warmup=2, device="cpu", progress=False)
    rates, every = result["train_img_per_s"], result["train_img_per_s_all"]
    assert set(rates) == set(every) == set(result["ratio_vs_reference"]) == {
        "reference", "reference+keep", "fast", "fast+keep", "fast+keep+bf16"}  # compile only if asked
    for name in rates:
        assert len(every[name]) == 2 and all(r > 0 for r in every[name])
    assert set(result["eval_img_per_s"]) == {str(b) for b in EVAL_BATCHES}
    assert all(v > 0 for v in result["eval_img_per_s"].values())
    text = format_bench(result)
    for name in rates:
        ratio = result["ratio_vs_reference"][name]
        assert f"{name}: " in text and f"{ratio:.2f}x the reference" in text


# --- the frontier models ------------------------------------------------------------------------

def test_frontier_models_fit_the_budget_in_their_name():
    """f20* < 20,000, f8* < 8,000, f5* < 5,000 (t2* < 2,000, t1* < 1,000) parameters, counted
    from the model objects; a name without a budget (the speedrun's shapes) < 20,000."""
    import re

    from effmnist_utils.core.config import MAX_PARAMS

    assert FRONTIER_SPECS and set(RECIPES) <= set(FRONTIER_SPECS)  # only they have a recipe of their own
    for name in FRONTIER_SPECS:
        budget = re.match(r"[ft](\d+)", name)
        assert count_params(build_model(name)) < (int(budget[1]) * 1000 if budget else MAX_PARAMS), name


@pytest.mark.parametrize("args, levers, tag", [
    (["f8a"], {"schedule": "onecycle", "lr": 0.01}, ""),
    (["t1b", "--seed", "2"], {"schedule": "onecycle", "lr": 0.02}, ""),
    (["t1b", "--lr", "0.005", "--epochs", "3"], {"schedule": "onecycle", "lr": 0.005, "epochs": 3}, "epochs3-lr0.005"),
    (["iter6"], {}, ""),
])
def test_train_gives_a_frontier_model_its_recipe_unless_a_flag_overrides_it(args, levers, tag, tmp_path, monkeypatch):
    """`train <model>` hands train_run the model's own recipe (the one-cycle schedule at its peak
    lr; an iteration the original's); a flag changes only its setting, and the tag then says what
    differs from the recipe. (train_run faked: this checks what the command asks for.)"""
    from effmnist_utils import __main__ as command_line

    asked = []

    def fake_train_run(hp, place, resume, tag):
        asked.append((hp, tag))
        return None, None, {"name": f"{hp.model}_seed{hp.seed}", "history": [{}], "final_test_acc": 0.99,
                            "best_test_acc": 0.99, "best_epoch": 1}, None

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(command_line, "train_run", fake_train_run)  # the name the command calls
    assert command_line.main(["train", *args]) == 0
    ((hp, given_tag),) = asked
    assert hp.model == args[0] and hp.levers() == levers and given_tag == tag
    assert hp.seed == (2 if "--seed" in args else 1)


def test_standardised_input_ignores_a_uniform_shift_in_brightness_and_contrast(mnist):
    """`i` (f8i) standardises each image: a brighter, lower-contrast copy of a digit gives nearly
    the same output, where the same weights without it (f8a, trained) change their answers."""
    from effmnist_utils.core.config import RUNS_DIR
    digits = mnist[1][0][:64].float() / 255
    x, shifted = (((p - MEAN) / STD).unsqueeze(1) for p in (digits, 0.3 + 0.5 * digits))
    f8a, f8i = build_model("f8a").eval(), build_model("f8i").eval()
    f8a.load_state_dict(torch.load(RUNS_DIR / "f8a_seed1.pt", weights_only=True))
    f8i.load_state_dict(dict(zip(f8i.state_dict(), f8a.state_dict().values())))  # the same weights
    with torch.no_grad():
        assert (f8i(x).exp() - f8i(shifted).exp()).abs().max() < 0.05
        assert (f8a(x).argmax(1) != f8a(shifted).argmax(1)).sum() > 10
    with pytest.raises(ValueError, match="'i' .* must be the first token"):
        LayerNet("c8 i c8 g")
