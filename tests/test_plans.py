"""Every study is a plan: its runs are the committed runs (same settings), its tables regenerate
from them to the letter, and the one runner skips, resumes, refuses and shards as it says."""
import json

import pytest

from effmnist_utils.studies import plans, runner
from effmnist_utils.core.config import RESULTS_DIR, RUNS_DIR, HParams, Optim
from effmnist_utils.core.layernet import FRONTIER_SPECS
from effmnist_utils.core.place import RunPlace
from effmnist_utils.studies.plans import base, frontier, speedsearch, tiny
from effmnist_utils.core.record import RunConflict, check_name_free, load_runs

# Plans whose runs are only partly recorded, and why (everything else must be complete).
PARTIAL = {"gpu-times": "the lent GPU's time ran out after iter6",
           "speedrun-cuda-search": "its CUDA-graphs lever was never reached in the GPU's time"}
ALL = plans.plans()


@pytest.mark.parametrize("name", ALL)
def test_every_planned_run_is_recorded_with_the_planned_settings(name):
    """A recorded run of a plan has exactly the settings the plan gives it (check_name_free
    raises otherwise); a complete plan has every run recorded."""
    plan = ALL[name]
    folder = RESULTS_DIR / plan.folder
    if name == "speedrun-cpu-choice" and speedsearch.chosen(RESULTS_DIR) is None:  # no candidate held up
        with pytest.raises(ValueError, match="nothing is chosen"):
            plan.runs(RESULTS_DIR)
        return
    recorded = [check_name_free(folder / f"{r.name}.json", r.hp) for r in plan.runs(RESULTS_DIR)]
    if not recorded and name.startswith("search-"):  # nothing to hand on: every search's best is its first trial
        from effmnist_utils.studies.plans import finalists

        assert all(finalists.is_first(finalists.best_trial(RESULTS_DIR, s)) for s in finalists.FRONTIER)
        return
    assert any(recorded), f"nothing of plan {name} is recorded in {folder}"
    if name not in PARTIAL:
        assert all(recorded), [r.name for r, ok in zip(plan.runs(RESULTS_DIR), recorded) if not ok]


@pytest.mark.parametrize("name, file", [(n, f) for n, p in ALL.items() for f in p.tables])
def test_every_committed_table_regenerates_identically(name, file):
    plan = ALL[name]
    committed = (RESULTS_DIR / plan.folder / file).read_text()
    assert plan.tables[file](RESULTS_DIR) == committed, f"regenerate: python -m effmnist_utils plan {name} --table --record"


def test_the_frontier_search_reads_its_own_runs_only():
    """The frontier search's folder also holds the robust search's runs (notebook 10): the
    frontier's records are its planned runs, stage by stage, and none of the others."""
    for stage, make in frontier.SEARCH.stages.items():
        assert [r["name"] for r in frontier.search_records(RESULTS_DIR, stage)] == [p.name for p in make(RESULTS_DIR)]
    everything = base.folder_records(RESULTS_DIR, frontier.SEARCH.folder)
    ours = {r["name"] for r in frontier.search_records(RESULTS_DIR)}
    assert any("-rob-" in r["name"] for r in everything) and not any("-rob-" in name for name in ours)


def test_tiny_plan_covers_every_tiny_candidate_and_its_finalists_train_with_their_recipe():
    """The tiny search's candidates are the t1*/t2* models; a finalist with recorded full runs
    trains with the recipe the plan's rule chose for it from stage 2 (RECIPES: what `train` and
    the README use)."""
    assert sorted([*tiny.CANDIDATES, *frontier.TINY_ARCHITECTURES]) == sorted(
        n for n in FRONTIER_SPECS if n[:2] in ("t1", "t2"))
    trained = {r["model"] for r in load_runs(RUNS_DIR)}
    chosen = [c for c in tiny.finalists(RESULTS_DIR).values() if c["model"] in trained]
    assert chosen, "no finalist of the tiny search has recorded full runs"
    for choice in chosen:
        assert HParams.for_model(choice["model"], **choice["recipe"]) == HParams.for_model(choice["model"])


def _fake_train(calls):
    def train_run(hp, place, *, resume, tag, timed, read_test):
        calls.append((hp.model, hp.seed, resume) + (() if read_test else ("no test",)))
        name = runner.run_name(hp, tag)
        (place.out() / f"{name}.json").write_text(json.dumps({"name": name, "hparams": hp.to_dict()}))
    return train_run


def test_runner_skips_recorded_runs_resumes_unfinished_ones_and_shards(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(runner, "train_run", _fake_train(calls))
    runs = [runner.Planned(HParams.for_model(m, seed=s), read_test=s == 1) for s in (1, 2) for m in ("iter5", "f8a")]
    (tmp_path / "iter5_seed1.json").write_text(json.dumps({"hparams": runs[0].hp.to_dict()}))
    (tmp_path / "f8a_seed1.ckpt").write_text("")
    done = runner.execute(runs, RunPlace(out_dir=tmp_path, progress=False, log=lambda line: None), shard=(0, 1))
    assert calls == [("f8a", 1, True), ("iter5", 2, False, "no test"), ("f8a", 2, False, "no test")]
    assert len(done) == 4
    calls.clear()
    other = tmp_path / "other"
    other.mkdir()
    runner.execute(runs, RunPlace(out_dir=other, progress=False, log=lambda line: None), shard=(1, 2))
    assert calls == [("f8a", 1, False), ("f8a", 2, False, "no test")]  # runs 1 and 3 of 0..3


def test_runner_refuses_to_replace_a_run_with_other_settings(tmp_path, monkeypatch):
    """A finished run under the same name but with other settings stops the runner, naming the
    difference and the way out; nothing is trained or overwritten."""
    calls = []
    monkeypatch.setattr(runner, "train_run", _fake_train(calls))
    path = tmp_path / "iter6_seed1.json"
    path.write_text(json.dumps({"hparams": HParams(model="iter6", optim=Optim(epochs=1)).to_dict()}))
    before = path.read_text()
    with pytest.raises(RunConflict, match=r"epochs 1 there, 20 here.*another tag"):
        runner.execute([runner.Planned(HParams(model="iter6"))], RunPlace(out_dir=tmp_path, progress=False))
    assert calls == [] and path.read_text() == before


def test_a_plan_records_only_when_asked(tmp_path, monkeypatch):
    """Without --record a plan's runs go to the scratch root of the working folder; smoke runs
    cannot be recorded; an unknown plan or stage is named with the known ones."""
    monkeypatch.chdir(tmp_path)
    assert base.root_for(False) == base.PLAN_SCRATCH and not base.PLAN_SCRATCH.is_absolute()
    assert base.root_for(True) == RESULTS_DIR
    with pytest.raises(ValueError, match="drop --record"):
        plans.run_plan("crossed", record=True, smoke=True)
    with pytest.raises(ValueError, match="known plans: reproduce"):
        plans.get("nope")
    with pytest.raises(ValueError, match="its stages: 1, 2"):
        plans.get("frontier-search").runs(tmp_path, "3")
    with pytest.raises(ValueError, match="0 <= K < N"):
        runner.take_shard([], (2, 2))


@pytest.mark.slow
def test_a_smoke_plan_trains_each_run_once_into_its_folder(tmp_path):
    """`plan frontier-search --stage 2 --smoke`: three one-epoch runs recorded under the given
    root; a second call trains nothing."""
    place = RunPlace("cpu", out_dir=tmp_path, progress=False, log=lambda line: None)
    done = plans.run_plan("frontier-search", "2", place=place, smoke=True)
    names = sorted(p.name for p in (tmp_path / "search").glob("*.json"))
    assert names == sorted(f"{r['name']}.json" for r in done) and len(names) == 3
    mtimes = [p.stat().st_mtime_ns for p in (tmp_path / "search").glob("*.json")]
    plans.run_plan("frontier-search", "2", place=place, smoke=True)
    assert [p.stat().st_mtime_ns for p in (tmp_path / "search").glob("*.json")] == mtimes


def test_every_plan_module_is_in_the_registry():
    """A plan module's plans can be run by name only once the registry lists the module: a new
    module in studies/plans/ left out of plans/__init__.py fails here, not silently."""
    import importlib
    from pathlib import Path

    folder = Path(plans.__file__).parent
    modules = sorted(p.stem for p in folder.glob("*.py") if p.stem not in ("__init__", "base"))
    assert len(modules) >= 6
    registered = plans.plans()
    for name in modules:
        module = importlib.import_module(f"{plans.__name__}.{name}")
        assert module.PLANS, f"{name} defines no PLANS"
        for plan in module.PLANS:
            assert registered.get(plan.name) is plan, f"plan {plan.name} of {name}.py is not in the registry"
