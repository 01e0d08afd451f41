"""Every number in the hand-written prose of the README and the docs/ pages (outside the blocks
`report` generates, code and links) is a claim this file checks against the package's settings,
the recorded results or a notebook's recorded output; a number with no check here fails, and so
does a check whose page lost its number. The few sentences that compare without a generated
block beside them are checked against the same records."""
import inspect
import json
import math
import re
from functools import cache

import pytest

from effmnist_utils import report, verdicts
from effmnist_utils.core.augment import Augment
from effmnist_utils.core.config import MAX_EPOCHS, MAX_PARAMS, RESULTS_DIR, SEEDS, TARGET_ACC, VAL_SIZE, HParams
from effmnist_utils.core.loaders import EVAL_BATCH_SIZE
from effmnist_utils.core.loop import DISTILL_TEMPERATURE
from effmnist_utils.core.models import ITER_SPECS, ITERATIONS, build_model, count_params
from effmnist_utils.studies import budgets
from effmnist_utils.studies.search import spaces as searches
from effmnist_utils.studies.bench import EVAL_BATCHES
from effmnist_utils.studies.plans import finalists, frontier, speed, speedsearch, tiny
from effmnist_utils.studies.speedrun import CHOICE_CLOSE, CHOICE_VAL, GOAL_MEAN, GOAL_MIN, GOAL_SECONDS
from effmnist_utils.use import deploy, deploy_bench, digits
from helpers import ROOT

TRAIN, TEST = 60_000, 10_000  # MNIST's training and test sets
PAGES = ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))]
_N = r"(?:\d{1,3}(?:,\d{3})+|\d+)"
NUMBER = re.compile(rf"(?<![\w.])[±−+-]?{_N}(?:–{_N}|\.\d+)?(?![\w])")


def prose(text: str) -> str:
    """The hand-written prose: no generated block, code, link target, list marker, notebook or
    model name (checked apart: `test_notebooks_and_iterations_named_exist`), 1×1 or SHA-256."""
    text = re.sub(r"<!-- ([a-z-]+):start -->.*?<!-- \1:end -->", "", text, flags=re.S)
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(r"\]\([^)]*\)", "]", re.sub(r"`[^`]*`", "", text))
    text = re.sub(r"^\s*\d+\. ", "", text, flags=re.M)
    text = re.sub(r"(?i)\b(notebooks?|iter)\s+\d\d?(–\d\d)?\b|(?<![\d,.])0\d(–\d\d)?\b", "", text)
    return re.sub(r"1×1|SHA-256", "", text)


def numbers(page: str) -> set[str]:
    return set(NUMBER.findall(prose((ROOT / page).read_text())))




@cache
def ranking_rows(name: str) -> list[list[str]]:
    """The table rows of a generated ranking under results/search/."""
    return [[c.strip() for c in line.strip("|").split("|")] for line in (RESULTS_DIR / "search" / name).read_text()
            .splitlines() if line.startswith("| ") and not line.startswith("| stage") and not line.startswith("| run")]


def _robust_cost() -> float:
    rows = {r[1].split(" ")[0]: float(r[3].rstrip(" %")) for r in ranking_rows("robust-ranking.md")}
    return round(rows["oc01-e20"] - rows["rob-pix-half"], 2)


def _notebook_output(name: str) -> str:
    nb = json.loads(next((ROOT / "notebooks").glob(f"{name}*.ipynb")).read_text())
    return "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))


def _space_range(name: str):
    """(low, high) or the choices of the speedrun search's space for one setting."""
    return searches.space_ranges(searches.speedrun_cpu)[name]


def _value(text: str) -> float | str:
    text = text.replace("−", "-").lstrip("±+").replace(",", "")
    return text if "–" in text else float(text)


def _range(low, high) -> str:
    return f"{low}–{high}"


BUDGETS = [b for b, _ in report.FRONTIER_GOALS]
CUDA_SECONDS, CPU_SECONDS = GOAL_SECONDS["cuda"], GOAL_SECONDS["cpu"]
ORIGINAL = HParams()
DEPLOYED = deploy_bench.load_benchmarks(RESULTS_DIR / "deploy")[0]  # the recorded export benchmark
CALIBRATION, LATENCY, TEST_IMAGES = (DEPLOYED[k] for k in ("calibration_images", "latency_images", "test_images"))
TOP = inspect.signature(deploy.top_k).parameters["k"].default
from test_layers import GUIDE_LINES, SAY_WHY_LINES  # noqa: E402 - the module-length rule, set there
POP_SEEDS = searches.POPULATION_SEEDS  # a population search's trial, and its two fresh seeds
POP_CONFIRM = finalists.confirm_seeds(searches.get("frontier-1k-pop"))
# page -> number as written -> every value it stands for there (each must equal it)
CLAIMS = {
    "README.md": {"99.4": [100 * TARGET_ACC], "20,000": [MAX_PARAMS], "20": [MAX_EPOCHS], "1,000": [BUDGETS[-1]],
                  "28": [digits.FIELD], "3": [TOP], "250": [GUIDE_LINES], "300": [SAY_WHY_LINES]},
    "docs/deploy.md": {"20": [digits.BOX], "28": [digits.FIELD], "3": [TOP], "1,000": [CALIBRATION, LATENCY],
                       "10,000": [TEST_IMAGES], "1": [int(re.search(r"call\(images\[i:i \+ (\d)\]\)", inspect.getsource(
                           deploy_bench._median_us)).group(1))], "99.9": [99.9]},  # 99.9: web/ui.js's cap
    "docs/frontier.md": {
        "20": [MAX_EPOCHS], "1–3": [f"{SEEDS[0]}–{SEEDS[-1]}"], "4": [frontier.MORE_SEEDS[0], DISTILL_TEMPERATURE],
        "5": [frontier.MORE_SEEDS[1], frontier.PROXY_EPOCHS, tiny.STAGE1_EPOCHS, POP_CONFIRM[0]],
        "6": [POP_CONFIRM[1]], "1–4": [f"{POP_SEEDS[0]}–{POP_SEEDS[-1]}"], "1–6": [f"{POP_SEEDS[0]}–{POP_CONFIRM[-1]}"],
        "55,000": [TRAIN - VAL_SIZE], "5,000": [VAL_SIZE], "0.01": [frontier.OC["lr"]], "60,000": [TRAIN],
        "2,000": [BUDGETS[3]], "1,000": [BUDGETS[4]], "8,000": [BUDGETS[1]],
        "4,000": [searches.NEW_BUDGETS[0], report.BEAT[0]], "700": [searches.NEW_BUDGETS[1]],
        "99.52": [dict(report.RAISED_GOALS)[report.BEAT[0]]],
        "17": [len(tiny.CANDIDATES) - 2], "8": [tiny.STAGE2_EPOCHS, frontier.TINY_LEVER_CANDIDATES["rot8-v10k"].settings["degrees"]],
        "0.02": [tiny.STAGE2["oc02-e8"]["lr"]], "±8": [tiny.STAGE2["oc01-rot8-e8"]["degrees"]],
        "10,000": [frontier.LEVER_VAL], "50,000": [TRAIN - frontier.LEVER_VAL],
        "0.5": [frontier.LEVER_CANDIDATES["kd5-v10k"].settings["distill"]],
        "±20": [frontier.TINY_LEVER_CANDIDATES["rot20-v10k"].settings["degrees"]], "±15": [Augment().degrees],
        "±10": [100 * frontier.TINY_LEVER_CANDIDATES["sc10-sh15-v10k"].settings["scale"]],
        "±0.15": [frontier.TINY_LEVER_CANDIDATES["sc10-sh15-v10k"].settings["shear"]],
        "996": [count_params(build_model("t1j"))], "952": [count_params(build_model("t1k"))],
        "2–3": [f"{finalists.CONFIRM_SEEDS[0]}–{finalists.CONFIRM_SEEDS[-1]}"],
        # one seed's noise: the binomial spread of an accuracy near the bar on the validation split
        "±0.1": [round(100 * math.sqrt(TARGET_ACC * (1 - TARGET_ACC) / VAL_SIZE), 1)]},
    "docs/package.md": {"250": [GUIDE_LINES], "300": [SAY_WHY_LINES]},
    "docs/results.md": {"3": [-math.log10(ORIGINAL.optim.lr)], "15": [ORIGINAL.optim.step_size, Augment().degrees],
                        "0.1": [ORIGINAL.optim.gamma], "128": [ORIGINAL.optim.batch_size],
                        "10": [100 * Augment().zoom_p], "28": [digits.FIELD], "22": [Augment().crop],
                        "1.27": [round(digits.FIELD / Augment().crop, 2)], "±15": [Augment().degrees],
                        "60,000": [TRAIN], "99.4": [100 * TARGET_ACC], "20": [MAX_EPOCHS]},
    "docs/robustness.md": {"2019": [2019], "1906.02337": [1906.02337],  # the families module cites both
                           "10,000": [TEST], "5,000": [VAL_SIZE],
                           "16.0": [16.0], "99.3": [99.3],  # notebook 10's recorded output
                           "14": [len(ranking_rows("robust-ranking.md"))], "1": [SEEDS[0]], "20": [MAX_EPOCHS],
                           "0.10": [_robust_cost()]},
    "docs/setup.md": {"3.11": [3.11], "3.10": [3.10], "20": [MAX_EPOCHS]},  # pyproject.toml's markers
    "docs/speed.md": {
        "99.4": [100 * TARGET_ACC], "128": [ORIGINAL.optim.batch_size], "256": [EVAL_BATCH_SIZE, EVAL_BATCHES[1]],
        "1000": [EVAL_BATCHES[0]], "2": [inspect.signature(verdicts.bench).parameters["goal"].default, CUDA_SECONDS],
        "99.40": [GOAL_MEAN], "99.30": [GOAL_MIN], "60": [CPU_SECONDS], "5,000": [VAL_SIZE], "99.45": [CHOICE_VAL],
        "0.05": [CHOICE_CLOSE], "1–5": [f"{speed.SEEDS[0]}–{speed.SEEDS[-1]}", f"{speedsearch.SEEDS[0]}–{speedsearch.SEEDS[-1]}"],
        "60,000": [TRAIN], "8–20": ["–".join(map(str, _space_range("epochs")))],
        "256–1,024": [_range(min(_space_range("batch_size")), max(_space_range("batch_size")))],
        "99.35": [speedsearch.SEED_FLOOR]},
}


@pytest.mark.parametrize("page", PAGES)
def test_every_number_in_the_prose_is_checked(page):
    """The numbers the page's prose holds are exactly those this file checks for it."""
    assert numbers(page) == set(CLAIMS.get(page, {})), page


@pytest.mark.parametrize("page, text", [(p, n) for p, claims in CLAIMS.items() for n in claims])
def test_each_number_is_what_it_stands_for(page, text):
    for value in CLAIMS[page][text]:
        want = _value(text)
        got = value if isinstance(want, str) else float(value)
        assert got == want, f"{page}: {text} stands for {value}"


def test_the_citations_outputs_and_pins_the_pages_name():
    families = (ROOT / "effmnist_utils" / "studies" / "families.py").read_text()
    assert "Mu & Gilmer 2019" in families and "arXiv:1906.02337" in families
    assert re.search(r"brightness +16\.0% with the statistics stored in training, +99\.3% re-estimated",
                     _notebook_output("10_"))
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert "python_version >= '3.11'" in pyproject and "Python 3.10" in pyproject
    assert "> 99.9 %" in (ROOT / "web" / "ui.js").read_text()


def test_notebooks_and_iterations_named_exist():
    """A notebook named by its number has a file; an iteration named by its number is a model."""
    for page in PAGES:
        text = re.sub(r"<!-- ([a-z-]+):start -->.*?<!-- \1:end -->|```.*?```", "", (ROOT / page).read_text(), flags=re.S)
        text = re.sub(r"`[^`]*`|\]\([^)]*\)", "", text)
        for a, b in (re.findall(r"(?i)\bnotebooks?\s+(\d\d)(?:–(\d\d))?", text)
                     + re.findall(r"(?<![\d,.:])\b(0\d)(?:–(\d\d))?\b(?![.,]\d)", text)):
            for n in range(int(a), int(b or a) + 1):
                assert list((ROOT / "notebooks").glob(f"{n:02d}_*.ipynb")), (page, n)
        for n in re.findall(r"\bIter (\d)\b", text):
            assert f"iter{n}" in ITERATIONS, (page, n)


# Sentences that compare, with no generated block beside them, and the records they must agree with
def test_the_frontier_pages_comparisons_agree_with_the_records():
    text = (ROOT / "docs" / "frontier.md").read_text()
    chosen = budgets.choose(RESULTS_DIR, BUDGETS)
    assert "tied `f20b`'s\n  first seed on validation with under 8,000 parameters, and over seeds 1–3 replaced nothing" in text
    step = chosen[MAX_PARAMS]["steps"][-1]
    assert step["verdict"] == "holds no lead" and step["val"][0][1] == step["first"][1] and step["params"] < BUDGETS[1]
    assert "makes the same choice below 2,000 and chooses `t1e` below\n1,000" in text
    assert (chosen[2_000]["model"], chosen[1_000]["model"]) == ("t2a", "t1e")
    assert "plan\n`frontier-more-seeds` adds seeds 4 and 5, as for every budget's model" in text
    t1e = sorted(int(p.stem.rsplit("_seed", 1)[1]) for p in (RESULTS_DIR / "runs").glob("t1e_seed*.json"))
    assert set(SEEDS) <= set(t1e) <= {*SEEDS, *frontier.MORE_SEEDS} and "t1e" in frontier.GOAL_MODELS
    stage2 = {r[0]: float(r[4].rstrip(" %")) for r in ranking_rows("ranking.md") if r[0].endswith("-e20_seed1")}
    assert "translation\nand label smoothing each lowered the 20-epoch validation accuracy" in text
    assert stage2["f8a-oc01-e20_seed1"] > stage2["f8a-oc01-tr2-e20_seed1"] > stage2["f8a-oc01-tr2-ls-e20_seed1"]
    assert "seven architectures" in text and len(frontier.ARCHITECTURES) + 1 == 7  # f8a is the seventh
    assert "Nineteen `LayerNet` candidates" in text and len(tiny.CANDIDATES) == 19


def test_the_deploy_pages_latency_sentence_agrees_with_the_benchmark():
    """'ONNX Runtime is several times faster than eager PyTorch at batch 1; int8's gain is the file
    size, not speed', against the recorded benchmark."""
    text = (ROOT / "docs" / "deploy.md").read_text()
    assert "several times faster than\neager PyTorch at batch 1; int8's gain is the file size, not speed" in text
    rows = {r["runtime"]: r for r in DEPLOYED["rows"]}
    torch_, fp32, int8 = (rows[n]["latency_us"] for n in ("PyTorch fp32", "ONNX Runtime fp32", "ONNX Runtime int8"))
    assert torch_ >= 3 * fp32 and int8 >= fp32 and rows["ONNX Runtime int8"]["bytes"] < rows["ONNX Runtime fp32"]["bytes"]


def test_a_number_added_to_the_prose_fails(tmp_path, monkeypatch):
    """The check can fail: a typed result in a copy of a page is a number with no claim."""
    page = tmp_path / "README.md"
    page.write_text((ROOT / "README.md").read_text() + "\nThe best model reaches 99.61 % on average.\n")
    monkeypatch.setattr("test_prose.ROOT", tmp_path)
    assert numbers("README.md") - set(CLAIMS["README.md"]) == {"99.61"}


def test_the_front_pages_speedrun_search_sentence_agrees_with_the_search():
    """'its only candidate did not hold up over five seeds, so the recipe above stands'."""
    from effmnist_utils.studies.search import results as search_results

    assert "its only\ncandidate did not hold up over five seeds, so the recipe above stands" in (ROOT / "README.md").read_text()
    rows = search_results.front(speedsearch.SEARCH, root=RESULTS_DIR)
    assert len(search_results.speedrun_candidates(rows)) == 1
    confirmed = speedsearch.confirmed(RESULTS_DIR)
    assert [len(r["val"]) for r in confirmed] == [len(speedsearch.SEEDS)] and speedsearch.choose(confirmed) is None


def test_the_robustness_pages_comparisons_agree_with_the_scores():
    """'The flatten heads (iter1–iter4) lose the most on shifted digits, the BatchNorm networks on
    brightened and foggy ones (the robust model aside)', against the recorded scores (test split)."""
    from effmnist_utils.core.config import RUNS_DIR
    from effmnist_utils.studies import robustness

    text = " ".join((ROOT / "docs" / "robustness.md").read_text().split())
    assert ("The flatten heads (iter1–iter4) lose the most on shifted digits, the BatchNorm networks on brightened "
            "and foggy ones (the robust model aside); notebook 10 shows why") in text
    rows = {r["variant"]: r["families"] for r in robustness.summarise(robustness.load_scores(RUNS_DIR)) if r["split"] == "test"}
    flatten = {m for m, spec in ITER_SPECS.items() if spec.head == "flatten"}
    lowest = lambda family, k: set(sorted(rows, key=lambda v: rows[v][family])[:k])  # noqa: E731
    assert lowest("translate", len(flatten)) == flatten
    plain = {m for m, spec in ITER_SPECS.items() if not spec.batchnorm}  # iter4 on is BatchNorm, as every later model
    batchnorm = set(rows) - plain - {robustness.robust_variant(list(robustness.summarise(robustness.load_scores(RUNS_DIR))))}
    assert all(max(rows[v][f] for v in batchnorm) < min(rows[v][f] for v in plain) for f in ("brightness", "fog"))
