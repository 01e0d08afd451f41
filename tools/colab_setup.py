"""Sets the project up in a fresh runtime such as Colab: clones it into `EfficientMnist-Under20K/`
next to the notebook (its package and recorded results) and installs the one dependency Colab
lacks. Every notebook's first cell downloads this file and runs it, so it stays short there.

    python colab_setup.py [ADDRESS]    # ADDRESS: the repository to clone (default: REPO)

A complete clone from an earlier run is reused; a half-finished one (an interrupted clone) is
replaced. When the clone fails, it exits with one message naming the address and what to do.
"""
import os
import shutil
import subprocess
import sys

# pyproject.toml's [project.urls] Repository; tests/test_notebooks.py holds the two equal
REPO = "https://github.com/effmnist/EfficientMnist-Under20K"
CLONE = "EfficientMnist-Under20K"
NEEDS = ["torchsummary"]


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", CLONE, *args], capture_output=True, text=True)


def complete() -> bool:
    """Whether CLONE holds a finished clone: a commit checked out, the package there, no file missing."""
    return (os.path.isdir(os.path.join(CLONE, ".git")) and _git("rev-parse", "-q", "--verify", "HEAD").returncode == 0
            and os.path.isfile(os.path.join(CLONE, "effmnist_utils", "__init__.py"))
            and not _git("ls-files", "--deleted").stdout)


def clone(repo: str) -> None:
    shutil.rmtree(CLONE, ignore_errors=True)  # never reuse a half-finished clone from an earlier try
    done = subprocess.run(["git", "clone", "-q", "--depth", "1", repo, CLONE], capture_output=True, text=True)
    if done.returncode != 0:
        shutil.rmtree(CLONE, ignore_errors=True)
        why = " ".join(done.stderr.split()) or f"git exit status {done.returncode}"
        sys.exit(f"Could not clone {repo}: {why}\n"
                 f"This notebook needs that project (its package and recorded results). Check that the runtime "
                 f"has internet access and that the address opens in a browser; or put a copy of the project in "
                 f"a folder named {CLONE} next to this notebook. Then run this cell again.")


def main(repo: str = REPO) -> None:
    if not complete():
        clone(repo)
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", *NEEDS], capture_output=True, text=True)
    if pip.returncode != 0:
        sys.exit(f"Could not install {', '.join(NEEDS)} with pip: {pip.stderr.strip()[-500:]}\n"
                 "Check that the runtime has internet access, then run this cell again.")
    print(f"The project is in {os.path.abspath(CLONE)}.")


if __name__ == "__main__":
    main(*sys.argv[1:2])
