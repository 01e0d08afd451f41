"""One-off migration to the single run schema of the experiment system (kept in git history once
run): every results file gets the new settings (memory format, compile mode, cuDNN autotuning:
their defaults, which is what those runs used); the speedrun's files (their own `recipe` schema)
become run records with `hparams`, a registry model name and one history row; results/ablation
becomes results/crossed. No number changes.

    python tools/migrate_results_v3.py
"""
import json
from pathlib import Path

from effmnist_utils.config import RESULTS_DIR, HParams, Optim, run_name
from effmnist_utils.loaders import Augment
from effmnist_utils.runs import summarise_history

SHAPES = {"d16 C16 p C32 C32 g": "fast", "d16 C16 p C24 C24 C32 g": "fastdeep",
          "C8 p C16 p C24 C32 g": "fastpool"}
PREFIXES = ("a-fast-", "b-fast-", "a-f8a-", "f8a-", "fast-", "deep-", "pool2-")


def from_speedrun(r: dict) -> dict:
    c = r["recipe"]
    model = SHAPES.get(c["model"], c["model"])
    hp = HParams(model=model, seed=r["seed"], val_size=r["val_size"], precision=c["precision"],
                 optim=Optim(epochs=c["epochs"], batch_size=c["batch_size"], lr=c["lr"], schedule="onecycle"),
                 augment=Augment(**c["augment"]), channels_last=c["channels_last"],
                 compile_mode=c["compile_mode"] or "", cudnn_benchmark=c["cudnn_benchmark"])
    tag = next((r["tag"][len(p):] for p in PREFIXES if r["tag"].startswith(p)), r["tag"])
    row = {"epoch": c["epochs"], "last_batch_loss": r["final_loss"], "train_seconds": r["train_seconds"]}
    if r["val_acc"] is not None:
        row["val_acc"] = r["val_acc"]
    row.update(test_acc=r["test_acc"], seconds=r["train_seconds"] + r["eval_seconds"],
               elapsed=r["train_seconds"] + r["eval_seconds"])
    history = [row]
    return {"name": run_name(hp, tag), "model": model, "tag": tag, "params": r["params"],
            "hparams": hp.to_dict(), "seed": r["seed"], **summarise_history(history),
            "train_seconds": r["train_seconds"], "warm_up_seconds": r["compile_seconds"],
            "load_seconds": r["load_seconds"], "train_images": r["train_images"], "history": history,
            "device": r["device"], "torch": r["torch"], "git_commit": r["git_commit"],
            "data_source": r["data_source"], "finished": r["finished"],
            "migrated": "from the speedrun's own schema: one history row (no per-epoch numbers), "
                        "no weights (the speedrun did not save them then)"}


def main():
    if (RESULTS_DIR / "ablation").is_dir():
        (RESULTS_DIR / "ablation").rename(RESULTS_DIR / "crossed")
    for p in sorted(RESULTS_DIR.glob("**/*.json")):
        r = json.loads(p.read_text())
        if "recipe" in r and "seed" in r:
            new = from_speedrun(r)
            p.unlink()
            p = p.with_name(f"{new['name']}.json")
        elif "hparams" in r:
            new = {**r, "hparams": HParams.from_dict(r["hparams"]).to_dict()}
        else:
            continue
        p.write_text(json.dumps(new, indent=1) + "\n")
        print(p.relative_to(RESULTS_DIR))


if __name__ == "__main__":
    main()
