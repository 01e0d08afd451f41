"""Serving MNIST to a run: normalisation, the training augmentation and the loaders.

`DeviceLoader` keeps a split as one normalised tensor on the device and augments a whole batch at
once; `ReferenceLoader` is the original study's per-sample torchvision pipeline, kept for parity
checks and the speed comparison. `make_data` builds the loaders of one run as its `HParams` say.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from PIL import Image

from .augment import Augment
from .config import HParams
from .data import MEAN, STD, load_mnist
from .place import RunPlace
from .runtime import as_device

VAL_SPLIT_SEED = 20_000  # fixed, so the validation images are the same for every run seed
EVAL_BATCH_SIZE = 256  # changes no result; on a 2-core CPU 128-256 beat 1000 (`bench`)


def normalise(images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 N x 28 x 28 -> float N x 1 x 28 x 28, scaled to [0, 1] and standardised."""
    return ((images_u8.float() / 255.0 - MEAN) / STD).unsqueeze(1)


def epoch_seed(seed: int, epoch: int) -> int:
    """The random seed of one epoch's shuffling and augmentation: resumed runs redraw the same."""
    return seed * 1_000_003 + epoch


class DeviceLoader:
    """A split held as one normalised tensor on `device`, served in batches.

    Shuffling and augmentation draw from a generator seeded by (seed, epoch), so a given epoch's
    batches are the same whether the run was interrupted and resumed or not; call `set_epoch`.
    """

    def __init__(self, images_u8, labels, batch_size: int, device="cpu", shuffle=False,
                 augment: Augment | None = None, seed: int = 0):
        self.x = normalise(images_u8.to(device))
        self.y = labels.to(device)
        self.batch_size, self.shuffle, self.augment, self.seed = batch_size, shuffle, augment, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return math.ceil(len(self.y) / self.batch_size)

    @property
    def num_images(self) -> int:
        return len(self.y)

    def __iter__(self):
        g = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch))
        n = len(self.y)
        order = torch.randperm(n, generator=g).to(self.y.device) if self.shuffle else None
        for start in range(0, n, self.batch_size):
            if order is None:
                xb, yb = self.x[start:start + self.batch_size], self.y[start:start + self.batch_size]
            else:
                idx = order[start:start + self.batch_size]
                xb, yb = self.x[idx], self.y[idx]
            yield (self.augment(xb, g) if self.augment else xb), yb


def reference_transform(aug: Augment = Augment()):
    """The original study's per-sample train transform (PIL image in, normalised tensor out)."""
    # heavy/optional: torchvision takes seconds to import; only the original's per-sample pipeline needs it
    from torchvision import transforms as T

    return T.Compose([
        T.RandomApply([T.CenterCrop(aug.crop)], p=aug.zoom_p),
        T.Resize((28, 28)),
        T.RandomRotation((-aug.degrees, aug.degrees), fill=0),
        T.ToTensor(),
        T.Normalize((MEAN,), (STD,)),
    ])


class _TensorImages(torch.utils.data.Dataset):
    """uint8 images as PIL images through a transform: the original's per-sample path. torchvision's
    random transforms draw from torch's global generator, so each sample's draw happens on a
    fork of it seeded by (`seed`, index) and leaves the global one as it was."""

    def __init__(self, images_u8, labels, transform, seed: int = 0):
        self.images, self.labels, self.transform, self.seed = images_u8, labels, transform, seed

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed * len(self.labels) + i)
            image = self.transform(Image.fromarray(self.images[i].numpy(), mode="L"))
        return image, int(self.labels[i])


class ReferenceLoader:
    """The original study's DataLoader with per-sample PIL transforms, reseeded per epoch like
    DeviceLoader."""

    def __init__(self, images_u8, labels, batch_size: int, device="cpu", seed: int = 0,
                 num_workers: int = 0):
        self.dataset = _TensorImages(images_u8, labels, reference_transform())
        self.batch_size, self.device, self.seed, self.num_workers = batch_size, device, seed, num_workers
        self.epoch = 0

    set_epoch = DeviceLoader.set_epoch
    num_images = property(lambda self: len(self.dataset))

    def __len__(self):
        return math.ceil(len(self.dataset) / self.batch_size)

    def __iter__(self):
        seed = epoch_seed(self.seed, self.epoch)
        self.dataset.seed = seed  # epoch k's augmentation is the same in a resumed run
        loader = torch.utils.data.DataLoader(
            self.dataset, batch_size=self.batch_size, shuffle=True, num_workers=self.num_workers,
            generator=torch.Generator().manual_seed(seed))
        for xb, yb in loader:
            yield xb.to(self.device, non_blocking=True), yb.to(self.device, non_blocking=True)


def validation_split(images, labels, val_size: int):
    """((held-out images, labels), (the rest)): a fixed random choice of `val_size` of the training
    images (the same for every run seed; seeded by VAL_SPLIT_SEED)."""
    perm = torch.randperm(len(labels), generator=torch.Generator().manual_seed(VAL_SPLIT_SEED))
    held, rest = perm[:val_size], perm[val_size:]
    return (images[held], labels[held]), (images[rest], labels[rest])


@dataclass
class MnistData:
    """The loaders of one run: `train` (augmented), `test` (None for a run that must not read
    the test set: a search's trial), and `val` when a split was held out."""

    train: DeviceLoader | ReferenceLoader
    test: DeviceLoader | None
    val: DeviceLoader | None
    source: str


def make_data(place="cpu", hp: HParams | None = None, *, seed: int | None = None,
              read_test: bool = True) -> MnistData:
    """Load MNIST once and build the loaders of a run as `hp` says (default: the original
    study's recipe), on `place`'s device from its data folder (`place`: a `RunPlace`, or a
    device); the shuffle and augmentation draw from `seed` (default `hp.seed`).

    `hp.val_size` images (a fixed random choice, the same for every seed) are held out of the
    60k training images for validation; `hp.train_subset` > 0 trains on that many of the rest
    (smoke runs); batches of `hp.optim.batch_size`. `hp.loader` is "fast" (DeviceLoader,
    augmented by `hp.augment`) or "reference" (the original study's per-sample pipeline, which
    only knows the original augmentation). `read_test=False`: no test loader (`test` is None), so
    nothing the run does can read the test set; such a run is judged on its validation split,
    which it then needs.
    """
    place, hp = RunPlace.of(place), HParams() if hp is None else hp
    device, seed, val_size = as_device(place.device), hp.seed if seed is None else seed, hp.val_size
    if not read_test and not val_size:
        raise ValueError("a run that does not read the test set is judged on a validation split: "
                         "give it val_size > 0")
    (x_train, y_train), (x_test, y_test), source = load_mnist(place.data_dir)
    if not 0 <= val_size < len(y_train):
        raise ValueError(f"val_size must be between 0 and {len(y_train) - 1}, not {val_size}")
    val = None
    if val_size:
        (x_val, y_val), (x_train, y_train) = validation_split(x_train, y_train, val_size)
        val = DeviceLoader(x_val, y_val, EVAL_BATCH_SIZE, device)
    if hp.train_subset:
        x_train, y_train = x_train[:hp.train_subset], y_train[:hp.train_subset]
    batch_size = hp.optim.batch_size
    if hp.loader == "fast":
        train = DeviceLoader(x_train, y_train, batch_size, device, shuffle=True, augment=hp.augment,
                             seed=seed)
    else:
        train = ReferenceLoader(x_train, y_train, batch_size, device, seed=seed)
    test = DeviceLoader(x_test, y_test, EVAL_BATCH_SIZE, device) if read_test else None
    return MnistData(train, test, val, source)
