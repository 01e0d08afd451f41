"""Where training time goes: multiply-adds counted against a hand count, a step's phases, and
recipes compared side by side (fake profiles, so the order and the medians are known). No
timing is asserted."""
import pytest
import torch
from torch import nn

from effmnist_utils.core import cost
from effmnist_utils.core.config import HParams
from effmnist_utils.core.models import build_model
from effmnist_utils.core.runtime import use_allocator


def tiny():
    """6x6 in: a 3x3 conv to 2 channels (4x4 out), BatchNorm, ReLU, a strided grouped 3x3 conv
    to 4 channels (2x2 out, 2 groups: depthwise, two filters per input channel), then Linear 16 -> 3."""
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(),
                         nn.Conv2d(2, 4, 3, stride=2, padding=1, groups=2), nn.Flatten(), nn.Linear(16, 3))


def test_multiply_adds_match_a_hand_count():
    """conv1: 2x4x4 = 32 outputs, each reading 1 channel x 3x3 = 9 inputs: 288; conv2: 4x2x2 = 16
    outputs, each reading 2/2 channels x 9 = 9: 144; linear: 3 outputs x 16 inputs: 48."""
    model = tiny().train()
    rows = cost.count_macs(model, size=6)
    assert [(r["layer"], r["shape"], r["values"], r["macs"]) for r in rows] == [
        ("conv1 3x3", (2, 4, 4), 32, 288), ("conv2 3x3 dw stride 2", (4, 2, 2), 16, 144),
        ("linear", (3,), 3, 48)]
    assert cost.total_macs(model, size=6) == 480
    assert model.training and not any(m._forward_hooks for m in model.modules())  # left as found


def test_fast_network_multiply_adds_by_hand():
    """`fast` on 28x28: a strided 3x3 conv 1 -> 16 (14x14), a padded 3x3 16 -> 16 (14x14), the pool,
    two padded 3x3s 16 -> 32 and 32 -> 32 (7x7), Linear 32 -> 10."""
    by_hand = 14 * 14 * 16 * 9 + 14 * 14 * 16 * 16 * 9 + 7 * 7 * 32 * 16 * 9 + 7 * 7 * 32 * 32 * 9 + 32 * 10
    assert cost.total_macs(build_model("fast")) == by_hand == 1_157_504


def fake_images(n=64):
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=g), torch.randint(0, 10, (n,), generator=g)


@pytest.mark.parametrize("levers", [{}, {"precision": "bf16", "channels_last": True}])
def test_profile_step_splits_a_step_into_its_phases(levers):
    hp = HParams.for_model("fast", batch_size=16, schedule="onecycle", lr=0.01, **levers)
    p = cost.profile_step(hp, "cpu", steps=2, warmup=1, images=fake_images())
    assert set(p) == {*cost.PHASES, "total", "batch_size", "images_per_s"}
    assert all(p[k] > 0 for k in cost.PHASES)
    assert p["total"] == pytest.approx(sum(p[k] for k in cost.PHASES))
    assert p["images_per_s"] == pytest.approx(16 / p["total"]) and p["batch_size"] == 16


@pytest.mark.parametrize("settings, words", [({"compile_mode": "default"}, "compile_mode"),
                                             ({"loader": "reference"}, "fast loader")])
def test_profile_step_refuses_what_it_cannot_time(settings, words):
    with pytest.raises(ValueError, match=words):
        cost.profile_step(HParams.for_model("fast", batch_size=16, **settings), "cpu", steps=1, images=fake_images())
    with pytest.raises(ValueError, match="steps"):
        cost.profile_step(HParams.for_model("fast"), "cpu", steps=0, images=fake_images())


def test_compare_recipes_times_kept_memory_last_and_keeps_the_fastest_rounds(monkeypatch):
    """A recipe that keeps freed memory changes the process for good: its rounds come after every
    other recipe's, whatever the order given; each phase is its fastest round's."""
    calls, pace = [], iter([5, 9, 3, 1, 6, 7, 4, 8, 2])
    monkeypatch.setattr(cost, "load_mnist", lambda: (fake_images(), None, "fake"))

    def fake(hp, device, steps, warmup, images):
        calls.append(hp.model)
        s = next(pace)
        return {"data": s, "forward": 2 * s, "backward": 10 - s, "optimizer": 0, "total": 9 + 2 * s,
                "batch_size": hp.optim.batch_size}

    monkeypatch.setattr(cost, "profile_step", fake)
    recipes = {"kept": HParams.for_model("fast", allocator="keep"), "a": HParams.for_model("f8a"),
               "b": HParams.for_model("iter6", batch_size=64)}
    out = cost.compare_recipes(recipes, rounds=3)
    assert calls == ["f8a", "iter6"] * 3 + ["fast"] * 3
    # a gets 5, 3, 6; b gets 9, 1, 7; kept, last, gets 4, 8, 2 (data = s, forward = 2s, backward = 10 - s)
    assert (out["a"]["data"], out["a"]["forward"], out["a"]["backward"]) == (3, 6, 4)
    assert (out["b"]["data"], out["b"]["backward"], out["kept"]["backward"]) == (1, 1, 2)
    assert out["b"]["total"] == 1 + 2 + 1 + 0  # the phases' fastest rounds added up
    assert out["b"]["images_per_s"] == pytest.approx(64 / 4)
    with pytest.raises(ValueError, match="one recipe"):
        cost.compare_recipes({})


def test_an_unknown_allocator_is_refused():
    with pytest.raises(ValueError, match="'default' or 'keep'"):
        use_allocator("fast")
    use_allocator("default")  # changes nothing


def test_figures_draw_every_network_and_phase():
    counts = {n: cost.count_macs(build_model(n)) for n in ("f8a", "fast")}
    fig = cost.plot_macs(counts)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["f8a", "fast"]
    assert [t.get_text() for t in fig.axes[0].texts] == ["1.43", "1.16"]  # millions
    assert [t.get_text() for t in fig.axes[1].texts] == ["24.9", "9.4"]  # thousands
    row = {"data": 0.01, "forward": 0.02, "backward": 0.03, "optimizer": 0.04, "batch_size": 100}
    fig = cost.plot_step_profile({"x": row, "y": {**row, "batch_size": 200}}, images=1000)
    assert [t.get_text() for t in fig.axes[0].texts] == [" 1.0 s", " 0.5 s"]
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == list(cost.PHASES)


def test_a_notebook_times_fewer_steps_under_the_regression_tests(monkeypatch):
    from effmnist_utils.core.config import notebook_steps

    monkeypatch.setenv("EFFMNIST_FAST", "1")
    assert (notebook_steps(20), notebook_steps(1)) == (2, 1)
    monkeypatch.delenv("EFFMNIST_FAST")
    assert notebook_steps(20) == 20
