"""What every plan shares, apart from the registry that lists them (`plans/__init__`): the `Plan`
itself, the records a plan reads back (every run recorded in a folder, `folder_records`, or the
recorded ones among its planned runs, `planned_records`) and where a plan's folders live
(`root_for`). The plans import this module; the registry imports the plans."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ...core.config import SCRATCH_DIR, record_dir
from ...core.record import load_runs
from ..runner import Planned

PLAN_SCRATCH = SCRATCH_DIR / "plans"


@dataclass(frozen=True)
class Plan:
    """`stages`: name -> function of the results root (results/ or the scratch root) returning
    the stage's runs; `tables`: file name (in the plan's folder) -> function of the root returning
    its text, generated from the recorded runs only; `keep_going`: a failing run is logged and
    the rest go on (speed levers that a machine may lack)."""

    name: str
    about: str
    folder: str
    stages: dict[str, Callable[[Path], list[Planned]]]
    tables: dict[str, Callable[[Path], str]] = field(default_factory=dict)
    keep_going: bool = False

    def runs(self, root: Path, stage: str | None = None) -> list[Planned]:
        if stage is not None and stage not in self.stages:
            raise ValueError(f"plan {self.name!r} has no stage {stage!r}; its stages: "
                             f"{', '.join(self.stages)}")
        return [r for s, make in self.stages.items() if stage in (None, s) for r in make(root)]


def folder_records(root: Path, folder: str) -> list[dict]:
    """The recorded runs of `root/folder` (none when the folder does not exist yet)."""
    path = Path(root) / folder
    return load_runs(path) if path.is_dir() else []


def planned_records(root: Path, folder: str, runs: list[Planned]) -> list[dict]:
    """The recorded runs among `runs`, in the plan's order (which breaks ties in rankings)."""
    by_name = {r["name"]: r for r in folder_records(root, folder)}
    return [by_name[r.name] for r in runs if r.name in by_name]


def root_for(record: bool, out_root=None, scratch: Path = PLAN_SCRATCH) -> Path:
    """Where a plan's (or a search's) folders live: results/ with `record`, `out_root` if given,
    else the scratch folder `scratch`."""
    if record and out_root is not None:
        raise ValueError("--record writes into results/; it cannot be combined with --out-dir")
    return record_dir() if record else Path(out_root or scratch)
