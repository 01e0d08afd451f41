"""The notebooks' structure, and proof that nbval's output checks can turn the suite red.
(nbval itself re-executes every notebook: `pytest` collects notebooks/ too.)"""
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("0*.ipynb"))
CHECK = "# NBVAL_CHECK_OUTPUT"


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
    checked = [c for c in code if c.source.startswith(CHECK)]
    assert len(checked) >= 3 and all(c.outputs for c in checked)
    assert "colab.research.google.com" in nb.cells[0].source
    assert not any(line.lstrip().startswith(("def ", "class ")) for c in code
                   for line in c.source.splitlines())


def _run_nbval(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-o", "addopts=", "--nbval-lax", "--nbval-current-env", str(path)],
                          cwd=path.parent, capture_output=True, text=True, timeout=300)


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
