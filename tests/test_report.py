"""The README's generated parts against the recorded runs: tables, goals, figure, markers."""
import json
import re

import pytest

from effmnist_utils import report
from effmnist_utils.core.config import RESULTS_DIR, RUNS_DIR, HParams
from effmnist_utils.core.record import load_runs
from effmnist_utils.studies.tables import check_params, render_table, summarise_runs
from helpers import ROOT

README = (ROOT / "README.md").read_text()
MARKERS = sorted(re.findall(r"<!-- ([a-z-]+):start -->", README))


def _readme_block(marker: str, text: str | None = None) -> str:
    text = (ROOT / "README.md").read_text() if text is None else text
    block = text.split(f"<!-- {marker}:start -->", 1)[1]
    return block.split(f"<!-- {marker}:end -->", 1)[0].strip()


@pytest.fixture(scope="module")
def runs():
    runs = load_runs(RUNS_DIR)
    if not runs:
        pytest.fail(f"no recorded runs in {RUNS_DIR}: the README's table has nothing to come from")
    return runs


def test_tables_are_generated_for_every_marker():
    """report.tables() renders exactly the generated parts the README has markers for (a table
    without markers would never reach the README; markers without a table would go stale)."""
    assert {"results-table", "goals-table", "bench-table"} <= set(MARKERS)
    assert len(MARKERS) == len(set(MARKERS)) and all(
        README.count(f"<!-- {m}:end -->") == 1 for m in MARKERS)
    assert sorted(report.tables()) == MARKERS


@pytest.mark.parametrize("marker", MARKERS)
def test_readme_tables_are_generated_from_the_results_files(marker):
    """Each committed table equals the one the results files give (run `python -m effmnist_utils
    report` after new runs)."""
    assert _readme_block(marker) == report.tables()[marker]


def test_results_table_comes_from_the_runs(runs):
    """The results table has one row per recorded model, in registry order, with its size and
    mean final accuracy over its seeds, and the original study's column."""
    lines = report.tables()["results-table"].splitlines()
    assert "| original study (1 run) |" in lines[0]
    rows = summarise_runs(runs)
    assert [line.split(" | ")[0] for line in lines[2:]] == [f"| {r['model']}" for r in rows]
    for line, row in zip(lines[2:], rows):
        assert line.startswith(f"| {row['model']} | {row['params']:,} |")
        assert f" | {row['final_mean']:.2f} ± {row['final_std']:.2f} % | " in line, line


def test_speed_table_shows_each_benchmark_files_rates(runs, tmp_path):
    """The speed table comes from results_dir/bench/: per benchmark file a row with its device
    and CPU, the original pipeline's rate, each other variant's rate and its ratio to the
    original ("—" where not measured) and both evaluation rates; without bench/, no table."""
    run_dir, results = tmp_path / "runs", tmp_path / "results"
    (results / "bench").mkdir(parents=True)
    run_dir.mkdir()
    (run_dir / f"{runs[0]['name']}.json").write_text(json.dumps(runs[0]))
    bench = {"model": "iter6", "device": "cpu (x86_64, 2 threads)", "cpu": "Some CPU",
             "train_img_per_s": {"reference": 1000.0, "fast": 2500.0, "fast+keep+bf16": 3210.0},
             "eval_img_per_s": {"1000": 3000.0, "256": 12345.6}}
    (results / "bench" / "bench_iter6_cpu.json").write_text(json.dumps(bench))
    lines = report.tables(run_dir, results)["bench-table"].splitlines()
    assert lines[0].startswith("| device | model | original pipeline (img/s) | original+keep (img/s, × original) "
                               "| fast (img/s, × original) |")
    assert lines[2:] == ["| cpu (x86_64, 2 threads), Some CPU | iter6 | 1,000 | — | 2,500 (2.50×) | — | — | "
                         "3,210 (3.21×) | 3,000 / 12,346 |"]
    assert "bench-table" not in report.tables(run_dir, tmp_path / "no-results")


def test_table_changes_when_a_result_changes(runs):
    """The comparison above can fail: a doctored accuracy gives a different table."""
    doctored = [dict(r) for r in runs]
    doctored[0]["final_test_acc"] -= 0.01
    assert render_table(summarise_runs(doctored)) != render_table(summarise_runs(runs))


def test_recorded_parameter_counts_match_the_models(runs):
    """Every results file's parameter count is the count of the model it names."""
    assert check_params(runs) == []
    doctored = dict(runs[0], params=runs[0]["params"] + 1)
    assert len(check_params([doctored])) == 1


def test_tables_refuse_wrong_parameter_counts_and_no_runs(runs, tmp_path):
    """The README is not generated from a results file whose model has another size, nor from
    an empty run folder."""
    bad = dict(runs[0], params=runs[0]["params"] + 1)
    (tmp_path / f"{bad['name']}.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=f"parameter counts disagree.*{bad['name']}"):
        report.tables(tmp_path, tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no recorded runs"):
        report.tables(tmp_path / "empty", tmp_path)


def test_recorded_runs_are_full_runs_of_the_models_recipe(runs):
    """Only full-length runs on all 60k images, each with its model's own recipe (the original's
    for the iterations, RECIPES for the frontier) and no tag, or the robust recipe's finalists
    (tag `robust`, as plan robust trains them), are in the table: no smoke or proxy runs."""
    from effmnist_utils.core.config import RESULTS_DIR
    from effmnist_utils.studies.plans import robust

    finalists = {p.name: p.hp for p in robust.finalists(RESULTS_DIR)}  # tagged "robust": its recipe
    for r in runs:
        hp = HParams.from_dict(r["hparams"])
        assert hp.optim.epochs == len(r["history"]) == 20, r["name"]
        assert hp.train_subset == 0 and hp.val_size == 0 and r["tag"] in ("", "robust"), r["name"]
        assert hp == (finalists[r["name"]] if r["tag"] else HParams.for_model(r["model"], seed=r["seed"])), r["name"]


def test_summary_refuses_mixed_recipes(runs):
    """Runs of one model trained with different recipes are not averaged together."""
    other = json.loads(json.dumps(runs[0]))
    other["hparams"]["optim"]["lr"] *= 2
    with pytest.raises(ValueError, match="different recipes"):
        summarise_runs([runs[0], other])


def test_summary_groups_seeds_recorded_before_a_setting_existed(runs):
    """A seed recorded before a setting was added (its hparams lack the key) and one recorded
    after (the key at its default) are the same recipe and average together."""
    new = dict(runs[0], hparams=HParams.from_dict(runs[0]["hparams"]).to_dict())  # every key
    old = json.loads(json.dumps(new))
    for group in ("optim", "augment"):
        old["hparams"][group].pop(next(reversed(old["hparams"][group])))  # the newest setting
    old["hparams"].pop("allocator")
    old["seed"], old["name"] = 9, f"{runs[0]['name'].rsplit('_seed', 1)[0]}_seed9"
    (row,) = summarise_runs([new, old])
    assert row["n"] == 2 and row["seeds"] == sorted([runs[0]["seed"], 9])


def test_write_report_fills_the_markers_and_draws_the_figure(tmp_path, runs):
    """`report` replaces only the text between the markers and saves the figure; a README
    without the markers is refused with a message naming them, and is left as it was."""
    run_dir = tmp_path / "runs"
    run_dir.mkdir()
    for r in runs[:2]:
        (run_dir / f"{r['name']}.json").write_text(json.dumps(r))
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- results-table:start -->\nold table\n<!-- results-table:end -->\n"
                      "middle\n<!-- goals-table:start -->\nold goals\n<!-- goals-table:end -->\n"
                      "<!-- raised-goals-table:start -->\n<!-- raised-goals-table:end -->\nend\n")
    figure = tmp_path / "figure.png"
    no_bench = tmp_path / "no-results"  # no bench/ under it: no speed table, no markers needed
    table = report.write_report(readme, run_dir, no_bench, figure)
    text = readme.read_text()
    assert table == _readme_block("results-table", text) == render_table(summarise_runs(runs[:2]))
    assert "old table" not in text and "old goals" not in text
    assert text.startswith("intro\n") and "\nmiddle\n" in text and text.endswith("end\n")
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    only_results = "<!-- results-table:start -->\n<!-- results-table:end -->\n"
    for partial in ("no markers here\n", only_results):
        readme.write_text(partial)
        missing = "results-table:start" if "results" not in partial else "goals-table:start"
        with pytest.raises(ValueError, match=missing):
            report.write_report(readme, run_dir, no_bench, figure)
        assert readme.read_text() == partial  # nothing half-written


def test_replace_block_keeps_everything_outside_the_markers():
    text = "a\n<!-- t:start -->\nold\n<!-- t:end -->\nb <!-- t:start --> stays\n"
    assert report.replace_block(text, "t", "new", "x") == (
        "a\n<!-- t:start -->\nnew\n<!-- t:end -->\nb <!-- t:start --> stays\n")
    with pytest.raises(ValueError, match=r"README\.md lacks the markers <!-- u:start -->"):
        report.replace_block(text, "u", "new", "README.md")


def test_write_report_draws_the_levers_figure_where_the_levers_are_recorded(tmp_path, runs):
    """With the frontier levers' runs under results_dir, `report` fills their table's marker and
    draws results/levers/levers.png beside them."""
    import shutil

    from effmnist_utils.studies.plans import frontier

    run_dir, results = tmp_path / "runs", tmp_path / "results"
    run_dir.mkdir()
    (run_dir / f"{runs[0]['name']}.json").write_text(json.dumps(runs[0]))
    shutil.copytree(RESULTS_DIR / frontier.LEVERS_PLAN.folder, results / frontier.LEVERS_PLAN.folder,
                    ignore=shutil.ignore_patterns("*.pt", "*.png"))
    readme = tmp_path / "README.md"
    readme.write_text("".join(f"<!-- {m}:start -->\n<!-- {m}:end -->\n" for m in
                              ("results-table", "goals-table", "raised-goals-table", "levers-table")))
    folder = results / frontier.LEVERS_PLAN.folder
    for seed, acc in zip((1, 2, 3), (0.91, 0.92, 0.96)):  # doctored in the copy: a mean of 93.00 %
        path = folder / f"f8a-kd5-v10k_seed{seed}.json"
        record = json.loads(path.read_text())
        record["history"][-1]["val_acc"] = acc
        path.write_text(json.dumps(record))
    before = sum(json.loads((folder / f"f8a-v10k_seed{s}.json").read_text())["history"][-1]["val_acc"]
                 for s in (1, 2, 3)) / 3 * 100
    report.write_report(readme, run_dir, results, tmp_path / "figure.png")
    rows = _readme_block("levers-table", readme.read_text()).splitlines()
    assert len(rows) == 2 + len(frontier.LEVER_TABLE_STEPS)
    (kd,) = [row for row in rows if "| f8a-v10k → f8a-kd5-v10k |" in row]
    assert f"| {before:.2f} % | 93.00 % | {93 - before:+.2f} | 1, 2, 3 → 1, 2, 3 |" in kd, kd
    assert (results / frontier.LEVERS_PLAN.folder / "levers.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_readme_goals_table_judges_the_mean(runs):
    """A goal counts as met only when the unrounded mean reaches it (99.597 % shows as 99.60 %
    but misses 99.60 %), and only models with at least 3 seeds count."""
    row = {"model": "m", "params": 100, "n": 3, "final_mean": 99.597, "final_std": 0.1}
    assert report.render_goals([row], goals=[(200, 99.60)]).endswith("| no |")
    assert report.render_goals([dict(row, final_mean=(99.58 + 99.60 + 99.62) / 3)],
                               goals=[(200, 99.60)]).endswith("| yes |")
    assert "none recorded" in report.render_goals([dict(row, n=2)], goals=[(200, 99.60)])
    assert "none recorded" in report.render_goals([row], goals=[(100, 99.0)])  # not under budget
    assert "none recorded" in report.render_goals([row], goals=[(200, 99.0)], min_seeds=5)
    assert report.render_goals([dict(row, n=5)], goals=[(200, 99.0)], min_seeds=5).endswith("(5 seeds) | yes |")
