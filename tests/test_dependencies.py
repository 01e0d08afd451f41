"""Every third-party package the package or a notebook imports is declared in pyproject.toml, and
every declared one is used (deptry, configured in pyproject.toml's [tool.deptry])."""
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _deptry(*paths: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "deptry", *paths], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_every_import_is_declared_and_every_dependency_imported():
    result = _deptry("effmnist_utils", "notebooks")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_an_undeclared_import_is_caught(tmp_path):
    """The check can go red: a module that imports a package nobody declared fails it."""
    shutil.copytree(ROOT / "effmnist_utils", tmp_path / "effmnist_utils")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "effmnist_utils" / "extra.py").write_text("import requests\n")
    result = subprocess.run([sys.executable, "-m", "deptry", "effmnist_utils"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode != 0 and "'requests'" in result.stdout + result.stderr
