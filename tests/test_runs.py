"""Recorded runs: what train_run writes and where by default, the reference loader's path, and
reading and describing records."""
import copy
import json
import re
from dataclasses import asdict

import pytest
import torch

from effmnist_utils.core.config import RUNS_DIR, SCRATCH_DIR, HParams, auto_tag, run_name
from effmnist_utils.core.data import RAW_FILES, default_data_dir
from effmnist_utils.core.loaders import ReferenceLoader, make_data
from effmnist_utils.core.models import build_model, count_params
from effmnist_utils.core.place import RunPlace
from effmnist_utils.core.record import load_runs, variant
from effmnist_utils.core.runs import compare_with_recorded, describe_run, summarise_history, train_run
from helpers import LEARNED_ACC, LEARNED_LOSS, LEARNING, SHORT, quiet_cpu, without_timing


@pytest.mark.slow
def test_default_out_dir_is_the_scratch_folder(short_run):
    """Without out_dir a run is recorded in effmnist-runs/ under the working folder, and nothing
    else is written there (no checkpoint left, nothing in results/)."""
    cwd, _, _, _ = short_run
    files = sorted(p.relative_to(cwd).as_posix() for p in cwd.rglob("*") if p.is_file())
    assert files == [f"effmnist-runs/{run_name(SHORT, auto_tag(SHORT))}.json", f"effmnist-runs/{run_name(SHORT, auto_tag(SHORT))}.pt"]


@pytest.mark.slow
def test_run_record_and_weights(short_run):
    """train_run writes a complete results JSON and a .pt that loads into a fresh model."""
    cwd, model, history, record = short_run
    out_dir = cwd / SCRATCH_DIR
    saved = json.loads((out_dir / f"{run_name(SHORT, auto_tag(SHORT))}.json").read_text())
    assert saved == json.loads(json.dumps(record))  # the file is the record returned
    for key in ("name", "tag", "model", "params", "hparams", "seed", "history", "final_test_acc",
                "best_test_acc", "best_epoch", "seconds_to_target", "device", "cpu", "torch",
                "git_commit", "data_source", "finished"):
        assert key in saved, key
    assert saved["name"] == "iter6-epochs2-train_subset1024_seed1" and saved["tag"] == "epochs2-train_subset1024"
    assert saved["model"] == "iter6" and saved["seed"] == 1
    assert saved["params"] == count_params(build_model("iter6")) == 13_562
    assert saved["hparams"] == asdict(SHORT) and HParams.from_dict(saved["hparams"]) == SHORT
    assert saved["history"] == history and len(history) == 2
    assert saved["final_test_acc"] == history[-1]["test_acc"]
    assert saved["best_test_acc"] == max(r["test_acc"] for r in history)
    assert saved["device"].startswith("cpu") and saved["torch"] == torch.__version__
    assert saved["cpu"] and saved["cpu"] != "model not recorded"

    fresh = build_model("iter6")
    fresh.load_state_dict(torch.load(out_dir / f"{run_name(SHORT, auto_tag(SHORT))}.pt", weights_only=True))
    for key, value in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key


@pytest.mark.slow
def test_a_tag_names_the_run_and_its_files(tmp_path):
    """train_run(..., tag=) records `<model>-<tag>_seed<seed>` and keeps the tag in the record."""
    hp = HParams.for_model("iter5", epochs=1, train_subset=128, seed=2)
    record = train_run(hp, quiet_cpu(tmp_path), tag="smoke")[2]
    assert record["name"] == "iter5-smoke_seed2" and record["tag"] == "smoke"
    assert variant(record) == "iter5-smoke"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["iter5-smoke_seed2.json",
                                                          "iter5-smoke_seed2.pt"]


# --- the original study's per-sample loader -----------------------------------------------------

REFERENCE = HParams.for_model(**LEARNING, loader="reference")


@pytest.fixture(scope="module")
def reference_runs(tmp_path_factory):
    """{key: (state_dict, history, record, data)} for the LEARNING run with loader='reference':
    seed 1 twice ("a", "b", with torch's global generator disturbed in between), and seed 2."""
    runs = {}
    for key, hp in (("a", REFERENCE), ("b", REFERENCE), ("seed2", REFERENCE.with_(seed=2))):
        torch.manual_seed(12345)
        torch.rand(1000)
        model, history, record, data = train_run(hp, quiet_cpu(tmp_path_factory.mktemp(key)))
        runs[key] = (model.state_dict(), history, record, data)
    return runs


@pytest.mark.slow
def test_reference_loader_trains_and_is_deterministic_per_seed(reference_runs):
    """loader='reference' trains through the original's per-sample pipeline; a seed gives the
    same run twice, weights included, and another seed another run; both learn."""
    weights_a, a, record, data = reference_runs["a"]
    weights_b, b, _, _ = reference_runs["b"]
    _, other, _, _ = reference_runs["seed2"]
    assert isinstance(data.train, ReferenceLoader) and record["hparams"]["loader"] == "reference"
    assert without_timing(a) == without_timing(b)
    for key in weights_a:
        assert torch.equal(weights_a[key], weights_b[key]), key
    assert without_timing(other) != without_timing(a)
    for history in (a, other):
        assert history[0]["train_loss"] < LEARNED_LOSS, history  # measured 0.924 / 0.911
        assert history[0]["test_acc"] > LEARNED_ACC, history  # measured 0.943 / 0.942


@pytest.mark.slow
def test_reference_loader_feeds_what_the_fast_loader_does(reference_runs, learned_run):
    """The two loaders give different batches from one seed (so the setting is really used)
    but the same kind of data: the epoch's training losses agree closely (measured 0.924 for
    the reference and 0.943 for the fast loader, seed 1; 0.911 and 0.911 for seed 2)."""
    _, reference, _, _ = reference_runs["a"]
    _, _, fast, _ = learned_run
    assert without_timing(reference) != without_timing(fast)
    assert abs(reference[0]["train_loss"] - fast[0]["train_loss"]) < 0.15


@pytest.mark.parametrize("augment", [{"translate": 2}, {"degrees": 8}, {"zoom_p": 0.2}])
def test_reference_loader_refuses_other_augmentation(augment, tmp_path):
    """The original's pipeline only knows the original augmentation: asking it for another is a
    ValueError that says to use loader='fast', raised when the settings are made (before any
    run starts or anything is recorded)."""
    with pytest.raises(ValueError, match=re.escape("need loader='fast'")):
        HParams.for_model("iter6", epochs=1, train_subset=256, loader="reference", **augment)


# --- reading records back -----------------------------------------------------------------------


def test_load_runs_reads_every_file_and_explains_a_missing_folder(tmp_path):
    """load_runs returns every results file by name; a missing folder says where results live."""
    for name in ("b_seed1", "a_seed2"):
        (tmp_path / f"{name}.json").write_text(json.dumps({"name": name}))
    assert [r["name"] for r in load_runs(tmp_path)] == ["a_seed2", "b_seed1"]
    with pytest.raises(ValueError, match="no recorded results at .*nowhere.*clone"):
        load_runs(tmp_path / "nowhere")


def test_summarise_history_finds_best_final_and_time_to_target():
    """Final and best test accuracy, the best epoch and the first time the target was reached."""
    history = [{"epoch": e, "test_acc": a, "seconds": 10.0, "elapsed": 10.0 * e}
               for e, a in ((1, 0.990), (2, 0.996), (3, 0.994), (4, 0.995))]
    s = summarise_history(history, target=0.994)
    assert (s["final_test_acc"], s["best_test_acc"], s["best_epoch"]) == (0.995, 0.996, 2)
    assert (s["seconds_to_target"], s["seconds_per_epoch"], s["seconds_total"]) == (20, 10, 40)
    assert summarise_history(history, target=0.999)["seconds_to_target"] is None
    # with a validation split only the last epoch is tested, and only it counts
    validated = [{k: v for k, v in r.items() if k != "test_acc"} for r in history[:-1]]
    validated.append(history[-1])
    assert summarise_history(validated, target=0.994)["best_epoch"] == 4


def test_describe_run_says_what_a_recorded_run_reached():
    """The description of recorded runs names the model, size, accuracies and time to 99.4 %."""
    runs = {r["name"]: r for r in load_runs(RUNS_DIR)}
    reached = describe_run(runs["iter6_seed1"])
    assert reached.startswith("iter6: 13,562 parameters, seed 1, 20 epochs on cpu")
    assert "final-epoch test accuracy: 99.40% (best 99.48% at epoch 19)" in reached
    assert "99.4% first reached after 350 s" in reached
    assert "99.4% not reached" in describe_run(runs["iter3_seed1"])


def _recorded(name):
    return json.loads((RUNS_DIR / f"{name}.json").read_text())


def test_compare_with_recorded_counts_equal_epochs_and_shows_the_spread():
    """A run beside the recorded one of its seed: an epoch that differs is counted out, and the
    recorded seeds' finals and mean stand beside this run's, with where each was trained."""
    fresh = copy.deepcopy(_recorded("iter6_seed1"))
    fresh["history"][0]["test_acc"] = 0.9751  # as a run on another CPU model would differ
    fresh["cpu"] = "Other CPU"
    text = compare_with_recorded(fresh)
    assert "equals the recorded run's: 19 of 20" in text
    gpu = compare_with_recorded({**fresh, "device": "cuda (a GPU)"}, label="on a GPU")
    assert "\non a GPU: cuda (a GPU), torch" in gpu  # a GPU record names no CPU model
    assert "this run: cpu (x86_64, 2 threads), CPU Other CPU, torch" in text
    finals = [f"{100 * _recorded(f'iter6_seed{s}')['final_test_acc']:.2f}" for s in (1, 2, 3)]
    assert f"recorded seeds 1, 2, 3: {', '.join(finals)} %" in text


def test_compare_with_recorded_says_when_the_recipe_differs():
    """A smoke-mode run is never counted against the real recording."""
    fresh = copy.deepcopy(_recorded("iter6_seed1"))
    fresh["hparams"] = HParams.for_model("iter6", epochs=1).to_dict()
    text = compare_with_recorded(fresh)
    assert "this run: the recipe differs from the recorded one (epochs 1 here, 20 there)" in text
    assert "equals the recorded run's" not in text


def _teacher(tmp_path, val_size):
    """A recorded teacher run (results file and weights) under tmp_path/levers."""
    folder = tmp_path / "levers"
    folder.mkdir(exist_ok=True)
    model = build_model("iter6")
    hp = HParams.for_model("iter6", val_size=val_size)
    (folder / "iter6-t_seed1.json").write_text(json.dumps({"name": "iter6-t_seed1", "model": "iter6",
                                                           "seed": 1, "hparams": hp.to_dict()}))
    torch.save(model.state_dict(), folder / "iter6-t_seed1.pt")
    return model


def test_a_teacher_is_a_recorded_run_that_never_saw_the_validation_images(tmp_path):
    """The teacher loads from its run, in eval mode with its weights; one that held out fewer
    images than the student chooses on (it trained on some of them), or no run at all, is refused
    with the fix."""
    from effmnist_utils.core.runs import load_teacher

    original = _teacher(tmp_path, val_size=10_000)
    student = HParams.for_model("iter5", val_size=5_000, distill=0.5, teacher="levers/iter6-t_seed1")
    teacher = load_teacher(student, "cpu", results_dir=tmp_path)
    assert not teacher.training
    assert all(torch.equal(a, b) for a, b in zip(teacher.state_dict().values(), original.state_dict().values()))
    with pytest.raises(ValueError, match="held out 10,000 images but this run chooses on 20,000"):
        load_teacher(student.with_(val_size=20_000), "cpu", results_dir=tmp_path)
    with pytest.raises(ValueError, match="no recorded run at .*levers/nobody_seed1.json"):
        load_teacher(student.with_(teacher="levers/nobody_seed1"), "cpu", results_dir=tmp_path)


def test_the_same_network_from_a_class_of_ones_own_trains_as_the_model(tmp_path):
    """train_run(net=...) with a class that builds hp.model's network trains exactly the
    registry's run, under the model's name (tests/test_lessons.py: any other network is the
    learner's variant)."""
    from effmnist_utils.core.models import build_model
    hp = HParams.for_model("t1b", epochs=1, train_subset=256)
    own = train_run(hp, quiet_cpu(tmp_path / "own"), net=lambda: build_model("t1b"))[2]
    registry = train_run(hp, quiet_cpu(tmp_path / "registry"))[2]
    assert own["name"] == registry["name"] == "t1b-epochs1-train_subset256_seed1"
    assert without_timing(own["history"]) == without_timing(registry["history"])


def test_a_run_that_must_not_read_the_test_set(tmp_path):
    """read_test=False (a search's trial): no test loader at all, no test number in the rows or
    the record, and `on_epoch` sees each row as it is recorded; such a run needs a validation
    split. An exception from `on_epoch` stops the run, the epochs before it checkpointed."""
    with pytest.raises(ValueError, match="val_size > 0"):
        make_data("cpu", read_test=False)
    assert make_data("cpu", HParams(val_size=100, train_subset=64), read_test=False).test is None
    rows, hp = [], HParams.for_model("iter5", epochs=2, train_subset=256, val_size=500)
    record = train_run(hp, quiet_cpu(tmp_path), on_epoch=rows.append, read_test=False)[2]
    assert rows == record["history"] and [r["epoch"] for r in rows] == [1, 2]
    assert all("val_acc" in r and "test_acc" not in r and "test_loss" not in r for r in rows)
    assert not {"final_test_acc", "best_test_acc", "best_epoch", "seconds_to_target"} & set(record)

    class Stop(Exception):
        pass

    def stop_at_2(row):
        if row["epoch"] == 2:
            raise Stop

    with pytest.raises(Stop):
        train_run(hp, quiet_cpu(tmp_path / "stopped"), on_epoch=stop_at_2, read_test=False)
    assert [p.name for p in (tmp_path / "stopped").iterdir()] == [f"{run_name(hp, auto_tag(hp))}.ckpt"]
    assert summarise_history(rows) == {"seconds_per_epoch": (rows[0]["seconds"] + rows[1]["seconds"]) / 2,
                                       "seconds_total": rows[1]["elapsed"]}


def test_a_run_runs_where_its_place_says(mnist, tmp_path, monkeypatch, capsys):
    """train_run reads its `RunPlace`: the record lands in its out_dir, the data comes from its
    data_dir, progress=False prints nothing; a plain device name stands for a place on that
    device (the scratch folder, progress on) and trains the same run."""
    hp = HParams.for_model("iter5", epochs=1, train_subset=128)
    raw = tmp_path / "mnist" / "MNIST" / "raw"  # the default data folder's verified files, linked
    raw.mkdir(parents=True)
    for name in RAW_FILES:
        (raw / name).symlink_to(default_data_dir() / "MNIST" / "raw" / name)
    capsys.readouterr()
    place = RunPlace("cpu", data_dir=tmp_path / "mnist", out_dir=tmp_path / "out", progress=False)
    quiet = train_run(hp, place)[2]
    shown = capsys.readouterr()
    assert shown.out == "" and "epoch" not in shown.err
    assert (tmp_path / "out" / f"{quiet['name']}.json").is_file() and str(raw) in quiet["data_source"]
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    plain = train_run(hp, "cpu")[2]
    assert re.search(r"^epoch 1: test accuracy", capsys.readouterr().out, re.M)
    assert (tmp_path / "cwd" / SCRATCH_DIR / f"{plain['name']}.json").is_file()
    assert str(raw) not in plain["data_source"]
    assert without_timing(plain["history"]) == without_timing(quiet["history"])
    assert RunPlace.of("cpu") == RunPlace("cpu") and RunPlace.of(place) is place
