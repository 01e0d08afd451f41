"""Each budget's model comes from the rule on validation accuracy (`studies.budgets`): no test
accuracy can change it, and validation accuracy can."""
import json
import shutil

import pytest

from effmnist_utils import report
from effmnist_utils.core.config import RESULTS_DIR
from effmnist_utils.studies import budgets

BUDGETS = [b for b, _ in report.FRONTIER_GOALS]
FOLDERS = budgets.READS  # every record the rule reads
TWENTY_K = "L.c40.s14.t12.p.c22.s22.c14.p.S8.g"  # frontier-20k's best trial, confirmed over seeds 2-3


@pytest.fixture()
def copy(tmp_path):
    for folder in FOLDERS:
        shutil.copytree(RESULTS_DIR / folder, tmp_path / folder, ignore=shutil.ignore_patterns("*.pt", "*.png"))
    return tmp_path


def _records(root):
    return [p for folder in FOLDERS for p in (root / folder).rglob("*.json") if "hparams" in p.read_text()[:2000]]


def _rewrite(path, change):
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record))


def _models(chosen):
    return {b: c["model"] for b, c in chosen.items()}


@pytest.fixture(scope="module")
def recorded():
    return budgets.choose(RESULTS_DIR, BUDGETS)


def test_the_recorded_choice(recorded):
    """The rule on the recorded runs: frontier-20k's tie falls back over three seeds, and the
    tiny search's kept run chooses t1e below 1,000."""
    assert _models(recorded) == {20_000: "f20b", 8_000: "f8a", 5_000: "f5s", 2_000: "t2a", 1_000: "t1e"}
    assert recorded[20_000]["steps"][-1]["verdict"] == "holds no lead"


def test_no_test_accuracy_can_change_the_choice(copy, recorded):
    """Every test accuracy in the records the rule reads is reversed (the worst becomes the best),
    then removed altogether: the choice and every validation number it shows stay the same."""
    def reverse(record):
        for key in ("final_test_acc", "best_test_acc"):
            if key in record:
                record[key] = 1.5 - record[key]
        for row in record["history"]:
            if "test_acc" in row:
                row["test_acc"] = 1.5 - row["test_acc"]

    def remove(record):
        for key in [k for k in record if "test" in k]:
            del record[key]
        for row in record["history"]:
            for key in [k for k in row if "test" in k]:
                del row[key]

    paths = _records(copy)
    assert len(paths) > 100
    for change in (reverse, remove):
        for path in paths:
            _rewrite(path, change)
        assert budgets.choose(copy, BUDGETS) == recorded
        assert budgets.render(budgets.choose(copy, BUDGETS)) == budgets.render(recorded)


def test_validation_accuracy_changes_the_choice(copy):
    """The checks above could fail: a confirmation seed of frontier-20k's best trial recorded
    higher makes it the < 20,000 model; a tiny stage-2 run recorded higher makes its model the
    < 1,000 one; without confirmation runs the best trial replaces nothing yet."""
    for path in (copy / "searches" / "confirm").glob(f"{TWENTY_K}-confirm_seed*.json"):
        _rewrite(path, lambda r: r["history"][-1].update(val_acc=0.999))
    _rewrite(copy / "tiny" / "t1c-oc02-e8_seed1.json", lambda r: r["history"][-1].update(val_acc=0.999))
    chosen = budgets.choose(copy, BUDGETS)
    assert _models(chosen)[20_000] == TWENTY_K and chosen[20_000]["steps"][-1]["verdict"] == "replaces"
    assert _models(chosen)[1_000] == "t1c"
    assert f"{TWENTY_K} replaces it" in budgets.render(chosen)
    shutil.rmtree(copy / "searches" / "confirm")
    chosen = budgets.choose(copy, BUDGETS)
    assert _models(chosen)[20_000] == "f20b" and chosen[20_000]["steps"][-1]["verdict"] == "pending"


def test_a_population_search_replaces_the_model_by_its_seeds_mean(copy):
    """Step 3: the population search's best trial replaces the budget's model when its mean over
    seeds 1-6 (four in the trial, two fresh) reaches its first trial's mean over seeds 1-4;
    before seeds 5-6 are recorded it is pending, and a lower mean replaces nothing."""
    from effmnist_utils.core.config import HParams
    from effmnist_utils.core.models import build_model, count_params

    search = budgets.searches_.get("frontier-1k-pop")
    trials = copy / search.folder / "trials"
    shutil.rmtree(copy / search.folder, ignore_errors=True)
    trials.mkdir(parents=True)

    def write(folder, model, tag, seed, val):
        hp = HParams.for_model(model, seed=seed, val_size=10_000)
        rec = {"name": f"{model}-{tag}_seed{seed}", "model": model, "params": count_params(build_model(model)),
               "hparams": hp.to_dict(), "history": [{"epoch": e, "val_acc": val} for e in range(1, 21)]}
        (folder / f"{rec['name']}.json").write_text(json.dumps(rec))

    for seed in search.seeds:
        write(trials, "t1e", "t0", seed, 0.988)
        write(trials, "t1j", "t3", seed, 0.990)
    chosen = budgets.choose(copy, BUDGETS)
    assert _models(chosen)[1_000] == "t1e" and chosen[1_000]["steps"][-1]["verdict"] == "pending"
    assert "seeds 5-6 are not recorded" in budgets.render(chosen)
    for seed, val in ((5, 0.989), (6, 0.989)):
        write(copy / "searches" / "confirm", "t1j", "confirm", seed, val)
    chosen = budgets.choose(copy, BUDGETS)
    assert _models(chosen)[1_000] == "t1j" and chosen[1_000]["steps"][-1]["mean"] == pytest.approx(98.9667, abs=1e-3)
    for seed in (5, 6):
        write(copy / "searches" / "confirm", "t1j", "confirm", seed, 0.980)
    assert _models(budgets.choose(copy, BUDGETS))[1_000] == "t1e"


def test_a_new_budget_starts_from_its_narrowed_model_chosen_before_any_run(tmp_path):
    """Step 4: under 4,000 and 700, with nothing recorded, the budget's model is its population
    search's first model, the parent narrowed, and its step reads no accuracy."""
    new = budgets.searches_.NEW_BUDGETS
    chosen = budgets.choose(tmp_path, new)
    for budget in new:
        search = budgets.searches_.get(f"frontier-{budgets.searches_.budget_tag(budget)}-pop")
        assert chosen[budget]["model"] == budgets.layers_name(*budgets.searches_.narrowed(search.around, budget))
        (step,) = chosen[budget]["steps"]
        assert step["val"] == [] and "before any run" in step["by"]
    assert budgets.render(chosen).count("none: chosen before any run") == len(new)


def test_a_budget_without_validation_records_says_so(tmp_path):
    chosen = budgets.choose(tmp_path, BUDGETS)
    assert all(c["model"] is None for c in chosen.values())
    assert "none chosen on validation" in report.render_goals([], chosen=chosen)
    assert budgets.render(chosen).count("no model chosen on validation") == len(BUDGETS)


def test_each_chosen_model_gets_the_seeds_the_raised_goals_need(recorded):
    """Plan frontier-more-seeds trains seeds 4-5 of every model the rule chooses."""
    from effmnist_utils.studies.plans import frontier

    assert {c["model"] for c in recorded.values()} <= set(frontier.GOAL_MODELS)
