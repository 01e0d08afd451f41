"""The generated parts of the README and of the docs/ pages against the recorded runs: tables,
headlines, goals, figures, markers."""
import json
import re
import shutil

import pytest

from effmnist_utils import report
from effmnist_utils.core.config import RESULTS_DIR, RUNS_DIR, HParams
from effmnist_utils.core.record import load_runs
from effmnist_utils.studies.results_tables import check_params, render_table, summarise_runs
from helpers import ROOT

OWNED = [(page, marker) for page, markers in report.PAGES.items() for marker in markers]


def _block(marker: str, text: str) -> str:
    block = text.split(f"<!-- {marker}:start -->", 1)[1]
    return block.split(f"<!-- {marker}:end -->", 1)[0].strip()


def _markers(text: str) -> list[str]:
    return re.findall(r"<!-- ([a-z-]+):start -->", text)


@pytest.fixture(scope="module")
def runs():
    runs = load_runs(RUNS_DIR)
    if not runs:
        pytest.fail(f"no recorded runs in {RUNS_DIR}: the README's table has nothing to come from")
    return runs


@pytest.fixture(scope="module")
def generated():
    return report.tables()


def test_every_page_holds_exactly_the_blocks_report_owns_there(generated):
    """Each page of report.PAGES has each of its markers once, and no other; no other markdown
    file of the README or docs/ has markers (a block report does not own would go stale), and
    report renders exactly the blocks the pages own (one it renders with no page never shows)."""
    pages = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
    found = {p.relative_to(ROOT).as_posix(): _markers(p.read_text()) for p in pages}
    assert {page: m for page, m in found.items() if m} == {page: list(m) for page, m in report.PAGES.items()}
    for page, markers in report.PAGES.items():
        text = (ROOT / page).read_text()
        assert all(text.count(f"<!-- {m}:end -->") == 1 for m in markers), page
    assert sorted(generated) == sorted(m for _, m in OWNED)
    assert {"results-table", "goals-table", "bench-table", "frontier-headline"} <= set(generated)


@pytest.mark.parametrize("page, marker", OWNED, ids=[f"{p}:{m}" for p, m in OWNED])
def test_page_blocks_are_generated_from_the_results_files(page, marker, generated):
    """Each committed block equals the one the results files give (run `python -m effmnist_utils
    report` after new runs)."""
    assert _block(marker, (ROOT / page).read_text()) == generated[marker]


def test_report_twice_leaves_every_page_and_figure_byte_identical(tmp_path):
    """`report` on a copy of the committed pages rewrites them as they are committed, and a second
    run changes no byte of any page or figure it writes."""
    for page in report.PAGES:
        (tmp_path / page).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / page, tmp_path / page)
    figures = tmp_path / "figures"
    figures.mkdir()
    written = report.write_report(tmp_path, figures=figures)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written if p.suffix == ".md") == sorted(report.PAGES)
    first = {p: p.read_bytes() for p in written}
    assert {p.relative_to(tmp_path).as_posix(): b for p, b in first.items() if p.suffix == ".md"} == {
        page: (ROOT / page).read_bytes() for page in report.PAGES}
    assert report.write_report(tmp_path, figures=figures) == written
    assert {p: p.read_bytes() for p in written} == first


def test_results_table_comes_from_the_runs(runs, generated):
    """The results table has one row per recorded model, in registry order, with its size and
    mean final accuracy over its seeds, and the original study's column."""
    lines = generated["results-table"].splitlines()
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
             "ratio_vs_reference": {"reference": 1.0, "fast": 2.5, "fast+keep+bf16": 3.21},
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
    """No page is generated from a results file whose model has another size, nor from
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
    (tag `robust`, as plan robust trains them), or a search's finalists (its trial's recipe, as
    plan search-finalists trains them), are in the table: no smoke or proxy runs."""
    from effmnist_utils.core.config import RESULTS_DIR
    from effmnist_utils.studies.plans import get, robust

    finalists = {p.name: p.hp for p in robust.finalists(RESULTS_DIR)}  # tagged "robust": its recipe
    searched = {p.name: p.hp for p in get("search-finalists").runs(RESULTS_DIR)}  # no tag: a layer string
    for r in runs:
        hp = HParams.from_dict(r["hparams"])
        assert hp.optim.epochs == len(r["history"]) == 20, r["name"]
        assert hp.train_subset == 0 and hp.val_size == 0 and r["tag"] in ("", "robust"), r["name"]
        own = searched.get(r["name"]) or HParams.for_model(r["model"], seed=r["seed"])
        assert hp == (finalists[r["name"]] if r["tag"] else own), r["name"]


def test_summary_refuses_mixed_recipes(runs):
    """Runs of one model trained with different recipes are not averaged together."""
    other = json.loads(json.dumps(runs[0]))
    other["hparams"]["optim"]["lr"] *= 2
    with pytest.raises(ValueError, match="different recipes"):
        summarise_runs([runs[0], other])


def test_summary_groups_seeds_recorded_before_a_setting_existed(runs):
    """A seed recorded before a setting was added (its hparams lack the key) and one recorded
    after (the key at its default) are the same recipe and average together."""
    base = next(r for r in runs if r["model"] == "iter6")  # the newest settings at their defaults
    new = dict(base, hparams=HParams.from_dict(base["hparams"]).to_dict())  # every key
    old = json.loads(json.dumps(new))
    for group in ("optim", "augment"):
        old["hparams"][group].pop(next(reversed(old["hparams"][group])))  # the newest setting
    old["hparams"].pop("allocator")
    old["seed"], old["name"] = 9, f"{base['name'].rsplit('_seed', 1)[0]}_seed9"
    (row,) = summarise_runs([new, old])
    assert row["n"] == 2 and row["seeds"] == sorted([base["seed"], 9])


def _page(root, name: str, *markers: str, body: str = "") -> str:
    text = f"intro {name}\n" + "".join(f"<!-- {m}:start -->\n{body}\n<!-- {m}:end -->\nmiddle\n" for m in markers)
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_text(text + "end\n")
    return text + "end\n"


def test_write_report_fills_each_pages_markers_and_draws_the_figure(tmp_path, runs):
    """`report` replaces only the text between each page's markers and saves the figure; a page
    without one of its markers, a missing page, or a marker with no results to come from is
    refused with a message naming it, and no page is written (nothing half-written)."""
    run_dir, figures = tmp_path / "runs", tmp_path / "figures"
    run_dir.mkdir(), figures.mkdir()
    for r in runs[:2]:
        (run_dir / f"{r['name']}.json").write_text(json.dumps(r))
    no_bench = tmp_path / "no-results"  # no bench/ under it: no speed table, no markers needed
    pages = {"README.md": ("iterations-headline",), "docs/a.md": ("results-table", "goals-table")}
    _page(tmp_path, "README.md", "iterations-headline", body="old headline")
    _page(tmp_path, "docs/a.md", "results-table", "goals-table", body="old table")
    written = report.write_report(tmp_path, run_dir, no_bench, figures, pages)
    text = (tmp_path / "docs/a.md").read_text()
    assert _block("results-table", text) == render_table(summarise_runs(runs[:2]))
    assert "old table" not in text and "old headline" not in (tmp_path / "README.md").read_text()
    assert text.startswith("intro docs/a.md\n") and "\nmiddle\n" in text and text.endswith("end\n")
    assert written[:2] == [tmp_path / "README.md", tmp_path / "docs/a.md"]
    assert (figures / "params_vs_accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    for broken, match in ((dict(pages, **{"docs/a.md": ("results-table", "raised-goals-table")}),
                           "docs/a.md lacks the markers <!-- raised-goals-table:start -->"),
                          (dict(pages, **{"docs/b.md": ("goals-table",)}), "docs/b.md is missing"),
                          (dict(pages, **{"docs/a.md": ("bench-table",)}),
                           "block bench-table has nothing to come from")):
        before = {p: (tmp_path / p).read_text() for p in pages}
        (tmp_path / "README.md").write_text("changed by hand\n<!-- iterations-headline:start -->\n"
                                            "<!-- iterations-headline:end -->\n")
        before["README.md"] = (tmp_path / "README.md").read_text()
        with pytest.raises(ValueError, match=match):
            report.write_report(tmp_path, run_dir, no_bench, figures, broken)
        assert {p: (tmp_path / p).read_text() for p in pages} == before  # README not written either


def test_replace_block_keeps_everything_outside_the_markers():
    text = "a\n<!-- t:start -->\nold\n<!-- t:end -->\nb <!-- t:start --> stays\n"
    assert report.replace_block(text, "t", "new", "x") == (
        "a\n<!-- t:start -->\nnew\n<!-- t:end -->\nb <!-- t:start --> stays\n")
    with pytest.raises(ValueError, match=r"README\.md lacks the markers <!-- u:start -->"):
        report.replace_block(text, "u", "new", "README.md")


def test_write_report_draws_the_levers_figure_where_the_levers_are_recorded(tmp_path, runs):
    """With the frontier levers' runs under results_dir, `report` fills their table's marker and
    draws levers/levers.png under the figures' folder."""
    from effmnist_utils.studies.plans import frontier

    run_dir, results = tmp_path / "runs", tmp_path / "results"
    run_dir.mkdir()
    (run_dir / f"{runs[0]['name']}.json").write_text(json.dumps(runs[0]))
    shutil.copytree(RESULTS_DIR / frontier.LEVERS_PLAN.folder, results / frontier.LEVERS_PLAN.folder,
                    ignore=shutil.ignore_patterns("*.pt", "*.png"))
    _page(tmp_path, "frontier.md", "levers-table")
    folder = results / frontier.LEVERS_PLAN.folder
    for seed, acc in zip((1, 2, 3), (0.91, 0.92, 0.96)):  # doctored in the copy: a mean of 93.00 %
        path = folder / f"f8a-kd5-v10k_seed{seed}.json"
        record = json.loads(path.read_text())
        record["history"][-1]["val_acc"] = acc
        path.write_text(json.dumps(record))
    before = sum(json.loads((folder / f"f8a-v10k_seed{s}.json").read_text())["history"][-1]["val_acc"]
                 for s in (1, 2, 3)) / 3 * 100
    report.write_report(tmp_path, run_dir, results, pages={"frontier.md": ("levers-table",)})
    rows = _block("levers-table", (tmp_path / "frontier.md").read_text()).splitlines()
    assert len(rows) == 2 + len(frontier.LEVER_TABLE_STEPS)
    (kd,) = [row for row in rows if "| f8a-v10k → f8a-kd5-v10k |" in row]
    assert f"| {before:.2f} % | 93.00 % | {93 - before:+.2f} | 1, 2, 3 → 1, 2, 3 |" in kd, kd
    assert (results / frontier.LEVERS_PLAN.folder / "levers.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_goal_to_pass_is_not_met_by_reaching_it():
    """Under a budget whose goal is to pass a result (report.BEAT), a mean equal to the target
    misses it and one above it meets it; the same mean reaches an ordinary goal."""
    (budget,) = report.BEAT
    row = {"model": "m", "params": 100, "n": 5, "final_mean": 99.52, "final_std": 0.1}
    pick = {budget: {"model": "m"}, 5_000: {"model": "m"}}
    table = report.render_goals([row], goals=[(budget, 99.52)], chosen=pick)
    assert f"| < {budget:,} | > 99.52 % |" in table and table.endswith("| no |")
    assert report.render_goals([dict(row, final_mean=99.524)], goals=[(budget, 99.52)], chosen=pick).endswith("| yes |")
    assert report.render_goals([row], goals=[(5_000, 99.52)], chosen=pick).endswith("| yes |")


def test_goals_table_judges_the_chosen_models_mean():
    """A goal counts as met only when the unrounded mean reaches it (99.597 % shows as 99.60 %
    but misses 99.60 %) over at least the table's seeds; the model is the one chosen on
    validation, never the best test mean."""
    row = {"model": "m", "params": 100, "n": 3, "final_mean": 99.597, "final_std": 0.1}
    pick = {200: {"model": "m"}}
    assert report.render_goals([row], goals=[(200, 99.60)], chosen=pick).endswith("| no |")
    assert report.render_goals([dict(row, final_mean=(99.58 + 99.60 + 99.62) / 3)],
                               goals=[(200, 99.60)], chosen=pick).endswith("| yes |")
    assert report.render_goals([row], goals=[(200, 99.0)], min_seeds=5, chosen=pick).endswith("| not judged: 3 of 5 seeds |")
    assert report.render_goals([dict(row, n=5)], goals=[(200, 99.0)], min_seeds=5, chosen=pick).endswith("(5 seeds) | yes |")
    assert "none chosen on validation" in report.render_goals([row], goals=[(200, 99.0)], chosen={200: {"model": None}})
    assert "m: no run on all 60,000 images" in report.render_goals([], goals=[(200, 99.0)], chosen=pick)
    better = dict(row, model="b", final_mean=99.9)  # a higher test mean under the same budget
    (line,) = report.render_goals([better, row], goals=[(200, 99.0)], chosen=pick).splitlines()[2:]
    assert line.startswith("| < 200 | ≥ 99.00 % | m | 100 | 99.60 ± 0.10 %") and "99.90" not in line


def _doctor(path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, (path, old)
    path.write_text(text.replace(old, new))


def test_search_block_changes_when_a_trial_record_changes(tmp_path):
    """The searches' table and headline come from the journals and trial records: a trial of
    frontier-8k recorded at 99.90 % instead (journal and record both) becomes its search's best,
    beating the budget's model by name; doctored in the journal alone, the two disagree and the
    block is refused."""
    from effmnist_utils import search_blocks

    shutil.copytree(RESULTS_DIR / "searches", tmp_path / "searches", ignore=shutil.ignore_patterns("*.pt", "*.png"))
    rows = search_blocks.search_rows(tmp_path)
    table, headline = search_blocks.search_table(rows), search_blocks.search_headline(rows)
    assert [r["search"] for r in rows] == [n for n in search_blocks.FRONTIER_SEARCHES  # those recorded
                                          if (RESULTS_DIR / search_blocks.SEARCHES[n].folder / "journal.log").is_file()]
    assert "frontier-1k-pop" in [r["search"] for r in rows]
    folder = tmp_path / "searches" / "frontier-8k"
    (trial,) = [t for t in search_blocks.search_results.front(search_blocks.SEARCHES["frontier-8k"], root=tmp_path) if t["trial"] == 4]
    _doctor(folder / "journal.log", f'"trial_id":4,"state":1,"values":[{trial["val_acc"]}]',
            '"trial_id":4,"state":1,"values":[0.999]')
    with pytest.raises(ValueError, match=f"{trial['run']}.json end at validation accuracy .* the two disagree"):
        search_blocks.search_rows(tmp_path)
    record = json.loads((folder / "trials" / f"{trial['run']}.json").read_text())
    record["history"][-1]["val_acc"] = 0.999
    (folder / "trials" / f"{trial['run']}.json").write_text(json.dumps(record))
    rows = search_blocks.search_rows(tmp_path)
    changed = search_blocks.search_table(rows)
    assert changed != table and search_blocks.search_headline(rows) != headline
    (row,) = [line for line in changed.splitlines() if line.startswith("| frontier-8k |")]
    assert f"[`{trial['model']}`](../results/searches/frontier-8k/trials/{trial['run']}.json)" in row
    assert f"| {trial['params']:,} | 99.90 % | trial 4: +" in row and "over the first trial" in row
    assert "none has yet beaten" not in search_blocks.search_headline(rows)
    assert f"frontier-8k's trial 4 (`{trial['model']}`" in search_blocks.search_headline(rows)


def test_a_search_whose_first_trial_is_under_way_is_listed_as_such(tmp_path):
    """A search started as the report is made (its journal holds no finished trial yet) gets a
    row that says so, and no best trial; the report does not stop on it."""
    from effmnist_utils import search_blocks
    from effmnist_utils.studies.search.storage import load_study, open_storage

    search = search_blocks.SEARCHES["frontier-700-pop"]
    folder = tmp_path / search.folder
    study = load_study(search, open_storage(None, folder), create=True)
    study.ask()  # a trial started, not finished
    (row,) = search_blocks.search_rows(tmp_path)
    assert row["search"] == search.name and row["best"] is None and row["complete"] == 0
    table = search_blocks.search_table([row])
    assert "| frontier-700-pop | < 700 | 0 | 0 | 0 |" in table and "has not finished" in table
    assert "none has yet beaten" in search_blocks.search_headline([row])


def test_page_limits_say_where_the_threshold_comes_from():
    """The threshold and its source as recorded: a held-out twin is named and linked; a run
    scored on digits it trained on is said to be so; a changed threshold changes the block."""
    base = {"pen": 2.35, "max_ink": 0.2, "refused": {"small": 0, "marks": 3}, "percentile": 1}
    twin = report.page_limits(dict(base, confidence={"f8a_seed1": {
        "threshold": 0.9, "from": "levers/f8a-v10k_seed1", "images": 10_000, "seen_in_training": False}}))
    assert "below a top probability of 90.0 %: the 1st percentile" in twin
    assert "[`levers/f8a-v10k_seed1`](../results/levers/f8a-v10k_seed1.json)" in twin
    assert "10,000 validation images it never saw" in twin and "trained on" not in twin
    own = report.page_limits(dict(base, confidence={"f8a_seed1": {"threshold": 0.85, "seen_in_training": True}}))
    assert "85.0 %" in own and "which it trained on" in own


def test_throughput_table_includes_the_calls_not_recorded():
    """The first session's GPU call left no line in calls.jsonl: rebuilt from the journal and the
    trial records, it completes every search's count of trials trained to the end, and the
    throughput table shows it, marked as not recorded."""
    from effmnist_utils import search_blocks
    from effmnist_utils.studies.search import results as search_results
    from effmnist_utils.studies.search.spaces import SEARCHES

    recorded = [n for n in search_blocks.FRONTIER_SEARCHES if (RESULTS_DIR / SEARCHES[n].folder / "journal.log").is_file()]
    unrecorded = 0
    for name in recorded:
        search = SEARCHES[name]
        calls = search_results.calls(search) + search_results.unrecorded_calls(search)
        assert sum(c["complete"] for c in calls) == search_results.counts(search)["complete"], name
        unrecorded += len(search_results.unrecorded_calls(search))
    (gpu,) = search_results.unrecorded_calls(SEARCHES["frontier-20k"])
    assert gpu["machine"] == "cuda (NVIDIA H200)" and (gpu["complete"], gpu["pruned"], gpu["over_budget"]) == (3, 1, 1)
    table = search_blocks.throughput_table()
    assert table.count("(call not recorded: from the journal and trial records)") == unrecorded > 0
