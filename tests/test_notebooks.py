"""The notebooks' structure, and proof that nbval's output checks can turn the suite red.
(nbval itself re-executes every notebook: `pytest` collects notebooks/ too.)"""
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from helpers import REPO_URL, colab_url

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CHECK = "nbval-check-output"  # the cell tag that makes nbval compare a cell's output


MAX_BYTES = 250_000


def _code(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def test_there_are_six_iteration_notebooks():
    """One notebook per seed iteration, named in order."""
    assert [p.name[:2] for p in NOTEBOOKS][:6] == ["01", "02", "03", "04", "05", "06"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_executed_and_guarded(path):
    """Stored outputs of a real run, checked cells for the deterministic facts, a Colab badge,
    and no helper functions copied into the notebook (shared code lives in effmnist_utils)."""
    nb = nbformat.read(path, as_version=4)
    code = _code(nb)
    assert all(c.outputs for c in code if not c.source.startswith("# On Colab")), "unexecuted cells"
    checked = [c for c in code if CHECK in c.metadata.get("tags", [])]
    assert len(checked) >= 3 and all(c.outputs for c in checked)
    assert "colab.research.google.com" in nb.cells[0].source
    assert not any(line.lstrip().startswith(("def ", "class ")) for c in code
                   for line in c.source.splitlines())


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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_badge_and_first_cell_use_the_one_repository_url(path):
    """The Colab badge opens this notebook from the repository named in pyproject.toml, and the
    first code cell clones that repository (no other GitHub address appears in either)."""
    nb = nbformat.read(path, as_version=4)
    badge = colab_url(path.name)
    assert badge in nb.cells[0].source
    assert set(re.findall(r"colab.research.google.com/github/[^)\s]+", nb.cells[0].source)) == {badge[8:]}
    assert set(re.findall(r"https://github.com/[^\"\s]+", _colab_cell(nb).source)) == {REPO_URL}


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

    if subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True).returncode:
        pytest.skip("needs a git checkout to clone")
    nb = nbformat.read(ROOT / "notebooks" / "07_frontier.ipynb", as_version=4)
    first = _colab_cell(nb)
    assert 'importlib.util.find_spec("effmnist_utils") is None' in first.source
    first.source = (first.source.replace('importlib.util.find_spec("effmnist_utils") is None', "True")
                    .replace(REPO_URL, ROOT.as_uri()))
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


def _run_colab_cell(cwd: Path, repo: str) -> subprocess.CompletedProcess:
    """The first code cell of notebook 01, run as on Colab (its package not importable) against
    `repo` instead of the published address."""
    source = (_colab_cell(nbformat.read(NOTEBOOKS[0], as_version=4)).source
              .replace('importlib.util.find_spec("effmnist_utils") is None', "True")
              .replace(REPO_URL, repo))
    return subprocess.run([sys.executable, "-c", source], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_first_cell_fails_with_one_message_naming_the_address(tmp_path):
    """A clone that fails (no network, the address not published) ends in one RuntimeError that
    names the address and what to do, and leaves no half-finished folder behind."""
    missing = (tmp_path / "no-such-repository").as_uri()
    result = _run_colab_cell(tmp_path, missing)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if "Error" in line.split(":")[0]]
    assert len(errors) == 1, result.stderr[-600:]  # git's own words, on the same line
    assert errors[0].startswith(f"RuntimeError: Could not clone {missing}: fatal:"), errors
    assert "run this cell again" in result.stderr and "CalledProcessError" not in result.stderr
    assert not (tmp_path / "EfficientMnist-Under20K").exists()


@pytest.mark.slow
def test_first_cell_replaces_a_half_finished_clone(tmp_path):
    """A folder left by an interrupted clone (no package in it) is not reused: the cell clones
    afresh, and a second run reuses the complete clone."""
    if subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True).returncode:
        pytest.skip("needs a git checkout to clone")
    broken = tmp_path / "EfficientMnist-Under20K"
    (broken / ".git").mkdir(parents=True)
    (broken / "README.md").write_text("interrupted")
    assert _run_colab_cell(tmp_path, ROOT.as_uri()).returncode == 0
    package = broken / "effmnist_utils" / "__init__.py"
    assert package.is_file()
    marker = broken / "results" / "kept.txt"
    marker.write_text("a complete clone is reused")
    assert _run_colab_cell(tmp_path, ROOT.as_uri()).returncode == 0
    assert marker.read_text() == "a complete clone is reused"
