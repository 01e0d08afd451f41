"""The training loop: reproducibility, exact resume, refusals, bf16 autocast, and real accuracy."""
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from effmnist_utils.core.config import HParams, auto_tag, run_name
from effmnist_utils.core.loaders import DeviceLoader, make_data
from effmnist_utils.core.loop import (TrainingError, WeightAverage, evaluate, fit, load_checkpoint, make_optimizer,
                                 make_scheduler, save_checkpoint, train_step)
from effmnist_utils.core.models import build_model
from effmnist_utils.core.runs import train_run
from helpers import LEARNED_ACC, LEARNED_LOSS, SHORT, quiet_cpu, without_timing


def _assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.slow
def test_same_seed_same_history(short_run, tmp_path):
    """Two CPU runs with the same seed produce exactly the same losses, accuracies and weights,
    and another seed does not."""
    _, model, history, _ = short_run
    weights = model.state_dict()
    again, history_again, _, _ = train_run(SHORT, quiet_cpu(tmp_path / "a"))
    assert without_timing(history_again) == without_timing(history)
    _assert_same_weights(again.state_dict(), weights)
    _, other, _, _ = train_run(SHORT.with_(seed=2), quiet_cpu(tmp_path / "b"))
    assert without_timing(other) != without_timing(history)


@pytest.mark.slow
def test_keeping_freed_memory_changes_no_number(short_run, tmp_path):
    """allocator="keep" (glibc keeps freed memory: a speed lever) trains exactly the same losses,
    accuracies and weights. In a child process: the setting lasts for the process's life."""
    _, model, history, _ = short_run
    code = ("import sys; sys.path.insert(0, 'tests'); from helpers import SHORT; "
            "from helpers import quiet_cpu; from effmnist_utils.core.runs import train_run; "
            "from effmnist_utils.core.runtime import keep_freed_memory; keep_freed_memory(); "
            f"train_run(SHORT.with_(allocator='keep'), quiet_cpu({str(tmp_path)!r}), tag='k')")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1], timeout=300)
    name = run_name(SHORT, "k")
    record = json.loads((tmp_path / f"{name}.json").read_text())
    assert record["hparams"]["allocator"] == "keep"
    assert without_timing(record["history"]) == without_timing(history)
    _assert_same_weights(torch.load(tmp_path / f"{name}.pt", weights_only=True), model.state_dict())


def test_keep_freed_memory_names_the_fix_without_glibc(monkeypatch):
    """Where the C library has no mallopt (macOS, Windows) "keep" is refused, naming the default."""
    from effmnist_utils.core import runtime

    def no_libc(name):
        raise OSError(name)
    monkeypatch.setattr(runtime.ctypes, "CDLL", no_libc)
    with pytest.raises(ValueError, match="allocator 'keep' needs Linux.*use allocator='default'"):
        runtime.keep_freed_memory()


@pytest.mark.slow
@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_resume_equals_uninterrupted(ema, tmp_path, monkeypatch):
    """A run interrupted after epoch 2 and resumed ends exactly as an uninterrupted one (the
    weights' moving average included)."""
    hp = SHORT.with_(epochs=3, ema=ema)
    straight, history_a, _, _ = train_run(hp, quiet_cpu(tmp_path / "a"))

    set_epoch = DeviceLoader.set_epoch

    def interrupt_at_epoch_3(self, epoch):
        if epoch == 3:
            raise KeyboardInterrupt  # as Ctrl-C at the start of epoch 3
        set_epoch(self, epoch)

    with monkeypatch.context() as patch:
        patch.setattr(DeviceLoader, "set_epoch", interrupt_at_epoch_3)
        with pytest.raises(KeyboardInterrupt):
            train_run(hp, quiet_cpu(tmp_path / "b"))
    ckpt = tmp_path / "b" / f"{run_name(hp, auto_tag(hp))}.ckpt"
    assert len(torch.load(ckpt, weights_only=False)["history"]) == 2
    assert not (tmp_path / "b" / f"{run_name(hp, auto_tag(hp))}.json").exists()  # not recorded as finished

    epochs_run = []

    def record_epoch(self, epoch):
        epochs_run.append(epoch)
        set_epoch(self, epoch)

    with monkeypatch.context() as patch:
        patch.setattr(DeviceLoader, "set_epoch", record_epoch)
        resumed, history_b, _, _ = train_run(hp, quiet_cpu(tmp_path / "b"), resume=True)
    # it really continued (a run that ignored the checkpoint and started over would, being
    # deterministic, also end equal to run A)
    assert epochs_run == [3]
    assert without_timing(history_b) == without_timing(history_a)
    _assert_same_weights(straight.state_dict(), resumed.state_dict())
    assert not ckpt.exists()  # a finished run leaves no checkpoint behind


def test_existing_checkpoint_needs_resume(tmp_path):
    """train_run will not silently start over an unfinished run's checkpoint."""
    ckpt = tmp_path / f"{run_name(SHORT, auto_tag(SHORT))}.ckpt"
    ckpt.write_bytes(b"unfinished")
    with pytest.raises(TrainingError, match=f"{re.escape(ckpt.name)}.*resume"):
        train_run(SHORT, quiet_cpu(tmp_path))
    assert ckpt.read_bytes() == b"unfinished"  # and leaves it alone


def test_resume_refuses_a_checkpoint_of_other_settings(tmp_path):
    """A checkpoint written with other settings is not resumed with these."""
    model = build_model("iter6")
    optimizer = make_optimizer(model, SHORT.optim)
    scheduler = make_scheduler(optimizer, SHORT.optim, 8)
    path = tmp_path / "run.ckpt"
    save_checkpoint(path, SHORT, model, optimizer, scheduler, [{"epoch": 1}])
    assert load_checkpoint(path, SHORT, model, optimizer, scheduler) == [{"epoch": 1}]
    with pytest.raises(TrainingError, match="other settings"):
        load_checkpoint(path, SHORT.with_(lr=0.01), model, optimizer, scheduler)


def test_non_finite_loss_stops_the_run():
    """A NaN loss stops training with a TrainingError that suggests a lower learning rate."""
    data = make_data("cpu", HParams(train_subset=256))
    model = build_model("iter6")
    model.register_forward_hook(lambda module, inputs, output: output * float("nan"))
    with pytest.raises(TrainingError, match="learning rate"):
        fit(model, data, HParams.for_model("iter6", epochs=1, train_subset=256), progress=False)


def test_a_step_model_without_len_takes_the_steps():
    """torch.compile's wrapper raises on len() (so bool() of it raises too): the epoch must take
    its steps through the wrapper it is given, never test the wrapper's truth."""
    class Wrapper(torch.nn.Module):  # like OptimizedModule: forwards to the model, refuses len()
        def __init__(self, inner):
            super().__init__()
            self.inner, self.calls = inner, 0

        def forward(self, x):
            self.calls += 1
            return self.inner(x)

        def __len__(self):
            raise TypeError("no len()")

    from effmnist_utils.core.loop import Stepper, train_epoch
    hp = HParams.for_model("iter6", epochs=1, train_subset=256)
    data = make_data("cpu", hp)
    model = build_model("iter6")
    wrapper = Wrapper(model)
    optimizer = make_optimizer(model, hp.optim)
    stepper = Stepper(model, optimizer, make_scheduler(optimizer, hp.optim, len(data.train)), step_model=wrapper)
    train_epoch(stepper, data.train, hp, 1, False)
    assert wrapper.calls == len(data.train)


def test_weight_average_follows_its_decay():
    """average <- decay x average + (1 - decay) x current, after every update; integer buffers
    (BatchNorm's batch count) are copied; swapped in for a block, then the trained weights return."""
    net = torch.nn.Sequential(torch.nn.Linear(1, 1, bias=False), torch.nn.BatchNorm1d(1))
    with torch.no_grad():
        net[0].weight.fill_(0.0)
    ema = WeightAverage(net, decay=0.9)
    with torch.no_grad():
        net[0].weight.fill_(1.0)
    net[1].num_batches_tracked += 5
    ema.update()
    ema.update()
    assert ema.state["0.weight"].item() == pytest.approx(0.19)  # 0.9 x 0.1 + 0.1 x 1
    assert ema.state["1.num_batches_tracked"].item() == 5
    with ema.swapped_into(net):
        assert net[0].weight.item() == pytest.approx(0.19)
    assert net[0].weight.item() == 1.0


def test_an_averaged_run_ends_holding_the_weights_it_was_judged_by():
    """With ema the recorded test accuracy is the average's, and the model ends holding it: not
    the last trained weights (which a run without ema ends with)."""
    hp = HParams.for_model("iter5", epochs=1, train_subset=512, batch_size=64)
    data = make_data("cpu", hp)
    results = {}
    for ema in (0.0, 0.9):
        torch.manual_seed(0)
        model = build_model("iter5")
        history = fit(model, data, hp.with_(ema=ema), progress=False)
        results[ema] = model.state_dict(), history[-1]["test_loss"]
        assert evaluate(model, data.test)[0] == history[-1]["test_loss"]
    assert results[0.0][1] != results[0.9][1]
    first = next(k for k, v in results[0.0][0].items() if v.is_floating_point())
    assert not torch.equal(results[0.0][0][first], results[0.9][0][first])


def _distilled_step(labels, distill, teacher=True):
    torch.manual_seed(0)
    student, mentor = build_model("iter5"), build_model("iter6").eval()
    optimizer = make_optimizer(student, HParams().optim)
    x = torch.randn(16, 1, 28, 28)
    loss, _ = train_step(student, optimizer, x, labels, teacher=mentor if teacher else None, distill=distill)
    return loss.item(), [p.detach().clone() for p in student.parameters()]


def test_distillation_weight_one_learns_from_the_teacher_alone():
    """At weight 1 the labels play no part (any labels, one step, the same loss and weights); at
    weight 0 the teacher plays none; in between, both do."""
    y, other = torch.arange(16) % 10, (torch.arange(16) + 3) % 10
    for distill, same in ((1.0, True), (0.5, False)):
        (a, wa), (b, wb) = _distilled_step(y, distill), _distilled_step(other, distill)
        assert (a == b and all(torch.equal(p, q) for p, q in zip(wa, wb))) is same, distill
    plain, with_teacher = _distilled_step(y, 0.0, teacher=False), _distilled_step(y, 0.0)
    assert plain[0] == with_teacher[0] and all(torch.equal(p, q) for p, q in zip(plain[1], with_teacher[1]))
    assert _distilled_step(y, 0.5)[0] != plain[0]


def test_fit_refuses_a_teacher_its_settings_do_not_name():
    data = make_data("cpu", HParams(train_subset=256))
    hp = HParams.for_model("iter5", epochs=1, train_subset=256)
    with pytest.raises(ValueError, match="runs.load_teacher"):
        fit(build_model("iter5"), data, hp, progress=False, teacher=build_model("iter6"))
    with pytest.raises(ValueError, match="runs.load_teacher"):
        fit(build_model("iter5"), data, hp.with_(distill=0.5, teacher="runs/x_seed1"), progress=False)


@pytest.mark.slow
def test_fit_records_validation_every_epoch_and_test_once(tmp_path):
    """With a validation split, every epoch records validation; the test set only the last. Each
    row's `elapsed` is the wall-clock time since training started (what the time to the target
    is read from): it trails a clock read at the end of each epoch by the same set-up time."""
    hp = HParams.for_model("iter5", epochs=2, train_subset=256, val_size=500)
    data = make_data("cpu", hp)
    ends = []
    start = time.perf_counter()
    history = fit(build_model("iter5"), data, hp, progress=False,
                  on_epoch=lambda row: ends.append(time.perf_counter() - start))
    assert [r["epoch"] for r in history] == [1, 2]
    assert all("val_acc" in r and "val_loss" in r for r in history)
    assert ["test_acc" in r for r in history] == [False, True]
    lags = [end - r["elapsed"] for end, r in zip(ends, history)]
    assert len(lags) == 2 and all(lag >= 0 for lag in lags), lags
    # an elapsed that left out epoch 1 would lag a whole epoch more at epoch 2
    assert lags[1] == pytest.approx(lags[0], abs=0.25 * history[0]["seconds"]), lags


# --- bf16 autocast ------------------------------------------------------------------------------


@pytest.mark.parametrize("precision, dtype", [("fp32", torch.float32), ("bf16", torch.bfloat16)])
def test_train_step_computes_in_the_requested_precision(precision, dtype):
    """bf16 runs the convolutions in bfloat16 (autocast), fp32 does not; the loss, the returned
    log-probabilities and the weights stay float32 either way."""
    torch.manual_seed(0)
    model = build_model("iter6")
    seen = []
    model.features[0].register_forward_hook(lambda m, i, out: seen.append(out.dtype))
    x, y = torch.randn(16, 1, 28, 28), torch.randint(0, 10, (16,))
    loss, out = train_step(model, make_optimizer(model, SHORT.optim), x, y, precision)
    assert seen == [dtype]
    assert loss.dtype == out.dtype == torch.float32 and torch.isfinite(loss)
    assert all(p.dtype == torch.float32 for p in model.parameters())


@pytest.mark.slow
def test_bf16_run_learns_like_fp32_but_is_not_fp32(learned_run, tmp_path):
    """The same seed's bf16 and fp32 runs both learn (train loss far below chance's 2.30, real
    test accuracy), reach about the same numbers, and are not bit-identical (autocast is on)."""
    hp, fp32_model, fp32, _ = learned_run
    bf16_hp = hp.with_(precision="bf16")
    model, bf16, record, _ = train_run(bf16_hp, quiet_cpu(tmp_path))
    assert record["hparams"]["precision"] == "bf16"
    assert all(p.dtype == torch.float32 for p in model.parameters())
    for history in (fp32, bf16):
        assert history[0]["train_loss"] < LEARNED_LOSS, history  # measured 0.943 / 0.951
        assert history[0]["test_acc"] > LEARNED_ACC, history  # measured 0.910 / 0.928
    # measured: train loss 0.943 vs 0.951 (seed 2: 0.911 vs 0.916); test accuracy 90.96 % vs
    # 92.82 % (seed 2: 93.86 % vs 93.82 %)
    assert abs(bf16[0]["train_loss"] - fp32[0]["train_loss"]) < 0.1
    assert abs(bf16[0]["test_acc"] - fp32[0]["test_acc"]) < 0.05
    assert bf16[0]["train_loss"] != fp32[0]["train_loss"]
    assert any(not torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                     fp32_model.state_dict().values()))


# --- real accuracy ------------------------------------------------------------------------------

# The original recipe's constant lr 1e-3 reaches 97.65% after its first epoch (seed 1, this CPU,
# see results/runs/iter6_seed1.json): it is tuned for 20 epochs. With a one-epoch budget the
# same model, loader and data get a one-cycle schedule (peak 0.01), which measured 99.05% here.
# 98.5% is the brief's bar; an untrained or badly fed model is far below it.
ONE_EPOCH_ACC = 0.985


@pytest.mark.slow
def test_one_epoch_reaches_real_accuracy(tmp_path):
    """iter6 trained one epoch on all 60k images with the fast loader actually learns MNIST."""
    hp = HParams.for_model("iter6", epochs=1, seed=1, loader="fast", schedule="onecycle", lr=0.01)
    _, history, _, _ = train_run(hp, quiet_cpu(tmp_path))
    assert history[-1]["test_acc"] >= ONE_EPOCH_ACC, history[-1]


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_fit_leaves_the_model_and_teacher_as_it_found_them(mode):
    """fit changes the weights only: the model ends in the mode it came in (fit evaluates in eval
    mode) and, after a channels_last run, in its contiguous memory format; a teacher ends in its
    own mode with its weights, memory format and requires_grad untouched."""
    hp = HParams.for_model("iter6", epochs=1, train_subset=128, batch_size=64, channels_last=True,
                           distill=0.5, teacher="runs/any")
    data = make_data("cpu", hp)
    data.test = None
    model, teacher = build_model("iter6").train(mode == "train"), build_model("f8a").train(mode == "train")
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    weights = model.features[0].weight.clone()
    fit(model, data, hp, teacher=teacher, progress=False)
    assert model.training == (mode == "train") and teacher.training == (mode == "train")
    assert not torch.equal(model.features[0].weight, weights)  # it did train
    assert all(p.is_contiguous() for p in model.parameters())
    assert all(p.requires_grad for p in teacher.parameters())
    _assert_same_weights(teacher.state_dict(), before)  # in train mode its BatchNorm statistics would move


def test_as_found_restores_a_channels_last_model():
    """A model that came in channels_last goes back to it after a block that made it contiguous."""
    from effmnist_utils.core.runtime import as_found

    model = build_model("f8a").to(memory_format=torch.channels_last).eval()
    with as_found(model):
        model.to(memory_format=torch.contiguous_format).train()
    assert not model.training
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in model.parameters() if p.dim() == 4)
    assert not all(p.is_contiguous() for p in model.parameters() if p.dim() == 4)
