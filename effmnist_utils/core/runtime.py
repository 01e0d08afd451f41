"""Where and how a run computes: the device, its name in results files, seeding and precision."""
from __future__ import annotations

import ctypes
import platform
import subprocess
from contextlib import contextmanager
from pathlib import Path

import torch


def pick_device(requested: str | None = "auto") -> torch.device:
    """CUDA, then Apple MPS, then CPU for "auto"; a named device that is absent is an error."""
    requested = (requested or "auto").lower()
    has = {"cuda": torch.cuda.is_available(),
           "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available(),
           "cpu": True}
    if requested == "auto":
        return torch.device(next(d for d in ("cuda", "mps", "cpu") if has[d]))
    kind = requested.split(":")[0]
    if kind not in has:
        raise ValueError(f"unknown device {requested!r}; use auto, cuda, mps or cpu")
    if kind == "cuda" and has[kind] and ":" in requested:
        index = int(requested.split(":")[1])
        has[kind] = index < torch.cuda.device_count()
    if not has[kind]:
        raise ValueError(f"device {requested!r} was requested but is not available on this "
                         "machine; use --device auto or cpu")
    return torch.device(requested)


def as_device(device) -> torch.device:
    """A torch.device from a device or a name ("auto", "cpu", "cuda", ...)."""
    return pick_device(device) if isinstance(device, str) or device is None else device


def device_name(device: torch.device) -> str:
    """How results files name the device, e.g. 'cpu (x86_64, 2 threads)', 'cuda (NVIDIA H100 ...)'."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    return device.type


def cpu_model() -> str:
    """The CPU's model name (e.g. 'AMD EPYC'), which decides the floating-point rounding of a CPU
    run: the same code and seed repeat to the last digit only on the same model and torch."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# glibc's mallopt parameters (malloc.h) and the values "keep" sets: freed blocks stay with the
# process (no trim below 1 GiB at the heap's top), blocks up to 1 GiB come from the heap (not
# their own mmap), and the heap grows 64 MiB at a time.
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_KEEP = ((_M_TRIM_THRESHOLD, 1 << 30), (_M_TOP_PAD, 64 << 20), (_M_MMAP_THRESHOLD, 1 << 30))


def keep_freed_memory() -> None:
    """Tell glibc's allocator to keep the memory a process frees instead of handing it back.

    By default glibc returns a large freed block to the system (munmap, or trimming the heap), so
    the next training step's activations arrive as fresh pages that the kernel must zero: on the
    2-core CPU that was up to half of a small network's training step in kernel time. The setting
    is process-wide and lasts as long as the process (glibc cannot go back to its adaptive
    default); it changes no number, only where memory comes from, and the process keeps its
    peak memory. Linux with glibc only: elsewhere a ValueError that says so."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        raise ValueError("allocator 'keep' needs Linux's C library (glibc's mallopt), which this "
                         f"system ({platform.system()}) lacks; use allocator='default'") from None
    for param, value in _KEEP:
        if mallopt(param, value) != 1:
            raise ValueError(f"glibc refused mallopt({param}, {value}); use allocator='default'")


def use_allocator(allocator: str) -> None:
    """Apply a recipe's `allocator` to this process: "keep" keeps freed memory for the rest of
    the process (`keep_freed_memory`); "default" changes nothing (glibc cannot go back)."""
    if allocator == "keep":
        keep_freed_memory()
    elif allocator != "default":
        raise ValueError(f"allocator must be 'default' or 'keep', not {allocator!r}")


@contextmanager
def seeded(seed: int, device: torch.device):
    """torch's global generators (the CPU's, and `device`'s when it is a GPU) seeded with `seed`
    inside the block, as they were after it: a run's weight initialisation and dropout draw from
    them without changing anyone else's random numbers."""
    gpus = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=gpus):
        torch.manual_seed(seed)
        yield


@contextmanager
def as_found(*modules):
    """Each module (None skipped) in its train or eval mode, and its parameters in their memory
    format (contiguous or channels_last), after the block as before it; the weights stay as the
    block left them."""
    def layout(m):
        params = [p for p in m.parameters() if p.dim() == 4]
        return next((f for f in (torch.contiguous_format, torch.channels_last)
                     if all(p.is_contiguous(memory_format=f) for p in params)), None)
    kept = [(m, m.training, layout(m)) for m in modules if m is not None]
    try:
        yield
    finally:
        for m, training, fmt in kept:
            m.train(training)
            if fmt is not None and layout(m) != fmt:
                m.to(memory_format=fmt)


@contextmanager
def cudnn_benchmark(enabled: bool):
    """cuDNN's autotuning switched to `enabled` inside the block, restored after it."""
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = enabled
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so that a clock read afterwards times it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast(device: torch.device, precision: str):
    """bfloat16 autocast for "bf16" (CPU or CUDA), a no-op context for "fp32"."""
    if precision == "bf16" and device.type not in ("cpu", "cuda"):
        raise ValueError(f"precision 'bf16' needs a CPU or CUDA device, not {device.type}")
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def git_commit(where: Path = Path(__file__).parent) -> str | None:
    """The commit checked out at `where` (default: the package's checkout), recorded with every
    run; None outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "--verify", "-q", "HEAD"], capture_output=True,
                             text=True, cwd=where, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None
