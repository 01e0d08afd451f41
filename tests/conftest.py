"""Shared fixtures: figures closed after every test; MNIST is loaded (and, on a fresh machine, written from the bundle) once, and
the two short runs several tests compare against are trained once."""
import matplotlib

matplotlib.use("Agg")  # before pyplot: no window, on any machine
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from effmnist_utils.core.config import HParams  # noqa: E402
from effmnist_utils.core.data import load_mnist  # noqa: E402
from effmnist_utils.core.runs import train_run  # noqa: E402
from helpers import LEARNING, SHORT, quiet_cpu  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    """Every test's figures closed after it (matplotlib keeps them open until told)."""
    yield
    plt.close("all")


@pytest.fixture(scope="session")
def mnist():
    """((train_x, train_y), (test_x, test_y), source) from the default data dir."""
    return load_mnist()


@pytest.fixture(scope="session")
def learned_run(tmp_path_factory):
    """(hp, model, history, record) of the LEARNING run: seed 1, fast loader, fp32, on the CPU."""
    hp = HParams.for_model(**LEARNING)
    model, history, record, _ = train_run(hp, quiet_cpu(tmp_path_factory.mktemp("learned")))
    return hp, model, history, record


@pytest.fixture(scope="session")
def short_run(tmp_path_factory):
    """One SHORT run (helpers.SHORT) with train_run's default out_dir, started in an empty
    working folder: (cwd, model, history, record)."""
    cwd = tmp_path_factory.mktemp("cwd")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        model, history, record, _ = train_run(SHORT, quiet_cpu())
    return cwd, model, history, record
