"""What defines a run: HParams and its groups, recipes and run names (the committed results files
that store them are checked in test_results_files.py)."""
import dataclasses
import json
import re
from dataclasses import asdict

import pytest

from effmnist_utils.core.augment import Augment
from effmnist_utils.core.config import (FRONTIER_RECIPE, RECIPES, HParams, Optim, describe_levers, notebook_hparams,
                                         notebook_images, run_name)

# --- building HParams ---------------------------------------------------------------------------


def test_for_model_routes_flat_settings_into_their_groups():
    """Flat settings land in their group (optim, augment) or at the top; the rest keep defaults."""
    hp = HParams.for_model("iter6", epochs=2, batch_size=64, lr=0.003, label_smoothing=0.05,
                           degrees=8, translate=2, seed=3, train_subset=1024, val_size=500,
                           precision="bf16", loader="fast")
    assert hp.optim == Optim(epochs=2, batch_size=64, lr=0.003, label_smoothing=0.05)
    assert hp.augment == Augment(degrees=8, translate=2)
    assert (hp.model, hp.seed, hp.train_subset, hp.val_size, hp.precision, hp.loader) == (
        "iter6", 3, 1024, 500, "bf16", "fast")
    # and nothing else moved: the original recipe with exactly those changes
    assert hp.levers() == {"epochs": 2, "batch_size": 64, "lr": 0.003, "label_smoothing": 0.05,
                           "degrees": 8, "translate": 2, "val_size": 500, "train_subset": 1024,
                           "precision": "bf16"}


@pytest.mark.parametrize("setting", ["epoch", "learning_rate", "tag", "eval_batch_size", "optim",
                                     "augment"])
def test_for_model_rejects_unknown_settings_naming_them(setting):
    """A misspelt or retired setting (tag and eval_batch_size are no longer HParams), or a group's
    own name given as a flat setting, is a ValueError that names it and lists the known ones."""
    with pytest.raises(ValueError, match=rf"unknown setting\(s\) {setting}; known: .*\bepochs\b"):
        HParams.for_model("iter6", **{setting: 1})


def test_unknown_settings_are_all_named():
    """Several unknown settings are named together, sorted."""
    with pytest.raises(ValueError, match=r"unknown setting\(s\) bogus, epoch;"):
        HParams.for_model("iter6", epoch=2, bogus=1, lr=0.1)


@pytest.mark.parametrize("settings, named", [
    ({"epochs": 0}, "epochs"), ({"batch_size": -1}, "batch_size"), ({"step_size": 0}, "step_size"),
    ({"optimizer": "lion"}, "optimizer"), ({"schedule": "cosine"}, "schedule"), ({"lr": 0}, "lr"),
    ({"label_smoothing": 1.0}, "label_smoothing"), ({"precision": "fp16"}, "precision"),
    ({"loader": "slow"}, "loader"), ({"allocator": "jemalloc"}, "allocator"),
])
def test_invalid_values_are_refused_naming_the_setting(settings, named):
    """Out-of-range or unknown values are refused when the HParams is built, naming the setting
    and the bad value."""
    value = next(iter(settings.values()))
    with pytest.raises(ValueError, match=rf"{named} must .*{re.escape(repr(value))}"):
        HParams.for_model("iter6", **settings)


def test_hparams_are_frozen_and_with_makes_a_changed_copy():
    """HParams cannot change in place; with_ returns a copy with flat settings changed."""
    hp = HParams.for_model("f8a", seed=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        hp.seed = 3
    changed = hp.with_(lr=0.5, degrees=5, seed=4)
    assert (changed.optim.lr, changed.augment.degrees, changed.seed) == (0.5, 5, 4)
    assert changed.optim.schedule == "onecycle" and changed.model == "f8a"  # the rest is kept
    assert hp.optim.lr == FRONTIER_RECIPE["lr"] and hp.seed == 2  # the original is untouched
    with pytest.raises(ValueError, match="unknown setting.*lrr"):
        hp.with_(lrr=0.5)


@pytest.mark.parametrize("hp", [
    HParams(),
    HParams.for_model("f8a", seed=3),
    HParams.for_model("iter5", epochs=2, translate=2, degrees=8.5, label_smoothing=0.05,
                      optimizer="adamw", weight_decay=1e-2, precision="bf16", val_size=5000,
                      train_subset=256, loader="fast"),
], ids=["default", "f8a-recipe", "many-levers"])
def test_from_dict_inverts_asdict_also_through_json(hp):
    """HParams.from_dict(asdict(hp)) == hp, also after the JSON round trip a results file makes;
    flat() / from_flat() are inverses as well."""
    assert HParams.from_dict(asdict(hp)) == hp
    assert HParams.from_dict(json.loads(json.dumps(asdict(hp)))) == hp
    assert HParams.from_flat(hp.flat()) == hp


def test_from_dict_refuses_unknown_keys():
    """A stored dict with a setting HParams does not know is refused, not silently dropped."""
    d = asdict(HParams())
    d["optim"]["momentum"] = 0.9
    with pytest.raises((TypeError, ValueError), match="momentum"):
        HParams.from_dict(d)


# --- recipes and names --------------------------------------------------------------------------


def test_defaults_are_the_original_recipe():
    """The defaults are the original study's recipe, which has no levers."""
    hp = HParams()
    o, a = hp.optim, hp.augment
    assert (o.optimizer, o.lr, o.schedule, o.step_size, o.gamma, o.batch_size, o.epochs) == (
        "adam", 1e-3, "step", 15, 0.1, 128, 20)
    assert (a.zoom_p, a.crop, a.degrees, a.translate) == (0.1, 22, 15, 0)
    assert hp.levers() == {} and describe_levers(hp.levers()) == "original recipe"


def test_frontier_models_carry_their_recipe():
    """HParams.for_model applies a frontier model's recipe, explicit settings win, and the
    original study's iterations keep the original recipe."""
    assert RECIPES, "the frontier finalists have no recipe"
    for name, recipe in RECIPES.items():
        hp = HParams.for_model(name, seed=3)
        assert hp.levers() == recipe and hp.seed == 3, name
        assert HParams.for_model(name, lr=0.5).optim.lr == 0.5
    assert HParams.for_model("iter6", seed=2) == HParams(model="iter6", seed=2)
    assert describe_levers(FRONTIER_RECIPE) == "schedule=onecycle, lr=0.01"
    assert describe_levers({"lr": 0.010231367469119696, "batch_size": 64}) == "lr=0.01023, batch_size=64"  # a search's


def test_run_name_is_model_tag_seed():
    """`<model>[-<tag>]_seed<seed>`."""
    assert run_name(HParams(model="iter5", seed=3)) == "iter5_seed3"
    assert run_name(HParams(model="iter5", seed=3), "oc") == "iter5-oc_seed3"


@pytest.mark.parametrize("settings, problem", [
    ({"distill": 0.5}, "needs a teacher run"), ({"teacher": "runs/f20b_seed1"}, "a teacher a weight"),
    ({"distill": 1.5, "teacher": "runs/f20b_seed1"}, "distill must be in"),
])
def test_distillation_needs_a_weight_and_a_teacher_together(settings, problem):
    with pytest.raises(ValueError, match=problem):
        HParams.for_model("f8a", **settings)


def test_a_notebook_trains_the_full_recipe_unless_the_tests_run_it(monkeypatch):
    monkeypatch.delenv("EFFMNIST_FAST", raising=False)
    assert notebook_hparams("iter1") == HParams.for_model("iter1")
    monkeypatch.setenv("EFFMNIST_FAST", "1")
    fast = notebook_hparams("f8a", seed=2)
    assert (fast.optim.epochs, fast.train_subset, fast.seed, fast.optim.schedule) == (1, 2000, 2, "onecycle")


def test_a_notebook_cuts_a_given_recipe_and_its_image_count_only_under_the_tests(monkeypatch):
    """A recipe given as HParams (the speedrun's) is kept whole, or cut like a model's own under
    the tests; a live check reads all its images, or 1,000 under the tests."""
    recipe = HParams.for_model("fast", epochs=16, batch_size=512, lr=0.02, precision="bf16")
    monkeypatch.delenv("EFFMNIST_FAST", raising=False)
    assert notebook_hparams(recipe) == recipe and notebook_images(10_000) == 10_000
    monkeypatch.setenv("EFFMNIST_FAST", "1")
    assert notebook_hparams(recipe) == recipe.with_(epochs=1, train_subset=2000)
    assert (notebook_images(10_000), notebook_images(500)) == (1000, 500)
