"""Issue 11, the speedrun: a tiny timed run on the CPU, the CLI, and the tables (fabricated
records). Smoke tests only: no timing is asserted."""
import json
import subprocess
import sys
from dataclasses import asdict

import pytest
import torch

from effmnist_utils import speedrun as S
from effmnist_utils import speedtables as T
from effmnist_utils.loaders import Augment


def test_recipe_validates_and_round_trips():
    r = S.SpeedRecipe(model="d16 C16 p C32 C32 g", augment=Augment(), compile_mode="default")
    assert S.SpeedRecipe.from_dict(json.loads(json.dumps(asdict(r)))) == r
    assert "original augmentation" in r.describe() and "compile default" in r.describe()
    for bad in ({"precision": "fp16"}, {"compile_mode": "fast"}, {"epochs": 0}, {"lr": 0}):
        with pytest.raises(ValueError):
            S.SpeedRecipe(**bad)
    assert S.count_params(S.build(r, "cpu")) < T.MAX_PARAMS


def test_tiny_speedrun_times_and_evaluates_once(monkeypatch):
    """A one-epoch run on 512 images: a complete record, and the warm-up leaves the weights the
    seed gave them (so it does not train the measured model)."""
    recipe = S.SpeedRecipe(epochs=1, batch_size=200, augment=Augment(), channels_last=True)
    calls = []
    real = S.evaluate
    monkeypatch.setattr(S, "evaluate", lambda m, loader: calls.append(loader.num_images) or real(m, loader))
    rec = S.speedrun(recipe, seed=3, device="cpu", val_size=500, train_subset=512, tag="t")
    assert rec["name"] == "t_seed3" and rec["steps"] == 3 and rec["train_images"] == 512
    assert calls == [500, 10_000]  # validation, then the test set once, after training
    assert 0 <= rec["val_acc"] <= 1 and 0 <= rec["test_acc"] <= 1 and rec["train_seconds"] > 0
    assert rec["device"].startswith("cpu") and rec["params"] == 7_598
    # the warm-up restores the weights: a model built with the same seed is unchanged by it
    S.seed_everything(3)
    model = S.build(recipe, "cpu")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    data = S.make_data("cpu", batch_size=200, train_subset=512, augment=recipe.augment)
    S._warm_up(model, model, data.train, recipe, torch.device("cpu"))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def _rec(seed, acc, seconds=30.0, kind="cpu", tag="speedrun", params=16_794, val=None):
    return {"name": f"{tag}_seed{seed}", "tag": tag, "recipe": asdict(S.SpeedRecipe()), "seed": seed,
            "device": f"{kind} (fake)", "device_kind": kind, "params": params, "val_acc": val,
            "test_acc": acc, "train_seconds": seconds, "load_seconds": 1.0, "compile_seconds": 0.5}


def test_speed_table_shows_goal_and_misses():
    met = [_rec(s, a) for s, a in zip(range(1, 6), (0.9945, 0.9941, 0.9950, 0.9938, 0.9946))]
    missed = [_rec(s, a, 1.5, "cuda") for s, a in zip(range(1, 6), (0.9945, 0.9929, 0.9950, 0.9948, 0.9946))]
    rows = T.summarise(met + missed)
    assert [r["met"] for r in rows] == [True, False]
    assert rows[0]["test_mean"] == pytest.approx(99.44)
    table = T.render_speed_table(rows)
    cpu_line, cuda_line = table.splitlines()[2:]
    assert "| yes" in cpu_line and "miss" not in cpu_line and "99.44 %" in cpu_line
    assert "99.29 (miss)" in cuda_line and "| no: a seed < 99.30 %" in cuda_line
    slow = T.summarise([_rec(s, 0.995, 61.0) for s in range(1, 6)])[0]
    assert not slow["met"] and "61.0 s > 60.0 s" in slow["misses"][0]
    assert not T.summarise([_rec(1, 0.996)])[0]["met"]  # one seed is not five


def test_choose_takes_the_fastest_qualifying_run():
    rows = T.summarise([_rec(1, 0.99, 20.0, tag="slow", val=0.9960),
                        _rec(1, 0.99, 10.0, tag="fast-but-wrong", val=0.9930),
                        _rec(1, 0.99, 12.0, tag="fast", val=0.9950)])
    assert T.choose(rows)["tag"] == "fast"
    assert "fast-but-wrong" in T.render_search(rows)
    with pytest.raises(ValueError):
        T.choose(rows, min_val=99.9)


def test_recipe_for_unknown_kind_says_why(tmp_path):
    with pytest.raises(ValueError, match="no speedrun recipe"):
        S.recipe_for("mps", tmp_path)
    (tmp_path / "mps").mkdir()
    (tmp_path / "mps" / "chosen.json").write_text(json.dumps({"recipe": asdict(S.SpeedRecipe(epochs=2))}))
    assert S.recipe_for("mps", tmp_path).epochs == 2


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "effmnist_utils", "speedrun", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def test_cli_smoke_run_prints_and_records(tmp_path):
    result = cli("--device", "cpu", "--seeds", "1", "2", "--epochs", "1", "--train-subset", "256",
                 "--out-dir", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "seed 2: test accuracy" in result.stdout and "| device | recipe |" in result.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["smoke_seed1.json", "smoke_seed2.json"]


@pytest.mark.parametrize("args, named", [(["--device", "tpu"], "tpu"), (["--seeds", "x"], "--seeds"),
                                         (["--record", "--epochs", "1"], "--record")])
def test_cli_bad_input_is_one_line(args, named, tmp_path):
    result = cli(*args, cwd=tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode in (1, 2) and len(lines) == 1 and named in lines[0], result.stderr
