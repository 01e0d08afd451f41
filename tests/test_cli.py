"""The command line: `python -m effmnist_utils list|train ...`."""
import json
import subprocess
import sys

import pytest

EXPECTED = {"iter1": "24,498", "iter2": "15,658", "iter3": "15,658", "iter4": "15,794",
            "iter5": "9,074", "iter6": "13,562"}


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "effmnist_utils", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def test_list_prints_every_model_with_its_size(tmp_path):
    """`list` prints every registered model with its comma-formatted parameter count and what it
    trains with by default (the seed recipe, its own recipe, or: a search candidate only)."""
    from effmnist_utils.models import MODELS
    from effmnist_utils.train import RECIPES

    result = cli("list", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == list(MODELS)
    for line, (name, count) in zip(lines, EXPECTED.items()):
        assert line.split()[:2] == [name, count] and "seed recipe" in line, line
    finalist = next(line for line in lines if line.split()[0] == next(iter(RECIPES)))
    assert "schedule=onecycle" in finalist
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


def test_tiny_training_run(tmp_path):
    """A one-epoch smoke run trains, reports its accuracy and writes the results JSON."""
    result = cli("train", "iter6", "--epochs", "1", "--train-subset", "512",
                 "--out-dir", "out", "--device", "cpu", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "final test accuracy" in result.stdout
    assert (tmp_path / "out" / "iter6_seed1.json").is_file()
    assert (tmp_path / "out" / "iter6_seed1.pt").is_file()


def test_train_uses_the_models_recipe(tmp_path):
    """`train <frontier model>` trains with that model's recipe; a flag overrides one setting."""
    from effmnist_utils.train import RECIPES

    name, recipe = next(iter(RECIPES.items()))
    result = cli("train", name, "--epochs", "1", "--train-subset", "256", "--lr", "0.003",
                 "--out-dir", "out", "--device", "cpu", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    hparams = json.loads((tmp_path / "out" / f"{name}_seed1.json").read_text())["hparams"]
    assert hparams["lr"] == 0.003 and hparams["epochs"] == 1
    assert all(hparams[k] == v for k, v in recipe.items() if k not in ("lr", "epochs"))
