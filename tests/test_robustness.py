"""The corruption suite, the robustness records and the rule that picks the robust recipe."""
import dataclasses
import json

import pytest
import torch

from effmnist_utils.studies import corrupt, robustness, shifts
from effmnist_utils.__main__ import main
from effmnist_utils.core.config import HParams
from effmnist_utils.core import augment
from effmnist_utils.core.loaders import Augment, normalise
from effmnist_utils.studies.plans import robust
from effmnist_utils.core.record import same_settings
from helpers import ROOT

# families whose output depends on the seed (the others are fixed transformations)
RANDOM = {"shot_noise", "impulse_noise", "glass_blur", "motion_blur", "shear", "rotate", "translate",
          "fog", "spatter", "dotted_line", "zigzag"}


@pytest.fixture(scope="module")
def digits(mnist):
    return mnist[1][0][:64]


@pytest.mark.parametrize("family", corrupt.FAMILIES)
def test_each_corruption_is_deterministic_keeps_shape_and_range_and_changes_the_image(family, digits):
    a, b = corrupt.corrupt_u8(digits, family, seed=7), corrupt.corrupt_u8(digits, family, seed=7)
    assert torch.equal(a, b)
    assert a.shape == digits.shape and a.dtype == torch.uint8
    x = digits.float().unsqueeze(1) / 255
    y = corrupt.corrupt(x, family, seed=7)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    changed = (a != digits).flatten(1).any(1)
    assert changed.all(), f"{family} left {int((~changed).sum())} of 64 images unchanged"
    assert (a.float() - digits.float()).abs().mean() > 2  # far more than rounding (< 0.5): visible


@pytest.mark.parametrize("family", sorted(RANDOM))
def test_random_families_depend_on_the_seed(family, digits):
    assert not torch.equal(corrupt.corrupt_u8(digits, family, 1), corrupt.corrupt_u8(digits, family, 2))


def test_translate_shifts_by_three_pixels_each_way(digits):
    out = corrupt.corrupt_u8(digits[:16], "translate", 3)
    padded = torch.nn.functional.pad(digits[:16], (3, 3, 3, 3))
    for img, shifted in zip(padded, out):
        options = [img[3 - dy:31 - dy, 3 - dx:31 - dx] for dx in (-3, 3) for dy in (-3, 3)]
        assert any(torch.equal(shifted, o) for o in options)


def test_stripe_inverts_the_outer_quarters_and_brightness_lifts_the_background(digits):
    x = digits.float().unsqueeze(1) / 255
    assert torch.allclose(corrupt.stripe(corrupt.stripe(x, None), None), x, atol=1e-6)
    assert torch.equal(corrupt.stripe(x, None)[..., 7:21], x[..., 7:21])
    bright = corrupt.brightness(x, None)
    assert torch.allclose(bright[x == 0], torch.tensor(0.5))


def test_scale_shrinks_the_ink(digits):
    x = digits.float().unsqueeze(1) / 255
    rows_with_ink = lambda im: (im.amax(-1) > 0.5).sum().item()  # noqa: E731
    before = sum(rows_with_ink(im) for im in x)
    after = sum(rows_with_ink(im) for im in corrupt.scale(x, None))
    assert 0.6 < after / before < 0.8


def test_canny_edges_outlines_the_strokes(digits):
    x = digits.float().unsqueeze(1) / 255
    edges = corrupt.canny_edges(x, None)
    assert set(edges.unique().tolist()) <= {0.0, 1.0}
    inside = torch.nn.functional.max_pool2d(x, 5, 1, 2) > 0.3  # near the ink
    assert edges[~inside].sum() == 0 and edges.sum() > 0


def test_corrupt_refuses_bad_input(digits):
    with pytest.raises(ValueError, match="unknown corruption 'snow'"):
        corrupt.corrupt_u8(digits, "snow", 1)
    with pytest.raises(ValueError, match="expected images N x 1 x 28 x 28"):
        corrupt.corrupt(torch.zeros(2, 28, 28), "fog", 1)


def test_families_are_split_before_scoring_and_the_suites_differ(digits):
    assert len(robustness.CHOSEN) + len(robustness.HELD_OUT) == len(corrupt.FAMILIES) == 15
    test_images, _ = robustness.clean_images("test")
    val_images, _ = robustness.clean_images("val")
    assert len(test_images) == 10_000 and len(val_images) == 5_000
    assert robustness.split_of({"hparams": HParams(val_size=5000).to_dict()}) == "val"
    assert robustness.split_of({"hparams": HParams().to_dict()}) == "test"
    with pytest.raises(ValueError, match="split must be one of"):
        robustness.clean_images("train")


def _row(tag, val, chosen, held_out):
    return {"tag": tag, "val_acc": val, "chosen": chosen, "held_out": held_out, "levers": {}}


def test_choice_rule_takes_the_most_accurate_recipe_with_half_the_chosen_error():
    rows = [_row(robust.BASE_TAG, 99.50, 80, 70), _row("a", 99.45, 90, 60), _row("b", 99.30, 95, 95),
            _row("c", 99.48, 89, 99), _row("d", 99.20, 98, 50)]
    # c misses half the base's chosen-family error (11 > 20 / 2), whatever its held-out score
    assert robust.choose(rows)["tag"] == "a"
    assert robust.choose([rows[0], rows[2], rows[4]])["tag"] == "b"
    assert robust.choose([rows[0], rows[3]])["tag"] == robust.BASE_TAG
    assert robust.chosen_floor(rows) == 90  # the base's 20 % error, halved


def test_the_recorded_search_is_read_in_order_with_its_pick():
    """The recorded search's rows, every recipe once in the plans' order; the pick is rob-std."""
    from effmnist_utils.core.config import RESULTS_DIR

    rows = robust.scored(RESULTS_DIR)
    assert [r["tag"] for r in rows] == list(robust.ALL)
    assert rows[0]["tag"] == robust.BASE_TAG and robust.choose(rows)["tag"] == "rob-std"
    assert all(r["chosen"] >= robust.chosen_floor(rows) for r in rows if r["tag"] == "rob-std")


def test_shifted_moves_each_digit_by_whole_pixels_either_way(digits):
    out = shifts.shifted(digits[:16], 2, seed=5)
    assert torch.equal(shifts.shifted(digits[:16], 2, seed=5), out)
    assert torch.equal(shifts.shifted(digits[:16], 0), digits[:16])
    padded = torch.nn.functional.pad(digits[:16], (2, 2, 2, 2))
    seen = set()
    for img, moved in zip(padded, out):
        ways = {(dx, dy): img[2 - dy:30 - dy, 2 - dx:30 - dx] for dx in (-2, 2) for dy in (-2, 2)}
        match = [w for w, o in ways.items() if torch.equal(moved, o)]
        assert match, "not a shift by 2 px on each axis"
        seen.add(match[0])
    assert len(seen) > 1  # both ways occur
    with pytest.raises(ValueError, match="give 0 to 27"):
        shifts.shifted(digits[:2], 28)


def test_shift_curve_falls_for_a_model_that_reads_one_pixel():
    """A 'model' that answers from the centre pixel alone: right unshifted, at chance once the
    digits move."""
    class Centre(torch.nn.Module):
        def forward(self, x):
            return torch.stack([-x[:, 0, 14, 14], x[:, 0, 14, 14]], 1)
    images = torch.zeros(20, 28, 28, dtype=torch.uint8)
    images[10:, 14, 14] = 255
    labels = torch.tensor([0] * 10 + [1] * 10)
    assert shifts.shift_curve(Centre(), images, labels, shifts=(0, 3)) == [1.0, 0.5]


def _summary(variant, clean, chosen, held_out, seeds=3):
    return {"variant": variant, "split": "test", "seeds": list(range(1, seeds + 1)), "clean": clean,
            "mean_chosen": chosen, "mean_held_out": held_out}


@pytest.mark.parametrize("robust_row, met", [
    (_summary("f8a-robust", 99.55, 90.0, 85.0), True),
    (_summary("f8a-robust", 99.45, 90.0, 85.0), False),  # clean accuracy below 99.50
    (_summary("f8a-robust", 99.55, 90.0, 75.0), False),  # held-out error 25 > half of 40
    (_summary("f8a-robust", 99.55, 90.0, 85.0, seeds=2), False),
])
def test_goal_needs_clean_accuracy_and_half_the_error_on_both_family_sets(robust_row, met):
    reference = _summary("f8a", 99.56, 80.0, 60.0)  # errors 20 and 40: the goal is <= 10 and <= 20
    g = robustness.goal([reference, robust_row])
    assert g["met"] is met
    assert ("not met" in robustness.render_goal(g)) is not met


def test_goal_is_not_judged_while_a_side_is_unscored_and_predict_keeps_the_reference(tmp_path):
    """Without test-suite scores of either the robust variant or the reference, the goal is not
    met, and the verdict names the variant that has not been scored (validation-suite scores do
    not count); predict's default stays the reference while nothing is scored."""
    reference, robust_row = _summary("f8a", 99.56, 80.0, 60.0), _summary("f8a-robust", 99.55, 90.0, 85.0)
    assert robustness.goal([reference, robust_row])["met"] is True  # both scored: this pair meets it
    for rows, unscored in (([reference], "f8a-robust"), ([robust_row], "f8a"),
                           ([reference, dict(robust_row, split="val")], "f8a-robust")):
        g = robustness.goal(rows, robust="f8a-robust")
        assert g["met"] is False and g["why"] == f"{unscored} has not been scored", rows
        assert robustness.render_goal(g) == f"Goal for f8a-robust: not judged yet ({unscored} has not been scored)."
    model, why = robustness.predict_default(tmp_path)
    assert model == "f8a" and "f8a-robust has not been scored" in why


def test_augment_levers_change_the_batch_and_refuse_bad_values(mnist):
    """Every lever (augment.LEVERS, read from Augment's fields) at the robust search's half
    strength, or 0.5 (a value every lever takes) where that search has none, changes the batch."""
    x = normalise(mnist[0][0][:32])
    base = Augment()(x, torch.Generator().manual_seed(0))
    # every field is a lever (made by augment._lever: checked, and read by the no-augmentation
    # shortcut) but the zoom's crop, a setting of zoom_p's
    assert {f.name for f in dataclasses.fields(Augment)} - set(augment.LEVERS) == {"crop"}
    for lever in augment.LEVERS:
        value = robust.HALF.get(lever, 0.5)
        out = Augment(**{lever: value})(x, torch.Generator().manual_seed(0))
        assert out.shape == x.shape and not torch.equal(out, base), lever
        assert out.min() >= normalise(torch.zeros(1, 1, 1, dtype=torch.uint8)).item() - 1e-5
    with pytest.raises(ValueError, match="erase is a probability"):
        Augment(erase=2)
    with pytest.raises(ValueError, match="blur must be >= 0"):
        Augment(blur=-1)
    with pytest.raises(ValueError, match=r"lift must be in \[0, 1\)"):
        Augment(lift=1)


def test_runs_recorded_before_the_new_levers_keep_their_names():
    """A record written before the levers beyond the original existed (those off by default)
    is the same run as one that has them at 0."""
    old = HParams(model="f8a").to_dict()
    new_levers = [lever for lever in augment.LEVERS if getattr(Augment(), lever) == 0]
    assert "noise" in new_levers and "degrees" not in new_levers
    for lever in new_levers:
        del old["augment"][lever]
    assert same_settings(old, HParams(model="f8a").to_dict())
    assert not same_settings(old, HParams(model="f8a", augment=Augment(noise=0.1)).to_dict())


def test_robust_finalists_wait_for_the_search(tmp_path):
    with pytest.raises(ValueError, match="plan robust-search"):
        robust.finalists(tmp_path)


@pytest.mark.slow
def test_cli_scores_a_recorded_run_and_writes_only_with_record(tmp_path, capsys):
    src = ROOT / "results" / "runs" / "t1e_seed1"
    for suffix in (".json", ".pt"):
        (tmp_path / f"t1e_seed1{suffix}").write_bytes(src.with_suffix(suffix).read_bytes())
    run = tmp_path / "t1e_seed1.json"
    assert main(["robustness", str(run)]) == 0
    out = capsys.readouterr().out
    assert "| t1e | 984 | 1 |" in out and "held out" in out
    assert not (tmp_path / "robustness").exists()
    assert main(["robustness", str(run), "--record"]) == 0
    score = json.loads((tmp_path / "robustness" / "t1e_seed1.json").read_text())
    recorded = json.loads(run.read_text())["final_test_acc"]
    assert score["clean"] == pytest.approx(recorded, abs=1e-9)  # the same weights, the same test set
    assert set(score["families"]) == set(corrupt.FAMILIES) and score["split"] == "test"
