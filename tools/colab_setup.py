"""Sets the project up in a fresh runtime such as Colab. Every notebook's first cell clones the
project into `EfficientMnist-Under20K/` next to the notebook (or finds a copy of it there), then
calls `main` from this file in that folder: it installs the package from the folder with every
dependency it declares, keeps the runtime's own torch and torchvision, and makes the package
importable in the running kernel at once.

    python tools/colab_setup.py [ADDRESS [EXTRAS]]    # ADDRESS: the repository (default: REPO)

A folder left by an interrupted clone (a git clone with files missing) is cloned afresh from
ADDRESS; a copy of the project that is not a git clone is used as it is. Any failure ends in
SystemExit with one message that names what failed and what to do, so "Run all" stops there.
"""
import importlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile

# pyproject.toml's [project.urls] Repository; tests/test_notebooks.py holds the two equal
REPO = "https://github.com/effmnist/EfficientMnist-Under20K"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the clone this file sits in
KEEP = ("torch", "torchvision")  # the runtime's builds (CUDA on Colab) are never replaced


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", ROOT, *args], capture_output=True, text=True)


def complete() -> bool:
    """Whether ROOT holds the whole project: the package and its pyproject.toml, and, in a git
    clone, a commit checked out with no file missing."""
    if not (os.path.isfile(os.path.join(ROOT, "effmnist_utils", "__init__.py"))
            and os.path.isfile(os.path.join(ROOT, "pyproject.toml"))):
        return False
    if not os.path.isdir(os.path.join(ROOT, ".git")):
        return True  # a copy, not a clone: nothing more to check
    return _git("rev-parse", "-q", "--verify", "HEAD").returncode == 0 and not _git("ls-files", "--deleted").stdout


def reclone(repo: str) -> None:
    """Replace an interrupted clone at ROOT by a fresh one of `repo`."""
    if not os.path.isdir(os.path.join(ROOT, ".git")):
        raise SystemExit(f"The copy of the project in {ROOT} is incomplete (no effmnist_utils package or "
                         "pyproject.toml in it): replace it with a whole copy, then run this cell again.")
    shutil.rmtree(ROOT)
    done = subprocess.run(["git", "clone", "-q", "--depth", "1", repo, ROOT], capture_output=True, text=True)
    if done.returncode != 0:
        shutil.rmtree(ROOT, ignore_errors=True)
        why = " ".join(done.stderr.split()) or f"git exit status {done.returncode}"
        raise SystemExit(f"Could not clone {repo} ({why}): check that this runtime has internet access and "
                         "that the address opens in a browser, then run this cell again.")


def kept_versions() -> list[str]:
    """Pins that hold the runtime's torch and torchvision where they are installed."""
    pins = []
    for name in KEEP:
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    return pins


def install(extras: str = "") -> None:
    """`pip install -e ROOT[extras]`: the package and its declared dependencies (with those of
    `extras`, e.g. "deploy" for notebook 09's ONNX files), torch and torchvision held at the
    runtime's versions."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as pins:
        pins.write("\n".join(kept_versions()) + "\n")
    try:
        pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-c", pins.name, "-e", f"{ROOT}[{extras}]" if extras else ROOT],
                             capture_output=True, text=True)
    finally:
        os.unlink(pins.name)
    if pip.returncode != 0:
        raise SystemExit(f"Could not install the project from {ROOT} with pip "
                         f"({' '.join(pip.stderr.split()[-60:])}): check that this runtime has internet "
                         "access, then run this cell again.")


def main(repo: str = REPO, extras: str = "") -> None:
    if not complete():
        reclone(repo)
    install(extras)
    if ROOT not in sys.path:  # an editable install is seen by new processes; this kernel needs the path
        sys.path.insert(0, ROOT)
    importlib.invalidate_caches()
    print(f"The project is in {ROOT}, installed with its dependencies.")


if __name__ == "__main__":
    main(*sys.argv[1:3])
