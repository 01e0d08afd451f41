"""The command line: `python -m effmnist_utils list|train|plan|predict|serve ...`. Arguments are
checked in-process through `main` (what the command runs); the tests that start a process, where
the process is the point (exit statuses, real training), are in the slow selection."""
import json
import shutil
import subprocess
import sys

import pytest

from effmnist_utils.__main__ import main
from effmnist_utils.core.config import REPO_ROOT, RUNS_DIR, SCRATCH_DIR

EXPECTED = {"iter1": "24,498", "iter2": "15,658", "iter3": "15,658", "iter4": "15,794",
            "iter5": "9,074", "iter6": "13,562"}


def cli(*args, cwd):
    """The command in a process of its own."""
    return subprocess.run([sys.executable, "-m", "effmnist_utils", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def run_main(capsys, *args) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of `main(args)` in this process: an argument error's
    SystemExit is its status."""
    try:
        status = main(list(args))
    except SystemExit as exc:
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_list_prints_every_model_with_its_size(capsys):
    """`list` prints every registered model with its comma-formatted parameter count and what it
    trains with by default (the original recipe, its own recipe, or: a search candidate only)."""
    from effmnist_utils.core.config import RECIPES
    from effmnist_utils.core.models import MODELS

    status, out, err = run_main(capsys, "list")
    assert status == 0, err
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == list(MODELS)
    for line, (name, count) in zip(lines, EXPECTED.items()):
        assert line.split()[:2] == [name, count] and line.endswith("original recipe"), line
    by_name = {line.split()[0]: " ".join(line.split()) for line in lines}
    assert by_name["f8a"] == "f8a 7,598 parameters recipe: schedule=onecycle, lr=0.01"
    assert by_name["t1b"] == "t1b 996 parameters recipe: schedule=onecycle, lr=0.02"
    assert by_name["f20a"] == "f20a 19,876 parameters search candidate (proxy runs only)"
    assert {name for name, line in by_name.items() if " recipe: " in line} == set(RECIPES)
    assert all(line.endswith(("original recipe", "(proxy runs only)")) or " recipe: schedule=onecycle, lr=" in line
               for line in lines)


@pytest.mark.parametrize("args, named", [
    (["iterx"], "iterx"),
    (["iter6", "--epochs", "0"], "--epochs"),
    (["iter6", "--batch-size", "-3"], "--batch-size"),
])
def test_bad_arguments_exit_2_with_one_line(args, named, capsys):
    """A bad argument exits 2 with one stderr line naming it, and no usage dump or traceback."""
    status, _, err = run_main(capsys, "train", *args)
    assert status == 2
    line = one_line(err)
    assert named in line and "error" in line


def test_unwritable_out_dir_exits_2_with_one_line(tmp_path, capsys):
    """An output dir that cannot be created is refused before any training starts."""
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    status, _, err = run_main(capsys, "train", "iter6", "--out-dir", str(blocker / "runs"))
    assert status == 2
    line = one_line(err)
    assert "output dir" in line and str(blocker / "runs") in line


@pytest.mark.slow
def test_the_module_is_a_command_whose_status_is_mains(tmp_path):
    """`python -m effmnist_utils` exits with main's status: 2 and one line for an argument
    argparse refuses, 1 and one line for one the command refuses; no traceback."""
    for args, status, named in ((["train", "iterx"], 2, "iterx"), (["plan", "nope"], 1, "nope")):
        result = cli(*args, cwd=tmp_path)
        assert result.returncode == status and named in one_line(result.stderr), result.stderr


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
def test_plan_bad_input_is_one_line(args, named, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    status, _, err = run_main(capsys, "plan", *args)
    assert status in (1, 2) and named in one_line(err), err
    assert not (tmp_path / "effmnist-runs").exists()


def test_plan_lists_every_plan(capsys):
    from effmnist_utils.studies.plans import plans

    status, out, err = run_main(capsys, "plan")
    assert status == 0, err
    assert [line.split()[0] for line in out.splitlines()] == list(plans())


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


# --- predict and serve: what the user is told --------------------------------------------------

def test_predict_prints_the_digit_of_each_png(mnist, tmp_path, capsys):
    """`predict --run` on PNGs drawn from test digits prints the run's name, then per file its
    path, the expected digit and the top 3 with their percentages."""
    from PIL import Image

    from effmnist_utils.use.digits import as_drawing

    paths = []
    for label, index in ((4, 4), (7, 0)):  # the test set's first 4 and first 7
        paths.append(tmp_path / f"my_{label}.png")
        Image.fromarray(as_drawing(mnist[1][0][index], size=240, at=(90, 30))).save(paths[-1])
    status, out, err = run_main(capsys, "predict", *map(str, paths), "--run", str(RUNS_DIR / "f8a_seed1.json"))
    assert status == 0, err
    lines = out.strip().splitlines()
    assert "f8a_seed1" in lines[0]
    for line, path, label in zip(lines[1:], paths, (4, 7)):
        assert line.startswith(f"{path}: {label} ") and line.count("%") == 3, line


@pytest.mark.parametrize("name, content, args, status, named", [
    ("missing.png", None, [], 1, "no such file"),
    ("notes.png", b"not a picture", [], 1, "not an image"),
    ("empty.png", b"", [], 1, "not an image"),
    ("white.png", "white", [], 1, "blank"),
    ("d.png", "digit", ["--model", "f99"], 2, "f99"),
    ("d.png", "digit", ["--run", "no/such/run.json"], 1, "no/such/run.json"),
])
def test_predict_bad_input_is_one_line_naming_it(name, content, args, status, named, mnist, tmp_path, capsys):
    """A missing file, a file that is not an image, an empty file, a blank image, an unknown model
    or a missing run file: a non-zero status and one line naming the file and the problem."""
    from PIL import Image

    from effmnist_utils.use.digits import as_drawing

    path = tmp_path / name
    if content == "white":
        Image.new("L", (64, 64), 255).save(path)
    elif content == "digit":
        Image.fromarray(as_drawing(mnist[1][0][0])).save(path)
    elif content is not None:
        path.write_bytes(content)
    code, _, err = run_main(capsys, "predict", str(path), *args)
    line = one_line(err)
    assert code == status and "error" in line and named in line, err
    assert name in line or args


def test_serve_without_the_runtime_is_one_line_naming_npm_ci(tmp_path, monkeypatch, capsys):
    """`serve` where ONNX Runtime Web is not installed: status 1 and one line naming the fix,
    before any port is opened."""
    from effmnist_utils.use import web

    root = tmp_path / "web"
    root.mkdir()
    (root / "index.html").write_text("")
    (root / web.MODEL_FILE).write_bytes(b"")
    monkeypatch.setattr(web, "WEB_DIR", root)
    monkeypatch.setattr(web, "make_server", lambda *a, **k: pytest.fail("serve opened a port"))
    status, _, err = run_main(capsys, "serve")
    line = one_line(err)
    assert status == 1 and line.startswith("error: ONNX Runtime Web is not installed")
    assert f"npm ci --prefix {root}" in line


def test_population_records_every_member(tmp_path, capsys):
    """`population MODEL --seeds` trains the seeds in one pass and records each member as a run of
    its seed (results file and weights that load_run reads), marked with its population."""
    from effmnist_utils.core.record import load_run

    status, out, err = run_main(capsys, "population", "t1b", "--seeds", "3,5", "--epochs", "1",
                                "--train-subset", "128", "--device", "cpu", "--out-dir", str(tmp_path))
    assert status == 0, err
    for k, seed in enumerate((3, 5)):
        name = f"t1b-epochs1-train_subset128_seed{seed}"
        assert f"seed {seed}: final test accuracy" in out and f"{name}.json" in out
        model, record = load_run(tmp_path / f"{name}.json")
        assert record["population"] == {"size": 2, "member": k, "seeds": [3, 5]}
        assert record["hparams"]["seed"] == seed and len(record["history"]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"t1b-epochs1-train_subset128_seed{s}.{ext}" for s in (3, 5) for ext in ("json", "pt"))


@pytest.mark.parametrize("seeds", ["1,1", "4-2", "a", ""])
def test_population_refuses_seeds_that_are_not_distinct_integers(seeds, capsys):
    status, _, err = run_main(capsys, "population", "t1b", "--seeds", seeds)
    assert status == 2 and "--seeds" in one_line(err) and "distinct seeds" in err
