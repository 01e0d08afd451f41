"""The levers and tools of the frontier search: layer-string models, recipe levers, proxy runs."""
import pytest
import torch

from effmnist_utils import study
from effmnist_utils.data import MEAN, STD, seed_augment
from effmnist_utils.models import LayerNet, count_params, receptive_field
from effmnist_utils.train import HParams


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
    with pytest.raises(ValueError):
        LayerNet(layers)


def test_hparams_reject_unknown_levers():
    """Unknown optimizer or out-of-range label smoothing are refused."""
    with pytest.raises(ValueError, match="optimizer"):
        HParams(optimizer="lion")
    with pytest.raises(ValueError, match="label_smoothing"):
        HParams(label_smoothing=1.0)


def test_seed_recipe_keeps_the_seed_augmentation():
    """The default recipe passes no augmentation settings; a tag renames the run."""
    assert HParams().augment_args() is None
    assert HParams(translate=2).augment_args() == {"translate": 2}
    assert HParams(model="iter5", tag="oc", seed=3).run_name() == "iter5-oc_seed3"


def test_translate_zero_draws_like_the_seed_and_translate_shifts():
    """translate=0 gives the seed's batch exactly; translate=t moves digits by at most ~t px."""
    x = torch.full((64, 1, 28, 28), -MEAN / STD)
    x[:, :, 12:16, 12:16] = (1 - MEAN) / STD  # a white square in the middle
    same = seed_augment(x, torch.Generator().manual_seed(5), zoom_p=0, degrees=0)
    assert torch.equal(same, seed_augment(x, torch.Generator().manual_seed(5), zoom_p=0,
                                          degrees=0, translate=0))
    moved = seed_augment(x, torch.Generator().manual_seed(5), zoom_p=0, degrees=0, translate=3)
    cols = torch.arange(28.0)
    weight = (moved[:, 0] - moved.min()).sum(1)  # column mass per image
    centre = (weight * cols).sum(1) / weight.sum(1)
    assert (centre - 13.5).abs().max() <= 3.5 and (centre - 13.5).abs().max() > 1.0


def test_search_ranks_on_validation_and_tests_once(tmp_path):
    """A proxy run evaluates validation every epoch and the test set only after the last one."""
    records = study.search({"tiny": {"model": "iter5", "train_subset": 256}}, epochs=2,
                           val_size=500, out_dir=tmp_path, device="cpu", progress=False)
    history = records[0]["history"]
    assert all("val_acc" in r for r in history)
    assert ["test_acc" in r for r in history] == [False, True]
    rows = study.rank(records)
    assert rows[0]["name"] == "iter5-tiny_seed1" and rows[0]["levers"] == {"train_subset": 256}
    assert "iter5-tiny_seed1" in study.render_ranking(rows)


def test_bf16_precision_trains_and_fp32_is_untouched(tmp_path):
    """precision="bf16" trains under autocast with fp32 weights; unknown precisions are refused."""
    with pytest.raises(ValueError, match="precision"):
        HParams(precision="fp16")
    from effmnist_utils.train import train_run

    hp = HParams(model="iter6", epochs=1, train_subset=256, precision="bf16")
    model, history, _, _ = train_run(hp, "cpu", out_dir=tmp_path, progress=False)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert history[0]["train_loss"] < 2.5 and 0 <= history[0]["test_acc"] <= 1


def test_bench_measures_every_variant():
    """The loader benchmark runs each variant and reports rates and ratios to the reference."""
    from effmnist_utils.bench import bench, format_bench

    result = bench("iter5", batches=2, rounds=1, warmup=1, device="cpu", progress=False)
    assert set(result["train_img_per_s"]) == {"reference", "fast", "fast+bf16"}
    assert all(v > 0 for v in result["train_img_per_s"].values())
    assert result["ratio_vs_reference"]["reference"] == 1.0
    assert "x the reference" in format_bench(result)


def test_frontier_models_fit_the_budget_in_their_name():
    """f20* < 20,000, f8* < 8,000, f5* < 5,000 parameters, counted from the model objects."""
    from effmnist_utils.models import FRONTIER_SPECS, build_model

    assert FRONTIER_SPECS
    for name in FRONTIER_SPECS:
        budget = int(name[1:].rstrip("abcdefghijklmnopqrstuvwxyz")) * 1000
        assert count_params(build_model(name)) < budget, name


def test_frontier_models_carry_their_recipe():
    """HParams.for_model applies a frontier model's recipe, explicit settings win, and the seed
    iterations keep the seed recipe."""
    from effmnist_utils.train import RECIPES

    assert RECIPES, "the frontier finalists have no recipe"
    name, recipe = next(iter(RECIPES.items()))
    hp = HParams.for_model(name, seed=3)
    assert all(getattr(hp, k) == v for k, v in recipe.items()) and hp.seed == 3
    assert HParams.for_model(name, lr=0.5).lr == 0.5
    assert HParams.for_model("iter6", seed=2) == HParams(model="iter6", seed=2)


def test_search_accepts_a_list_of_tagged_settings(tmp_path):
    """Several models can share one recipe's tag when the candidates come as a list."""
    records = study.search([{"model": m, "tag": "same", "train_subset": 128} for m in ("iter5", "iter6")],
                           epochs=1, val_size=200, out_dir=tmp_path, device="cpu", progress=False)
    assert [r["name"] for r in records] == ["iter5-same_seed1", "iter6-same_seed1"]


def test_ablation_measures_each_lever_and_refuses_unknown_runs():
    """Each step's difference is after minus before, in points of validation accuracy."""
    rec = [{"name": n, "history": [{"val_acc": a}]} for n, a in (("a", 0.990), ("b", 0.9925))]
    rows = study.ablation(rec, [("lever x", "a", "b")])
    assert rows[0]["delta"] == pytest.approx(0.25)
    assert "+0.25" in study.render_ablation(rows)
    with pytest.raises(ValueError, match="no recorded proxy run named c"):
        study.ablation(rec, [("lever y", "a", "c")])
