"""The one runner: execute a list of planned runs, skipping what is recorded, resuming what an
interruption left, recording each run (results JSON and weights) through `runs.train_run`.

A recorded run is skipped only when its recorded settings equal the planned ones; a run of the
same name with other settings stops the runner with a message (`runs.RunConflict`). `shard`
(k, n) takes every n-th planned run starting at the k-th, so that n processes or machines can
share one plan writing into the same folder.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace

import torch
from tqdm import tqdm

from . import robustness
from ..core.config import HParams, run_name
from ..core.place import RunPlace
from ..core.record import check_name_free
from ..core.runs import train_run
from ..core.runtime import as_device, keep_freed_memory


@dataclass(frozen=True)
class Planned:
    """One run of a plan: its settings, the tag that names its recipe, how the loop reads
    numbers (every epoch, or only at the end with untimed warm-up steps first: a timed run), and
    whether its finished weights are also scored on the corruption suite."""

    hp: HParams
    tag: str = ""
    timed: int = 0  # > 0: a timed run with that many untimed warm-up steps (`loop.fit`)
    robustness: bool = False  # also score it on the corruption suite (`robustness.record_run`)
    read_test: bool = True  # False: judged on its validation split only (the test set is never read)

    @property
    def name(self) -> str:
        return run_name(self.hp, self.tag)


def smoke(run: Planned, epochs: int = 1, train_subset: int = 1024) -> Planned:
    """The same run, cut to `epochs` epochs on `train_subset` images, tagged `smoke` so that it
    never takes the real run's name: checks the plumbing."""
    bs = min(run.hp.optim.batch_size, 256)
    return replace(run, hp=run.hp.with_(epochs=epochs, train_subset=train_subset, batch_size=bs),
                   tag=f"{run.tag}-smoke" if run.tag else "smoke")


def take_shard(runs: list[Planned], shard: tuple[int, int] = (0, 1)) -> list[Planned]:
    k, n = shard
    if not (n >= 1 and 0 <= k < n):
        raise ValueError(f"shard must be K/N with 0 <= K < N, not {k}/{n}")
    return runs[k::n]


def execute(runs: list[Planned], place: RunPlace, shard=(0, 1), keep_going: bool = False) -> list[dict]:
    """Run what is missing of `runs` (its `shard`) on `place` (its device and data folder),
    recording them in `place.out_dir` (default: the scratch folder) and logging to `place.log`;
    returns the records of the shard's runs, recorded before or now. `keep_going`: a run that
    fails (e.g. a compile mode this machine lacks) is logged and the rest go on; otherwise the
    failure stops the runner."""
    place = RunPlace.of(place)
    out_dir, todo, progress, log = place.out(), take_shard(runs, shard), place.progress, place.log
    names = [r.name for r in todo]
    if len(set(names)) < len(names):
        raise ValueError(f"the plan names two runs alike: {sorted({n for n in names if names.count(n) > 1})}")
    done = {r.name for r in todo if check_name_free(out_dir / f"{r.name}.json", r.hp)}
    bar = tqdm(total=len(todo), initial=len(done), desc="plan", unit="run", disable=not progress)
    for run in todo:
        if run.name in done:
            continue
        bar.write(f"--- {run.name}")
        start = time.perf_counter()
        try:
            if run.hp.allocator == "keep":
                keep_freed_memory()  # for the rest of this process: the runner owns it
            torch._dynamo.reset()  # each run compiles afresh (and never hits the recompile limit)
            train_run(run.hp, place, resume=(out_dir / f"{run.name}.ckpt").exists(), tag=run.tag,
                      timed=run.timed, read_test=run.read_test)
        except Exception as exc:  # noqa: BLE001 - logged, and with keep_going the plan goes on
            if not keep_going:
                raise
            log(f"{run.name}: FAILED after {time.perf_counter() - start:.0f} s "
                f"({type(exc).__name__}: {str(exc)[:300]})")
            continue
        bar.update()
        log(f"{run.name}: finished in {time.perf_counter() - start:.0f} s")
        _score([run], place)
    bar.close()
    _score(todo, place)
    return [json.loads(p.read_text()) for p in (out_dir / f"{n}.json" for n in names) if p.exists()]


def _score(runs: list[Planned], place: RunPlace) -> None:
    """Score the finished runs in `place.out_dir` that ask for it on the corruption suite, where
    not done yet."""
    for run in runs:
        path = place.out() / f"{run.name}.json"
        if run.robustness and path.exists() and not robustness.is_current(path):
            score = robustness.record_run(path, as_device(place.device), place.data_dir)
            place.log(f"{run.name}: corruption suite ({score['split']}) mean {score['mean']:.2%}, "
                      f"clean {score['clean']:.2%}")
