"""Tables of many runs: proxy runs ranked by validation accuracy, and what each lever measured
(fabricated records, so each expectation is worked out by hand)."""
from dataclasses import asdict

import pytest

from effmnist_utils.studies import lever_sweeps
from effmnist_utils.core.config import HParams


def _record(name, acc, params=100, seconds=None, loss=0.1):
    model = name.split("-")[0]
    rec = {"name": name, "model": model, "params": params, "seed": int(name.rsplit("_seed", 1)[1]),
           "hparams": asdict(HParams(model="iter5")), "history": [{"val_acc": acc, "val_loss": loss}]}
    return rec if seconds is None else {**rec, "train_seconds": seconds}


def test_a_proxy_applies_its_levers_to_the_original_recipe():
    """Not to the model's own recipe: f8a's own one-cycle must not leak into a proxy that names
    only the step schedule; the proxy holds out the validation images and keeps its tag."""
    run = lever_sweeps.proxy({"model": "f8a", "tag": "original", "step_size": 4}, epochs=5)
    assert run.hp.optim.schedule == "step" and run.hp.optim.step_size == 4
    assert (run.hp.optim.epochs, run.hp.val_size, run.hp.seed) == (5, 5000, 1)
    assert run.name == "f8a-original_seed1"


def test_rank_orders_by_validation_then_size():
    rows = lever_sweeps.rank([_record("a_seed1", 0.99, 200), _record("b_seed1", 0.99, 100),
                        _record("c_seed1", 0.98, 50)])
    assert [r["name"] for r in rows] == ["b_seed1", "a_seed1", "c_seed1"]
    assert "| b_seed1 | `b_seed1` | 100 | original recipe | 99.00 % | 0.1000 |" in lever_sweeps.render_ranking(rows)


def test_ranking_shows_each_runs_layer_string_beside_its_tag():
    table = lever_sweeps.render_ranking(lever_sweeps.rank([_record("f8b-oc01_seed1", 0.99), _record("iter6-x_seed1", 0.98)]))
    assert "| f8b-oc01_seed1 | `c8 c10 t8 p c12 c14 c16 c16 g` |" in table
    assert "| iter6-x_seed1 | `iter6` |" in table
    assert "| t1e-oc01_seed1 | `c4 s8 p s8 s10 s12 s12 g (bn0)` |" in lever_sweeps.render_ranking(
        lever_sweeps.rank([_record("t1e-oc01_seed1", 0.98)]))


def test_lever_steps_measure_after_minus_before_over_seeds():
    """A variant's value is the mean over its seeds: a = (99.0 + 99.2) / 2 = 99.1, b = 99.35."""
    recs = [_record("m-a_seed1", 0.990, seconds=20.0), _record("m-a_seed2", 0.992, seconds=10.0),
            _record("m-b_seed1", 0.9935, seconds=5.0)]
    rows = lever_sweeps.lever_steps(recs, [("lever x", "m-a", "m-b")])
    assert rows[0]["delta"] == pytest.approx(0.25) and rows[0]["seconds_before"] == 15.0
    table = lever_sweeps.render_lever_steps(rows, seconds=True)
    assert "| lever x | m-a → m-b | 99.10 % | 99.35 % | +0.25 | 15.0 → 5.0 | 3.00× |" in table
    assert "×" not in lever_sweeps.render_lever_steps(rows)  # no speed columns unless asked
    with pytest.raises(ValueError, match="no recorded run of m-c"):
        lever_sweeps.lever_steps(recs, [("lever y", "m-a", "m-c")])


def test_lever_steps_compare_seconds_only_on_one_cpu_model():
    """Seconds of two machines measure the machines: a variant timed on two CPU models, or two
    variants timed on different ones, give no speed-up; the accuracy is still compared."""
    def on(name, cpu, seconds):
        return {**_record(name, 0.99, seconds=seconds), "cpu": cpu}
    recs = [on("m-a_seed1", "Intel", 20.0), on("m-b_seed1", "AMD", 10.0),
            on("m-c_seed1", "Intel", 30.0), on("m-c_seed2", "AMD", 40.0), on("m-d_seed1", "Intel", 5.0)]
    rows = lever_sweeps.lever_steps(recs, [("across", "m-a", "m-b"), ("mixed", "m-c", "m-d"), ("same", "m-a", "m-d")])
    assert [(r["seconds_before"], r["seconds_after"]) for r in rows] == [(None, None), (None, None), (20.0, 5.0)]
    table = lever_sweeps.render_lever_steps(rows, seconds=True)
    assert "| across | m-a → m-b | 99.00 % | 99.00 % | +0.00 | not comparable: timed on different CPUs | — |" in table
    assert "| same | m-a → m-d | 99.00 % | 99.00 % | +0.00 | 20.0 → 5.0 | 4.00× |" in table


def test_lever_steps_judge_a_delta_by_its_seeds_spread():
    """With seeds on both sides the table gives Δ's standard error, sqrt(sd_a²/n_a + sd_b²/n_b),
    and calls Δ beyond noise only above twice it; one seed gives no spread to judge by."""
    recs = [_record("m-a_seed1", 0.9950), _record("m-a_seed2", 0.9952), _record("m-a_seed3", 0.9954),
            _record("m-b_seed1", 0.9960), _record("m-b_seed2", 0.9962), _record("m-b_seed3", 0.9964),
            _record("m-c_seed1", 0.9952), _record("m-c_seed2", 0.9954), _record("m-c_seed3", 0.9956),
            _record("m-d_seed1", 0.9990)]
    rows = lever_sweeps.lever_steps(recs, [("far", "m-a", "m-b"), ("near", "m-a", "m-c"), ("one", "m-a", "m-d")])
    assert rows[0]["se"] == pytest.approx((2 * 0.02 ** 2 / 3) ** 0.5)  # sd 0.02 points on each side
    table = lever_sweeps.render_lever_steps(rows, spread=True)
    assert table.splitlines()[0].count("|") == 9  # 8 columns: no stray pipe in a header
    assert "| far | m-a → m-b | 99.52 % | 99.62 % | +0.10 | 1, 2, 3 → 1, 2, 3 | 0.02 | yes |" in table
    assert "| near | m-a → m-c | 99.52 % | 99.54 % | +0.02 | 1, 2, 3 → 1, 2, 3 | 0.02 | no: within noise |" in table
    assert "| one | m-a → m-d | 99.52 % | 99.90 % | +0.38 | 1, 2, 3 → 1 | — | unknown: one seed |" in table
