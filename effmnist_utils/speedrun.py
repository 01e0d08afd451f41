"""The speedrun: the least wall-clock training time to 99.4 % MNIST test accuracy (< 20,000
parameters, mean over >= 5 seeds, every seed >= 99.30 %), honestly measured per device kind.

The clock runs from the first training step to the end of the last (synchronised on CUDA), with
the data already on the device; loading and compile/warm-up are timed and reported separately.
Nothing is evaluated until training ends; the test set is read once, after the last epoch.
Recipes are chosen on the validation split (`val_size` > 0), never on the test set.
"""
from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from .config import RESULTS_DIR, Optim, _one_of
from .layernet import LayerNet
from .loaders import Augment, make_data
from .loop import TrainingError, evaluate, make_optimizer, make_scheduler, train_step
from .models import build_model, count_params
from .runtime import as_device, device_name, git_commit, seed_everything, synchronize

SPEED_DIR = RESULTS_DIR / "speedrun"  # <device kind>/ (the chosen recipe's seeds), search-<kind>/
COMPILE_MODES = (None, "default", "reduce-overhead", "max-autotune-no-cudagraphs")
NO_AUGMENT = Augment(zoom_p=0.0, degrees=0.0)  # the identity: no resampling at all


@dataclass(frozen=True)
class SpeedRecipe:
    """Everything a speedrun chooses. `model` is a registry name or a LayerNet layer string;
    the schedule is always one-cycle (Adam) with peak `lr`, stepped every batch."""

    model: str = "f8a"
    epochs: int = 5
    batch_size: int = 256
    lr: float = 0.01
    augment: Augment = field(default_factory=lambda: NO_AUGMENT)
    precision: str = "fp32"  # or "bf16" autocast (weights stay fp32)
    channels_last: bool = False
    compile_mode: str | None = None  # torch.compile mode (COMPILE_MODES), None: eager
    cudnn_benchmark: bool = False

    def __post_init__(self):
        _one_of("precision", self.precision, ("fp32", "bf16"))
        _one_of("compile_mode", self.compile_mode, COMPILE_MODES)
        self.optim()  # validates epochs, batch size and lr

    def optim(self) -> Optim:
        return Optim(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, schedule="onecycle")

    @classmethod
    def from_dict(cls, d: dict) -> "SpeedRecipe":
        return cls(**{**d, "augment": Augment(**d["augment"])})

    def describe(self) -> str:
        aug = {NO_AUGMENT: "no augmentation", Augment(): "original augmentation"}.get(
            self.augment, f"augment {asdict(self.augment)}")
        return ", ".join([self.model, f"{self.epochs} epochs", f"batch {self.batch_size}",
                          f"one-cycle peak lr {self.lr:g}", aug, self.precision]
                         + ["channels_last"] * self.channels_last + ["cudnn.benchmark"] * self.cudnn_benchmark
                         + [f"compile {self.compile_mode}"] * bool(self.compile_mode))


FAST_MODEL = "d16 C16 p C32 C32 g"  # shaped for speed: a strided first conv (28 -> 14), one pool
# The chosen recipe per device kind. CPU: by tools/speedrun_cpu_search.py on the validation split
# (results/speedrun/search-cpu): no candidate reached 99.45 % there within 60 s, so this is the
# best validation accuracy under the time goal (99.38 / 99.32 % over seeds 1, 2; ~45 s).
# CUDA: by tools/speedrun_gpu.py on one H200 (results/speedrun/cuda/chosen.json): no candidate
# reached 99.45 % within its search budget, so the fastest within 0.05 points of the best
# validation accuracy (99.32 %) under 2 s.
RECIPES_BY_DEVICE: dict[str, SpeedRecipe | None] = {
    "cpu": SpeedRecipe(FAST_MODEL, epochs=10, batch_size=512, lr=0.02, augment=Augment(),
                       precision="bf16", channels_last=True),
    "cuda": SpeedRecipe(FAST_MODEL, epochs=12, batch_size=2048, lr=0.04, augment=Augment()),
}


def recipe_for(kind: str, speed_dir=SPEED_DIR) -> SpeedRecipe:
    if RECIPES_BY_DEVICE.get(kind) is not None:
        return RECIPES_BY_DEVICE[kind]
    chosen = Path(speed_dir) / kind / "chosen.json"
    if chosen.is_file():
        return SpeedRecipe.from_dict(json.loads(chosen.read_text())["recipe"])
    raise ValueError(f"no speedrun recipe chosen for {kind!r} yet (known: "
                     f"{', '.join(k for k, v in RECIPES_BY_DEVICE.items() if v)}); on a GPU run "
                     "tools/speedrun_gpu.py, which chooses one on the validation split")


def build(recipe: SpeedRecipe, device) -> torch.nn.Module:
    model = LayerNet(recipe.model) if " " in recipe.model else build_model(recipe.model)
    model = model.to(device)
    return model.to(memory_format=torch.channels_last) if recipe.channels_last else model


def _fmt(x, recipe):
    return x.contiguous(memory_format=torch.channels_last) if recipe.channels_last else x


def _warm_up(step_model, model, loader, recipe, device, steps: int = 3) -> float:
    """Compile (if asked) and run a few untimed steps on every batch shape the run will see, with a
    throwaway optimizer; the model's weights and BN statistics are then restored exactly."""
    state = copy.deepcopy(model.state_dict())
    optimizer, g = make_optimizer(model, recipe.optim()), torch.Generator().manual_seed(0)
    n, bs = loader.num_images, recipe.batch_size
    sizes = [min(bs, n)] * steps + ([n % bs] * 2 if n > bs and n % bs else [])
    model.train()
    synchronize(device)
    start = time.perf_counter()
    for size in sizes:
        x = recipe.augment(loader.x[:size], g)
        train_step(step_model, optimizer, _fmt(x, recipe), loader.y[:size], recipe.precision)
    synchronize(device)
    seconds = time.perf_counter() - start
    model.load_state_dict(state)  # in place: compiled graphs keep pointing at the same tensors
    return seconds


def _train(step_model, model, optimizer, scheduler, loader, recipe):
    model.train()
    loss = None
    for epoch in range(1, recipe.epochs + 1):
        loader.set_epoch(epoch)
        for x, y in loader:
            loss, _ = train_step(step_model, optimizer, _fmt(x, recipe), y, recipe.precision)
            scheduler.step()
    return loss


def speedrun(recipe: SpeedRecipe, seed: int = 1, device="auto", val_size: int = 0,
             train_subset: int = 0, data_dir=None, tag: str = "speedrun") -> dict:
    """One timed run of `recipe`; returns its record (accuracies in [0, 1], seconds)."""
    device = as_device(device)
    torch.backends.cudnn.benchmark = recipe.cudnn_benchmark
    start = time.perf_counter()
    data = make_data(device, data_dir, recipe.batch_size, seed, val_size, train_subset, "fast",
                     recipe.augment)
    synchronize(device)
    load_seconds = time.perf_counter() - start
    seed_everything(seed)
    model = build(recipe, device)
    if recipe.compile_mode:
        torch._dynamo.reset()  # each run compiles afresh (and never hits the recompile limit)
    step_model = (torch.compile(model, mode=recipe.compile_mode, dynamic=False)
                  if recipe.compile_mode else model)
    compile_seconds = _warm_up(step_model, model, data.train, recipe, device)
    optimizer = make_optimizer(model, recipe.optim())
    scheduler = make_scheduler(optimizer, recipe.optim(), len(data.train))
    synchronize(device)
    start = time.perf_counter()
    loss = _train(step_model, model, optimizer, scheduler, data.train, recipe)
    synchronize(device)
    train_seconds = time.perf_counter() - start
    if not math.isfinite(loss.item()):
        raise TrainingError(f"the training loss became {loss.item()}; lower the learning rate")
    start = time.perf_counter()
    val_acc = evaluate(model, data.val)[1] if data.val is not None else None
    test_acc = evaluate(model, data.test)[1]  # read once, after the last epoch
    return {"name": f"{tag}_seed{seed}", "tag": tag, "recipe": asdict(recipe), "seed": seed,
            "device": device_name(device), "device_kind": device.type, "params": count_params(model),
            "val_size": val_size, "train_images": data.train.num_images,
            "steps": recipe.epochs * len(data.train), "train_seconds": train_seconds,
            "load_seconds": load_seconds, "compile_seconds": compile_seconds,
            "eval_seconds": time.perf_counter() - start, "final_loss": loss.item(),
            "val_acc": val_acc, "test_acc": test_acc, "torch": torch.__version__,
            "git_commit": git_commit(), "data_source": data.source,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def record(rec: dict, out_dir) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{rec['name']}.json"
    path.write_text(json.dumps(rec, indent=1) + "\n")
    return path


def load(run_dir) -> list[dict]:
    """Every speedrun record in `run_dir` (none when the folder does not exist)."""
    return [json.loads(p.read_text()) for p in sorted(Path(run_dir).glob("*_seed*.json"))]
