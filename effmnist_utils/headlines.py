"""The README's headlines: a sentence or two per study, generated from the same summaries as the
tables on the docs/ pages. Which CPU or GPU, how many threads: that stays on those pages and in
results/, never on the front page (a device is named only by its kind, a CPU or a GPU)."""
from __future__ import annotations

from .core.config import TARGET_ACC
from .core.models import ITERATIONS
from .studies import robustness as rob
from .studies.corrupt import FAMILIES
from .studies.speedrun import seconds_text

KINDS = {"cpu": "a CPU", "cuda": "a GPU"}
LEVERS = {"fast": "fast loader", "keep": "freed memory kept", "compile": "torch.compile", "bf16": "bf16"}
GOAL_PARTS = {"seeds": "too few seeds", "clean": "clean accuracy", "mean_chosen": "error on the chosen families",
              "mean_held_out": "error on the held-out families"}


def _kind(device: str) -> str:
    kind = device.split(" ")[0]
    return KINDS.get(kind, kind)


def _levers(variant: str) -> str:
    """A benchmark variant in words: `fast+keep+compile` -> fast loader, freed memory kept, ..."""
    return ", ".join(LEVERS.get(part, part) for part in variant.split("+"))


def _seeds(rows: list[dict]) -> str:
    counts = sorted({r["n"] for r in rows})
    return f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"


def iterations(rows: list[dict]) -> str:
    """The original's iterations over their seeds (`summarise_runs` rows): the spread of their
    means, which reach the bar on average, the last one against the original's single run, and
    the steps the original reported as gains that the means do not confirm."""
    its = [r for r in rows if r["model"] in ITERATIONS]
    if not its:
        return "No run of the original's iterations is recorded yet."
    bar, means = 100 * TARGET_ACC, [r["final_mean"] for r in its]
    reach = [r["model"] for r in its if r["final_mean"] >= bar - 1e-9]
    last = its[-1]
    text = (f"Over {_seeds(its)} seeds each, the {len(its)} iterations average {min(means):.2f}–{max(means):.2f} % "
            f"test accuracy at the last epoch; {len(reach)} of {len(its)} reach {bar:g} % on average "
            f"({', '.join(reach) or 'none'}). The original's final model, {last['model']} "
            f"({last['params']:,} parameters), averages {last['final_mean']:.2f} ± {last['final_std']:.2f} %")
    text += f" (the original's one run: {last['original_acc']:.2f} %)." if last["original_acc"] else "."
    unconfirmed = [f"{b['model']} ({b['final_mean']:.2f} % against {a['model']}'s {a['final_mean']:.2f} %)"
                   for a, b in zip(its, its[1:]) if a["original_acc"] and b["original_acc"]
                   and b["original_acc"] > a["original_acc"] and b["final_mean"] <= a["final_mean"]]
    if unconfirmed:
        text += (" A step the original reported as a gain that the means do not confirm: "
                 + "; ".join(unconfirmed) + ".")
    return text


def speed(benches: list[dict], speedruns: list[dict]) -> str:
    """The loader benchmark's ratios (`load_benches`) and the speedrun's verdict per device
    (`speedrun.summarise` rows)."""
    lines = []
    for b in benches:
        ratio = b["ratio_vs_reference"]
        fp32 = max((v for v in ratio if "bf16" not in v), key=ratio.get)
        bf16 = [v for v in ratio if "bf16" in v]
        lines.append(f"On {_kind(b['device'])}, through the same training loop, the fast loader trains "
                     f"{b['model']} {ratio['fast']:.2f}× as fast as the original per-sample pipeline; "
                     f"{ratio[fp32]:.2f}× at most in fp32 ({_levers(fp32)})"
                     + (f", {ratio[bf16[0]]:.2f}× with bf16 arithmetic ({_levers(bf16[0])})." if bf16 else "."))
    for s in speedruns:
        verdict = "met" if s["met"] else "not met: " + "; ".join(s["misses"])
        lines.append(f"Speedrun on {_kind(s['device'])}: the chosen recipe trains in "
                     f"{seconds_text(s['train_seconds'])} s on average (goal ≤ {s['goal_seconds']:g} s) to a mean "
                     f"test accuracy of {s['test_mean']:.2f} % over {len(s['seeds'])} seeds, the lowest "
                     f"{s['test_min']:.2f} %; goal {verdict}.")
    return "\n\n".join(lines)


def robustness(rows: list[dict]) -> str:
    """The corruption suite's spread over the recorded models (`robustness.summarise` rows) and
    the robust model against its reference, with its goal's verdict."""
    test = [r for r in rows if r["split"] == "test"]
    mean, clean = [r["mean"] for r in test], [r["clean"] for r in test]
    text = (f"On {len(FAMILIES)} kinds of corrupted test digits the {len(test)} recorded models average "
            f"{min(mean):.1f}–{max(mean):.1f} %, against {min(clean):.2f}–{max(clean):.2f} % on the clean "
            "test set.")
    g = rob.goal(rows)
    if "checks" not in g:
        return f"{text} The robust model's goal: {g['why']}."
    by = {r["variant"]: r for r in test}
    robust, reference = by[g["robust"]], by[g["reference"]]
    failed = [GOAL_PARTS[k] for k, ok in g["checks"].items() if not ok]
    return (f"{text} The robust model `{g['robust']}` ({robust['params']:,} parameters) averages "
            f"{robust['mean']:.1f} % on them against `{g['reference']}`'s {reference['mean']:.1f} %, at "
            f"{g['clean']:.2f} % clean; its goal is {'met' if g['met'] else 'not met (' + ', '.join(failed) + ')'}.")


def deploy(results: list[dict]) -> str:
    """Each recorded export benchmark (`load_benchmarks`): the int8 file against PyTorch."""
    lines = []
    for res in results:
        base, int8 = res["rows"][0], next(r for r in res["rows"] if "int8" in r["runtime"])
        lines.append(f"`{res['name']}` as an int8 ONNX file: {int8['bytes']:,} bytes, {100 * int8['accuracy']:.2f} % "
                     f"test accuracy ({100 * (int8['accuracy'] - base['accuracy']):+.2f} points against "
                     f"PyTorch's {100 * base['accuracy']:.2f} %), the same digit as PyTorch on "
                     f"{int8['same_digit_as_pytorch']:,} of {res['test_images']:,} test images.")
    return "\n\n".join(lines)
