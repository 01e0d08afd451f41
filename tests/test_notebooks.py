"""The notebooks' structure, their first cell's setup script, the networks they write out, and
proof that nbval's output checks can turn the suite red. (nbval itself re-executes every
notebook: `pytest` collects notebooks/ too.)"""
import ast
import os
import re
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


def test_there_are_six_iteration_notebooks():
    """One notebook per seed iteration, named in order."""
    assert [p.name[:2] for p in NOTEBOOKS][:6] == ["01", "02", "03", "04", "05", "06"]


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


def _model_of(nb) -> str:
    found = {m for c in _code(nb) for m in re.findall(r'notebook_hparams\("([^"]+)"', c.source)}
    assert len(found) == 1, f"one model per notebook, found {found}"
    return found.pop()


@pytest.mark.parametrize("path", ITERATION_NOTEBOOKS, ids=lambda p: p.stem)
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
    cells = nb.cells[:max(i for i, c in enumerate(nb.cells) if "count_params" in c.source) + 1]
    nb.cells = [c for c in cells if not c.source.startswith("# On Colab")]
    good = tmp_path / "good.ipynb"
    nbformat.write(nb, good)
    table = next(c for c in _code(nb) if "count_params" in c.source)
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


SLUG = REPO_URL.removeprefix("https://github.com/")
SETUP_URL = f"https://raw.githubusercontent.com/{SLUG}/main/tools/colab_setup.py"
FOUND = 'importlib.util.find_spec("effmnist_utils") is None'


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_badge_and_first_cell_use_the_one_repository_url(path):
    """The Colab badge opens this notebook from the repository named in pyproject.toml, and the
    first code cell fetches the setup script from that repository (no other address appears in
    either), runs it only where the package is not importable, and stays at most 8 lines."""
    nb = nbformat.read(path, as_version=4)
    badge = f"https://colab.research.google.com/github/{SLUG}/blob/main/notebooks/{path.name}"
    assert badge in nb.cells[0].source
    assert set(re.findall(r"colab.research.google.com/github/[^)\s]+", nb.cells[0].source)) == {badge[8:]}
    first = _colab_cell(nb)
    assert first is _code(nb)[0] and len(first.source.strip().splitlines()) <= 8
    assert set(re.findall(r"https://[^\"\s]+", first.source)) == {SETUP_URL}
    assert f"if {FOUND}:" in first.source and '"colab_setup.py"' in first.source


def test_setup_script_clones_the_repository_named_in_pyproject():
    """The setup script's default address is pyproject.toml's (the one it cannot read before it
    has cloned the project)."""
    assert re.search(r'^REPO = "([^"]+)"', SETUP.read_text(), re.M).group(1) == REPO_URL


def _run_setup(cwd: Path, repo: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SETUP), repo], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_setup_fails_with_one_message_naming_the_address(tmp_path):
    """A clone that fails (no network, the address not published) ends in one message, git's own
    words on its first line, that names the address and what to do, with no traceback, and leaves
    no half-finished folder behind."""
    missing = (tmp_path / "no-such-repository").as_uri()
    result = _run_setup(tmp_path, missing)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"Could not clone {missing}: fatal:"), result.stderr[:300]
    assert result.stderr.strip().endswith("Then run this cell again.")
    assert not (tmp_path / "EfficientMnist-Under20K").exists()


def _needs_git_checkout():
    if subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True).returncode:
        pytest.skip("needs a git checkout to clone")


@pytest.mark.slow
def test_setup_replaces_a_half_finished_clone(tmp_path):
    """A folder left by an interrupted clone (no package in it) is not reused: the script clones
    afresh, and a second run reuses the complete clone."""
    _needs_git_checkout()
    broken = tmp_path / "EfficientMnist-Under20K"
    (broken / ".git").mkdir(parents=True)
    (broken / "README.md").write_text("interrupted")
    assert _run_setup(tmp_path, ROOT.as_uri()).returncode == 0
    assert (broken / "effmnist_utils" / "__init__.py").is_file()
    marker = broken / "results" / "kept.txt"
    marker.write_text("a complete clone is reused")
    assert _run_setup(tmp_path, ROOT.as_uri()).returncode == 0
    assert marker.read_text() == "a complete clone is reused"


def _as_on_colab(first_cell: str, served: Path) -> str:
    """The first cell as Colab runs it (the package not importable), fetching the setup script
    from `served` (a copy that clones this checkout) instead of the published address."""
    served.mkdir(exist_ok=True)
    script = served / "colab_setup.py"
    script.write_text(SETUP.read_text().replace(f'REPO = "{REPO_URL}"', f'REPO = "{ROOT.as_uri()}"'))
    return first_cell.replace(FOUND, "True").replace(SETUP_URL, script.as_uri())


@pytest.mark.slow
def test_first_cell_sets_the_project_up_like_on_colab(tmp_path):
    """Notebook 01's first cell, run where the package is not importable, fetches the setup
    script, clones the project next to the notebook and makes its package importable."""
    _needs_git_checkout()
    work = tmp_path / "notebook"
    work.mkdir()
    cell = _as_on_colab(_colab_cell(nbformat.read(NOTEBOOKS[0], as_version=4)).source, tmp_path / "served")
    check = "\nimport effmnist_utils, pathlib; print(pathlib.Path(effmnist_utils.__file__).resolve())"
    result = subprocess.run([sys.executable, "-c", cell + check], cwd=work, capture_output=True, text=True,
                            timeout=300, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert result.returncode == 0, result.stderr[-600:]
    assert result.stdout.strip().endswith(str(work / "EfficientMnist-Under20K" / "effmnist_utils" / "__init__.py"))


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


def _snapshot(root: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in (root / "results").rglob("*")} | {
        "status": subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True,
                                 text=True).stdout}


@pytest.mark.slow
def test_frontier_notebook_runs_from_an_empty_folder_like_on_colab(tmp_path, monkeypatch):
    """Notebook 07, copied to an empty folder outside the repository and run top to bottom (smoke
    mode) with its first cell taking the Colab branch against a local clone, completes, reads the
    recorded results from that clone, and writes nothing outside its folder."""
    from nbclient import NotebookClient

    _needs_git_checkout()
    nb = nbformat.read(ROOT / "notebooks" / "07_frontier.ipynb", as_version=4)
    first = _colab_cell(nb)
    first.source = _as_on_colab(first.source, tmp_path.parent / f"{tmp_path.name}-served")
    before = _snapshot(ROOT)
    monkeypatch.setenv("EFFMNIST_FAST", "1")  # the kernel inherits the environment
    monkeypatch.setenv("TQDM_DISABLE", "1")
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert _snapshot(ROOT) == before, "the notebook wrote into the repository"
    assert (tmp_path / "EfficientMnist-Under20K" / "results" / "runs").is_dir()
    # the smoke run is named by what differs from the recipe, never as the recorded run
    assert (tmp_path / "effmnist-runs" / "f8a-epochs1-train_subset2000_seed1.json").is_file()
    used = "".join(o.get("text", "") for c in _code(nb) for o in c.outputs)
    assert "f20b" in used and "Traceback" not in used
