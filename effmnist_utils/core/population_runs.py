"""Populations as recorded runs: N members of one network and recipe built as their solo runs
build them, trained in one pass (`population.fit_population`), and each recorded as a solo run
of its seed is (`runs.run_record`, `record.write_run`), its record marked
`"population": {"size": N, "member": k, "seeds": [...]}`."""
from __future__ import annotations

from pathlib import Path

from .config import HParams, auto_tag, run_name
from .models import build_model
from .place import RunPlace
from .population import Population, check_population, fit_population
from .record import Record, check_name_free, write_run
from .runs import load_data, load_teacher, run_record
from .runtime import as_device, seeded


def build_population(model: str, seeds: list[int], device) -> Population:
    """Member k built exactly as a solo run of seed `seeds[k]` builds its network (inside
    `runtime.seeded`), stacked on `device`."""
    device = as_device(device)
    members = []
    for seed in seeds:
        with seeded(seed, device):
            members.append(build_model(model).to(device))
    return Population(members).to(device)


def _print_epoch(rows: list[dict]) -> None:
    key = "val_acc" if "val_acc" in rows[0] else "test_acc" if "test_acc" in rows[0] else None
    if key is None:
        return
    accs = [r[key] for r in rows]
    spread = f"mean {sum(accs) / len(accs):.2%} (min {min(accs):.2%}, max {max(accs):.2%}; " if len(accs) > 1 else \
        f"{accs[0]:.2%} (one member; "
    print(f"epoch {rows[0]['epoch']}: {key[:-4]} accuracy {spread}{rows[0]['seconds']:.1f} s)", flush=True)


def checkpoint_path(out_dir: Path, hp: HParams, seeds: list[int], tag: str) -> Path:
    """Where a population keeps its last finished epoch: `<name>_seeds<a>-<b>-....ckpt`."""
    return Path(out_dir) / f"{run_name(hp, tag).rsplit('_seed', 1)[0]}_seeds{'-'.join(map(str, seeds))}.ckpt"


def train_population(hp: HParams, seeds, place="auto", tag: str | None = None, read_test: bool = True,
                     on_epoch=None, resume: bool = False):
    """Train `hp` (its seed ignored) for every seed in `seeds` as one population on `place` (a
    `RunPlace`, or a plain device as for `runs.train_run`) and record each member in
    `place.out_dir` (default: the scratch folder `effmnist-runs/`) as a solo run of its seed is
    recorded (`<name>.json` and `<name>.pt`, `<name>` = `run_name(hp with that seed, tag)`;
    `tag` defaults to `auto_tag`), its record marked
    `"population": {"size": N, "member": k, "seeds": seeds}`; its `train_seconds` and
    per-epoch seconds are the whole population's. Returns (members, histories, records, data):
    members as ordinary networks in eval mode. A checkpoint (`checkpoint_path`) is kept while
    the population is under way; after an interruption, `resume=True` continues from the last
    finished epoch. `on_epoch(rows)` gets each finished epoch's rows, one per member (after the
    line printed where `place.progress`); an exception it raises (a search pruning its trial)
    stops the population, and nothing is recorded. `read_test=False`: the test set is never
    loaded or read (a search's trial). Refuses what `check_population` and `Population` refuse."""
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"a population needs distinct seeds, one per member (got {seeds})")
    check_population(hp)
    hps = [hp.with_(seed=s) for s in seeds]
    tag = auto_tag(hps[0]) if tag is None else tag
    place = RunPlace.of(place)
    device, out_dir, progress = as_device(place.device), place.out(), place.progress
    out_dir.mkdir(parents=True, exist_ok=True)
    for h in hps:
        check_name_free(out_dir / f"{run_name(h, tag)}.json", h)
    pop = build_population(hp.model, seeds, device)
    data, load_seconds = load_data(hp, place.with_(device=device), read_test, seed=seeds[0])
    if progress:
        print(f"{hp.model} x {len(seeds)} (seeds {', '.join(map(str, seeds))}) on {device}; {data.source}",
              flush=True)
    teacher = load_teacher(hp, device) if hp.optim.teacher else None
    def each_epoch(rows: list[dict]) -> None:
        if progress:
            _print_epoch(rows)
        if on_epoch is not None:
            on_epoch(rows)

    ckpt = checkpoint_path(out_dir, hps[0], seeds, tag)
    histories = fit_population(pop, data, seeds, hp, teacher=teacher, on_epoch=each_epoch, checkpoint=ckpt,
                               resume=resume)
    members, records = [], []
    for k, (h, history) in enumerate(zip(hps, histories)):
        model = pop.member(k)
        record = {**run_record(h, tag, model, history, data, device, load_seconds),
                  "population": {"size": len(seeds), "member": k, "seeds": seeds}}
        write_run(out_dir, record, model)
        members.append(model)
        records.append(Record(record))
    ckpt.unlink(missing_ok=True)
    return members, histories, records, data
