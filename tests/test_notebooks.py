"""The notebooks' structure, their first cell's setup script, the networks they write out, and
proof that nbval's output checks can turn the suite red. (nbval itself re-executes every
notebook: `pytest` collects notebooks/ too.)"""
import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from helpers import REPO_URL

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CHECK = "nbval-check-output"  # the cell metadata tag nbval checks the outputs of
SETUP = ROOT / "tools" / "colab_setup.py"


MAX_BYTES = 250_000


def _code(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def test_the_iteration_notebooks_come_first_one_per_iteration():
    """One notebook per iteration of the original study (`ITERATIONS`), named in order."""
    from effmnist_utils.core.models import ITERATIONS

    numbers = [f"{i:02d}" for i in range(1, len(ITERATIONS) + 1)]
    assert [p.name[:2] for p in NOTEBOOKS][:len(ITERATIONS)] == numbers


def _checked(cell) -> bool:
    return CHECK in cell.metadata.get("tags", [])


def _net_cell(nb):
    """The cell that writes out the notebook's network (`class Net`), or None."""
    return next((c for c in _code(nb) if re.search(r"^class Net\(nn\.Module\):", c.source, re.M)), None)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_executed_and_guarded(path):
    """Stored outputs of a real run, checked cells (the metadata tag) for the deterministic facts,
    a Colab badge, and no helper functions copied into the notebook (shared code lives in
    effmnist_utils): the one class allowed is the network the lesson is about, `class Net`, alone
    in its cell with its methods."""
    nb = nbformat.read(path, as_version=4)
    code, net = _code(nb), _net_cell(nb)
    run = [c for c in code if not c.source.startswith("# On Colab")]
    assert all(c.execution_count for c in run), "unexecuted cells"
    assert all(c.outputs for c in run if c is not net), "cells without output"  # a class prints nothing
    checked = [c for c in code if _checked(c)]
    assert len(checked) >= 3 and all(c.outputs for c in checked)
    assert not any("NBVAL_CHECK_OUTPUT" in c.source for c in code), "mark checked cells by their tag"
    assert "colab.research.google.com" in nb.cells[0].source
    for c in code:
        tree = ast.parse("\n".join(line for line in c.source.splitlines() if not line.startswith(("%", "!"))))
        defined = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
        if c is net:
            assert [type(n) for n in tree.body] == [ast.ClassDef], "class Net stands alone in its cell"
            assert all(isinstance(n, ast.FunctionDef) for n in defined[1:]), "Net holds only its methods"
        else:
            assert not defined, f"a function or class outside the package: {c.source[:120]}"


ITERATION_NOTEBOOKS = NOTEBOOKS[:6]
# the notebooks that write out their network as `class Net`: the iterations and the frontier's f8a
NET_NOTEBOOKS = ITERATION_NOTEBOOKS + [ROOT / "notebooks" / "07_frontier.ipynb"]


def _model_of(nb) -> str:
    found = {m for c in _code(nb) for m in re.findall(r'notebook_hparams\("([^"]+)"', c.source)}
    assert len(found) == 1, f"one model per notebook, found {found}"
    return found.pop()


@pytest.mark.parametrize("path", NET_NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_net_builds_the_packages_network(path):
    """The network the notebook writes out (`class Net`) is the package's network of its iteration:
    the same parameter names and shapes, so the same seed starts from the same weights and its
    recorded weights load into it; its forward pass gives log-probabilities of 10 digits."""
    nb = nbformat.read(path, as_version=4)
    _assert_net_is(nb, _model_of(nb), path.name)


# Notebooks beyond the iterations that write their network out, and the package's name for it
WRITTEN_OUT = {"08_speedrun": "fast"}


@pytest.mark.parametrize("name", WRITTEN_OUT)
def test_later_notebook_net_builds_the_packages_network(name):
    """As for the iterations: the network a later notebook writes out is the package's."""
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    _assert_net_is(nb, WRITTEN_OUT[name], name)


def _assert_net_is(nb, model: str, name: str):
    import torch
    from torch import nn
    import torch.nn.functional as F

    from effmnist_utils.core.models import build_model

    cell = _net_cell(nb)
    assert cell is not None, f"{name} writes out no `class Net(nn.Module)`"
    scope = {"torch": torch, "nn": nn, "F": F}
    exec(cell.source, scope)  # noqa: S102 - the notebook's own cell
    own, package = scope["Net"](), build_model(model)
    assert {k: tuple(v.shape) for k, v in own.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in package.state_dict().items()}
    own.load_state_dict(package.state_dict())
    x = torch.randn(2, 1, 28, 28)
    assert torch.allclose(own.eval()(x), package.eval()(x))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_asks_colab_for_a_gpu(path):
    """Opened from its badge, every notebook starts on a GPU runtime (Colab reads this metadata)."""
    meta = nbformat.read(path, as_version=4).metadata
    assert meta.get("accelerator") == "GPU" and meta.get("colab", {}).get("gpuType"), dict(meta)


def _run_nbval(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-o", "addopts=", "--nbval-lax", "--nbval-current-env", str(path)],
                          cwd=path.parent, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_nbval_fails_when_the_architecture_changes(tmp_path):
    """A notebook whose stored parameter count no longer matches the model fails under nbval,
    and the untouched notebook passes (only the cells up to the model are kept, for speed)."""
    nb = nbformat.read(NOTEBOOKS[1], as_version=4)
    cells = nb.cells[:max(i for i, c in enumerate(nb.cells) if "summary(Net()" in c.source) + 1]
    nb.cells = [c for c in cells if not c.source.startswith("# On Colab")]
    good = tmp_path / "good.ipynb"
    nbformat.write(nb, good)
    table = next(c for c in _code(nb) if "summary(Net()" in c.source)  # torchsummary's table
    text = table.outputs[0]["text"]
    assert "15,658" in text
    table.outputs[0]["text"] = text.replace("15,658", "15,650")  # as if a channel count changed
    bad = tmp_path / "bad.ipynb"
    nbformat.write(nb, bad)
    assert _run_nbval(good).returncode == 0
    result = _run_nbval(bad)
    assert result.returncode == 1 and "15,650" in result.stdout


def _colab_cell(nb):
    return next(c for c in _code(nb) if c.source.startswith("# On Colab"))


FOUND = 'importlib.util.find_spec("effmnist_utils") is None'


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_badge_and_first_cell_use_the_one_repository_url(path):
    """The Colab badge opens this notebook from the repository named in pyproject.toml, and the
    first code cell clones that repository (no other address appears in either; EFFMNIST_REPO may
    name another), runs the clone's setup only where the package is not importable, and stays at
    most 8 lines. tests/test_learner_runtime.py runs it as Colab does."""
    nb = nbformat.read(path, as_version=4)
    badge = f"https://colab.research.google.com/github/{SLUG}/blob/main/notebooks/{path.name}"
    assert badge in nb.cells[0].source
    assert set(re.findall(r"colab.research.google.com/github/[^)\s]+", nb.cells[0].source)) == {badge[8:]}
    first = _colab_cell(nb)
    assert first is _code(nb)[0] and len(first.source.strip().splitlines()) <= 8
    assert set(re.findall(r"https://[^\"\s]+", first.source)) == {REPO_URL}
    assert f"if {FOUND}:" in first.source and 'os.environ.get("EFFMNIST_REPO"' in first.source
    assert "colab_setup.main(repo" in first.source


SLUG = REPO_URL.removeprefix("https://github.com/")


def test_setup_script_clones_the_repository_named_in_pyproject():
    """The setup script's default address is pyproject.toml's (the one it cannot read before it
    has cloned the project)."""
    assert re.search(r'^REPO = "([^"]+)"', SETUP.read_text(), re.M).group(1) == REPO_URL


def _needs_git_checkout():
    if subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True).returncode:
        pytest.skip("needs a git checkout to clone")


def _clone(tmp_path: Path) -> Path:
    clone = tmp_path / "EfficientMnist-Under20K"
    subprocess.run(["git", "clone", "-q", "--depth", "1", ROOT.as_uri(), str(clone)], check=True, capture_output=True)
    shutil.copy(SETUP, clone / "tools" / "colab_setup.py")  # the script as it is now, committed or not
    return clone


def _setup(clone: Path, *args: str, **env) -> subprocess.CompletedProcess:
    """The clone's setup script, with `python` a stand-in that records pip's arguments."""
    fake = clone.parent / "bin"
    fake.mkdir(exist_ok=True)
    (fake / "pip.log").unlink(missing_ok=True)
    code = ("import sys, pathlib; p = pathlib.Path(sys.argv[0]).parent / 'pip.log'; "
            "p.write_text(' '.join(sys.argv[1:]) + '\\n' + ''.join(open(a).read() for a in sys.argv if a.endswith('.txt')))")
    runner = (f"import runpy, sys; sys.executable = {str(fake / 'python')!r}; sys.argv = sys.argv[1:]; "
              "runpy.run_path(sys.argv[0], run_name='__main__')")
    (fake / "python").write_text(f"#!{sys.executable}\n{code}\n")
    (fake / "python").chmod(0o755)
    return subprocess.run([sys.executable, "-c", runner, str(clone / "tools" / "colab_setup.py"), *args],
                          cwd=clone.parent, capture_output=True, text=True, timeout=120, env={**os.environ, **env})


@pytest.mark.slow
def test_setup_installs_the_clone_and_keeps_the_runtimes_torch(tmp_path):
    """The setup installs the package from its folder (`pip install -e`, so its declared
    dependencies come with it), with the installed torch and torchvision pinned, and an extra
    when a notebook names one."""
    _needs_git_checkout()
    clone = _clone(tmp_path)
    result = _setup(clone, ROOT.as_uri(), "deploy")
    assert result.returncode == 0, result.stderr[-600:]
    log = (tmp_path / "bin" / "pip.log").read_text()
    from importlib.metadata import version
    assert "-m pip install -q -c " in log and f"-e {clone}[deploy]" in log
    assert f"torch=={version('torch')}" in log and f"torchvision=={version('torchvision')}" in log


@pytest.mark.slow
def test_setup_replaces_a_half_finished_clone_and_keeps_a_copy(tmp_path):
    """A git clone with files missing (an interrupted clone) is cloned afresh; a copy that is no
    git clone is used as it is, never deleted; a copy without the package stops with one message."""
    _needs_git_checkout()
    clone = _clone(tmp_path)
    (clone / "effmnist_utils" / "__init__.py").unlink()
    assert _setup(clone, ROOT.as_uri()).returncode == 0
    assert (clone / "effmnist_utils" / "__init__.py").is_file()
    shutil.rmtree(clone / ".git")
    shutil.copy(SETUP, clone / "tools" / "colab_setup.py")  # the fresh clone holds the committed script
    (clone / "results" / "kept.txt").write_text("a copy is used as it is")
    assert _setup(clone, "https://127.0.0.1:9/unreachable").returncode == 0
    assert (clone / "results" / "kept.txt").is_file()
    shutil.rmtree(clone / "effmnist_utils")
    result = _setup(clone, ROOT.as_uri())
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "is incomplete" in result.stderr and result.stderr.strip().endswith("then run this cell again.")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_outputs_are_small_and_hold_no_progress_bars(path):
    """A stored notebook keeps one line per epoch, not every refresh of a progress bar, and stays
    under 250 KB."""
    assert path.stat().st_size < MAX_BYTES, f"{path.name}: {path.stat().st_size:,} bytes"
    nb = nbformat.read(path, as_version=4)
    for cell in _code(nb):
        for out in cell.outputs:
            text = out.get("text", "")
            assert out.get("name") != "stderr" or not re.search(r"\r|it/s|s/it|\d+%\|", text), text[:200]
