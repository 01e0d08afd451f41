"""Every study of the project as data: a `Plan` names its runs (in stages, where a later stage
is chosen from the records of an earlier one), the folder they are recorded in and the tables
that are generated from them. `runner.execute` runs them; `python -m effmnist_utils plan NAME`
is the command line.

A plan's runs go to `results/<folder>` only when asked (`record=True`, `--record`); otherwise to
`effmnist-runs/plans/<folder>` of the working folder. Stages read earlier records from the same
root, so a plan run in the scratch folder is self-contained.

This module is the registry: it imports every plan module and runs a plan by name. What the plans
share (`Plan`, reading records back, `root_for`) is in `base`, which they import instead of this.
"""
from __future__ import annotations

from pathlib import Path

from ...core.place import RunPlace
from .. import runner
from . import finalists, frontier, robust, speed, speedsearch, tiny
from .base import Plan, root_for


def plans() -> dict[str, Plan]:
    return {p.name: p for p in (*frontier.PLANS, *tiny.PLANS, *speed.PLANS, *speedsearch.PLANS, *robust.PLANS, *finalists.PLANS)}


def get(name: str) -> Plan:
    known = plans()
    if name not in known:
        raise ValueError(f"unknown plan {name!r}; known plans: {', '.join(known)}")
    return known[name]


def run_plan(name: str, stage: str | None = None, record: bool = False, place="auto", shard=(0, 1),
             smoke: bool = False) -> list[dict]:
    """Run plan `name` (one stage, or all in order; one shard of each) on `place` (a `RunPlace`,
    whose `out_dir` is the root of the plans' folders, as --out-dir; or a plain device), then
    write its tables if every run of the plan is recorded (other shards may still be at work;
    `--table` writes them from what is recorded). Returns the records of the runs it covered."""
    if smoke and record:
        raise ValueError("a smoke run is not a result: drop --record (it goes to the scratch folder)")
    place = RunPlace.of(place)
    plan, root, log = get(name), root_for(record, place.out_dir), place.log
    out, done = root / plan.folder, []
    for s in [stage] if stage else list(plan.stages):
        runs = plan.runs(root, s)
        runs = [runner.smoke(r) for r in runs] if smoke else runs
        log(f"plan {name}, stage {s}: {len(runs)} runs in {out}")
        done += runner.execute(runs, place.with_(out_dir=out), shard, plan.keep_going)
    if not smoke and plan.tables:
        try:
            missing = [r.name for r in plan.runs(root) if not (out / f"{r.name}.json").exists()]
        except ValueError as exc:  # a later stage cannot be planned yet
            missing = [str(exc)]
        if missing:
            log(f"tables not written: {len(missing)} of the plan's runs are not recorded yet")
        else:
            write_tables(name, root)
    return done


def write_tables(name: str, root: Path) -> dict[str, Path]:
    """Regenerate plan `name`'s tables in `root/<folder>` from its recorded runs."""
    plan, written = get(name), {}
    for file, render in plan.tables.items():
        try:
            text = render(root)
        except ValueError as exc:  # runs missing (another shard still at work): say so, go on
            print(f"{file} not written: {exc}")
            continue
        path = Path(root) / plan.folder / file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written[file] = path
    return written
