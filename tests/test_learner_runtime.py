"""The learner's runtime: each notebook run from its own first cell, as "Run all" runs it, in an
environment that holds only what a Colab GPU runtime ships (tests/colab/runtime.txt) and not the
project. The first cell fetches the project from the address it names; EFFMNIST_REPO points it at
a snapshot of this checkout (its tracked and unignored files, committed in a throwaway
repository). Smoke mode (EFFMNIST_FAST=1), like every notebook test.

Each notebook gets a runtime of its own: a virtual environment without packages of its own, whose
site-packages reads the shared Colab packages through a .pth file, so what one notebook's setup
installs never helps the next. torch and torchvision are linked from this venv (the pinned pair;
PyPI does not serve Colab's CUDA builds), which spares CI a second 6 GB install.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
RUNTIME = ROOT / "tests" / "colab" / "runtime.txt"
CLONE = "EfficientMnist-Under20K"
# torch, torchvision and the CUDA libraries their wheels pull in, never torchsummary (Colab's own)
TORCH = re.compile(r"^(torch|torchvision)([-.].*)?$|^(torchgen|functorch|triton|nvidia|cuda)")
UNREACHABLE = "https://127.0.0.1:9/no-such-repository"  # refused at once, without a network


def _site(prefix: Path) -> Path:
    return Path(sysconfig.get_path("purelib", vars={"base": str(prefix), "platbase": str(prefix)}))


@pytest.fixture(scope="session")
def colab(tmp_path_factory) -> list[Path]:
    """The folders a Colab-like runtime reads packages from: Colab's packages at Colab's versions,
    and torch/torchvision linked from this environment."""
    base = tmp_path_factory.mktemp("colab-packages")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(base)], check=True)
    # pip itself is one of Colab's packages (runtime.txt pins it): install it with this venv's pip
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--prefix", str(base), "--ignore-installed",
                          "-r", str(RUNTIME)], capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr[-2000:]
    torch_layer = tmp_path_factory.mktemp("torch-layer")
    ours = Path(sysconfig.get_path("purelib"))
    for entry in ours.iterdir():
        if TORCH.match(entry.name):
            (torch_layer / entry.name).symlink_to(entry)
    assert (torch_layer / "torch").exists() and (torch_layer / "torchvision").exists()
    return [_site(base), torch_layer]


@pytest.fixture(scope="session")
def repo(tmp_path_factory) -> str:
    """A git repository holding this checkout as it is now (uncommitted edits too), as a file:// URL."""
    snap = tmp_path_factory.mktemp("repo")
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (snap / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, snap / name)
    git = ["git", "-C", str(snap), "-c", "user.name=test", "-c", "user.email=test@example.com"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "snapshot"]):
        subprocess.run(git + args, check=True, capture_output=True)
    return snap.as_uri()


def _runtime(folder: Path, colab: list[Path]) -> Path:
    """A fresh runtime in `folder`/runtime: its python sees Colab's packages and nothing else."""
    env = folder / "runtime"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    (_site(env) / "colab.pth").write_text("".join(f"{p}\n" for p in colab))
    kernels = folder / "kernels" / "colab"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(env / "bin" / "python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Colab-like", "language": "python"}))
    return folder / "kernels"


PROBE = "import effmnist_utils\nprint(effmnist_utils.__file__)"  # which package the notebook used


def _run(path: Path, folder: Path, colab: list[Path], address: str, first_cell_only: bool = False,
         probe: bool = False):
    """Run the notebook at `path` from a copy in `folder` (made if missing), as "Run all" does
    (stopping at the first error); returns the executed notebook and the error, if any."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    kernels = _runtime(folder.parent / f"{folder.name}-runtime", colab)
    folder.mkdir(exist_ok=True)
    shutil.copy(path, folder / path.name)
    nb = nbformat.read(folder / path.name, as_version=4)
    if first_cell_only:
        nb.cells = [next(c for c in nb.cells if c.cell_type == "code")]
    if probe:
        nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env |= {"EFFMNIST_FAST": "1", "TQDM_DISABLE": "1", "EFFMNIST_REPO": address,
            "PATH": os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not p.startswith(sys.prefix))}
    km = KernelManager(kernel_name="colab", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]))
    client = NotebookClient(nb, km=km, timeout=900, resources={"metadata": {"path": str(folder)}})
    try:
        client.execute(env=env, cwd=str(folder))
        return nb, None
    except CellExecutionError as error:
        return nb, error
    finally:  # a kernel manager handed to nbclient is the caller's to shut down
        if km.has_kernel:
            km.shutdown_kernel(now=True)


def _text(nb) -> str:
    return "".join(o.get("text", "") + o.get("evalue", "") + "".join(o.get("traceback", []))
                   for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_on_the_learners_runtime(path, tmp_path, colab, repo):
    """From its own first cell, with nothing installed but Colab's packages, every cell runs, and
    the package the notebook used is the clone's next to it (never this checkout's)."""
    start = time.perf_counter()
    nb, error = _run(path, tmp_path / "content", colab, repo, probe=True)
    assert error is None, str(error)[-3000:]
    print(f"{path.name}: {time.perf_counter() - start:.0f} s on the learner's runtime")
    used = nb.cells[-1].outputs[0]["text"].strip()
    assert used == str(tmp_path / "content" / CLONE / "effmnist_utils" / "__init__.py"), used
    assert "Traceback" not in _text(nb)


def test_a_copy_beside_the_notebook_serves_when_the_address_is_unreachable(tmp_path, colab, repo):
    """No network (or a fork, a renamed repository), but a copy of the project in the folder the
    first cell names: the notebook runs from the copy."""
    folder = tmp_path / "content"
    subprocess.run(["git", "clone", "-q", "--depth", "1", repo, str(folder / CLONE)], check=True, capture_output=True)
    shutil.rmtree(folder / CLONE / ".git")  # a copy, e.g. unpacked from a download, not a clone
    nb, error = _run(NOTEBOOKS[1], folder, colab, UNREACHABLE)
    assert error is None, str(error)[-3000:]
    assert "Traceback" not in _text(nb)


def test_no_project_and_no_address_stops_with_one_sentence(tmp_path, colab):
    """Neither the address nor a copy: the first cell stops "Run all" with one sentence that says
    what to do, and no traceback from git or subprocess."""
    nb, error = _run(NOTEBOOKS[0], tmp_path / "content", colab, UNREACHABLE, first_cell_only=True)
    assert error is not None and error.ename == "SystemExit", error
    message = error.evalue
    assert message.startswith(f"Could not fetch {UNREACHABLE}") and message.count(". ") == 0, message
    assert "copy of the project in a folder EfficientMnist-Under20K" in message
    shown = _text(nb)
    assert not re.search(r"Traceback|CalledProcessError|subprocess\.py", shown), shown[-2000:]
