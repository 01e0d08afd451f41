"""Where a run computes: device choice, device names, seeding, precision and the recorded commit."""
import random
import shutil
import subprocess

import pytest
import torch

from effmnist_utils.runtime import (as_device, autocast, device_name, git_commit, pick_device,
                                    seed_everything)
from helpers import ROOT


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_pick_device_refuses_absent_cuda():
    """Asking for CUDA where there is none is an error, not a silent fall-back to the CPU."""
    with pytest.raises(ValueError, match="'cuda' was requested but is not available"):
        pick_device("cuda")


@pytest.mark.skipif(torch.cuda.is_available() or torch.backends.mps.is_available(),
                    reason="needs a CPU-only machine")
def test_pick_device_auto_is_cpu_here():
    """'auto' (and no choice at all) falls back to the CPU when there is no accelerator."""
    assert pick_device("auto") == pick_device(None) == as_device("auto") == torch.device("cpu")


def test_pick_device_rejects_unknown_kind():
    """An unknown device kind is a ValueError naming it and the known ones."""
    with pytest.raises(ValueError, match="unknown device 'tpu'; use auto, cuda, mps or cpu"):
        pick_device("tpu")


def test_as_device_passes_devices_through_and_names_the_cpu():
    """A device passes through as_device; a results file names the CPU with its thread count."""
    device = torch.device("cpu")
    assert as_device(device) is device and as_device("CPU") == device
    name = device_name(device)
    assert name.startswith("cpu (") and name.endswith(f", {torch.get_num_threads()} threads)")


def test_seed_everything_fixes_torch_and_random():
    seed_everything(7)
    a = (torch.rand(3), random.random())
    seed_everything(7)
    b = (torch.rand(3), random.random())
    assert torch.equal(a[0], b[0]) and a[1] == b[1]


def test_bf16_is_refused_on_a_device_without_bf16_autocast():
    """bf16 autocast exists for CPU and CUDA only: other devices are refused by name."""
    with pytest.raises(ValueError, match="bf16.*mps"):
        autocast(torch.device("mps"), "bf16")
    with autocast(torch.device("cpu"), "fp32"):
        assert not torch.is_autocast_enabled("cpu")
    with autocast(torch.device("cpu"), "bf16"):
        assert torch.is_autocast_enabled("cpu")


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(),
                    reason="needs a git checkout")
def test_git_commit_is_the_checkouts_head():
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    assert git_commit() == head.stdout.strip() and len(git_commit()) == 40
