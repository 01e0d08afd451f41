"""Where a run computes: device choice, device names, seeding, precision and the recorded commit."""
import shutil
import subprocess

import pytest
import torch

from effmnist_utils.core.runtime import (as_device, autocast, cudnn_benchmark, device_name, git_commit,
                                         pick_device, seeded)


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


def test_as_device_passes_devices_through_and_names_the_cpus_threads():
    """A device passes through as_device; a results file names the CPU with the threads torch uses
    now, so a run on one thread is told from a run on two."""
    device = torch.device("cpu")
    assert as_device(device) is device and as_device("CPU") == device
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = device_name(device)
    finally:
        torch.set_num_threads(before)
    assert one.startswith("cpu (") and one.endswith(", 1 threads)")


def test_seeded_repeats_draws_and_leaves_the_global_generator_alone():
    """Inside `seeded(k)` torch draws the same numbers every time; outside it, the global
    generator goes on as if the block had not run."""
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    with seeded(7, torch.device("cpu")):
        a = torch.rand(3)
    with seeded(7, torch.device("cpu")):
        b = torch.rand(3)
    assert torch.equal(a, b)
    assert torch.equal(torch.rand(3), expected)


def test_cudnn_benchmark_is_restored_after_the_block():
    before = torch.backends.cudnn.benchmark
    with cudnn_benchmark(not before):
        assert torch.backends.cudnn.benchmark is (not before)
    assert torch.backends.cudnn.benchmark is before
    with pytest.raises(KeyError), cudnn_benchmark(not before):
        raise KeyError("a run that fails")
    assert torch.backends.cudnn.benchmark is before


def test_bf16_is_refused_on_a_device_without_bf16_autocast():
    """bf16 autocast exists for CPU and CUDA only: other devices are refused by name."""
    with pytest.raises(ValueError, match="bf16.*mps"):
        autocast(torch.device("mps"), "bf16")
    with autocast(torch.device("cpu"), "fp32"):
        assert not torch.is_autocast_enabled("cpu")
    with autocast(torch.device("cpu"), "bf16"):
        assert torch.is_autocast_enabled("cpu")


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_commit_is_the_commit_checked_out_there(tmp_path):
    """In a fresh repository with one commit, git_commit is that commit (read from the branch's
    ref file, not from the command the code runs); outside any repository it is None."""
    assert git_commit(tmp_path) is None
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    subprocess.run(git + ["init", "-q"], check=True)
    subprocess.run(git + ["commit", "-q", "--allow-empty", "-m", "one"], check=True)
    ref = (tmp_path / ".git" / "refs" / "heads" / "main").read_text().strip()
    assert git_commit(tmp_path) == ref and len(ref) == 40
