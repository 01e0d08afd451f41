"""The training loop: reproducibility, resuming, refusals, the run record, and real accuracy."""
import json
from dataclasses import asdict

import pytest
import torch

from effmnist_utils.data import DeviceLoader, make_data
from effmnist_utils.models import build_model, count_params
from effmnist_utils.train import HParams, TrainingError, fit, pick_device, train_run

TIMING = {"seconds", "elapsed"}
SHORT = dict(model="iter6", epochs=2, train_subset=1024)


def _without_timing(history):
    return [{k: v for k, v in row.items() if k not in TIMING} for row in history]


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """One short recorded run: (hp, out_dir, model, history, record)."""
    hp, out_dir = HParams(**SHORT), tmp_path_factory.mktemp("short_run")
    model, history, record, _ = train_run(hp, "cpu", out_dir=out_dir, progress=False)
    return hp, out_dir, model, history, record


def test_same_seed_same_history(short_run, tmp_path):
    """Two CPU runs with the same seed produce exactly the same losses and accuracies."""
    hp, _, _, history, _ = short_run
    _, again, _, _ = train_run(hp, "cpu", out_dir=tmp_path, progress=False)
    assert _without_timing(again) == _without_timing(history)


def test_resume_equals_uninterrupted(tmp_path, monkeypatch):
    """A run interrupted after epoch 2 and resumed ends exactly as an uninterrupted one."""
    hp = HParams(**{**SHORT, "epochs": 3})
    straight, history_a, _, _ = train_run(hp, "cpu", out_dir=tmp_path / "a", progress=False)

    set_epoch = DeviceLoader.set_epoch

    def interrupt_at_epoch_3(self, epoch):
        if epoch == 3:
            raise KeyboardInterrupt  # as Ctrl-C at the start of epoch 3
        set_epoch(self, epoch)

    with monkeypatch.context() as patch:
        patch.setattr(DeviceLoader, "set_epoch", interrupt_at_epoch_3)
        with pytest.raises(KeyboardInterrupt):
            train_run(hp, "cpu", out_dir=tmp_path / "b", progress=False)
    ckpt = tmp_path / "b" / f"{hp.run_name()}.ckpt"
    assert len(torch.load(ckpt, weights_only=False)["history"]) == 2

    epochs_run = []

    def record_epoch(self, epoch):
        epochs_run.append(epoch)
        set_epoch(self, epoch)

    with monkeypatch.context() as patch:
        patch.setattr(DeviceLoader, "set_epoch", record_epoch)
        resumed, history_b, _, _ = train_run(hp, "cpu", out_dir=tmp_path / "b", resume=True,
                                             progress=False)
    # it really continued (a run that ignored the checkpoint and started over would, being
    # deterministic, also end equal to run A)
    assert epochs_run == [3]
    assert _without_timing(history_b) == _without_timing(history_a)
    a, b = straight.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert not ckpt.exists()  # a finished run leaves no checkpoint behind


def test_existing_checkpoint_needs_resume(tmp_path):
    """train_run will not silently start over an unfinished run's checkpoint."""
    hp = HParams(**SHORT)
    (tmp_path / f"{hp.run_name()}.ckpt").write_bytes(b"unfinished")
    with pytest.raises(TrainingError, match="resume"):
        train_run(hp, "cpu", out_dir=tmp_path, progress=False)


def test_non_finite_loss_stops_the_run():
    """A NaN loss stops training with a TrainingError that suggests a lower learning rate."""
    data = make_data("cpu", train_subset=256)
    model = build_model("iter6")
    model.register_forward_hook(lambda module, inputs, output: output * float("nan"))
    with pytest.raises(TrainingError, match="learning rate"):
        fit(model, data, HParams(epochs=1, train_subset=256), progress=False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_pick_device_refuses_absent_cuda():
    """Asking for CUDA where there is none is an error, not a silent fall-back to the CPU."""
    with pytest.raises(ValueError, match="not available"):
        pick_device("cuda")


@pytest.mark.skipif(torch.cuda.is_available() or torch.backends.mps.is_available(),
                    reason="needs a CPU-only machine")
def test_pick_device_auto_is_cpu_here():
    """'auto' falls back to the CPU when there is no accelerator."""
    assert pick_device("auto") == torch.device("cpu")


def test_pick_device_rejects_unknown_kind():
    """An unknown device kind is a ValueError."""
    with pytest.raises(ValueError, match="unknown device"):
        pick_device("tpu")


def test_run_record_and_weights(short_run):
    """train_run writes a complete results JSON and a .pt that loads into a fresh model."""
    hp, out_dir, model, history, record = short_run
    saved = json.loads((out_dir / f"{hp.run_name()}.json").read_text())
    for key in ("model", "params", "hparams", "seed", "history", "final_test_acc",
                "best_test_acc", "seconds_to_target", "device", "torch", "git_commit"):
        assert key in saved, key
    assert saved["model"] == "iter6" and saved["seed"] == 1
    assert saved["params"] == count_params(build_model("iter6")) == 13_562
    assert saved["hparams"] == asdict(hp)
    assert saved["history"] == history and len(history) == 2
    assert saved["final_test_acc"] == history[-1]["test_acc"]
    assert saved["best_test_acc"] == max(r["test_acc"] for r in history)
    assert saved["device"].startswith("cpu") and saved["torch"] == torch.__version__
    assert not (out_dir / f"{hp.run_name()}.ckpt").exists()

    fresh = build_model("iter6")
    fresh.load_state_dict(torch.load(out_dir / f"{hp.run_name()}.pt", weights_only=True))
    for key, value in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key


# The seed recipe's constant lr 1e-3 reaches 97.65% after its first epoch (seed 1, this CPU,
# see results/runs/iter6_seed1.json): it is tuned for 20 epochs. With a one-epoch budget the
# same model, loader and data get a one-cycle schedule (peak 0.01), which measured 99.05% here.
# 98.5% is the brief's bar; an untrained or badly fed model is far below it.
ONE_EPOCH_ACC = 0.985


@pytest.mark.slow
def test_one_epoch_reaches_real_accuracy(tmp_path):
    """iter6 trained one epoch on all 60k images with the fast loader actually learns MNIST."""
    hp = HParams(model="iter6", epochs=1, seed=1, loader="fast", schedule="onecycle", lr=0.01)
    _, history, _, _ = train_run(hp, "cpu", out_dir=tmp_path, progress=False)
    assert history[-1]["test_acc"] >= ONE_EPOCH_ACC, history[-1]
