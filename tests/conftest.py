"""Shared fixtures: MNIST is loaded (and, on a fresh machine, written from the bundle) once."""
import pytest

from effmnist_utils.data import load_mnist


@pytest.fixture(scope="session")
def mnist():
    """((train_x, train_y), (test_x, test_y), source) from the default data dir."""
    return load_mnist()
