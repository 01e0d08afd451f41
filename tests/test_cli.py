"""The command line: `python -m effmnist_utils list|train ...`."""
import json
import shutil
import subprocess
import sys

import pytest

from effmnist_utils.core.config import REPO_ROOT, RUNS_DIR, SCRATCH_DIR

EXPECTED = {"iter1": "24,498", "iter2": "15,658", "iter3": "15,658", "iter4": "15,794",
            "iter5": "9,074", "iter6": "13,562"}


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "effmnist_utils", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def test_list_prints_every_model_with_its_size(tmp_path):
    """`list` prints every registered model with its comma-formatted parameter count and what it
    trains with by default (the original recipe, its own recipe, or: a search candidate only)."""
    from effmnist_utils.core.config import RECIPES, describe_levers
    from effmnist_utils.core.models import MODELS

    result = cli("list", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == list(MODELS)
    for line, (name, count) in zip(lines, EXPECTED.items()):
        assert line.split()[:2] == [name, count] and line.endswith("original recipe"), line
    for line in lines:
        name = line.split()[0]
        if name in RECIPES:
            assert line.endswith(f"recipe: {describe_levers(RECIPES[name])}"), line
            assert "schedule=onecycle" in line, line
        elif name not in EXPECTED:
            assert line.endswith("search candidate (proxy runs only)"), line
    assert "candidate" in next(line for line in lines if line.split()[0] == "f20a")


@pytest.mark.parametrize("args, named", [
    (["iterx"], "iterx"),
    (["iter6", "--epochs", "0"], "--epochs"),
    (["iter6", "--batch-size", "-3"], "--batch-size"),
])
def test_bad_arguments_exit_2_with_one_line(args, named, tmp_path):
    """A bad argument exits 2 with one stderr line naming it, and no usage dump or traceback."""
    result = cli("train", *args, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert named in lines[0] and "error" in lines[0]


def test_unwritable_out_dir_exits_2_with_one_line(tmp_path):
    """An output dir that cannot be created is refused before any training starts."""
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    result = cli("train", "iter6", "--out-dir", str(blocker / "runs"), cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "output dir" in lines[0] and str(blocker / "runs") in lines[0]


@pytest.mark.slow
def test_train_records_in_the_scratch_folder_by_default(tmp_path):
    """A one-epoch smoke run without --out-dir trains, reports its accuracy, and writes its
    results JSON and weights into effmnist-runs/ of the working folder, and nothing else
    (results/ is only written on purpose)."""
    runs_before = sorted(RUNS_DIR.iterdir())
    result = cli("train", "iter6", "--epochs", "1", "--train-subset", "256", "--device", "cpu",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "final test accuracy after epoch 1:" in result.stdout
    name = "iter6-epochs1-train_subset256_seed1"  # the name says what differs from the recipe
    assert f"recorded in effmnist-runs/{name}.json" in result.stdout
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert files == [f"effmnist-runs/{name}.json", f"effmnist-runs/{name}.pt"]
    record = json.loads((tmp_path / "effmnist-runs" / f"{name}.json").read_text())
    assert record["hparams"]["optim"]["epochs"] == 1 and record["hparams"]["train_subset"] == 256
    assert sorted(RUNS_DIR.iterdir()) == runs_before


@pytest.mark.slow
def test_a_quick_run_never_replaces_a_finished_one(tmp_path):
    """After a finished run, a quick run of the same model and seed gets its own name; a run
    forced onto the finished one's name (--tag "") is refused with the way out, and the finished
    run's files are untouched."""
    finished = tmp_path / "effmnist-runs" / "iter6_seed1.json"
    finished.parent.mkdir()
    from effmnist_utils.core.config import HParams

    finished.write_text(json.dumps({"name": "iter6_seed1", "hparams": HParams(model="iter6").to_dict()}))
    before = finished.read_text()
    quick = cli("train", "iter6", "--epochs", "1", "--train-subset", "3", "--device", "cpu", cwd=tmp_path)
    assert quick.returncode == 0, quick.stderr[-2000:]
    assert (tmp_path / "effmnist-runs" / "iter6-epochs1-train_subset3_seed1.json").is_file()
    forced = cli("train", "iter6", "--epochs", "1", "--train-subset", "3", "--tag", "", "--device", "cpu",
                 cwd=tmp_path)
    lines = forced.stderr.strip().splitlines()
    assert forced.returncode == 1 and len(lines) == 1, forced.stderr
    assert "holds a finished run with other settings" in lines[0] and "--tag" in lines[0]
    assert finished.read_text() == before


@pytest.mark.parametrize("args, named", [(["nope"], "nope"), (["crossed", "--shard", "2/2"], "--shard"),
                                         (["crossed", "--smoke", "--record"], "--record"),
                                         (["frontier-search", "--stage", "9"], "stage"),
                                         (["crossed", "--table", "--smoke"], "--smoke"),
                                         (["--shard", "0/2"], "--shard")])
def test_plan_bad_input_is_one_line(args, named, tmp_path):
    result = cli("plan", *args, cwd=tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode in (1, 2) and len(lines) == 1 and named in lines[0], result.stderr
    assert not (tmp_path / "effmnist-runs").exists()


def test_plan_lists_every_plan(tmp_path):
    from effmnist_utils.studies.plans import plans

    result = cli("plan", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [line.split()[0] for line in result.stdout.splitlines()] == list(plans())


@pytest.mark.skipif(shutil.which("git") is None or not (REPO_ROOT / ".git").exists(),
                    reason="needs a git checkout")
def test_scratch_folder_is_git_ignored():
    """Runs recorded in effmnist-runs/ of a clone do not show up as changes to commit."""
    probe = f"{SCRATCH_DIR.as_posix()}/iter6_seed1.json"
    result = subprocess.run(["git", "check-ignore", "-q", probe], cwd=REPO_ROOT)
    assert result.returncode == 0, f"{probe} is not ignored by the clone's .gitignore"


@pytest.mark.slow
def test_train_uses_the_models_recipe(tmp_path):
    """`train <frontier model>` trains with that model's recipe; a flag overrides one setting;
    --out-dir records elsewhere, and --seed names the run."""
    from effmnist_utils.core.config import RECIPES, HParams

    name = next(iter(RECIPES))
    result = cli("train", name, "--epochs", "1", "--train-subset", "256", "--lr", "0.003",
                 "--seed", "2", "--out-dir", "out", "--device", "cpu", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    hparams = json.loads((tmp_path / "out" / f"{name}-epochs1-lr0.003-train_subset256_seed2.json").read_text())["hparams"]
    assert HParams.from_dict(hparams) == HParams.for_model(name, epochs=1, train_subset=256,
                                                           lr=0.003, seed=2)
