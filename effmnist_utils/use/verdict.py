"""An honest answer: a digit only when the input is one digit and the model is sure of it.

Every input gets an answer, but not every answer is a digit. Before the model is asked:
- "small": the ink spans less than MIN_SIZE of the image's shorter side (a tap, a dash);
- "marks": two or more tall marks stand side by side with a gap (two digits, "17");
- "ink": the centre-lines, redrawn into the 28x28 field at MNIST's stroke width, carry more ink
  than any validation digit's do (a scribble, a box covered in ink).
After: "unsure": the model's top probability is below the 1st percentile of its top probability
on the validation digits. Both limits come from the validation split (training images held out
by `core.loaders.validation_split`, never the test set) and are recorded by `record` in
results/deploy/thresholds/validation.json; `limits` reads them. web/prep.js applies the same rules
(tests/test_web.py holds the two equal).
"""
from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import torch

from . import digits
from .redraw import PEN, render, skeleton, skeleton_segments
from ..core.config import RESULTS_DIR, RUNS_DIR
from ..core.data import load_mnist
from ..core.loaders import VAL_SPLIT_SEED, normalise, validation_split
from ..core.record import load_run

MIN_SIZE = 1 / 8  # half the smallest digit the page is tested to read (a quarter of the pad's height)
SIGNIFICANT = 0.05  # a mark with less of the ink is a speck: it neither counts nor separates
TALL = 0.5  # marks at least this share of the drawing's height, side by side: not one digit
LARGEST = 280  # a mask larger than the page's pad is reduced by whole blocks before marks are counted
VALIDATION = 5000  # the validation split's size
PERCENTILE = 1  # "unsure": below this percentile of the validation digits' top probability
THRESHOLDS = RESULTS_DIR / "deploy" / "thresholds" / "validation.json"

MESSAGES = {
    "small": "Too small to read: draw the digit larger (at least an eighth of the box's height).",
    "marks": "That looks like more than one digit side by side: draw one digit.",
    "ink": "Too much ink for one digit: a scribble? Clear the box and draw one digit.",
    "unsure": "Not sure: this looks like none of the digits clearly enough.",
}


def _reduced(mask: np.ndarray) -> np.ndarray:
    """The mask, if larger than LARGEST, shrunk by whole k x k blocks (a block with ink is ink)."""
    k = math.ceil(max(mask.shape) / LARGEST)
    if k == 1:
        return mask
    h, w = -(-mask.shape[0] // k) * k, -(-mask.shape[1] // k) * k
    padded = np.zeros((h, w), dtype=bool)
    padded[:mask.shape[0], :mask.shape[1]] = mask
    return padded.reshape(h // k, k, w // k, k).any(axis=(1, 3))


def marks(mask: np.ndarray) -> list[tuple[int, int, int, int, int]]:
    """The 8-connected marks of a boolean mask, in reading order of their first pixel:
    [(pixels, top, bottom, left, right)]."""
    h, w = mask.shape
    seen = np.zeros_like(mask, dtype=bool)
    found = []
    for r0, c0 in zip(*np.nonzero(mask)):
        if seen[r0, c0]:
            continue
        seen[r0, c0] = True
        queue, n, top, bottom, left, right = deque([(r0, c0)]), 0, r0, r0, c0, c0
        while queue:
            r, c = queue.popleft()
            n, top, bottom, left, right = n + 1, min(top, r), max(bottom, r), min(left, c), max(right, c)
            for rr in (r - 1, r, r + 1):
                for cc in (c - 1, c, c + 1):
                    if 0 <= rr < h and 0 <= cc < w and mask[rr, cc] and not seen[rr, cc]:
                        seen[rr, cc] = True
                        queue.append((rr, cc))
        found.append((n, int(top), int(bottom), int(left), int(right)))
    return found


def side_by_side(found) -> bool:
    """Two or more tall marks with a gap between them, left to right (see TALL, SIGNIFICANT)."""
    total = sum(m[0] for m in found)
    height = max(m[2] for m in found) - min(m[1] for m in found) + 1
    tall = sorted((m for m in found if m[0] >= SIGNIFICANT * total and m[2] - m[1] + 1 >= TALL * height),
                  key=lambda m: m[3])
    right = None
    for m in tall:
        if right is not None and m[3] > right:
            return True
        right = m[4] if right is None else max(right, m[4])
    return False


def _crop(ink: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(ink)
    return _reduced(ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1] > 0)


def look(ink: np.ndarray) -> str | None:
    """Why an image's ink (`digits.ink_of`) is not one digit ("small" or "marks"), or None."""
    rows, cols = np.nonzero(ink)
    if max(np.ptp(rows), np.ptp(cols)) + 1 < MIN_SIZE * min(ink.shape):
        return "small"
    return "marks" if side_by_side(marks(_crop(ink))) else None


def centre_line_ink(ink: np.ndarray) -> float:
    """The ink's centre-lines (its skeleton) redrawn at MNIST's stroke width: the mean of the field."""
    return float(render(skeleton_segments(skeleton(_crop(ink))), PEN).mean())


@torch.inference_mode()
def top_k(model: torch.nn.Module, x: torch.Tensor, k: int = 3) -> list[list[tuple[int, float]]]:
    """For each image of a normalised N x 1 x 28 x 28 batch: [(digit, probability), ...], best first."""
    probs, found = model(x).exp().topk(k, dim=1)
    return [list(zip(d.tolist(), p.tolist())) for d, p in zip(found, probs)]


@torch.inference_mode()
def _threshold(model, images: torch.Tensor) -> float:
    """The PERCENTILE-th percentile of `model`'s top probability on `images` (uint8, N x 28 x 28)."""
    top = model.eval()(normalise(images)).exp().max(dim=1).values.double().numpy()
    return float(np.percentile(top, PERCENTILE))


def _validation(data_dir=None) -> torch.Tensor:
    (train_x, train_y), _, _ = load_mnist(data_dir)
    return validation_split(train_x, train_y, VALIDATION)[0][0]


@dataclass
class Answer:
    """The model's top 3 and what it read (`field`), and `reason` when that is not a digit."""

    top3: list[tuple[int, float]] | None
    field: np.ndarray | None
    reason: str | None = None

    @property
    def digit(self) -> int | None:
        return None if self.reason else self.top3[0][0]

    def text(self) -> str:
        """One line: the digit and the top 3, or why there is none (with the top 3 if asked)."""
        best = "top 3: " + ", ".join(f"{d} {percent(p)}" for d, p in self.top3) if self.top3 else ""
        if self.reason is None:
            return f"{self.digit}   {best}"
        return f"no digit: {MESSAGES[self.reason]}" + (f"   {best}" if best else "")


def percent(p: float) -> str:
    """A probability as a percentage to 0.1, never rounded to a certainty: "> 99.9%", "< 0.1%"."""
    text = f"{100 * p:.1f}"
    return "> 99.9%" if text == "100.0" else "< 0.1%" if text == "0.0" else f"{text}%"


def answer(model, field: np.ndarray, reason: str | None, ink: float, limits: dict) -> Answer:
    """The answer for a prepared `field` (28x28 in [0, 1]) given the input's `reason` (`look`) and
    its centre-line `ink`; `limits` = {"confidence", "max_ink"} (`limits`)."""
    if reason is None and ink > limits["max_ink"]:
        reason = "ink"
    top3 = None
    if reason is None:
        top3 = top_k(model, digits.as_input(field))[0]
        if top3[0][1] < limits["confidence"]:
            reason = "unsure"
    return Answer(top3, field, reason)


def read_image(model, image, limits: dict) -> Answer:
    """An image (path, PIL image, array) prepared like MNIST (`digits`) and judged; ValueError if blank."""
    ink = digits.ink_of(image)
    reason = look(ink)
    field = digits.prepare_steps(image)[-1][1]
    return answer(model, field, reason, centre_line_ink(ink) if reason is None else 0.0, limits)


# The run the page ships trained on all 60,000 training images, the validation digits included, so
# its own confidence on them says too little. Its threshold comes from its held-out twin: the same
# network, recipe and seed trained without the 10,000 held-out images (plan frontier-levers),
# scored on exactly those images.
HELD_OUT_TWIN = {"f8a_seed1": "levers/f8a-v10k_seed1"}


def derive(runs=("f8a_seed1",), data_dir=None) -> dict:
    """The limits, from the validation split: the most centre-line ink of any validation digit, how
    many validation digits each rule before the model would refuse, and per run the PERCENTILE-th
    percentile of the top probability on held-out digits: of its held-out twin (HELD_OUT_TWIN) on
    the images the twin never saw, else of the run itself on the validation split."""
    images = _validation(data_dir)
    inks = [digits.ink_of(image) for image in images.numpy()]
    refused = [look(ink) for ink in inks]
    out = {"about": "Limits of the draw-a-digit page and `predict` (effmnist_utils/use/verdict.py, `record`): "
                    "max_ink, the most centre-line ink of any validation digit redrawn at pen px; per run, "
                    "the percentile-th percentile of the top probability on held-out digits (its confidence "
                    "threshold): from its held-out twin (`from`: the same network, recipe and seed trained "
                    "without those images) on the images it held out, else from the run itself; refused, "
                    "how many validation digits the rules before the model refuse.",
           "split": f"core.loaders.validation_split(train images, labels, {VALIDATION}) (seed {VAL_SPLIT_SEED}): "
                    "training images, never the test set",
           "pen": PEN, "max_ink": max(centre_line_ink(ink) for ink in inks),
           "refused": {r: refused.count(r) for r in ("small", "marks")}, "percentile": PERCENTILE,
           "confidence": {}}
    for name in runs:
        twin = HELD_OUT_TWIN.get(name)
        model, run = load_run(RESULTS_DIR / f"{twin}.json" if twin else RUNS_DIR / f"{name}.json")
        held = images
        if twin:
            (train_x, train_y), _, _ = load_mnist(data_dir)
            held = validation_split(train_x, train_y, run.hp.val_size)[0][0]
        out["confidence"][name] = {"threshold": _threshold(model, held), "from": twin or name,
                                   "images": len(held), "seen_in_training": run.hp.val_size == 0}
    return out


def record(path=THRESHOLDS, **kwargs) -> dict:
    """Derive the limits and write them to `path` (results/deploy/thresholds/validation.json)."""
    result = derive(**kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    return result


def limits(name: str, model=None, path=THRESHOLDS) -> dict:
    """{"confidence", "max_ink"} for the run `name`: recorded, or derived now for a run not recorded."""
    recorded = json.loads(path.read_text())
    if name in recorded["confidence"]:
        return {"confidence": recorded["confidence"][name]["threshold"], "max_ink": recorded["max_ink"]}
    if model is None:
        raise ValueError(f"no confidence threshold recorded for {name} in {path}")
    return {"confidence": _threshold(model, _validation()), "max_ink": recorded["max_ink"]}
