"""The README as a front door: short, Colab on its first screen, the two commands, links that
resolve, no typed result and no provenance; and the generated headlines it shows."""
import re

import pytest

from effmnist_utils import headlines
from effmnist_utils.core.config import TARGET_ACC
from helpers import ROOT, colab_url

README = (ROOT / "README.md").read_text()
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
FIRST_SCREEN = 15  # lines
# CI (.ci/run) and the checks before a change is handed in run exactly these
SETUP = ('python3 -m venv .venv && .venv/bin/pip install -c constraints.txt -e ".[dev,deploy]" '
         "&& .venv/bin/python -m effmnist_utils train iter6")
TEST = ".venv/bin/python -m pytest"


def _outside_blocks(text: str) -> str:
    return re.sub(r"<!-- ([a-z-]+):start -->.*?<!-- \1:end -->", "", text, flags=re.S)


def test_readme_is_a_short_front_door():
    assert len(README.splitlines()) <= 200


def test_colab_links_use_the_one_repository_address():
    """Notebook 01 opens on Colab from the first screen; every Colab link names an existing
    notebook in the repository of pyproject.toml, and the table links each notebook once."""
    first = "\n".join(README.splitlines()[:FIRST_SCREEN])
    assert colab_url(NOTEBOOKS[0]) in first and NOTEBOOKS[0].startswith("01_")
    links = re.findall(r"https://colab\.research\.google\.com/github/[^)\s]+", README)
    assert set(links) == {colab_url(n) for n in NOTEBOOKS}
    table = [line for line in README.splitlines() if line.startswith("| [")]
    assert [re.match(r"\| \[([^]]+)\]", line).group(1) + ".ipynb" for line in table] == NOTEBOOKS
    assert all(colab_url(n) in line for n, line in zip(NOTEBOOKS, table))


def test_the_two_commands_are_there_verbatim():
    blocks = re.findall(r"```bash\n(.*?)```", README, re.S)
    assert [SETUP + "\n", TEST + "\n"] == blocks[:2]


@pytest.mark.parametrize("page", [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))],
                         ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_and_figures_resolve(page):
    """Every relative link or image of the README and the docs/ pages names a file of the
    repository, and an anchor into a page names one of its headings."""
    text = page.read_text()
    targets = re.findall(r"\]\((?!https?://)([^)\s]+)\)", text)
    assert targets, page
    for target in targets:
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        assert file.is_file() and ROOT in file.parents, f"{page.name}: {target}"
        if anchor:
            slugs = {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-")
                     for h in re.findall(r"^#+ (.+)$", file.read_text(), re.M)}
            assert anchor in slugs, f"{page.name}: {target}"


def test_no_typed_result_and_no_provenance_on_the_front_page():
    """Outside the generated blocks the only percentage is the study's bar; nowhere on the front
    page, generated blocks included, is the machine that recorded a result named."""
    typed = re.findall(r"(\d+(?:\.\d+)?) ?%", _outside_blocks(README))
    assert typed and set(typed) == {f"{100 * TARGET_ACC:g}"}
    for word in ("Xeon", "EPYC", "AMD", "Intel", "H100", "H200", "NVIDIA", "thread", "x86_64", "lent"):
        assert not re.search(rf"\b{word}", README), word


def test_the_iterations_headline_counts_the_bar_unrounded_and_finds_unconfirmed_steps():
    row = lambda m, mean, orig: {"model": m, "params": 1000, "n": 3, "final_mean": mean,  # noqa: E731
                                 "final_std": 0.1, "original_acc": orig}
    text = headlines.iterations([row("iter1", 99.41, 99.39), row("iter2", 99.3999, 99.29),
                                 row("iter3", 99.30, 99.44), row("f8a", 99.9, None)])
    assert "1 of 3 reach 99.4 % on average (iter1)" in text
    assert "iter3 (99.30 % against iter2's 99.40 %)" in text and "f8a" not in text
    assert "do not confirm" not in headlines.iterations([row("iter1", 99.3, 99.3), row("iter2", 99.4, 99.4)])


def test_the_speed_headline_names_no_machine_and_gives_the_verdict():
    bench = {"device": "cpu (x86_64, 2 threads)", "cpu": "Intel(R) Xeon(R)", "model": "iter6",
             "ratio_vs_reference": {"reference": 1.0, "fast": 1.4, "fast+keep+compile": 1.7, "fast+keep+bf16": 2.1}}
    run = {"device": "cuda (NVIDIA H200)", "met": False, "misses": ["a seed < 99.30 %"], "train_seconds": 1.96,
           "goal_seconds": 2.0, "test_mean": 99.41, "seeds": [1, 2, 3, 4, 5], "test_min": 99.2}
    text = headlines.speed([bench], [run])
    assert "On a CPU" in text and "1.70× at most in fp32 (fast loader, freed memory kept, torch.compile)" in text
    assert "Speedrun on a GPU" in text and "1.96 s" in text and "goal not met: a seed < 99.30 %" in text
    assert not re.search("Xeon|H200|thread|x86", text)


def test_the_robustness_headline_says_which_part_of_the_goal_is_missed():
    row = lambda v, mean, chosen, held, clean: {  # noqa: E731
        "variant": v, "params": 7598, "split": "test", "seeds": [1, 2, 3], "clean": clean, "mean": mean,
        "mean_chosen": chosen, "mean_held_out": held}
    rows = [row("f8a", 79.5, 88.0, 72.0, 99.55), row("f8a-robust", 86.8, 98.0, 77.0, 99.50)]
    text = headlines.robustness(rows)
    assert "average 79.5–86.8 %, against 99.50–99.55 % on the clean test set" in text
    assert text.endswith("its goal is not met (error on the held-out families).")
    assert headlines.robustness([rows[0], row("f8a-robust", 90, 98.0, 90.0, 99.5)]).endswith("its goal is met.")


def test_the_deploy_headline_compares_the_int8_file_with_pytorch():
    result = {"name": "f8a_seed1", "test_images": 10_000, "rows": [
        {"runtime": "PyTorch fp32", "accuracy": 0.9958, "bytes": 44_867, "same_digit_as_pytorch": 10_000},
        {"runtime": "ONNX Runtime int8", "accuracy": 0.9950, "bytes": 10_150, "same_digit_as_pytorch": 9_990}]}
    assert headlines.deploy([result]) == (
        "`f8a_seed1` as an int8 ONNX file: 10,150 bytes, 99.50 % test accuracy (-0.08 points against "
        "PyTorch's 99.58 %), the same digit as PyTorch on 9,990 of 10,000 test images.")
