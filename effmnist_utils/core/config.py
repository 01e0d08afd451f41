"""What defines a run's result (`HParams`), each model's own recipe (`RECIPES`), and the facts
every module reads: the study's goal, the validation split's size, the seeds, and where recorded
and scratch runs go.

`HParams` holds everything that can change a result, training speed levers included (precision,
memory format, compile mode, cuDNN autotuning); what changes only bookkeeping or when numbers are
read (the evaluation batch size, a run's tag, evaluating every epoch or only at the end) is
passed where it is used, and where a run runs (its device, data and output folders) travels as
one `place.RunPlace`.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from .augment import Augment

TARGET_ACC = 0.994  # the study's bar: >= 99.4 % test accuracy ...
MAX_PARAMS = 20_000  # ... with fewer than this many parameters, in at most MAX_EPOCHS epochs
MAX_EPOCHS = 20
VAL_SIZE = 5000  # training images held out to choose things on (proxy runs, speedrun searches)
SEEDS = (1, 2, 3)  # the seeds every recorded model is trained with
REPO_ROOT = Path(__file__).resolve().parents[2]  # a clone: the package beside its results
RESULTS_DIR = REPO_ROOT / "results"  # recorded results, which the README is generated from
RUNS_DIR = RESULTS_DIR / "runs"
GPU_RUNS_DIR = RESULTS_DIR / "gpu"  # one run per notebook model on a GPU, for the time it takes
# A user's own runs go here, relative to the working folder (git-ignored): recording into
# results/ is a deliberate act (--record, or an explicit out_dir / --out-dir).
SCRATCH_DIR = Path("effmnist-runs")
COMPILE_MODES = ("", "default", "reduce-overhead", "max-autotune-no-cudagraphs")  # "": eager
ALLOCATORS = ("default", "keep")  # "keep": the C allocator keeps freed memory (runtime.keep_freed_memory)


def record_dir(sub: str = "") -> Path:
    """`results/<sub>` of the project's clone, where `--record` writes; an error that says what
    to do instead when the package is installed outside a clone (site-packages has no results/)."""
    if not (REPO_ROOT / "pyproject.toml").is_file():
        raise ValueError(f"the package at {REPO_ROOT} is not in a clone of the project, so it has no "
                         "results/ to record into; pass --out-dir FOLDER instead")
    return RESULTS_DIR / sub


@dataclass(frozen=True)
class Optim:
    """How the weights are fitted. The defaults are the original study's: Adam 1e-3, StepLR
    dividing the lr by 10 after epoch 15, batch 128, 20 epochs."""

    epochs: int = 20
    batch_size: int = 128
    optimizer: str = "adam"  # "adam", "adamw" (decoupled weight decay) or "sgd" (Nesterov 0.9)
    lr: float = 1e-3  # the peak for "onecycle"
    schedule: str = "step"  # "step" (StepLR, per epoch) or "onecycle" (per batch)
    step_size: int = 15  # StepLR: the lr is multiplied by `gamma` every `step_size` epochs
    gamma: float = 0.1
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    # knowledge distillation: the loss is (1 - distill) x the labels' loss + distill x the KL
    # divergence from `teacher`'s softened predictions (loop.DISTILL_TEMPERATURE); `teacher` is a
    # recorded run, its results file relative to results/ without ".json" ("runs/f20b_seed1")
    distill: float = 0.0
    teacher: str = ""
    # > 0: the run's weights (and what is evaluated) are an exponential moving average of the
    # trained ones, updated after every step with this decay (loop.WeightAverage)
    ema: float = 0.0

    def __post_init__(self):
        for name in ("epochs", "batch_size", "step_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, not {getattr(self, name)}")
        _one_of("optimizer", self.optimizer, ("adam", "adamw", "sgd"))
        _one_of("schedule", self.schedule, ("step", "onecycle"))
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, not {self.lr}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), not {self.label_smoothing}")
        if not 0 <= self.ema < 1:
            raise ValueError(f"ema must be in [0, 1) (0: off; 0.999 averages over about 1,000 steps), not {self.ema}")
        if not 0 <= self.distill <= 1:
            raise ValueError(f"distill must be in [0, 1], not {self.distill}")
        if bool(self.teacher) != (self.distill > 0):
            raise ValueError("distill and teacher go together: a weight in (0, 1] needs a teacher run "
                             f"(teacher='runs/f20b_seed1'), and a teacher a weight (got distill={self.distill}, "
                             f"teacher={self.teacher!r})")


def check_loader(loader: str, augment: Augment) -> None:
    """A ValueError unless `loader` is "fast" or "reference", and "reference" only with the
    original's augmentation (its per-sample pipeline knows only its own)."""
    if loader not in ("fast", "reference"):
        raise ValueError(f"loader must be 'fast' or 'reference', not {loader!r}")
    if loader == "reference" and augment != Augment():
        raise ValueError("augmentation settings other than the original's need loader='fast' "
                         "(the original's per-sample pipeline knows only its own)")


def _one_of(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, not {value!r}")


@dataclass(frozen=True)
class HParams:
    """Everything that defines one run's result: the model, the random seed (weights, shuffling,
    augmentation), the optimisation, the augmentation and the data. The defaults are the
    original study's recipe. Build one with `HParams.for_model(name, **flat_settings)`."""

    model: str = "iter6"
    seed: int = 1
    optim: Optim = field(default_factory=Optim)
    augment: Augment = field(default_factory=Augment)
    val_size: int = 0  # images held out of the 60k training set to choose things on
    train_subset: int = 0  # > 0: train on only this many images (smoke runs, tests)
    loader: str = "fast"  # "fast" (device-resident, batch augmentation) or "reference" (original)
    # how the arithmetic runs: speed levers, but each can change the numbers a little
    precision: str = "fp32"  # "bf16": forward passes under bfloat16 autocast (weights stay fp32)
    channels_last: bool = False  # NHWC memory format for the model and its training batches
    compile_mode: str = ""  # torch.compile mode (COMPILE_MODES) for training steps; "": eager
    cudnn_benchmark: bool = False  # let cuDNN time its algorithms and pick the fastest (CUDA)
    # a speed lever that changes no number: where the host's memory comes from
    allocator: str = "default"  # "keep": glibc keeps the memory it frees (runtime.keep_freed_memory)

    def __post_init__(self):
        check_loader(self.loader, self.augment)
        _one_of("precision", self.precision, ("fp32", "bf16"))
        _one_of("compile_mode", self.compile_mode, COMPILE_MODES)
        _one_of("allocator", self.allocator, ALLOCATORS)

    @classmethod
    def for_model(cls, model: str, **settings) -> "HParams":
        """`model` with its own recipe (RECIPES; the original's for the iterations), then
        `settings`, given flat (`epochs=1`, `degrees=8`, `seed=2`) and sorted into their group."""
        return cls.from_flat({**RECIPES.get(model, {}), "model": model, **settings})

    @classmethod
    def from_flat(cls, flat: dict) -> "HParams":
        groups = {"optim": {f.name for f in fields(Optim)}, "augment": {f.name for f in fields(Augment)}}
        top = {f.name for f in fields(cls)} - set(groups)
        unknown = set(flat) - top - set().union(*groups.values())
        if unknown:
            raise ValueError(f"unknown setting(s) {', '.join(sorted(unknown))}; known: "
                             f"{', '.join(sorted(top | set().union(*groups.values())))}")
        return cls(**{k: v for k, v in flat.items() if k in top},
                   optim=Optim(**{k: v for k, v in flat.items() if k in groups["optim"]}),
                   augment=Augment(**{k: v for k, v in flat.items() if k in groups["augment"]}))

    @classmethod
    def from_dict(cls, d: dict) -> "HParams":
        """The inverse of `asdict` (how a results file stores it)."""
        return cls(**{**d, "optim": Optim(**d["optim"]), "augment": Augment(**d["augment"])})

    def to_dict(self) -> dict:
        """How a results file stores it (`from_dict` reads it back)."""
        return asdict(self)

    def flat(self) -> dict:
        """Every setting in one flat dict: optimisation, augmentation, then the rest."""
        d = asdict(self)
        return {**d.pop("optim"), **d.pop("augment"), **d}

    def levers(self, ignore=("model", "seed")) -> dict:
        """The settings that differ from the original study's recipe (HParams' defaults)."""
        base = HParams().flat()
        return {k: v for k, v in self.flat().items() if k not in ignore and v != base[k]}

    def with_(self, **settings) -> "HParams":
        """A copy with flat `settings` changed."""
        return HParams.from_flat({**self.flat(), **settings})


def smoke_mode() -> bool:
    """Whether notebooks run cut short: the regression tests set EFFMNIST_FAST=1 (nbval runs)."""
    return os.environ.get("EFFMNIST_FAST") == "1"


def notebook_hparams(model: str | HParams, **settings) -> HParams:
    """`model` with its own recipe (or a recipe given as HParams), as a notebook trains it: under
    the regression tests (EFFMNIST_FAST=1, which nbval runs set) cut to 1 epoch on 2,000 images,
    so that every notebook re-executes in seconds; otherwise the full recipe."""
    if smoke_mode():
        settings = {**settings, "epochs": 1, "train_subset": 2000}
    return model.with_(**settings) if isinstance(model, HParams) else HParams.for_model(model, **settings)


def notebook_images(n: int) -> int:
    """How many test images a notebook's live check reads: `n`, or at most 1,000 under the
    regression tests (as `notebook_hparams` cuts training)."""
    return min(n, 1000) if smoke_mode() else n


def notebook_steps(n: int) -> int:
    """How many steps (or rounds) a notebook's timing takes: `n`, or at most 2 under the
    regression tests (as `notebook_hparams` cuts training)."""
    return min(n, 2) if smoke_mode() else n


def describe_levers(settings: dict) -> str:
    """`lr=0.01, schedule=onecycle`, or "original recipe" when nothing differs; a search's
    unrounded values at four significant digits."""
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in settings.items()) \
        or "original recipe"


def run_name(hp: HParams, tag: str = "") -> str:
    """`<model>[-<tag>]_seed<seed>`: what a run's results files are called; the tag names a
    variant of the model's recipe."""
    return f"{hp.model}{'-' + tag if tag else ''}_seed{hp.seed}"


def auto_tag(hp: HParams) -> str:
    """A tag that says how `hp` differs from its model's own recipe (seed aside), e.g.
    `epochs1-train_subset3`; "" for the recipe itself. `train` names its runs with it, so that a
    quick run cannot take the name of a finished full one."""
    own = HParams.for_model(hp.model, seed=hp.seed).flat()
    return "-".join(f"{k}{v}" for k, v in hp.flat().items() if v != own[k])


# The recipe each frontier model trains with by default (HParams.for_model, the CLI). Chosen by
# proxy runs on the validation split (plan frontier-search, results/search, notebook 07): at
# 20 epochs translation and label smoothing each lowered f8a's validation accuracy, so the
# recipe is the one-cycle schedule alone (peak lr 0.01, Adam, the original's augmentation).
FRONTIER_RECIPE = {"schedule": "onecycle", "lr": 0.01}
RECIPES: dict[str, dict] = {name: FRONTIER_RECIPE for name in ("f20b", "f8a", "f5s")}
# Below 2,000 and 1,000 parameters: the frontier recipe with peak lr 0.02, which the tiny search's
# stage 2 (8 epochs, validation split) preferred for both finalists in a GPU session whose
# runs were lost; its CPU re-run (plan tiny-search, results/tiny/ranking.md) agrees for t2a and
# picks t1e at peak lr 0.01 below 1,000 (its own recipe: the frontier recipe).
RECIPES.update({name: {**FRONTIER_RECIPE, "lr": 0.02} for name in ("t2a", "t1b")})
RECIPES["t1e"] = FRONTIER_RECIPE
# t1b's own stage-1 levers put together (plan frontier-levers) train with t1b's recipe
RECIPES.update({name: RECIPES["t1b"] for name in ("t1j", "t1k")})
