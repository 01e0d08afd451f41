"""Many runs at once: the reproduction sweep, proxy searches and their ranking, the ablation,
and the frontier's experiments (plans) against what results/ holds."""
from dataclasses import asdict

import pytest

from effmnist_utils import plans, sweeps
from effmnist_utils.config import RESULTS_DIR, HParams, run_name
from effmnist_utils.runs import load_runs


def test_reproduce_skips_recorded_runs_and_resumes_unfinished_ones(tmp_path, monkeypatch):
    """Finished (model, seed) pairs are not retrained; a left-over checkpoint is resumed; every
    run gets its model's own recipe and no tag."""
    calls = []

    def fake_train_run(hp, device, data_dir, out_dir, *, resume, progress, tag):
        calls.append((hp, resume, tag, out_dir))

    monkeypatch.setattr(sweeps, "train_run", fake_train_run)
    (tmp_path / f"{run_name(HParams(model='iter5', seed=1))}.json").write_text("{}")
    (tmp_path / f"{run_name(HParams(model='iter5', seed=2))}.ckpt").write_text("")
    paths = sweeps.reproduce(models=["iter5", "f8a"], seeds=[1, 2], out_dir=tmp_path,
                             progress=False)
    assert [(hp.model, hp.seed, resume, tag) for hp, resume, tag, _ in calls] == [
        ("f8a", 1, False, ""), ("iter5", 2, True, ""), ("f8a", 2, False, "")]
    assert all(out_dir == tmp_path for *_, out_dir in calls)
    assert calls[0][0] == HParams.for_model("f8a", seed=1)  # the frontier recipe
    assert calls[1][0] == HParams(model="iter5", seed=2)  # the original recipe
    assert [p.name for p in paths] == ["iter5_seed1.json", "f8a_seed1.json", "iter5_seed2.json",
                                       "f8a_seed2.json"]


def test_search_ranks_on_validation_and_tests_once(tmp_path):
    """A proxy run evaluates validation every epoch and the test set only after the last one;
    rank lists the levers beyond the proxy's own settings; recorded runs are not rerun."""
    candidates = [{"model": "iter5", "tag": "tiny", "train_subset": 256}]
    records = sweeps.search(candidates, epochs=2, val_size=500, out_dir=tmp_path, device="cpu",
                            progress=False)
    history = records[0]["history"]
    assert all("val_acc" in r for r in history)
    assert ["test_acc" in r for r in history] == [False, True]
    hp = HParams.from_dict(records[0]["hparams"])
    assert (hp.optim.epochs, hp.val_size, hp.seed, records[0]["tag"]) == (2, 500, 1, "tiny")
    rows = sweeps.rank(records)
    assert rows[0]["name"] == "iter5-tiny_seed1" and rows[0]["levers"] == {"train_subset": 256}
    assert rows[0]["val_acc"] == 100 * history[-1]["val_acc"]
    assert "| iter5-tiny_seed1 | 9,074 | train_subset=256 |" in sweeps.render_ranking(rows)
    # extended search: the recorded run is read back, not retrained
    mtime = (tmp_path / "iter5-tiny_seed1.json").stat().st_mtime_ns
    again = sweeps.search(candidates, epochs=2, val_size=500, out_dir=tmp_path, device="cpu",
                          progress=False)
    assert again == records and (tmp_path / "iter5-tiny_seed1.json").stat().st_mtime_ns == mtime


def test_search_accepts_a_list_of_tagged_settings(tmp_path):
    """Several models can share one recipe's tag when the candidates come as a list."""
    candidates = [{"model": m, "tag": "same", "train_subset": 128} for m in ("iter5", "iter6")]
    records = sweeps.search(candidates, epochs=1, val_size=200, out_dir=tmp_path, device="cpu",
                            progress=False)
    assert [r["name"] for r in records] == ["iter5-same_seed1", "iter6-same_seed1"]


def test_rank_orders_by_validation_then_size():
    record = lambda name, params, acc: {"name": name, "model": "iter5", "params": params,
                                        "hparams": asdict(HParams(model="iter5")),
                                        "history": [{"val_acc": acc, "val_loss": 0.1}]}
    rows = sweeps.rank([record("a", 200, 0.99), record("b", 100, 0.99), record("c", 50, 0.98)])
    assert [r["name"] for r in rows] == ["b", "a", "c"]


def test_ablation_measures_each_lever_and_refuses_unknown_runs():
    """Each step's difference is after minus before, in points of validation accuracy."""
    rec = [{"name": n, "history": [{"val_acc": a}]} for n, a in (("a", 0.990), ("b", 0.9925))]
    rows = sweeps.ablation(rec, [("lever x", "a", "b")])
    assert rows[0]["delta"] == pytest.approx(0.25)
    assert "+0.25" in sweeps.render_ablation(rows)
    with pytest.raises(ValueError, match="no recorded proxy run named c"):
        sweeps.ablation(rec, [("lever y", "a", "c")])


# --- the frontier's experiments against results/ ------------------------------------------------


def _planned_search() -> dict[str, dict]:
    """run name -> asdict(hparams) of every proxy run plans defines (both stages)."""
    planned = {}
    stages = ((plans.frontier_stage1(), plans.PROXY_EPOCHS), (plans.frontier_stage2(), 20))
    for stage, epochs in stages:
        for c in stage:
            # a candidate's levers apply to the original recipe, not to the model's own
            hp = HParams.from_flat({**{k: v for k, v in c.items() if k != "tag"}, "epochs": epochs,
                                    "val_size": 5000, "seed": 1})
            planned[run_name(hp, c["tag"])] = asdict(hp)
    return planned


def test_search_results_are_the_planned_proxy_runs():
    """results/search holds exactly the proxy runs plans.frontier_stage1/2 define, each with the
    settings the plan gives it."""
    planned = _planned_search()
    recorded = load_runs(plans.SEARCH_DIR)
    assert {r["name"] for r in recorded} == set(planned)
    for r in recorded:
        assert r["hparams"] == planned[r["name"]], r["name"]


def test_ranking_md_lists_the_recorded_proxy_runs():
    """results/search/ranking.md (written by plans.run_frontier_search) names exactly the
    recorded proxy runs, under their current names."""
    text = (plans.SEARCH_DIR / "ranking.md").read_text()
    named = {line.split("|")[1].strip() for line in text.splitlines()
             if line.startswith("| ") and not line.startswith("| run ")}
    assert named == {r["name"] for r in load_runs(plans.SEARCH_DIR)}


def test_ablation_steps_compare_recorded_proxy_runs():
    """Every step of notebook 07's ablation table names two recorded proxy runs (seed 1)."""
    rows = sweeps.ablation(load_runs(plans.SEARCH_DIR), plans.ABLATION_STEPS)
    assert len(rows) == len(plans.ABLATION_STEPS)
    assert all(r["before"] != r["after"] for r in rows)


def test_ablation_runs_are_the_crossed_full_runs():
    """results/ablation holds full-length runs of exactly the crossed recipes/models that
    plans.crossed_runs defines (what notebook 07's recipe-or-architecture table reads)."""
    planned = {run_name(hp, tag): (asdict(hp), tag) for hp, tag in plans.crossed_runs()}
    recorded = load_runs(RESULTS_DIR / "ablation")
    assert {r["name"] for r in recorded} == set(planned)
    for r in recorded:
        assert len(r["history"]) == 20 and (r["hparams"], r["tag"]) == planned[r["name"]], r["name"]
    # the two halves really cross: f8a with the original recipe, iter6 with the frontier one
    assert {hp.model: hp.levers() for hp, _ in plans.crossed_runs()} == {
        "f8a": {}, "iter6": {"schedule": "onecycle", "lr": 0.01}}
