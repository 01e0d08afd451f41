"""Searches on Optuna, exercised for real: the spaces and their first trials, the budget, stale
trials, the command line's errors, and workers sharing one storage (a journal file, and a
PostgreSQL server where EFFMNIST_POSTGRES_URL names one)."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import optuna
import pytest
import torch

from effmnist_utils.__main__ import main
from effmnist_utils.core.config import HParams
from effmnist_utils.core.layernet import FRONTIER_SPECS, scale_widths
from effmnist_utils.core.place import RunPlace
from effmnist_utils.core.models import build_model, count_params, layer_receptive_fields, layers_name
from effmnist_utils.core.record import read_record
from effmnist_utils.studies.search import engine, results as search_results, spaces as searches
from effmnist_utils.studies.speedrun import CPU_RECIPE
from effmnist_utils.studies.search.storage import JOURNAL_GRACE_S, RETRIES, Retry, fail_stale, load_study, open_storage
from helpers import ROOT

TINY = searches.get("tiny-smoke")
OVER = "L.c8.s16.p.s32.s32.g"  # tiny-smoke's network over its budget
FRONTIERS = [s for s in searches.SEARCHES.values() if s.name.startswith("frontier-")]


def one_line_error(code, capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1, err
    return err[0]


def test_search_without_a_name_lists_them(capsys):
    assert main(["search"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert names == list(searches.SEARCHES)
    assert {"frontier-20k", "frontier-1k", "speedrun-cpu", "tiny-smoke"} <= set(names)


def test_an_unknown_search_is_one_line(capsys, tmp_path):
    line = one_line_error(main(["search", "frontier-3k", "--out-dir", str(tmp_path)]), capsys)
    assert "unknown search 'frontier-3k'" in line and "frontier-20k" in line


@pytest.mark.parametrize("url", ["nonsense://x", "postgresql://nobody:secret@127.0.0.1:1/none", "search.db"])
def test_a_bad_storage_is_one_line(url, capsys, tmp_path):
    line = one_line_error(main(["search", "tiny-smoke", "--storage", url, "--out-dir", str(tmp_path)]), capsys)
    assert "storage" in line and "secret" not in line, line
    assert not (tmp_path / TINY.folder / "trials").exists()  # nothing ran


def test_a_gpu_search_on_a_machine_without_one_is_one_line(capsys, tmp_path, monkeypatch):
    """The larger population searches run on a GPU only: without one, a line says so and
    nothing is written (no storage, no failed trials)."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    line = one_line_error(main(["search", "frontier-8k-pop", "--out-dir", str(tmp_path)]), capsys)
    assert "frontier-8k-pop runs on a GPU" in line and "tools/gpu_frontier.sh" in line
    assert list(tmp_path.iterdir()) == []


def test_a_timed_search_runs_with_one_worker(capsys, tmp_path):
    line = one_line_error(main(["search", "speedrun-cpu", "--workers", "2", "--out-dir", str(tmp_path)]), capsys)
    assert "--workers 1" in line


@pytest.mark.parametrize("search", FRONTIERS + [searches.get("speedrun-cpu")], ids=lambda s: s.name)
def test_the_first_trial_is_the_current_best(search):
    """Each search's first trial is its budget's current model with its own recipe (seed 1, on
    the split), under the budget: what the search must beat. Under a new budget it is the next
    budget's model narrowed, and under the others the model itself."""
    (first,) = search.first
    model, settings = search.suggest(optuna.trial.FixedTrial(first))
    hp = search.hparams(model, settings)
    if search.name.startswith("frontier-"):
        name = search.around
        own = layers_name(*FRONTIER_SPECS[name][::2])
        assert (model != own) == (search.budget in searches.NEW_BUDGETS)
        assert model == own or model == layers_name(*searches.narrowed(name, search.budget))
        assert hp == HParams.for_model(name, seed=1, val_size=10_000, epochs=20).with_(model=model)
    else:
        assert hp == CPU_RECIPE.with_(seed=1, val_size=5000)
    assert count_params(build_model(model)) < search.budget


@pytest.mark.parametrize("budget", searches.NEW_BUDGETS)
def test_a_new_budget_starts_from_the_widest_narrowing_that_fits(budget):
    """A new budget's first model is its parent's widths scaled down by the largest factor that
    fits: under the budget, while every larger factor is not. A model that fits stays itself."""
    search = searches.get(f"frontier-{searches.budget_tag(budget)}-pop")
    own, _, *norm = FRONTIER_SPECS[search.around]
    layers, norm = searches.narrowed(search.around, budget)

    def size(layer_string: str) -> int:
        return count_params(build_model(layers_name(layer_string, norm)))
    assert size(layers) < budget <= size(own)
    percent = max(p for p in range(1, 101) if scale_widths(own, p) == layers)
    assert percent < 100 and all(size(scale_widths(own, p)) >= budget for p in range(percent + 1, 101))
    assert searches.narrowed(search.around, 10 * budget) == (own, norm)
    assert scale_widths("c5 s16/2 p g", 50) == "c2 s8/2 p g"


@pytest.mark.parametrize("search", FRONTIERS, ids=lambda s: s.name)
def test_every_network_of_a_space_fits_and_names_itself(search):
    """Random draws of a frontier space: each network builds from its name, fits a 28x28 image,
    has valid settings, and `layer_params` gives back the draw's own parameters."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    over = 0
    for _ in range(60):
        trial = study.ask()
        model, settings = search.suggest(trial)
        net = build_model(model)
        assert layer_receptive_fields(net)[-1]["out"] >= 1
        hp = search.hparams(model, settings)
        assert hp.optim.schedule == "onecycle" and hp.val_size == 10_000 and hp.optim.epochs == 20
        layers = search.suggest.layers(optuna.trial.FixedTrial(trial.params))
        expected = {k: v for k, v in trial.params.items() if k not in searches.RECIPE_PARAMS}
        assert searches.layer_params(*layers) == expected
        over += count_params(net) >= search.budget
        study.tell(trial, 0.0)
    assert over < 40  # most random draws are under the budget


def test_a_model_over_budget_is_pruned_before_any_training(tmp_path, monkeypatch):
    """Over the budget: pruned, with its parameter count and no file; train_run is never called."""
    monkeypatch.setattr(engine, "train_run", lambda *a, **k: pytest.fail("a trial over budget trained"))
    folder = tmp_path / TINY.folder
    study = load_study(TINY, open_storage(None, folder), create=True)
    study.enqueue_trial({"model": OVER})
    engine.work(TINY, None, 1, RunPlace("cpu", out_dir=folder, progress=False, log=lambda msg: None))
    (trial,) = study.get_trials()
    assert trial.state.name == "PRUNED" and trial.user_attrs["over_budget"]
    assert trial.user_attrs["params"] == count_params(build_model(OVER)) >= TINY.budget
    assert trial.intermediate_values == {} and not (folder / "trials").exists()


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # trials asked by hand, not optimize
@pytest.mark.parametrize("database", [False, True], ids=["journal", "sqlite"])
def test_stale_trials_fail_and_are_enqueued_again(database, tmp_path):
    """A RUNNING trial whose worker process on this host is gone is failed and its parameters
    enqueued again, its checkpoint (or its population's) kept for the repeat; a live worker's is
    left. Another host's trial is judged by its heartbeat: the journal's own, or a database's
    (Optuna's). A trial whose worker was lost `RETRIES` times is not enqueued again, and its
    checkpoint goes; one stopped by hand always is."""
    folder, host = tmp_path / "s", socket.gethostname()
    storage = open_storage(f"sqlite:///{tmp_path / 'db.sqlite'}" if database else None, folder)
    study = load_study(TINY, storage, create=True)
    old = time.time() - 2 * JOURNAL_GRACE_S
    workers = {"dead": (f"{host}:{dead_pid()}", time.time()), "alive": (f"{host}:{os.getpid()}", old),
               "elsewhere-silent": ("elsewhere:1", old), "elsewhere-heard": ("elsewhere:2", time.time())}
    trials = {}
    for what, (worker, heartbeat) in workers.items():
        trial = study.ask()
        trial.suggest_categorical("model", ("L.c4.p.s8.g", "L.c4.s8.p.s8.g"))
        for key, value in (("worker", worker), ("heartbeat", heartbeat), ("run", f"r{trial.number}")):
            trial.set_user_attr(key, value)
        trials[what] = trial.number
    (folder / "trials").mkdir(parents=True)
    (folder / "trials" / f"r{trials['dead']}.ckpt").write_text("")
    for what in ("dead", "alive"):  # a population trial's checkpoint (population_runs.checkpoint_path)
        (folder / "trials" / f"r{trials[what]}_seeds1-2-3-4.ckpt").write_text("")
    expected = {"dead"} | (set() if database else {"elsewhere-silent"})
    assert sorted(fail_stale(study, storage, folder, log=lambda msg: None)) == sorted(trials[w] for w in expected)
    by_number = {t.number: t for t in study.get_trials()}
    for what, number in trials.items():
        assert by_number[number].state.name == ("FAIL" if what in expected else "RUNNING"), what
    retries = [t for t in by_number.values() if t.state.name == "WAITING"]
    assert sorted(t.system_attrs["retry_history"] for t in retries) == sorted([trials[w]] for w in expected)
    for t in retries:
        assert t.system_attrs["fixed_params"] == by_number[t.system_attrs["retry_history"][0]].params
    assert (folder / "trials" / f"r{trials['dead']}.ckpt").exists()
    assert (folder / "trials" / f"r{trials['dead']}_seeds1-2-3-4.ckpt").exists()
    assert (folder / "trials" / f"r{trials['alive']}_seeds1-2-3-4.ckpt").exists()
    assert fail_stale(study, storage, folder, log=lambda msg: None) == []  # once only
    dead = by_number[trials["dead"]]
    tired = optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, params=dead.params,
                                      distributions=dead.distributions, user_attrs=dead.user_attrs,
                                      system_attrs={"retry_history": list(range(RETRIES)), "lost": RETRIES})
    waiting = len(study.get_trials(states=(optuna.trial.TrialState.WAITING,)))
    assert Retry(folder, stopped=True)(study, tired) is True  # stopping it is not losing its worker
    assert Retry(folder)(study, tired) is False
    assert len(study.get_trials(states=(optuna.trial.TrialState.WAITING,))) == waiting + 1
    assert not (folder / "trials" / f"r{trials['dead']}.ckpt").exists()
    assert not (folder / "trials" / f"r{trials['dead']}_seeds1-2-3-4.ckpt").exists()


def cli(*args, cwd, **kw):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "effmnist_utils", "search", "tiny-smoke", "--device", "cpu", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=600, **kw)


def check_finished(study, folders, total, workers=1):
    """`total` (or, racing at the end, up to `workers` - 1 more) finished trials, none left
    running or failed, each complete one recorded once, in one of `folders`, as the trial says."""
    trials = study.get_trials()
    states = [t.state.name for t in trials]
    assert total <= states.count("COMPLETE") + states.count("PRUNED") <= total + workers - 1, states
    assert set(states) <= {"COMPLETE", "PRUNED", "FAIL"} and "RUNNING" not in states
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    runs = [t.user_attrs["run"] for t in complete]
    assert len(set(runs)) == len(runs) and len({t.number for t in trials}) == len(trials)
    for t in complete:
        (path,) = [f / "trials" / f"{t.user_attrs['run']}.json" for f in folders
                   if (f / "trials" / f"{t.user_attrs['run']}.json").is_file()]
        record = read_record(path)
        assert record.hp == TINY.hparams(t.user_attrs["model"], t.user_attrs["settings"])
        assert record["history"][-1]["val_acc"] == t.value and "final_test_acc" not in record
        assert path.with_suffix(".pt").is_file()
    for f in folders:
        assert not list(f.rglob("*.ckpt"))
    return trials


@pytest.mark.slow
def test_two_workers_share_a_journal(tmp_path):
    result = cli("--trials", "6", "--workers", "2", "--out-dir", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "trials per hour" in result.stdout
    folder = tmp_path / TINY.folder
    trials = check_finished(load_study(TINY, open_storage(None, folder)), [folder], 6, workers=2)
    assert len({t.user_attrs["worker"] for t in trials}) == 2  # both worked
    rows = search_results.front(TINY, root=tmp_path)
    assert sorted(r["trial"] for r in rows) == [t.number for t in trials if t.state.name == "COMPLETE"]


@pytest.mark.slow
def test_a_killed_worker_leaves_the_search_resumable(tmp_path):
    """SIGKILL while a trial trains leaves it RUNNING in the journal; the next call fails it,
    trains its parameters again as a new trial, and finishes the search."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-m", "effmnist_utils", "search", "tiny-smoke", "--device", "cpu", "--trials", "4",
            "--out-dir", str(tmp_path)]
    proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        if " started: " in line:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    killed = int(line.split()[1])
    folder = tmp_path / TINY.folder
    study = load_study(TINY, open_storage(None, folder))
    assert study.get_trials()[killed].state.name == "RUNNING"
    result = cli("--trials", "4", "--out-dir", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"trial {killed}: its worker" in result.stdout
    trials = check_finished(study, [folder], 4)
    assert trials[killed].state.name == "FAIL"
    (again,) = [t for t in trials if t.system_attrs.get("retry_history") == [killed]]
    assert again.state.name != "FAIL" and again.params == trials[killed].params


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_stops_a_search_as_ctrl_c_does(tmp_path, workers):
    """A `timeout` ending a GPU window sends SIGTERM: the search's trials under way are failed and
    enqueued again, and the call still records its throughput, with one worker or several."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-m", "effmnist_utils", "search", "tiny-smoke", "--device", "cpu", "--trials", "100",
            "--workers", str(workers), "--out-dir", str(tmp_path)]  # more trials than it can finish before the signal
    proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        if " started: " in line:
            proc.send_signal(signal.SIGTERM)
            break
    assert proc.wait(timeout=120) == 130
    trials = load_study(TINY, open_storage(None, tmp_path / TINY.folder)).get_trials()
    stopped = [t.number for t in trials if t.user_attrs.get("interrupted")]
    assert stopped and all(trials[n].state.name == "FAIL" for n in stopped)
    repeats = [t.system_attrs["retry_history"][-1] for t in trials if "retry_history" in t.system_attrs]
    assert sorted(repeats) == sorted(stopped), [(t.number, t.state.name, t.system_attrs, t.user_attrs) for t in trials]
    (call,) = search_results.calls(TINY, root=tmp_path)
    assert call["workers"] == workers and call["fail"] == len(stopped), (call, [(t.number, t.state.name, t.user_attrs) for t in trials])


@pytest.fixture
def postgres_url():
    url = os.environ.get("EFFMNIST_POSTGRES_URL")
    if not url:
        if os.environ.get("EFFMNIST_REQUIRE_POSTGRES") == "1":
            pytest.fail("EFFMNIST_REQUIRE_POSTGRES=1 but EFFMNIST_POSTGRES_URL is not set (.ci/run sets it)")
        pytest.skip("no PostgreSQL server: set EFFMNIST_POSTGRES_URL (.ci/run starts one)")
    storage = open_storage(url, ROOT)
    if TINY.name in [s.study_name for s in optuna.get_all_study_summaries(storage)]:
        optuna.delete_study(study_name=TINY.name, storage=storage)  # the test search's leftovers only
    return url


@pytest.mark.slow
def test_two_machines_share_a_search_through_postgresql(postgres_url, tmp_path):
    """Two processes with their own folders (as two machines would) on one PostgreSQL search."""
    a, b = tmp_path / "a", tmp_path / "b"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-m", "effmnist_utils", "search", "tiny-smoke", "--device", "cpu",
                               "--trials", "12", "--storage", postgres_url, "--out-dir", str(d)], cwd=tmp_path,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for d in (a, b)]
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
    study = load_study(TINY, open_storage(postgres_url, tmp_path))
    trials = check_finished(study, [a / TINY.folder, b / TINY.folder], 12, workers=2)
    assert len({t.user_attrs["worker"] for t in trials}) == 2  # both worked


def test_front_importances_and_their_figures(tmp_path):
    """`front` reads every complete trial back (pruned ones are not on it), `importances` which
    settings mattered; the front figure marks the best trial per budget."""
    from effmnist_utils.studies.search.figures import plot_importances, plot_search_front

    with pytest.raises(ValueError, match="no search 'tiny-smoke' is recorded"):
        search_results.front(TINY, root=tmp_path)
    study = load_study(TINY, open_storage(None, tmp_path / TINY.folder), create=True)
    models = ("L.c4.p.s8.g", "L.c4.s8.p.s8.g", OVER)
    space = {"model": optuna.distributions.CategoricalDistribution(models)}
    accs = [(models[k % 2], 0.90 + 0.01 * k + 0.05 * (k % 2)) for k in range(10)]
    for k, (model, acc) in enumerate(accs + [(OVER, None)]):
        attrs = {"run": f"r{k}", "model": model, "params": count_params(build_model(model)), "settings": {}}
        study.add_trial(optuna.trial.create_trial(
            params={"model": model}, distributions=space, value=acc, user_attrs=attrs,
            state=optuna.trial.TrialState.COMPLETE if acc else optuna.trial.TrialState.PRUNED))
    rows = search_results.front(TINY, root=tmp_path)
    assert [(r["model"], r["val_acc"]) for r in rows] == accs
    assert rows[1]["params"] == 370 and rows[1]["run"] == "r1" and rows[1]["budget"] == TINY.budget
    weights = search_results.importances(TINY, root=tmp_path)
    assert set(weights) == {"model"} and sum(weights.values()) == pytest.approx(1)
    fig = plot_search_front(rows, finalists=[{"label": "t1b", "params": 996, "acc": 98.9}])
    (star,) = [c for c in fig.axes[0].collections if c.get_label() == "best per budget"]
    assert star.get_offsets().tolist() == [[370, 100 * accs[9][1]]]
    assert fig.axes[0].get_xscale() == "log"
    assert len(plot_importances({TINY.name: weights}).axes[0].patches) == 1
    tied = [{"b": 0.0, "lr": 0.6, "a": 0.0, "wd": 0.4}, {"a": 0.0, "wd": 0.4, "b": 0.0, "lr": 0.6}]
    labels = [[t.get_text() for t in plot_importances({"s": w}).axes[0].get_yticklabels()] for w in tied]
    assert labels[0] == labels[1] == ["lr", "wd", "a", "b"]  # ties by name, whatever order Optuna gives


def test_a_pruned_trial_leaves_no_files(tmp_path, monkeypatch):
    """The pruner stops a trial after an epoch: the trial is PRUNED with the validation
    accuracies it reported, and neither its checkpoint nor a record is left behind."""
    from dataclasses import replace

    three = replace(TINY, fixed=TINY.fixed + (("epochs", 3),), pruner="hyperband")
    monkeypatch.setattr(optuna.trial.Trial, "should_prune", lambda self: max(
        self.storage.get_trial(self._trial_id).intermediate_values) >= 2)
    folder = tmp_path / TINY.folder
    study = load_study(three, open_storage(None, folder), create=True)
    study.enqueue_trial({"model": "L.c4.p.s8.g"})
    engine.work(three, None, 1, RunPlace("cpu", out_dir=folder, progress=False, log=lambda msg: None))
    (trial,) = study.get_trials()
    assert trial.state.name == "PRUNED" and sorted(trial.intermediate_values) == [1, 2]
    assert 0 < trial.intermediate_values[2] <= 1 and "over_budget" not in trial.user_attrs
    assert list((folder / "trials").iterdir()) == []


def test_a_trial_still_at_chance_after_two_epochs_is_pruned(tmp_path, monkeypatch):
    """Hyperband trains a hopeless trial on while its bracket fills; one whose validation accuracy
    is at chance after its second epoch is pruned there. A learning trial is not."""
    from dataclasses import replace

    monkeypatch.setattr(optuna.trial.Trial, "should_prune", lambda self: False)
    for lr, state in ((1e-9, "PRUNED"), (0.02, "COMPLETE")):  # lr 1e-9: the network stays where it began
        four = replace(TINY, fixed=TINY.fixed + (("epochs", 4), ("train_subset", 2048), ("lr", lr)), pruner="hyperband")
        folder = tmp_path / str(lr) / TINY.folder
        study = load_study(four, open_storage(None, folder), create=True)
        study.enqueue_trial({"model": "L.c4.p.s8.g"})
        engine.work(four, None, 1, RunPlace("cpu", out_dir=folder, progress=False, log=lambda msg: None))
        (trial,) = study.get_trials()
        assert trial.state.name == state, (lr, trial.intermediate_values)
        if state == "PRUNED":
            assert sorted(trial.intermediate_values) == [1, 2] and trial.intermediate_values[2] <= engine.CHANCE_FLOOR


def test_a_search_hands_its_best_complete_trial_to_the_finalists_plans(tmp_path):
    """The finalists' plans take each frontier search's best complete trial by its final
    validation accuracy (fewer parameters break a tie; an unfinished run never counts), and
    train it over seeds 2-3 on its split, then seeds 1-5 on all 60,000 images; none when the best
    is the first trial, whose seeds are recorded."""
    from effmnist_utils.studies.plans import finalists, get

    search = searches.get("frontier-1k")
    folder = tmp_path / search.folder / "trials"
    folder.mkdir(parents=True)

    def trial(n, model, val, epochs=20):
        hp = HParams.for_model(model, seed=1, val_size=10_000)
        rec = {"name": f"{model}-t{n}_seed1", "model": model, "params": count_params(build_model(model)),
               "hparams": hp.to_dict(), "history": [{"epoch": e, "val_acc": val} for e in range(1, epochs + 1)]}
        (folder / f"{rec['name']}.json").write_text(json.dumps(rec))

    trial(0, "t1b", 0.985)
    trial(1, "t1e", 0.987)  # the best ...
    trial(2, "t1a", 0.987)  # ... tied: fewer parameters win only when fewer
    trial(3, "t1c", 0.999, epochs=7)  # unfinished: never the best
    best = finalists.best_trial(tmp_path, search)
    expected = min(("t1e", "t1a"), key=lambda m: count_params(build_model(m)))
    assert best["model"] == expected
    confirm = [r for r in get("search-confirm").runs(tmp_path)]
    final = [r for r in get("search-finalists").runs(tmp_path)]
    assert [(r.hp.model, r.hp.seed, r.hp.val_size, r.read_test) for r in confirm] == [
        (expected, 2, 10_000, False), (expected, 3, 10_000, False)]  # the test set is read by finalists only
    assert [(r.hp.seed, r.hp.val_size, r.name, r.read_test) for r in final] == [
        (k, 0, f"{expected}_seed{k}", True) for k in range(1, 6)]
    assert finalists.confirmed(tmp_path) == []  # the front figure's point needs the trial's seeds
    (tmp_path / "searches" / "confirm").mkdir(parents=True)
    for k, val in ((2, 0.985), (3, 0.986)):
        hp = confirm[k - 2].hp
        (tmp_path / "searches" / "confirm" / f"{confirm[k - 2].name}.json").write_text(json.dumps({
            "name": confirm[k - 2].name, "model": expected, "seed": k, "params": best["params"],
            "hparams": hp.to_dict(), "history": [{"epoch": 20, "val_acc": val}]}))
    (point,) = finalists.confirmed(tmp_path)
    assert point["seeds"] == [1, 2, 3] and point["acc"] == pytest.approx(100 * (0.987 + 0.985 + 0.986) / 3)
    trial(0, "t1b", 0.990)  # the first trial (the budget's model, recorded already) best again: nothing to hand on
    assert finalists.is_first(finalists.best_trial(tmp_path, search))
    assert get("search-confirm").runs(tmp_path) == [] and get("search-finalists").runs(tmp_path) == []


def test_a_new_budgets_first_model_is_always_a_finalist(tmp_path):
    """Under a new budget the first trial's model has no runs on all 60,000 images: it goes to
    the finalists once its population is complete, alone while it is the best, and beside a
    better trial (which goes to the confirmations too) when there is one."""
    from effmnist_utils.studies.plans import finalists, get

    search = searches.get("frontier-700-pop")
    folder = tmp_path / search.folder / "trials"
    folder.mkdir(parents=True)
    first = layers_name(*searches.narrowed(search.around, search.budget))
    other = "L0.c4.p.s8.s8.g"

    def trial(n, model, val, seeds=search.seeds):
        for seed in seeds:
            hp = HParams.for_model(model, seed=seed, val_size=10_000)
            rec = {"name": f"{model}-t{n}_seed{seed}", "model": model, "params": count_params(build_model(model)),
                   "hparams": hp.to_dict(), "history": [{"epoch": e, "val_acc": val} for e in range(1, 21)]}
            (folder / f"{rec['name']}.json").write_text(json.dumps(rec))

    trial(0, first, 0.97, seeds=search.seeds[:2])  # half a population: not complete
    with pytest.raises(ValueError, match="no frontier search has a complete trial"):
        get("search-finalists").runs(tmp_path)
    trial(0, first, 0.97)
    assert [(r.hp.model, r.hp.seed, r.hp.val_size) for r in get("search-finalists").runs(tmp_path)] == [
        (first, k, 0) for k in finalists.FINAL_SEEDS]
    assert get("search-confirm").runs(tmp_path) == []
    trial(3, other, 0.98)
    assert [r.hp.model for r in get("search-finalists").runs(tmp_path)] == [first] * 5 + [other] * 5
    assert [(r.hp.model, r.hp.seed) for r in get("search-confirm").runs(tmp_path)] == [(other, 5), (other, 6)]


def test_a_retried_trial_keeps_the_name_of_the_trial_it_repeats(tmp_path, monkeypatch):
    """A trial stopped by hand and trained again by the next call records its runs under the
    first trial's name (t0): the first trial of a search stays its first."""
    real = engine.train_run
    monkeypatch.setattr(engine, "train_run", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    place = RunPlace("cpu", out_dir=tmp_path, progress=False, log=lambda msg: None)
    load_study(TINY, open_storage(None, tmp_path / TINY.folder), create=True).enqueue_trial({"model": "L.c4.p.s8.g"})
    with pytest.raises(KeyboardInterrupt):
        engine.run_search(TINY, trials=1, place=place)
    monkeypatch.setattr(engine, "train_run", real)
    engine.run_search(TINY, trials=1, place=place)
    (record,) = (tmp_path / TINY.folder / "trials").glob("*.json")
    assert record.stem.endswith("-t0_seed1")
    assert load_study(TINY, open_storage(None, tmp_path / TINY.folder)).get_trials()[1].user_attrs["run"] == record.stem


def test_a_population_search_trains_one_member_per_seed_and_is_judged_by_their_mean(tmp_path):
    """A trial of a search with several seeds trains them as one population: one record per
    seed under trials/, the trial's value (what the sampler and the pruner see) their mean; the
    finalists' plans take the trial with the best mean, not the luckiest seed, and confirm it on
    two seeds none of its members trained."""
    from dataclasses import replace

    from effmnist_utils.studies.plans import finalists, get

    pop = replace(TINY, seeds=(1, 2, 3), trials=1)
    folder = tmp_path / pop.folder
    study = load_study(pop, open_storage(None, folder), create=True)
    study.enqueue_trial({"model": "L.c4.p.s8.g"})
    engine.work(pop, None, 1, RunPlace("cpu", out_dir=folder, progress=False, log=lambda msg: None))
    (trial,) = study.get_trials()
    accs = [read_record(folder / "trials" / f"L.c4.p.s8.g-t0_seed{k}.json")["history"][-1]["val_acc"] for k in (1, 2, 3)]
    assert trial.state.name == "COMPLETE" and trial.user_attrs["member_val_accs"] == accs
    assert trial.value == pytest.approx(sum(accs) / 3) and len(set(accs)) > 1  # the members differ

    search = searches.get("frontier-1k-pop")
    trials = tmp_path / "p" / search.folder / "trials"
    trials.mkdir(parents=True)
    for n, model, vals in ((0, "t1e", (0.986, 0.986, 0.986, 0.986)), (1, "t1a", (0.995, 0.980, 0.980, 0.980)),
                           (2, "t1c", (0.988, 0.987, 0.987, 0.988))):
        for seed, val in zip(search.seeds, vals):
            hp = HParams.for_model(model, seed=seed, val_size=10_000)
            rec = {"name": f"{model}-t{n}_seed{seed}", "model": model, "params": count_params(build_model(model)),
                   "hparams": hp.to_dict(), "history": [{"epoch": e, "val_acc": val} for e in range(1, 21)]}
            (trials / f"{rec['name']}.json").write_text(json.dumps(rec))
    best = finalists.best_trial(tmp_path / "p", search)
    assert (best["model"], best.hp.seed) == ("t1c", 1)  # t1a's one lucky seed does not win
    confirm = [r for r in get("search-confirm").runs(tmp_path / "p") if r.hp.model == "t1c"]
    assert [r.hp.seed for r in confirm] == [5, 6]


def test_each_call_records_its_throughput(tmp_path):
    """A call of a search appends its machine, workers, threads and what it finished to the
    search's calls.jsonl; the frontier page's throughput table has one row per call."""
    from effmnist_utils import search_blocks
    from effmnist_utils.core.runtime import cpu_model

    assert search_blocks.throughput_table(tmp_path) is None
    for total in (2, 3):
        assert main(["search", "tiny-smoke", "--trials", str(total), "--device", "cpu", "--out-dir", str(tmp_path)]) == 0
    calls = search_results.calls(TINY, root=tmp_path)
    assert [c["complete"] + c["pruned"] for c in calls] == [2, 1]
    for c in calls:
        assert c["machine"] == cpu_model() and c["workers"] == 1 and c["threads_per_worker"] == torch.get_num_threads()
        assert c["epochs"] == c["complete"]  # one epoch per trained trial; none pruned after one
    rows = [line for line in search_blocks.throughput_table(tmp_path).splitlines() if line.startswith("| tiny-smoke |")]
    assert len(rows) == 2 and all(f"| {cpu_model()} | 1 × {torch.get_num_threads()} |" in r for r in rows)


def test_ctrl_c_loses_no_trial_and_the_call_is_recorded(tmp_path, monkeypatch):
    """Ctrl-C in the middle of a trial: Optuna marks it failed, so the search enqueues its
    parameters again (the next call trains it) and the call still writes its line to calls.jsonl.
    The next call trains the enqueued trial to the end."""
    first = []

    def stop(*args, **kwargs):
        first.append(1)
        raise KeyboardInterrupt
    real = engine.train_run
    monkeypatch.setattr(engine, "train_run", stop)
    place = RunPlace("cpu", out_dir=tmp_path, progress=False, log=lambda msg: None)
    load_study(TINY, open_storage(None, tmp_path / TINY.folder), create=True).enqueue_trial({"model": "L.c4.p.s8.g"})
    with pytest.raises(KeyboardInterrupt):
        engine.run_search(TINY, trials=1, place=place)
    study = load_study(TINY, open_storage(None, tmp_path / TINY.folder))
    stopped, waiting = study.get_trials()
    assert first and stopped.state.name == "FAIL" and stopped.user_attrs["interrupted"]
    assert waiting.state.name == "WAITING" and waiting.system_attrs["fixed_params"] == stopped.params
    (call,) = search_results.calls(TINY, root=tmp_path)
    assert call["fail"] == 1 and call["complete"] == 0
    monkeypatch.setattr(engine, "train_run", real)
    engine.run_search(TINY, trials=1, place=place)
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE"] and trials[1].params == stopped.params


def test_a_stopped_population_trial_goes_on_from_its_last_epoch(tmp_path, monkeypatch):
    """Ctrl-C after a population trial's first of two epochs: the next call repeats the trial from
    its checkpoint, reports epoch 1 again (as the pruner saw it) and trains only epoch 2; its
    members end as an uninterrupted population's do."""
    from dataclasses import replace

    pop = replace(TINY, seeds=(1, 2), fixed=TINY.fixed + (("epochs", 2),))
    place = RunPlace("cpu", out_dir=tmp_path / "a", progress=False, log=lambda msg: None)
    calm = RunPlace("cpu", out_dir=tmp_path / "b", progress=False, log=lambda msg: None)
    for where in (place, calm):
        load_study(pop, open_storage(None, where.out_dir / pop.folder), create=True).enqueue_trial({"model": "L.c4.p.s8.g"})
    from effmnist_utils.core import population

    real, trained = population.train_population_epoch, []

    def stop_in_epoch_2(stepper, loaders, hp, epoch, lean=False):
        trained.append(epoch)
        if trained == [1, 2]:  # Ctrl-C in the second epoch, after the first one's checkpoint
            raise KeyboardInterrupt
        return real(stepper, loaders, hp, epoch, lean)
    monkeypatch.setattr(population, "train_population_epoch", stop_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        engine.run_search(pop, trials=1, place=place)
    engine.run_search(pop, trials=1, place=place)
    assert trained == [1, 2, 2]  # epoch 1 once, then only epoch 2
    trials = load_study(pop, open_storage(None, tmp_path / "a" / pop.folder)).get_trials()
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE"] and sorted(trials[1].intermediate_values) == [1, 2]
    assert trials[1].intermediate_values[1] == trials[0].intermediate_values[1]
    monkeypatch.setattr(population, "train_population_epoch", real)
    engine.run_search(pop, trials=1, place=calm)
    (whole,) = load_study(pop, open_storage(None, tmp_path / "b" / pop.folder)).get_trials()
    assert trials[1].value == pytest.approx(whole.value, abs=1e-3)
    assert not list((tmp_path / "a" / pop.folder / "trials").glob("*.ckpt"))


def test_a_checkpoint_of_other_settings_is_not_resumed(tmp_path):
    """A leftover checkpoint under the trial's name but of other settings (a search whose recipe
    changed): its epochs are not reported to the pruner, and the trial trains afresh."""
    import torch
    from dataclasses import asdict, replace
    from effmnist_utils.core.population_runs import checkpoint_path

    pop = replace(TINY, seeds=(1, 2), fixed=TINY.fixed + (("epochs", 2),))
    place = RunPlace("cpu", out_dir=tmp_path, progress=False, log=lambda msg: None)
    folder = tmp_path / pop.folder
    load_study(pop, open_storage(None, folder), create=True).enqueue_trial({"model": "L.c4.p.s8.g"})
    hp = pop.hparams("L.c4.p.s8.g", {})
    ckpt = checkpoint_path(folder / "trials", hp, list(pop.seeds), "t0")
    ckpt.parent.mkdir(parents=True)
    torch.save({"hparams": asdict(hp.with_(lr=0.5)), "history": [[{"epoch": 1, "val_acc": 0.0}]] * 2}, ckpt)
    engine.run_search(pop, trials=1, place=place)
    (trial,) = load_study(pop, open_storage(None, folder)).get_trials()
    assert trial.state.name == "COMPLETE" and trial.intermediate_values[1] != 0.0 and not ckpt.exists()


SPEEDRUN = searches.get("speedrun-cpu")


def record_speedrun(root, trials: list[tuple[float, float]]):
    """A speedrun search recorded under `root` with one complete trial per (val_acc, seconds),
    all with the first trial's recipe."""
    model, settings = SPEEDRUN.suggest(optuna.trial.FixedTrial(SPEEDRUN.first[0]))
    study = load_study(SPEEDRUN, open_storage(None, root / SPEEDRUN.folder), create=True)
    for k, (acc, seconds) in enumerate(trials):
        study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=acc, user_attrs={
            "run": f"r{k}", "model": model, "params": 16_794, "settings": settings, "train_seconds": seconds}))


def test_the_speedrun_rule_and_its_paragraph(tmp_path, monkeypatch):
    """Step 1 of the rule keeps validation >= 99.45 % within 60 s (both bounds inside), fastest
    first; the speed page's paragraph names the candidates and step 2's outcome, or, with none,
    how far the goal is."""
    from effmnist_utils import search_blocks

    rows = [{"trial": k, "val_acc": a, "train_seconds": s} for k, (a, s) in
            enumerate([(0.9945, 60.0), (0.9960, 60.1), (0.9944, 10.0), (0.9950, 30.0)])]
    assert [r["trial"] for r in search_results.speedrun_candidates(rows)] == [3, 0]
    assert search_blocks.speedrun_search(tmp_path) is None
    record_speedrun(tmp_path, [(0.9942, 35.7), (0.9946, 50.0), (0.9950, 70.0)])
    text = search_blocks.speedrun_search(tmp_path)
    assert "has 3 timed trials" in text and "reached 99.42 % in 35.7 s" in text
    assert "1 trial is a candidate" in text and "trial 1 (fast, 16 epochs" in text and "99.46 % in 50.0 s" in text
    assert "Over seeds" not in text  # step 2 has not run
    hp = SPEEDRUN.hparams(*SPEEDRUN.suggest(optuna.trial.FixedTrial(SPEEDRUN.first[0]))).to_dict()
    seeds = [{"name": f"fast-t1_seed{k}", "seed": k, "hparams": hp, "train_seconds": 50.0 + k,
              "history": [{"val_acc": v}]} for k, v in enumerate([0.9948, 0.9936, 0.9944, 0.9932, 0.9938], 1)]
    monkeypatch.setattr("effmnist_utils.studies.plans.speedsearch.folder_records", lambda root, folder: seeds)
    text = search_blocks.speedrun_search(tmp_path)
    assert "fast-t1 averages 99.40 % (lowest seed 99.32 %) in 53.0 s" in text and "chooses nothing" in text
    for r in seeds:
        r["history"][0]["val_acc"] += 0.0012
    assert "The rule chooses fast-t1." in search_blocks.speedrun_search(tmp_path)
    monkeypatch.undo()
    (tmp_path / SPEEDRUN.folder / "journal.log").unlink()
    record_speedrun(tmp_path, [(0.9942, 35.7), (0.9944, 50.0), (0.9950, 70.0)])
    text = search_blocks.speedrun_search(tmp_path)
    assert "No trial is a candidate" in text and "inside 60 s is 99.44 % (trial 1, 50.0 s" in text
    assert "the fastest trial to reach 99.45 % took 70.0 s (trial 2)" in text
    fig = search_blocks.speedrun_figure(tmp_path)
    (dots,) = [c for c in fig.axes[0].collections if c.get_label().startswith("fast (")]
    assert dots.get_offsets().ravel().tolist() == pytest.approx([35.7, 99.42, 50.0, 99.44, 70.0, 99.5])
    assert not [c for c in fig.axes[0].collections if "again" in c.get_label()]
    from effmnist_utils.studies.plans import speedsearch
    from effmnist_utils.studies.search.figures import plot_speedrun_front

    confirmed = speedsearch.summarise(seeds)
    fig = plot_speedrun_front(search_results.front(SPEEDRUN, root=tmp_path), 60, 99.45, confirmed)
    (crosses,) = [c for c in fig.axes[0].collections if c.get_label().startswith("fast-t1: seeds 1–5 again")]
    assert crosses.get_offsets()[:, 0].tolist() == [53.0] * 5
    assert sorted(crosses.get_offsets()[:, 1]) == pytest.approx([99.44, 99.48, 99.50, 99.56, 99.60])
    (arrow,) = fig.axes[0].texts  # from trial 1 (50.0 s, 99.44 %) to its seeds' mean
    assert arrow.xyann == pytest.approx((50.0, 99.44)) and arrow.xy == pytest.approx((53.0, 99.516))
