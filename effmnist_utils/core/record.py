"""A recorded run, read and written in one place: `<name>.json` (its settings, per-epoch history
and summary) beside `<name>.pt` (its final weights). `Record` is that JSON as a dict with the
few derived facts every reader needs (`hp`, `variant`, `cpu`); `group_runs` is the one way runs
are grouped by variant (a run's name without its seed).
"""
from __future__ import annotations

import json
import statistics
from pathlib import Path

import torch

from .config import RUNS_DIR, HParams
from .loop import TrainingError
from .models import build_model


class RecordError(ValueError):
    """A run file that is missing, unreadable or does not fit its model; the message says what to do."""


class RunConflict(TrainingError):
    """A finished run with other settings already has this run's name."""


class Record(dict):
    """A run's results file as a dict (the keys `train_run` writes), plus derived facts."""

    @property
    def hp(self) -> HParams:
        """The run's settings, read back through HParams: a setting added since it was recorded
        counts at its default (which leaves runs unchanged)."""
        return HParams.from_dict(self["hparams"])

    @property
    def variant(self) -> str:
        return variant(self)

    @property
    def cpu(self) -> str:
        """The CPU model the run was timed on; "not recorded" for records older than the field."""
        return self.get("cpu") or "not recorded"


def variant(record: dict) -> str:
    """A record's model and recipe tag without the seed: what its seeds are grouped by."""
    return record["name"].rsplit("_seed", 1)[0]


def group_runs(records: list[dict], key=variant) -> dict[str, list[Record]]:
    """Records (as `Record`s) grouped by `key` (default: their variant), in the order each group
    first appears."""
    groups: dict[str, list[Record]] = {}
    for r in records:
        groups.setdefault(key(r), []).append(r if isinstance(r, Record) else Record(r))
    return groups


def mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    values = list(values)
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def read_record(path: str | Path) -> Record:
    path = Path(path)
    try:
        return Record(json.loads(path.read_text()))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RecordError(f"{path}: not a recorded run ({exc.__class__.__name__}: {exc})") from None


def write_run(out_dir: Path, record: dict, model: torch.nn.Module) -> Path:
    """Write `<name>.pt` (the weights as CPU tensors, so a GPU run loads anywhere), then
    `<name>.json`; returns the JSON's path."""
    name = record["name"]
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, out_dir / f"{name}.pt")
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path


def load_runs(run_dir=RUNS_DIR) -> list[Record]:
    """Every results file (`<name>_seed<k>.json`) in `run_dir`, by name; a missing folder is an
    error that says why."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RecordError(f"no recorded results at {run_dir}: they live in the project's clone "
                          "(on Colab the notebook's first cell clones it)")
    return [read_record(p) for p in sorted(run_dir.glob("*_seed*.json"))]


def load_run(path: str | Path) -> tuple[torch.nn.Module, Record]:
    """(model in eval mode with the run's final weights, the run's record) from a results JSON
    and the `.pt` next to it (either file may be named)."""
    path = Path(path)
    if path.suffix == ".pt":  # the weights were named: their results file is beside them
        path = path.with_suffix(".json")
    if not path.is_file():
        raise RecordError(f"{path}: no such run file (runs are in {RUNS_DIR})")
    record = read_record(path)
    if "based_on" in record:
        raise RecordError(f"{path}: {record['model']} is a network of your own ({record['params']:,} parameters, "
                          f"edited from {record['based_on']}), which the package cannot build; load its weights "
                          f"into your class: net = Net(); net.load_state_dict(torch.load('{path.with_suffix('.pt')}'))")
    try:
        model = build_model(record["model"])
    except (KeyError, TypeError) as exc:
        raise RecordError(f"{path}: not a recorded run ({exc.__class__.__name__}: {exc})") from None
    weights = path.with_suffix(".pt")
    if not weights.is_file():
        raise RecordError(f"{weights}: the run's weights are missing; re-train with "
                          f"`python -m effmnist_utils train {record['model']} --seed {record.get('seed', 1)}`")
    try:
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    except (RuntimeError, OSError) as exc:
        raise RecordError(f"{weights}: does not fit a {record['model']} ({str(exc).splitlines()[0]})") from None
    return model.eval(), record


def find_run(model: str = "f8a", runs: str | Path | None = None) -> Path:
    """The JSON of the recorded run of `model` (a model, or a model's variant such as
    `f8a-robust`: `<model>-<tag>`) with the LOWEST seed. Not the most accurate one: choosing a run
    by its test accuracy and then reporting that accuracy is selection on the test set."""
    build_model(model.split("-", 1)[0])  # an unknown model raises a ValueError listing the known ones
    runs = Path(runs) if runs is not None else RUNS_DIR
    found = [(int(r["seed"]), p) for p in runs.glob(f"{model}_seed*.json")
             for r in [read_record(p)] if "name" in r and variant(r) == model and p.with_suffix(".pt").is_file()]
    if not found:
        raise RecordError(f"no recorded run of {model} (JSON + .pt) in {runs}; pass --run with the "
                          f"JSON that `python -m effmnist_utils train {model.split('-', 1)[0]}` writes")
    return min(found)[1]


def recipe_diff(here: dict, there: dict | None) -> list[tuple[str, object, object]]:
    """The settings in which two runs' `hparams` differ: [(name, value here, value there)]."""
    ours = HParams.from_dict(here).flat()
    theirs = HParams.from_dict(there).flat() if there else {}
    return [(k, v, theirs.get(k)) for k, v in ours.items() if theirs.get(k) != v]


def same_settings(a: dict | None, b: dict | None) -> bool:
    """Whether two recorded `hparams` define the same run (compared as HParams, see `Record.hp`)."""
    try:
        return a is not None and b is not None and HParams.from_dict(a) == HParams.from_dict(b)
    except (TypeError, ValueError):
        return False


def check_name_free(path: Path, hp: HParams) -> bool:
    """True when `path` holds a finished run with exactly `hp`'s settings (it may be skipped);
    False when nothing is recorded there; a RunConflict when a run with other settings is."""
    if not path.exists():
        return False
    recorded = read_record(path).get("hparams")
    if same_settings(recorded, hp.to_dict()):
        return True
    diff = ", ".join(f"{k} {b!r} there, {a!r} here" for k, a, b in recipe_diff(hp.to_dict(), recorded))
    raise RunConflict(f"{path} holds a finished run with other settings ({diff}); give this run "
                      "another tag (train --tag), another --out-dir, or delete that file to replace it.")
