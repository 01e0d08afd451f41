"""Where a run runs: `RunPlace`, the one object that carries a run's device, data folder, output
folder, progress switch and log from whoever starts it (a notebook, the command line, a plan, a
search) down to the run and its data."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import torch

from .config import SCRATCH_DIR


@dataclass(frozen=True)
class RunPlace:
    """Where a run runs and where it reports, none of which changes its result:

    - `device`: "auto" (CUDA, then Apple MPS, then the CPU), a name ("cpu", "cuda:1") or a
      torch.device (`runtime.as_device` turns it into one);
    - `data_dir`: where MNIST lives (None: `data.load_mnist`'s default folder);
    - `out_dir`: where the records go (None: the scratch folder of what runs, `effmnist-runs/`
      for a run or a population, `effmnist-runs/plans` for a plan); for a plan or a search it is
      the root of their folders, as the command line's --out-dir is;
    - `progress`: a line per epoch and progress bars (False: quiet);
    - `log`: where a plan's and a search's messages go (default: print).

    One object instead of the same five arguments passed down every layer (a plan to the runner
    to a run to its data; a search to its workers to a trial): a layer reads what it needs and
    hands the rest on, changed only with `with_` (a plan's folder under the root, say). A plain
    device (a name or a torch.device) stands for a place on that device, all else default
    (`of`), so `train_run(hp, device)` reads as before."""

    device: str | torch.device = "auto"
    data_dir: str | Path | None = None
    out_dir: str | Path | None = None
    progress: bool = True
    log: Callable[[str], None] = print

    @classmethod
    def of(cls, place: RunPlace | str | torch.device | None) -> RunPlace:
        """`place` itself, or a place on that device (None: "auto") with every other field its default."""
        return place if isinstance(place, RunPlace) else cls(device="auto" if place is None else place)

    def out(self, scratch: Path = SCRATCH_DIR) -> Path:
        """The output folder: `out_dir`, or `scratch` where none was given."""
        return Path(self.out_dir if self.out_dir is not None else scratch)

    def with_(self, **changes) -> RunPlace:
        """A copy with `changes` (field=value) made."""
        return replace(self, **changes)
