"""A wheel of the package holds every module of it, not only what an editable install finds in
the checkout (the package list was once written by hand and left a subpackage out)."""
import shutil
import subprocess
import sys
import zipfile

import pytest

from helpers import ROOT


@pytest.mark.slow
def test_the_wheel_holds_every_module(tmp_path):
    src = tmp_path / "src"  # a copy: a build in the checkout would reuse (and leave) its build/ folder
    shutil.copytree(ROOT / "effmnist_utils", src / "effmnist_utils", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(src)], check=True, capture_output=True, timeout=600)
    (wheel,) = tmp_path.glob("effmnist_utils-*.whl")
    inside = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "effmnist_utils").rglob("*.py")}
    assert len(modules) > 50
    assert sorted(modules - inside) == []
