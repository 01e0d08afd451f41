"""The speedrun as plans: the least training time to 99.4 % test accuracy (mean over 5 seeds,
every seed >= 99.30 %, < 20,000 parameters) per device kind. A search on the validation split
chooses the recipe by one rule (`speedrun.choose`); the chosen recipe then runs for the seeds
on all 60,000 images, the test set read once per seed, after the last epoch.

Every run is timed (`runner.Planned(timed=3)`): the clock
runs from the first training step to the end of the last, with the data already on the device;
loading and warm-up (compilation) are recorded apart. The schedule is always one-cycle (Adam).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from .. import speedrun as T
from ..speedrun import BF, RECIPE, timed
from ...core.config import HParams, VAL_SIZE, notebook_hparams
from ...core.augment import Augment
from ..runner import Planned
from ..lever_sweeps import lever_steps, render_lever_steps
from .base import Plan, folder_records, planned_records

SEEDS = (1, 2, 3, 4, 5)
ORIG, NONE = Augment(), T.NO_AUGMENT


def _planned(candidates: dict[str, HParams], seeds=(1,)) -> list[Planned]:
    """Timed runs; a "model/" prefix of a tag only tells two entries of one stage apart."""
    return [Planned(hp.with_(seed=s), tag.split("/")[-1], timed=3)
            for tag, hp in candidates.items() for s in seeds]


# The CPU search (2 cores). Stage 1: the lever ladder, one change at a time from the frontier
# recipe compressed to 5 epochs; stage 2: the speed-shaped model's epochs, augmentation, batch
# and depth; stage 3: more epochs at batch 512, peak lr, another shape; stage 4: a second seed
# of a close call, compile. Stage 5, over seeds 1-3 (its deltas are the size of one seed's noise):
# the time that stage 4's runs left inside the goal spent on epochs (10 to 16, at batch 512 and
# 1024), and two levers of the fastest CIFAR-10 scripts: label smoothing, Nesterov SGD. Stage 6,
# over seeds 1-3 on a CPU with AMX units (the search's CPU column says which), with glibc keeping
# freed memory (a lever that changes no number; `bench` measures it side by side): 16 and 20 epochs.
CPU_STAGES = {
    "1": {"e5-b128-aug": timed("f8a", batch_size=128, lr=0.01, augment=ORIG),
          "e5-b256-aug": timed("f8a", augment=ORIG),
          "e5-b256": timed("f8a"),
          "e5-b256-bf16-cl": timed("f8a", **BF),
          "fast/e5-b256-bf16-cl": timed("fast", **BF)},
    "2": {"e10-b256-bf16-cl-aug": timed("fast", 10, augment=ORIG, **BF),
          "e10-b256-bf16-cl": timed("fast", 10, **BF),
          "e10-b512-bf16-cl-aug": timed("fast", 10, 512, 0.02, ORIG, **BF),
          "fastdeep/e10-b256-bf16-cl-aug": timed("fastdeep", 10, augment=ORIG, **BF),
          "e14-b256-bf16-cl-aug": timed("fast", 14, augment=ORIG, **BF)},
    "3": {"e12-b512-lr04-bf16-cl": timed("fast", 12, 512, 0.04, **BF),
          "e12-b512-bf16-cl": timed("fast", 12, 512, 0.02, **BF),
          "e12-b512-bf16-cl-aug": timed("fast", 12, 512, 0.02, ORIG, **BF),
          "e6-b512-bf16-cl": timed("fastpool", 6, 512, 0.02, **BF)},
    "4": {"e10-b512-bf16-cl-aug-compile": timed("fast", 10, 512, 0.02, ORIG, compile_mode="default", **BF),
          "e5-b256": timed("fast")},
    "5": {f"e{e}-b512-bf16-cl-aug": timed("fast", e, 512, 0.02, ORIG, **BF) for e in (10, 12, 14, 16)}
    | {"e12-b512-ls1-bf16-cl-aug": timed("fast", 12, 512, 0.02, ORIG, label_smoothing=0.1, **BF),
       "e12-b512-sgd2-bf16-cl-aug": timed("fast", 12, 512, 0.2, ORIG, optimizer="sgd", **BF),
       "e16-b1024-bf16-cl-aug": timed("fast", 16, 1024, 0.028, ORIG, **BF)},
    "6": {f"e{e}-b512-bf16-cl-aug-keep": timed("fast", e, 512, 0.02, ORIG, allocator="keep", **BF)
          for e in (16, 20)},
}
STAGE_SEEDS = {"5": (1, 2, 3), "6": (1, 2, 3)}  # the other stages: seed 1
SECOND_SEED = "e10-b512-bf16-cl-aug"  # stage 4 also runs stage 2's close call with seed 2


def _cpu_stage(name):
    def runs(root: Path) -> list[Planned]:
        extra = _planned({SECOND_SEED: CPU_STAGES["2"][SECOND_SEED]}, seeds=(2,)) if name == "4" else []
        return _planned(CPU_STAGES[name], STAGE_SEEDS.get(name, (1,))) + extra
    return runs


# What each lever bought on the CPU: (lever, variant before, variant after).
CPU_STEPS = [
    ("batch 256 (peak lr 0.014) instead of 128 (0.01)", "f8a-e5-b128-aug", "f8a-e5-b256-aug"),
    ("no augmentation", "f8a-e5-b256-aug", "f8a-e5-b256"),
    ("bf16 autocast + channels_last", "f8a-e5-b256", "f8a-e5-b256-bf16-cl"),
    ("a model shaped for speed (fast)", "f8a-e5-b256-bf16-cl", "fast-e5-b256-bf16-cl"),
    ("bf16 + channels_last, on the fast model", "fast-e5-b256", "fast-e5-b256-bf16-cl"),
    ("10 epochs instead of 5", "fast-e5-b256-bf16-cl", "fast-e10-b256-bf16-cl"),
    ("+ the original augmentation", "fast-e10-b256-bf16-cl", "fast-e10-b256-bf16-cl-aug"),
    ("14 epochs instead of 10", "fast-e10-b256-bf16-cl-aug", "fast-e14-b256-bf16-cl-aug"),
    ("a third conv after the pool (fastdeep)", "fast-e10-b256-bf16-cl-aug", "fastdeep-e10-b256-bf16-cl-aug"),
    ("batch 512 (peak lr 0.02) instead of 256", "fast-e10-b256-bf16-cl-aug", "fast-e10-b512-bf16-cl-aug"),
    ("torch.compile (default mode; its compile time is not counted)", "fast-e10-b512-bf16-cl-aug",
     "fast-e10-b512-bf16-cl-aug-compile"),
    ("12 epochs instead of 10", "fast-e10-b512-bf16-cl-aug", "fast-e12-b512-bf16-cl-aug"),
    ("no augmentation (12 epochs)", "fast-e12-b512-bf16-cl-aug", "fast-e12-b512-bf16-cl"),
    ("peak lr 0.04 instead of 0.02", "fast-e12-b512-bf16-cl", "fast-e12-b512-lr04-bf16-cl"),
    ("full-resolution first conv, two pools (fastpool), 6 epochs", "fast-e12-b512-bf16-cl",
     "fastpool-e6-b512-bf16-cl"),
    ("14 epochs instead of 12 (batch 512)", "fast-e12-b512-bf16-cl-aug", "fast-e14-b512-bf16-cl-aug"),
    ("16 epochs instead of 14 (batch 512)", "fast-e14-b512-bf16-cl-aug", "fast-e16-b512-bf16-cl-aug"),
    ("label smoothing 0.1 (12 epochs)", "fast-e12-b512-bf16-cl-aug", "fast-e12-b512-ls1-bf16-cl-aug"),
    ("Nesterov SGD (peak lr 0.2) instead of Adam (12 epochs)", "fast-e12-b512-bf16-cl-aug",
     "fast-e12-b512-sgd2-bf16-cl-aug"),
    ("batch 1024 (peak lr 0.028) instead of 512 (16 epochs)", "fast-e16-b512-bf16-cl-aug",
     "fast-e16-b1024-bf16-cl-aug"),
    ("20 epochs instead of 16 (batch 512, freed memory kept)", "fast-e16-b512-bf16-cl-aug-keep",
     "fast-e20-b512-bf16-cl-aug-keep"),
]

# The GPU search. Stage a (accuracy: model, epochs, batch, augmentation), eager fp32 with
# cudnn.benchmark; stage b, on stage a's choice, the speed levers that hardly move accuracy:
# channels_last, bf16, no cudnn.benchmark, torch.compile "default" and "reduce-overhead" (CUDA graphs).
LR = {512: 0.02, 1024: 0.028, 2048: 0.04}  # one-cycle peak, ~sqrt-scaled from 0.01 at batch 128
GPU_A = {f"{m}/b{b}-e{e}{'-aug' * (aug == ORIG)}": timed(m, e, b, LR[b], aug, cudnn_benchmark=True)
         for m, b, e, aug in [("fast", 1024, 8, ORIG), ("fast", 1024, 12, ORIG), ("fast", 1024, 16, ORIG),
                              ("fast", 2048, 12, ORIG), ("fast", 1024, 8, NONE), ("f8a", 1024, 8, ORIG),
                              ("f8a", 1024, 16, ORIG)]}
GPU_B = {"cl": {"channels_last": True}, "bf16": {"precision": "bf16"},
         "nobench": {"cudnn_benchmark": False}, "compile": {"compile_mode": "default"},
         "cudagraphs": {"compile_mode": "reduce-overhead"}}


def _gpu_a(root: Path) -> list[Planned]:
    return _planned(GPU_A)


def _gpu_b(root: Path) -> list[Planned]:
    stage_a = _gpu_a(root)
    done = planned_records(root, GPU_SEARCH.folder, stage_a)
    if len(done) < len(stage_a):
        raise ValueError(f"stage b builds on all of stage a ({len(done)} of {len(stage_a)} runs are "
                         f"recorded); run `plan {GPU_SEARCH.name} --stage a` first")
    best, _ = T.choose(T.summarise(done), T.GOAL_SECONDS["cuda"])
    base = Planned(HParams.from_dict(best["hparams"]), best["variant"].split("-", 1)[1],
                   timed=3)
    return [replace(base, hp=base.hp.with_(**lever), tag=f"{base.tag}-{name}") for name, lever in GPU_B.items()]


def chosen(root: Path, kind: str) -> tuple[HParams, str]:
    """The chosen recipe of device `kind` (RECIPE) and the rule's reason over the recorded search
    (the tests hold the two equal)."""
    return RECIPE[kind], _choice(T.summarise(folder_records(root, SEARCHES[kind].folder)), kind, root)[1]


def live_recipe(device, root: Path) -> HParams:
    """The recipe chosen for `device`'s kind, as a notebook trains it live: the GPU's on CUDA,
    the CPU's elsewhere; on another GPU (Apple's) in 32-bit floats with the default allocator,
    since bf16 autocast runs on CPUs and CUDA GPUs only and keeping freed memory needs Linux.
    Under the regression tests cut like every notebook's run (`notebook_hparams`)."""
    recipe = chosen(root, "cuda" if device.type == "cuda" else "cpu")[0]
    if device.type not in ("cpu", "cuda"):
        recipe = recipe.with_(precision="fp32", allocator="default")
    return notebook_hparams(recipe)


def lever_ladder(hp: HParams) -> dict[str, HParams]:
    """From notebook 07's recipe cut to `hp`'s epochs (f8a, batch 128, peak lr 0.01, 32-bit
    floats), `hp`'s levers added one at a time, in the order the search found them: the batch
    size (with `hp`'s peak lr), the network, fewer bits, channels_last, freed memory kept.
    {what the rung adds: its recipe}; a lever `hp` does not use adds no rung."""
    rung = hp.with_(model="f8a", batch_size=128, lr=0.01, precision="fp32", channels_last=False,
                    allocator="default", compile_mode="")
    ladder = {"f8a, batch 128, 32-bit (notebook 07)": rung}
    for name, settings in [(f"batch {hp.optim.batch_size}", {"batch_size": hp.optim.batch_size, "lr": hp.optim.lr}),
                           (f"network {hp.model}", {"model": hp.model}), ("bf16", {"precision": hp.precision}),
                           ("channels_last", {"channels_last": hp.channels_last}),
                           ("freed memory kept", {"allocator": hp.allocator})]:
        if rung.with_(**settings) != rung:
            rung = rung.with_(**settings)
            ladder[f"+ {name}"] = rung
    return ladder


def _choice(rows: list[dict], kind: str, root: Path) -> tuple[HParams, str]:
    search = SEARCHES[kind]
    if not rows:
        raise ValueError(f"no {kind} speedrun search is recorded in {Path(root) / search.folder}; "
                         f"run `plan {search.name}` first")
    best, why = T.choose(rows, T.GOAL_SECONDS[kind])
    return HParams.from_dict(best["hparams"]).with_(val_size=0, seed=1), f"{best['variant']}: {why}"


def _seeds(kind: str):
    def runs(root: Path) -> list[Planned]:
        return [Planned(RECIPE[kind].with_(seed=s), "speedrun", timed=3) for s in SEEDS]
    return runs


def _search_table(kind: str, steps=None):
    def render(root: Path) -> str:
        search = SEARCHES[kind]
        found = folder_records(root, search.folder)  # read once: the table, the levers, the choice
        rows = T.summarise(found)
        hp, why = _choice(rows, kind, root)
        text = (f"# {kind.upper()} speedrun search (validation split, {VAL_SIZE:,} images)\n\n"
                f"Generated by `python -m effmnist_utils plan {search.name} --table --record` from the runs in "
                f"this folder.\n\n## Every run\n\n{T.render_search(rows)}\n\n")
        if steps:
            table = render_lever_steps(lever_steps(found, steps), seconds=True)
            text += f"## What each lever bought\n\n{table}\n\n"
        return text + f"## The rule's choice\n\n{T.describe(hp)} ({why})\n"
    return render


CPU_SEARCH = Plan("speedrun-cpu-search", "the CPU speedrun's lever search (validation split)",
                  "speedrun/search-cpu", {s: _cpu_stage(s) for s in CPU_STAGES},
                  {"levers.md": _search_table("cpu", CPU_STEPS)})
GPU_SEARCH = Plan("speedrun-cuda-search", "the GPU speedrun's search (validation split), then its speed levers",
                  "speedrun/search-cuda", {"a": _gpu_a, "b": _gpu_b}, {"levers.md": _search_table("cuda")},
                  keep_going=True)
SEARCHES = {"cpu": CPU_SEARCH, "cuda": GPU_SEARCH}
PLANS = [CPU_SEARCH, Plan("speedrun-cpu", "the chosen CPU recipe, 5 seeds on all 60,000 images",
                          "speedrun/cpu", {"seeds": _seeds("cpu")}),
         GPU_SEARCH, Plan("speedrun-cuda", "the chosen GPU recipe, 5 seeds on all 60,000 images",
                          "speedrun/cuda", {"seeds": _seeds("cuda")})]
