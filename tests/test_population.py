"""Population training: each member trains as its solo run would (weights, BatchNorm statistics,
history), comes out as an ordinary recorded run, and what a population cannot train exactly is
refused by name."""
import json

import pytest
import torch

from effmnist_utils.core.config import HParams, auto_tag
from effmnist_utils.core.loaders import make_data
from effmnist_utils.core.loop import fit
from effmnist_utils.core.models import build_model
from effmnist_utils.core.population import fit_population
from effmnist_utils.core.population_runs import build_population, train_population
from effmnist_utils.core.record import load_run
from effmnist_utils.core.runtime import seeded
from effmnist_utils.core.checkpoint import TrainingError
from helpers import quiet_cpu

SEEDS = [1, 2, 3]
# Float tolerance. The stacked convolutions add up in another order than a solo run's, so the
# last digits differ from the first step on and grow step by step; Adam turns rounding noise in
# a near-zero gradient into a full step. So member k's change from its initial weights must
# match its solo run's within TOLERANCE (1 %) over the whole network, and within 10 % in each
# tensor: a conv bias in front of BatchNorm has no true gradient (the norm removes any shift),
# so it moves by weight decay and rounding noise alone. After these 4 steps on this 2-core CPU
# the whole-network gap was at most 0.06 % and one tensor's 1.3 % (such a bias); members matched with another seed's run are
# about 100 % apart. (iter6 trains with SGD here: under Adam those bias gradients' rounding noise
# becomes whole steps.)
TOLERANCE, TENSOR_TOLERANCE = 0.01, 0.1
CASES = {  # 2 epochs of 2 steps: both epoch boundaries (reshuffle, StepLR, evaluation) are crossed
    "f8a own recipe (Adam, one-cycle)": ("f8a", {}),
    "t1b AdamW, weight decay, label smoothing, EMA, more augmentation":
        ("t1b", dict(optimizer="adamw", weight_decay=0.05, label_smoothing=0.1, ema=0.9, translate=2.0)),
    "iter6 Nesterov SGD, weight decay, StepLR every epoch":
        ("iter6", dict(optimizer="sgd", lr=0.02, weight_decay=5e-4, step_size=1)),
    "t1b distilled from an iter6 (left in train mode: fit must use it in eval mode and leave it so)":
        ("t1b", dict(distill=0.5, teacher="runs/an_iter6")),
}
SLOW = ("iter6", "t1b distilled")


def _gap(state, reference, start) -> tuple[float, float, str]:
    """(||state - reference|| / ||reference - start|| over every float tensor together, the largest
    such ratio of one tensor, its name); integer buffers (BatchNorm's batch count) must be equal."""
    diff = moved = 0.0
    worst = (0.0, "")
    for name, ref in reference.items():
        if not ref.is_floating_point():
            assert torch.equal(state[name], ref), name
            continue
        d, m = (state[name] - ref).norm().item(), (ref - start[name]).norm().item()
        diff, moved = diff + d * d, moved + m * m
        worst = max(worst, (d / max(m, 1e-12), name))
    return (diff / moved) ** 0.5, *worst


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow) if c.startswith(SLOW) else c
                                  for c in CASES])
def test_each_member_trains_as_its_solo_run(case):
    """Member k after 4 steps holds the weights and BatchNorm statistics that `loop.fit` gives a
    solo run of seed k from the same initial weights and batches, within TOLERANCE; its history
    (train loss, validation) agrees; matched with another seed's solo run it does not."""
    model, settings = CASES[case]
    hp = HParams.for_model(model, epochs=2, batch_size=64, train_subset=128, val_size=256, **settings)
    data = make_data("cpu", hp, seed=SEEDS[0], read_test=False)
    teacher = None
    if hp.optim.teacher:
        with seeded(0, torch.device("cpu")):
            teacher = build_model("iter6")
    pop = build_population(model, SEEDS, "cpu")
    start = [pop.member_state(k) for k in range(len(SEEDS))]
    histories = fit_population(pop, data, SEEDS, hp, teacher=teacher)
    solos = []
    for k, seed in enumerate(SEEDS):
        solo_data = make_data("cpu", hp, seed=seed, read_test=False)
        with seeded(seed, torch.device("cpu")):
            solo = build_model(model)
            history = fit(solo, solo_data, hp.with_(seed=seed), teacher=teacher, progress=False)
        solos.append(solo.state_dict())
        gap, tensor_gap, name = _gap(pop.member_state(k), solos[k], start[k])
        print(f"seed {seed}: gap {gap:.1e} of the move; in one tensor {tensor_gap:.1e} ({name})")
        assert gap <= TOLERANCE and tensor_gap <= TENSOR_TOLERANCE, (seed, gap, name, tensor_gap)
        for ours, theirs in zip(histories[k], history):
            assert ours["train_loss"] == pytest.approx(theirs["train_loss"], rel=1e-4)
            assert ours["val_loss"] == pytest.approx(theirs["val_loss"], rel=1e-3)
    assert teacher is None or teacher.training
    for k in range(len(SEEDS)):  # the tolerance tells members apart
        other = (k + 1) % len(SEEDS)
        assert _gap(pop.member_state(k), solos[other], start[other])[0] > 30 * TOLERANCE


def test_members_are_recorded_as_ordinary_runs(tmp_path):
    """Each member is a recorded run of its seed: results file and weights that `load_run` reads
    into the ordinary network, the record marked with its population; the weights are the member's."""
    hp = HParams.for_model("t1b", epochs=1, train_subset=128, val_size=256)
    members, histories, records, _ = train_population(hp, [4, 5], quiet_cpu(tmp_path), read_test=False)
    for k, (seed, member, record) in enumerate(zip([4, 5], members, records)):
        model, loaded = load_run(tmp_path / f"{record['name']}.json")
        assert record["name"] == f"t1b-epochs1-val_size256-train_subset128_seed{seed}"
        assert loaded["seed"] == seed and loaded.hp == hp.with_(seed=seed)
        assert loaded["population"] == {"size": 2, "member": k, "seeds": [4, 5]}
        assert loaded["history"] == json.loads(json.dumps(histories[k]))
        assert "val_acc" in loaded["history"][-1] and "test_acc" not in loaded["history"][-1]
        assert isinstance(model, type(build_model("t1b")))
        for name, value in model.state_dict().items():
            assert torch.equal(value, member.state_dict()[name]), name
    assert not torch.equal(members[0].state_dict()["features.0.weight"], members[1].state_dict()["features.0.weight"])


def test_an_interrupted_population_resumes_to_the_same_weights(tmp_path):
    """Stopped in its second epoch's report (an `on_epoch` that raises, as a pruning search
    does), a population keeps its first epoch in its checkpoint; `resume=True` ends with the weights and
    histories of an uninterrupted population, and the checkpoint is gone once it is recorded."""
    from effmnist_utils.core.population_runs import checkpoint_path

    hp = HParams.for_model("t1b", epochs=2, train_subset=256, val_size=256, ema=0.9)
    whole = train_population(hp, [1, 2], quiet_cpu(tmp_path / "whole"), read_test=False)

    def stop(rows):
        if rows[0]["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_population(hp, [1, 2], quiet_cpu(tmp_path / "cut"), read_test=False, on_epoch=stop)
    ckpt = checkpoint_path(tmp_path / "cut", hp.with_(seed=1), [1, 2], auto_tag(hp))
    assert ckpt.is_file() and not list((tmp_path / "cut").glob("*.json"))
    trained = []
    resumed = train_population(hp, [1, 2], quiet_cpu(tmp_path / "cut"), read_test=False,
                               resume=True, on_epoch=lambda rows: trained.append(rows[0]["epoch"]))
    assert trained == [2] and not ckpt.exists()  # only the lost epoch trained again
    for a, b in zip(whole[0], resumed[0]):
        for name, value in a.state_dict().items():
            assert torch.equal(value, b.state_dict()[name]), name
    strip = [[{k: v for k, v in row.items() if "seconds" not in k and k != "elapsed"} for row in h] for h in resumed[1]]
    assert strip == [[{k: v for k, v in row.items() if "seconds" not in k and k != "elapsed"} for row in h]
                     for h in whole[1]]
    with pytest.raises(KeyboardInterrupt):  # a checkpoint of two members, read as three
        train_population(hp, [1, 2], quiet_cpu(tmp_path / "cut"), read_test=False, on_epoch=stop)
    ckpt.rename(checkpoint_path(tmp_path / "cut", hp.with_(seed=1), [1, 2, 3], auto_tag(hp)))
    with pytest.raises(TrainingError, match="holds 2 members, not 3"):
        train_population(hp, [1, 2, 3], quiet_cpu(tmp_path / "cut"), read_test=False, resume=True)


@pytest.mark.parametrize("settings, named", [
    (dict(model="iter6", loader="reference"), "loader='reference'"),
    (dict(model="iter6", channels_last=True), "channels_last=True"),
    (dict(model="iter6", compile_mode="default"), "compile_mode='default'"),
])
def test_settings_a_population_cannot_train_are_refused_by_name(settings, named, tmp_path):
    with pytest.raises(ValueError, match=f"population cannot train these settings: .*{named}"):
        train_population(HParams.for_model(**settings), [1, 2], quiet_cpu(tmp_path))
    assert not list(tmp_path.iterdir())


def test_a_network_with_dropout_and_a_wrong_seed_count_are_refused():
    with pytest.raises(ValueError, match="dropout.*features"):
        build_population("f8d", [1, 2], "cpu")
    pop = build_population("t1b", [1, 2], "cpu")
    with pytest.raises(ValueError, match="3 seeds for a population of 2"):
        fit_population(pop, None, [1, 2, 3], HParams.for_model("t1b"))
    with pytest.raises(ValueError, match="one batch per member"):
        pop(torch.zeros(3, 4, 1, 28, 28))
    with pytest.raises(ValueError, match="distinct seeds"):
        train_population(HParams.for_model("t1b"), [1, 1], "cpu")


def test_the_epoch_line_gives_a_spread_only_for_several_members(capsys):
    """Several members: their mean, min and max; one member (a CPU's population in a notebook):
    its own accuracy, not three equal numbers."""
    from effmnist_utils.core.population_runs import _print_epoch

    _print_epoch([{"epoch": 3, "val_acc": a, "seconds": 2.0} for a in (0.98, 0.99)])
    _print_epoch([{"epoch": 3, "val_acc": 0.97, "seconds": 2.0}])
    several, one = capsys.readouterr().out.splitlines()
    assert several == "epoch 3: val accuracy mean 98.50% (min 98.00%, max 99.00%; 2.0 s)"
    assert one == "epoch 3: val accuracy 97.00% (one member; 2.0 s)"
