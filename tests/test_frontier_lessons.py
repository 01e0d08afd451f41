"""What notebooks 07 and 11 read through `effmnist_utils`' lazily exported names (`lessons`),
the live search they run, and the figures they draw."""
import matplotlib

matplotlib.use("Agg")

import optuna  # noqa: E402
import pytest  # noqa: E402

import effmnist_utils as E  # noqa: E402
from effmnist_utils import lessons  # noqa: E402
from effmnist_utils.studies.search import results as search_results, spaces as searches  # noqa: E402
from effmnist_utils.studies.results_tables import recipe_words, render_compact  # noqa: E402

LIVE = searches.get("lesson-2k")


def test_every_exported_lesson_name_exists_and_others_raise():
    assert all(hasattr(lessons, name) for name in E.LESSONS)
    assert E.frontier_runs is lessons.frontier_runs
    with pytest.raises(AttributeError, match="no attribute 'frontier_run'"):
        E.frontier_run  # noqa: B018 - a misspelt name is an error, not None


def test_conv_widths_count_each_conv_with_its_batchnorm():
    """f8a: conv 3 (10 -> 16, no bias) holds 1,440 weights and BatchNorm's 32; iteration 6's last
    conv has a bias and no BatchNorm after it."""
    f8a, iter6 = E.conv_widths(E.build_model("f8a")), E.conv_widths(E.build_model("iter6"))
    assert [r["channels"] for r in f8a] == [8, 10, 16, 8, 12, 16, 16]
    assert f8a[2]["params"] == 1_472 and f8a[3]["label"] == "conv 4 (1x1)"
    assert iter6[-1]["params"] == 16 * 28 * 9 + 28
    assert sum(r["params"] for r in f8a) + 16 * 10 + 10 == E.count_params(E.build_model("f8a"))


def test_plot_widths_needs_one_layout():
    fig = E.plot_widths({"iteration 6": E.build_model("iter6"), "f8a": E.build_model("f8a")})
    assert len(fig.axes[0].patches) == len(fig.axes[1].patches) == 14
    with pytest.raises(ValueError, match="different numbers of convolutions"):
        E.plot_widths({"f8a": E.build_model("f8a"), "f5s": E.build_model("f5s")})


def test_plot_seed_means_draws_each_seed_and_its_mean():
    fig = E.plot_seed_means({"a": [99.4, 99.5], "b": [99.6]})
    assert [t.get_text() for t in fig.axes[0].texts] == ["99.45", "99.60"]
    with pytest.raises(ValueError, match="at least one value"):
        E.plot_seed_means({"a": []})


def test_recipe_words_and_the_compact_table():
    assert recipe_words({}) == "original"
    assert recipe_words({"schedule": "onecycle", "lr": 0.02}) == "one-cycle, peak 0.02"
    assert recipe_words({"lr": 0.02}) == "lr=0.02"
    row = {"model": "f8a", "params": 7598, "recipe": {}, "original_acc": None, "final_mean": 99.531,
           "final_std": 0.04, "n": 5}
    assert render_compact([row]).splitlines()[-1] == "| f8a | 7,598 | original | — | 99.53 ± 0.04 % | 5 |"


def test_the_recorded_lessons_read_back():
    """The crossed runs: each network with each recipe, three seeds or more; the winner's curse:
    a pick that is not its search's first trial, over three seeds on its split and five on the test."""
    crossed = E.crossed_seeds()
    assert len(crossed) == 4 and all(len(v) >= 3 for v in crossed.values())
    curse = E.winners_curse()
    assert curse["model"] != searches.layers_name(*E.FRONTIER_SPECS[curse["base"]][::2])
    assert len(curse["split_seeds"]) == 3 and curse["split_seeds"][0] == curse["trial"]
    assert all(len(v) == 5 for v in curse["test"].values())
    assert [r["lever"] for r in E.recipe_steps()] == [s[0] for s in lessons.RECIPE_STEPS]


def test_the_live_search_is_cut_under_the_regression_tests(monkeypatch):
    monkeypatch.delenv("EFFMNIST_FAST", raising=False)
    assert searches.notebook_search("lesson-2k") is LIVE
    monkeypatch.setenv("EFFMNIST_FAST", "1")
    quick = searches.notebook_search("lesson-2k")
    assert quick.trials == 3 and quick.pruner == "none"
    assert dict(quick.fixed) == {**dict(LIVE.fixed), "epochs": 1, "train_subset": 512, "val_size": 1_000}


def test_the_live_space_starts_under_its_budget_and_reaches_over_it():
    (first,) = LIVE.first
    model, _ = LIVE.suggest(optuna.trial.FixedTrial(first))
    assert E.count_params(E.build_model(model)) < LIVE.budget
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    sizes = []
    for _ in range(30):
        trial = study.ask()
        sizes.append(E.count_params(E.build_model(LIVE.suggest(trial)[0])))
        study.tell(trial, 0.0)
    assert min(sizes) < LIVE.budget <= max(sizes)


def test_a_live_search_records_its_trials_in_the_folder_given(tmp_path, monkeypatch, capsys):
    """Three quick trials into tmp_path (never results/): one row per trial, in order, each
    complete with a validation accuracy or over the budget without one."""
    monkeypatch.setenv("EFFMNIST_FAST", "1")
    rows = lessons.run_live_search(lessons.live_search(), tmp_path)
    assert [r["trial"] for r in rows] == [0, 1, 2]
    assert all((r["val_acc"] is None) == (r["state"] == "over the budget") for r in rows)
    assert rows[0]["state"] == "complete" and rows[0]["space"] == LIVE.first[0]
    assert (tmp_path / LIVE.folder / "trials").is_dir() and " started: " not in capsys.readouterr().out
    fig = E.plot_live_search(rows, LIVE)
    assert fig.axes[0].get_xlabel().startswith("trial number")
    assert search_results.trials(LIVE, root=tmp_path) == rows
