"""Lever sweeps, many runs compared: proxy runs ranked by validation accuracy (never the test
set), what each lever measured between two variants, and the tables of both. The plans
(`plans`) produce the runs; this module only reads records."""
from __future__ import annotations

import math
import statistics

from ..core.config import SEEDS, VAL_SIZE, HParams, describe_levers
from ..core.layernet import FRONTIER_SPECS
from ..core.markdown import table
from .runner import Planned
from ..core.record import Record, group_runs

NOT_LEVERS = ("model", "seed", "epochs", "val_size")  # what a proxy's own settings are


def proxy(settings: dict, epochs: int, seed: int = SEEDS[0], val_size: int = VAL_SIZE) -> Planned:
    """A proxy run: flat `settings` (with its `model` and the `tag` naming its recipe) applied to
    the original recipe (not the model's own: a candidate names every lever it changes), for
    `epochs` epochs with `val_size` images held out; the test set is read once, at the end."""
    flat = {k: v for k, v in settings.items() if k != "tag"}
    return Planned(HParams.from_flat({**flat, "epochs": epochs, "val_size": val_size, "seed": seed}),
                   settings["tag"])


def layer_string(model: str) -> str:
    """A model's layer string, with its norm where it is not the default ("bn0": no BN scale and
    shift); a model without one (the iterations) by its name."""
    if model not in FRONTIER_SPECS:
        return model
    layers, _, *norm = FRONTIER_SPECS[model]
    return f"{layers} ({norm[0]})" if norm and norm[0] != "bn" else layers


def rank(records: list[dict]) -> list[dict]:
    """Proxy runs best first by final validation accuracy (ties: fewer parameters first)."""
    rows = [{"name": r["name"], "model": r["model"], "params": r["params"],
             "layers": layer_string(r["model"]),
             "epochs": len(r["history"]), "val_acc": 100 * r["history"][-1]["val_acc"],
             "val_loss": r["history"][-1]["val_loss"],
             "levers": Record(r).hp.levers(ignore=NOT_LEVERS)}
            for r in records]
    return sorted(rows, key=lambda r: (-r["val_acc"], r["params"]))


def render_ranking(rows: list[dict]) -> str:
    """The ranking as markdown; each run's layer string (`layernet.LayerNet`) stands beside its
    name, so that a tag such as f8b is never read without the network it names."""
    return table(["run", "layers", "params", "levers (not the original's)", "val acc (final epoch)", "val loss"],
                 "llrlrr", [[r["name"], f"`{r['layers']}`", f"{r['params']:,}", describe_levers(r["levers"]),
                             f"{r['val_acc']:.2f} %", f"{r['val_loss']:.4f}"] for r in rows])


def by_variant(records: list[dict]) -> dict[str, dict]:
    """variant (a run's name without its seed) -> mean final validation accuracy (%) and its
    standard deviation over the seeds (None for one seed), the CPU
    model its seeds were timed on (None if several; records older than the field count as one,
    "not recorded"), their mean training seconds (None if untimed or timed on several CPUs),
    and the seeds."""
    out = {}
    for v, rs in group_runs(records).items():
        cpus = {r.cpu for r in rs}
        cpu = cpus.pop() if len(cpus) == 1 else None
        timed = cpu is not None and all("train_seconds" in r for r in rs)
        vals = [100 * r["history"][-1]["val_acc"] for r in rs]
        out[v] = {"val": statistics.mean(vals), "sd": statistics.stdev(vals) if len(vals) > 1 else None,
                  "cpu": cpu,
                  "seconds": statistics.mean(r["train_seconds"] for r in rs) if timed else None,
                  "seeds": sorted(r["seed"] for r in rs)}
    return out


def lever_steps(records: list[dict], steps: list[tuple[str, str, str]]) -> list[dict]:
    """What each lever measured: `steps` are (lever, variant before, variant after), a variant
    being a run's name without its seed; each row gives both variants' final validation accuracy
    (mean over their seeds), the difference in points and both training times: None for both
    unless both variants were timed on one and the same CPU model (seconds of two machines
    measure the machines, not the lever)."""
    known = by_variant(records)
    missing = [v for _, a, b in steps for v in (a, b) if v not in known]
    if missing:
        raise ValueError(f"no recorded run of {', '.join(missing)}; run its plan first")
    rows = []
    for lever, a, b in steps:
        comparable = known[a]["cpu"] is not None and known[a]["cpu"] == known[b]["cpu"]
        ka, kb = known[a], known[b]
        se = (math.sqrt(ka["sd"] ** 2 / len(ka["seeds"]) + kb["sd"] ** 2 / len(kb["seeds"]))
              if ka["sd"] is not None and kb["sd"] is not None else None)
        rows.append({"lever": lever, "before": a, "after": b, "val_before": ka["val"],
                     "val_after": kb["val"], "delta": kb["val"] - ka["val"], "se": se,
                     "seeds_before": ka["seeds"], "seeds_after": kb["seeds"],
                     "seconds_before": known[a]["seconds"] if comparable else None,
                     "seconds_after": known[b]["seconds"] if comparable else None})
    return rows


def render_lever_steps(rows: list[dict], seconds: bool = False, spread: bool = False) -> str:
    """The lever table; `seconds` adds both training times and the speed-up; `spread` the seeds,
    the standard error of Δ (from each side's spread over its seeds) and whether Δ is beyond
    noise: more than twice that error."""
    head, aligns, lines = ["lever", "from → to", "val acc before", "val acc after", "Δ (points)"], "llrrr", []
    if seconds:
        head, aligns = head + ["training s", "× faster"], aligns + "rr"
    if spread:
        head, aligns = head + ["seeds", "standard error of Δ", "beyond noise (Δ over twice it)?"], aligns + "lrl"
    for r in rows:
        line = [r["lever"], f"{r['before']} → {r['after']}", f"{r['val_before']:.2f} %", f"{r['val_after']:.2f} %",
                f"{r['delta']:+.2f}"]
        if seconds:
            a, b = r["seconds_before"], r["seconds_after"]
            line += ([f"{a:.1f} → {b:.1f}", f"{a / b:.2f}×"] if a and b else
                     ["not comparable: timed on different CPUs", "—"])
        if spread:
            seeds = f"{', '.join(map(str, r['seeds_before']))} → {', '.join(map(str, r['seeds_after']))}"
            line += ([seeds, f"{r['se']:.2f}", "yes" if abs(r["delta"]) > 2 * r["se"] else "no: within noise"]
                     if r["se"] is not None else [seeds, "—", "unknown: one seed"])
        lines.append(line)
    return table(head, aligns, lines)
