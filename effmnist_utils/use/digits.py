"""Your own digit, prepared the way MNIST's digits were.

MNIST's digits are white ink on black, the ink scaled (aspect ratio kept) so that its longer side
is 20 px, then pasted into a 28x28 field so that its centre of mass sits at the centre. A photo
or a drawing is none of that, which is why a model that scores 99.5 % on the test set fails on
it. `prepare_steps` does each step and returns the image after every one (for a notebook to
show); `prepare_digit` returns the last one, normalised as in training, ready for a model.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from ..core.data import MEAN, STD

BOX, FIELD = 20, 28  # MNIST: the ink's longer side, and the field it is centred in
CENTRE = 14.0  # where MNIST put the centre of mass (0-based row and column; the test set's mean)
INK = 0.2  # after the background is taken off, pixels above this (of the full range) are ink
MIN_CONTRAST = 0.1  # an image whose ink differs from its background by less is blank


def _from_path(path: Path) -> np.ndarray:
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        with Image.open(path) as img:
            return _from_pil(img)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"{path}: not an image that Pillow can read ({exc.__class__.__name__})") from None


def _from_pil(img) -> np.ndarray:
    img.load()
    img = ImageOps.exif_transpose(img)  # a phone photo taken upright is stored sideways + a tag
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))  # transparent = paper
        img = Image.alpha_composite(white, img.convert("RGBA"))
    return np.asarray(img.convert("L"), dtype=np.float32) / 255.0


def to_grayscale(image) -> np.ndarray:
    """A path, PIL image, numpy array or torch tensor -> 2-D float32 array in [0, 1].
    Arrays: H x W, H x W x 3/4 (colour, last axis) or 1 x H x W; uint8 or floats in [0, 1]."""
    if isinstance(image, (str, Path)):
        return _from_path(Path(image))
    if hasattr(image, "convert") and hasattr(image, "size"):  # a PIL image
        return _from_pil(image)
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    if not isinstance(image, np.ndarray):
        raise ValueError(f"not an image: {type(image).__name__} (give a path, a PIL image or an array)")
    arr = image[0] if image.ndim == 3 and image.shape[0] == 1 else image
    if arr.ndim == 3 and arr.shape[-1] in (1, 3, 4):
        arr = arr[..., :3].mean(axis=-1)
    if arr.ndim != 2:
        raise ValueError(f"not a 2-D image: an array of shape {tuple(image.shape)}")
    arr = arr.astype(np.float32)
    if image.dtype == np.uint8 or arr.max() > 1.0:
        arr = arr / 255.0
    return np.clip(arr, 0.0, 1.0)


def border(x: np.ndarray) -> np.ndarray:
    """The pixels along an image's four edges, as one 1-D array (where the paper shows)."""
    return np.concatenate([x[0], x[-1], x[1:-1, 0], x[1:-1, -1]])


def scale_to_box(ink: np.ndarray) -> np.ndarray:
    """Resize (antialiased) so that the longer side is BOX px, keeping the aspect ratio."""
    h, w = ink.shape
    size = (max(1, round(BOX * h / max(h, w))), max(1, round(BOX * w / max(h, w))))
    t = torch.from_numpy(np.ascontiguousarray(ink))[None, None]
    out = F.interpolate(t, size=size, mode="bilinear", antialias=True, align_corners=False)
    out = out[0, 0].clamp(0, 1).numpy()
    return out / out.max() if out.max() > 0 else out


def centre_of_mass(x: np.ndarray) -> tuple[float, float]:
    """(row, column) of the intensity-weighted centre of a 2-D image, in pixel indices."""
    rows, cols = np.indices(x.shape)
    total = x.sum()
    return float((rows * x).sum() / total), float((cols * x).sum() / total)


def paste_centred(box: np.ndarray) -> np.ndarray:
    """Paste into FIELD x FIELD so that the centre of mass lands on CENTRE (to the nearest
    pixel; the box is never cut)."""
    com = centre_of_mass(box)
    top = int(np.clip(round(CENTRE - com[0]), 0, FIELD - box.shape[0]))
    left = int(np.clip(round(CENTRE - com[1]), 0, FIELD - box.shape[1]))
    field = np.zeros((FIELD, FIELD), dtype=np.float32)
    field[top:top + box.shape[0], left:left + box.shape[1]] = box
    return field


def is_light(gray: np.ndarray) -> bool:
    """Whether the paper is light: the median of the border is above mid-grey."""
    if min(gray.shape, default=0) < 2:
        raise ValueError(f"empty image: {gray.shape[1] if gray.ndim == 2 else 0}x{gray.shape[0]} pixels")
    return bool(np.median(border(gray)) > 0.5)


def stretch_ink(inverted: np.ndarray) -> np.ndarray:
    """Light ink on dark paper -> the background at 0 and the brightest ink at 1, pixels below
    INK dropped to 0 (paper texture, noise and shadows are not ink). ValueError when blank."""
    background, top = float(np.median(border(inverted))), float(inverted.max())
    if top - background < MIN_CONTRAST:
        raise ValueError("blank image: no ink stands out from the background "
                         f"(contrast {top - background:.2f}, at least {MIN_CONTRAST} needed)")
    ink = np.clip((inverted - background) / (top - background), 0.0, 1.0)
    ink[ink < INK] = 0.0
    return ink


def crop_to_ink(ink: np.ndarray) -> np.ndarray:
    """The smallest rectangle that holds every non-zero pixel."""
    rows, cols = np.nonzero(ink)
    return ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]


def _ink(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """(the image with light ink on dark paper, its ink stretched to [0, 1] with background 0,
    whether the paper was light)."""
    light = is_light(gray)
    inverted = 1.0 - gray if light else gray
    return inverted, stretch_ink(inverted), light


def ink_of(image) -> np.ndarray:
    """An image's ink, whole: the first steps of `prepare_steps` (light or dark paper, background
    taken off, faint pixels dropped); 2-D float32 in [0, 1]. ValueError for a blank image."""
    return _ink(to_grayscale(image))[1]


def prepare_steps(image) -> list[tuple[str, np.ndarray]]:
    """The preparation, step by step: [(title, 2-D float array in [0, 1]), ...]; the last is the
    28x28 digit as MNIST's were made. Raises ValueError for an empty, blank or unreadable image.

    grayscale -> invert if the paper (the border's median) is light -> take the background off and
    stretch the ink to [0, 1] -> crop to the ink -> scale the longer side to 20 px (aspect ratio
    kept) -> paste into 28x28, centre of mass at the centre."""
    gray = to_grayscale(image)
    inverted, ink, light = _ink(gray)
    crop = crop_to_ink(ink)
    box = scale_to_box(crop)
    return [("1. grayscale", gray),
            ("2. inverted: light ink on dark" if light else "2. dark paper: kept as it is", inverted),
            ("3. background off, ink stretched", ink),
            (f"4. cropped to the ink ({crop.shape[1]}x{crop.shape[0]})", crop),
            (f"5. scaled to {box.shape[1]}x{box.shape[0]}", box),
            ("6. centre of mass centred in 28x28", paste_centred(box))]


def as_input(field: np.ndarray) -> torch.Tensor:
    """A prepared 28x28 field in [0, 1] (`prepare_steps`' last image) -> the 1 x 1 x 28 x 28
    float tensor a model takes, normalised as in training."""
    return ((torch.from_numpy(field) - MEAN) / STD)[None, None].float()


def prepare_digit(image) -> torch.Tensor:
    """An image (path, PIL image, array) -> a 1 x 1 x 28 x 28 float tensor, prepared like MNIST
    (see `prepare_steps`) and normalised as in training; ValueError for unusable input."""
    return as_input(prepare_steps(image)[-1][1])


def as_drawing(digit, size: int = 200, box: int = 120, at: tuple[int, int] = (20, 60)) -> np.ndarray:
    """A 28x28 MNIST digit as a reader's drawing might come: upscaled to `box` px, black ink on
    white paper, pasted at `at` (top, left) on a `size` x `size` page. uint8, size x size."""
    t = torch.as_tensor(np.asarray(digit), dtype=torch.float32).reshape(1, 1, FIELD, FIELD)
    big = F.interpolate(t / 255.0, size=(box, box), mode="bilinear", align_corners=False)[0, 0]
    page = np.full((size, size), 255, dtype=np.uint8)
    page[at[0]:at[0] + box, at[1]:at[1] + box] = (255 * (1 - big.clamp(0, 1))).round().byte().numpy()
    return page
