"""The README's results table and the reproduction sweep against the recorded runs."""
import json
import re
from pathlib import Path

import pytest

from effmnist_utils import study
from effmnist_utils.train import HParams

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "results" / "runs"


def _readme_table(start=study.TABLE_START, end=study.TABLE_END) -> str:
    text = (ROOT / "README.md").read_text()
    return text.split(start, 1)[1].split(end, 1)[0].strip()


@pytest.fixture(scope="module")
def runs():
    runs = study.load_runs(RUNS)
    if not runs:
        pytest.fail(f"no recorded runs in {RUNS}: the README's table has nothing to come from")
    return runs


def test_readme_table_is_generated_from_the_results_files(runs):
    """The committed table equals the one the results files give (run `report` after new runs)."""
    assert _readme_table() == study.render_table(study.summarise_runs(runs))


def test_readme_speed_table_is_generated_from_the_benchmark_files():
    """The speed table equals the one the recorded benchmark files give."""
    benches = study.load_benches(ROOT / "results" / "bench")
    assert benches, "no recorded benchmark in results/bench"
    assert _readme_table(study.BENCH_START, study.BENCH_END) == study.render_bench(benches)


def test_table_changes_when_a_result_changes(runs):
    """The comparison above can fail: a doctored accuracy gives a different table."""
    doctored = [dict(r) for r in runs]
    doctored[0]["final_test_acc"] -= 0.01
    assert study.render_table(study.summarise_runs(doctored)) != _readme_table()


def test_recorded_parameter_counts_match_the_models(runs):
    """Every results file's parameter count is the count of the model it names."""
    assert study.check_params(runs) == []
    doctored = dict(runs[0], params=runs[0]["params"] + 1)
    assert len(study.check_params([doctored])) == 1


def test_recorded_runs_are_full_runs_of_the_models_recipe(runs):
    """Only full-length runs on all 60k images, each with its model's own recipe (the seed's for
    the seed iterations, RECIPES for the frontier), are in the table: no smoke or proxy runs."""
    from dataclasses import asdict

    for r in runs:
        assert r["hparams"]["epochs"] == len(r["history"]) == 20, r["name"]
        assert r["hparams"]["train_subset"] == 0 and r["hparams"]["val_size"] == 0, r["name"]
        assert asdict(HParams.from_dict(r["hparams"])) == asdict(
            HParams.for_model(r["model"], seed=r["seed"])), r["name"]


def test_reproduce_skips_recorded_runs_and_resumes_unfinished_ones(tmp_path, monkeypatch):
    """Finished (model, seed) pairs are not retrained; a left-over checkpoint is resumed."""
    calls = []
    monkeypatch.setattr(study, "train_run",
                        lambda hp, device, data_dir, out_dir, resume, progress: calls.append(
                            (hp.model, hp.seed, resume)))
    (tmp_path / f"{HParams(model='iter5', seed=1).run_name()}.json").write_text("{}")
    (tmp_path / f"{HParams(model='iter5', seed=2).run_name()}.ckpt").write_text("")
    study.reproduce(models=["iter5"], seeds=[1, 2, 3], out_dir=tmp_path, progress=False)
    assert calls == [("iter5", 2, True), ("iter5", 3, False)]


def test_summary_refuses_mixed_recipes(runs):
    """Runs of one model trained with different recipes are not averaged together."""
    other = json.loads(json.dumps(runs[0]))
    other["hparams"]["lr"] *= 2
    with pytest.raises(ValueError, match="different recipes"):
        study.summarise_runs([runs[0], other])


def test_ablation_runs_are_the_crossed_full_runs():
    """results/ablation holds full-length runs of exactly the crossed recipes/models that
    tools/frontier_ablation.py defines (what notebook 07's recipe-or-architecture table reads)."""
    import importlib.util
    from dataclasses import asdict

    spec = importlib.util.spec_from_file_location("ablation", ROOT / "tools" / "frontier_ablation.py")
    ablation = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ablation)
    planned = {hp.run_name(): asdict(hp) for hp in ablation.runs()}
    recorded = study.load_runs(ROOT / "results" / "ablation")
    assert {r["name"] for r in recorded} == set(planned)
    for r in recorded:
        assert len(r["history"]) == 20 and asdict(HParams.from_dict(r["hparams"])) == planned[r["name"]]


def test_write_report_fills_the_markers_and_draws_the_figure(tmp_path, runs):
    """`report` replaces only the text between the markers and saves the figure; a README
    without the markers is refused with a message naming them."""
    run_dir = tmp_path / "runs"
    run_dir.mkdir()
    for r in runs[:2]:
        (run_dir / f"{r['name']}.json").write_text(json.dumps(r))
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{study.TABLE_START}\nold table\n{study.TABLE_END}\nend\n")
    figure = tmp_path / "figure.png"
    table = study.write_report(readme, run_dir, figure, bench_dir=tmp_path / "no-benches")
    text = readme.read_text()
    assert table in text and "old table" not in text and text.startswith("intro\n")
    assert text.endswith("end\n") and figure.stat().st_size > 0
    readme.write_text("no markers here\n")
    with pytest.raises(ValueError, match="results-table:start"):
        study.write_report(readme, run_dir, figure, bench_dir=tmp_path / "no-benches")


def test_readme_goals_table_is_generated_and_judges_the_mean(runs):
    """The README's frontier-goals table equals the generated one, and a goal counts as met only
    when the unrounded mean reaches it (99.597 % shows as 99.60 % but misses 99.60 %)."""
    rows = study.summarise_runs(runs)
    assert _readme_table(study.GOALS_START, study.GOALS_END) == study.render_goals(rows)
    row = {"model": "m", "params": 100, "n": 3, "final_mean": 99.597, "final_std": 0.1}
    assert study.render_goals([row], goals=[(200, 99.60)]).endswith("| no |")
    assert study.render_goals([dict(row, final_mean=(99.58 + 99.60 + 99.62) / 3)],
                              goals=[(200, 99.60)]).endswith("| yes |")
    assert "none recorded" in study.render_goals([dict(row, n=2)], goals=[(200, 99.60)])
