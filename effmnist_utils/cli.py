"""What every command of the command line shares: argument types that refuse bad input with one
clear line, and `run`, which turns the expected failures into one line on stderr."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .core.models import build_model


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one clear line and status 2, no usage dump
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


def int_at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low:
            kind = "a positive integer" if low == 1 else f"an integer >= {low}"
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}")
        return value
    return parse


positive_int, non_negative_int = int_at_least(1), int_at_least(0)


def shard(text: str) -> tuple[int, int]:
    """`K/N` (0 <= K < N): the K-th of N shares of a plan."""
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        k = n = -1
    if not 0 <= k < n:
        raise argparse.ArgumentTypeError(f"expected K/N with 0 <= K < N (e.g. 0/2), got {text!r}")
    return k, n


def seed_list(text: str) -> list[int]:
    """`1-4` or `1,2,7` or `1-3,7`: distinct integer seeds, in the order given."""
    seeds = []
    try:
        for part in text.split(","):
            low, _, high = part.strip().partition("-")
            seeds += list(range(int(low), int(high) + 1)) if high else [int(low)]
    except ValueError:
        seeds = []
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"expected distinct seeds such as 1-4 or 1,2,7, got {text!r}")
    return seeds


def model_name(text: str) -> str:
    try:
        build_model(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def run_variant(text: str) -> str:
    """A model, or a model's variant `<model>-<tag>` (e.g. f8a-robust)."""
    model_name(text.split("-", 1)[0])
    return text


def writable_dir(text: str) -> Path:
    path = Path(text)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".effmnist_write_test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot write to output dir {text!r} ({exc.strerror})") from None
    return path


def run(action) -> int:
    """Run `action`, turning the expected failures into one line on stderr."""
    from .core.data import DataError
    from .core.loop import TrainingError

    try:
        action()
    except (ValueError, DataError, TrainingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # e.g. an output folder that cannot be written
        print(f"error: {exc.strerror or exc}: {exc.filename or ''}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted; finished epochs are checkpointed and finished runs recorded. "
              "Run the same command (with --resume for train) to continue.", file=sys.stderr)
        return 130
    return 0
