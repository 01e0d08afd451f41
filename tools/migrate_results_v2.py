"""One-off migration of the results files recorded before the package was split (commit 8d3ab5a
and earlier) to the grouped HParams layout. Run once from the repository root; idempotent.

- `hparams` was one flat dict of 19 settings; it becomes `HParams` as `asdict` writes it (model,
  seed, optim {...}, augment {...}, data and precision). Settings missing from older files take
  their default, which is what those runs used; `tag` moves to the record, `eval_batch_size`
  (evaluation speed only) is dropped.
- A recipe tag "seed" meant the original study's recipe: it becomes "original" (and
  "seed-recipe" becomes "original-recipe"), renaming the files and the run's name.

    python tools/migrate_results_v2.py
"""
import json
from dataclasses import asdict
from pathlib import Path

from effmnist_utils.config import RESULTS_DIR, HParams, run_name

TAGS = {"seed": "original", "seed-recipe": "original-recipe"}
DROPPED = {"tag", "eval_batch_size"}


def migrate(path: Path) -> Path:
    record = json.loads(path.read_text())
    flat = record["hparams"]
    if "optim" in flat:  # already migrated
        return path
    tag = TAGS.get(flat.get("tag", ""), flat.get("tag", ""))
    hp = HParams.from_flat({k: v for k, v in flat.items() if k not in DROPPED})
    name = run_name(hp, tag)
    record.update(name=name, tag=tag, hparams=asdict(hp))
    new = path.with_name(f"{name}.json")
    new.write_text(json.dumps(record, indent=1) + "\n")
    if new != path:
        path.unlink()
        path.with_suffix(".pt").rename(new.with_suffix(".pt"))
    return new


if __name__ == "__main__":
    for p in sorted(RESULTS_DIR.glob("*/*.json")):
        if "hparams" in json.loads(p.read_text()):
            print(p.relative_to(RESULTS_DIR), "->", migrate(p).name)
