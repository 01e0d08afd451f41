"""The committed results files, one test item per file: data checks, kept apart from the code's
tests so that each count says what it counts. Every recorded run loads as the HParams it was
trained with, is named by them, and its weights load into the model it names."""
import json
from dataclasses import asdict

import pytest
import torch

from effmnist_utils.core.config import RESULTS_DIR, RUNS_DIR, HParams, run_name
from effmnist_utils.core.models import build_model, count_params
from effmnist_utils.studies import plans
from effmnist_utils.studies.search import spaces as searches

# Every train_run record under results/, found by its shape (settings and a per-epoch history),
# so that a new folder of runs is checked without being listed; other *_seed*.json files
# (robustness scores, deployment measurements) are another kind of file.
def _is_run(path) -> bool:
    record = json.loads(path.read_text())
    return isinstance(record, dict) and {"hparams", "history", "name"} <= record.keys()


RECORDS = sorted(p for p in RESULTS_DIR.rglob("*_seed*.json") if _is_run(p))
RECORD_DIRS = sorted({p.parent.relative_to(RESULTS_DIR).as_posix() for p in RECORDS})
# Runs of the speedrun's first schema: migrated with one history row and, then, no weights saved
WEIGHTED = [p for p in RECORDS if "migrated" not in json.loads(p.read_text())]


def _leaves(d: dict, prefix: str = "") -> dict:
    """A nested dict as {"optim.lr": 0.01, "seed": 1, ...}."""
    out = {}
    for k, v in d.items():
        out.update(_leaves(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def test_the_records_are_found_in_every_folder_of_runs():
    """Finding records by their shape reaches every study recorded under results/: each plan's
    folder and each search's trials (read from the plans and the searches, not listed here)."""
    folders = {p.folder for p in plans.plans().values()} | {f"{s.folder}/trials" for s in searches.SEARCHES.values()}
    recorded = {f for f in folders if (RESULTS_DIR / f).is_dir()}
    assert RUNS_DIR.name in recorded and any(f.endswith("/trials") for f in recorded)  # studies were read at all
    assert sorted(recorded - set(RECORD_DIRS)) == [], RECORD_DIRS


@pytest.mark.parametrize("path", RECORDS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_results_file_loads_and_is_named_by_its_hparams(path):
    """Every results file's hparams load with HParams.from_dict keeping every recorded setting
    and its value; a setting added after the run was recorded (absent from the file) reads as
    its default, the original recipe's. Its name, file name, model and seed are the ones its
    hparams and tag give."""
    record = json.loads(path.read_text())
    hp = HParams.from_dict(record["hparams"])
    recorded, loaded = _leaves(record["hparams"]), _leaves(asdict(hp))
    assert {k: loaded.get(k, "(lost)") for k in recorded} == recorded
    defaults = _leaves(asdict(HParams()))
    assert {k: v for k, v in loaded.items() if k not in recorded} == {
        k: defaults[k] for k in loaded if k not in recorded}
    assert record["name"] == run_name(hp, record["tag"]) == path.stem
    assert (record["model"], record["seed"]) == (hp.model, hp.seed)
    assert len(record["history"]) == (1 if "migrated" in record else hp.optim.epochs)


@pytest.mark.parametrize("path", WEIGHTED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_recorded_weights_load_into_the_recorded_model(path):
    """Each run's .pt loads (strictly) into the model it names, whose size is the recorded one."""
    record = json.loads(path.read_text())
    model = build_model(record["model"])
    state = torch.load(path.with_suffix(".pt"), map_location="cpu", weights_only=True)
    model.load_state_dict(state)  # (a GPU run's tensors were saved on the GPU)
    assert count_params(model) == record["params"]
