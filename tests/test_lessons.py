"""What the lessons promise a learner: notebook 01's plain loop is what `fit` does, a network the
learner edits trains and is recorded as theirs, and every model-editing exercise of 01-06, applied
as written, leaves "Run all" running top to bottom."""
import json
import re
from pathlib import Path

import nbformat
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from effmnist_utils.core.config import HParams
from effmnist_utils.core.loaders import make_data
from effmnist_utils.core.loop import fit
from effmnist_utils.core.record import RecordError, load_run
from effmnist_utils.core.runs import compare_with_recorded, describe_run, network_digest, train_run
from helpers import quiet_cpu

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = {p.name[:2]: p for p in (ROOT / "notebooks").glob("0[1-6]_*.ipynb")}


def _cell(nb, pattern: str) -> str:
    found = [c.source for c in nb.cells if c.cell_type == "code" and re.search(pattern, c.source, re.M)]
    assert len(found) == 1, f"{len(found)} cells match {pattern!r}"
    return found[0]


def _net_class(number: str, edits=()):
    nb = nbformat.read(NOTEBOOKS[number], as_version=4)
    source = _cell(nb, r"^class Net\(nn\.Module\):")
    for old, new in edits:
        assert old in source, f"notebook {number}'s Net no longer holds {old!r}: update the exercise's edit"
        source = source.replace(old, new)
    scope = {"torch": torch, "nn": nn, "F": F}
    exec(source, scope)  # noqa: S102 - the notebook's own cell
    return scope["Net"]


def test_the_plain_loop_of_notebook_01_trains_the_weights_fit_trains():
    """Notebook 01's loop cell, run on epoch 1's batches, leaves the same weights as `fit` does for
    one epoch from the same seed: `fit` is that loop plus the schedule, recording and resuming."""
    nb = nbformat.read(NOTEBOOKS["01"], as_version=4)
    loop = _cell(nb, r"loss\.backward\(\)")
    hp = HParams.for_model("iter1").with_(epochs=1, train_subset=384)  # 3 steps of 128
    data = make_data("cpu", hp)  # as the notebook's cell above the loop makes it
    data.train.set_epoch(1)  # the batches fit draws in its first epoch
    scope = {"torch": torch, "F": F, "Net": _net_class("01"), "hp": hp, "data": data, "device": "cpu"}
    exec(loop, scope)  # noqa: S102 - the notebook's own cell
    torch.manual_seed(hp.seed)
    reference = scope["Net"]()
    fit(reference, data, hp, progress=False)
    mine, theirs = scope["mine"].state_dict(), reference.state_dict()
    assert mine.keys() == theirs.keys()
    for name in mine:
        torch.testing.assert_close(mine[name], theirs[name], msg=name)
    untrained = scope["Net"]().state_dict()
    assert not torch.allclose(untrained["features.0.weight"], mine["features.0.weight"])


# Each model-editing exercise of 01-06 as its text asks (notebook, exercise, replacements in `Net`).
EXERCISES = [
    ("01", 1, [("nn.Conv2d(16, 28, 3), nn.ReLU(),  # conv6", "nn.Conv2d(16, 16, 3), nn.ReLU(),  # conv6"),
               ("nn.Linear(28 * 7 * 7, 10)", "nn.Linear(16 * 7 * 7, 10)")]),
    ("02", 1, [("nn.Conv2d(10, 16, 3), nn.ReLU(),  # conv3", "nn.Conv2d(10, 28, 3), nn.ReLU(),  # conv3"),
               ("nn.Conv2d(16, 8, 1)", "nn.Conv2d(28, 8, 1)")]),
    ("02", 2, [("            nn.Conv2d(16, 28, 3), nn.ReLU(),  # conv7", "            # conv7 removed"),
               ("nn.Linear(28 * 5 * 5, 10)", "nn.Linear(16 * 7 * 7, 10)")]),
    ("03", 1, [("            nn.Conv2d(16, 8, 1), nn.ReLU(),  # conv4", "            nn.MaxPool2d(2),\n"
                "            nn.Conv2d(16, 8, 1), nn.ReLU(),  # conv4"),
               ("            nn.MaxPool2d(2),  # pool: -> 8x11x11", "            # the pool moved up")]),
    ("03", 2, [("            nn.MaxPool2d(2),  # pool: -> 8x11x11", "            # the pool moved down"),
               ("nn.Conv2d(8, 10, 3), nn.ReLU(),  # conv5: -> 10x9x9",
                "nn.Conv2d(8, 10, 3), nn.ReLU(),  # conv5\n            nn.MaxPool2d(2),"),
               ("nn.Linear(28 * 5 * 5, 10)", "nn.Linear(28 * 6 * 6, 10)")]),
    ("04", 1, [("nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.ReLU(),", "nn.Conv2d(1, 8, 3), nn.ReLU(),")]),
    ("05", 2, [("nn.AdaptiveAvgPool2d(1)", "nn.AdaptiveMaxPool2d(1)")]),
    ("05", 3, [("nn.Conv2d(16, 28, 3), nn.ReLU(),", "nn.Conv2d(16, 40, 3), nn.ReLU(),"),
               ("nn.Linear(28, 10)", "nn.Linear(40, 10)")]),
    ("06", 2, [("nn.Conv2d(8, 16, 3), nn.BatchNorm2d(16), nn.ReLU(),   # 11 -> 9",
                "nn.Conv2d(8, 10, 3), nn.BatchNorm2d(10), nn.ReLU(),   # 11 -> 9"),
               ("nn.Conv2d(16, 16, 3), nn.BatchNorm2d(16), nn.ReLU(),  # 9 -> 7",
                "nn.Conv2d(10, 16, 3), nn.BatchNorm2d(16), nn.ReLU(),  # 9 -> 7")]),
    ("06", 3, [("self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(28, 10))",
                "self.head = nn.Sequential(nn.Flatten(), nn.Linear(28 * 5 * 5, 10))")]),
]


@pytest.mark.parametrize("number, exercise, edits", EXERCISES, ids=[f"{n}-ex{e}" for n, e, _ in EXERCISES])
def test_each_exercise_edit_builds_a_network_that_runs(number, exercise, edits):
    """The edit as written gives a network that scores a batch of digits (the exercise's text and
    this table agree), and it is another network than the lesson's."""
    net = _net_class(number, edits)()
    assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert network_digest(net) != network_digest(_net_class(number)())


@pytest.mark.slow
@pytest.mark.parametrize("number, exercise, edits", EXERCISES, ids=[f"{n}-ex{e}" for n, e, _ in EXERCISES])
def test_run_all_after_an_exercise_edit(number, exercise, edits, tmp_path, monkeypatch):
    """A learner makes the exercise's edit to `Net` and presses "Run all": every cell runs (smoke
    mode), and the training cell records the learner's variant under a name of its own."""
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOKS[number], as_version=4)
    net = next(c for c in nb.cells if c.cell_type == "code" and c.source.startswith("class Net(nn.Module):"))
    for old, new in edits:
        net.source = net.source.replace(old, new)
    monkeypatch.setenv("EFFMNIST_FAST", "1")  # the kernel inherits the environment
    monkeypatch.setenv("TQDM_DISABLE", "1")
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    runs = [json.loads(p.read_text()) for p in (tmp_path / "effmnist-runs").glob("*.json")]
    assert runs and all(r["based_on"] == r["hparams"]["model"] and "-net" in r["name"] for r in runs), \
        [r["name"] for r in runs]


def test_an_edited_net_is_recorded_as_the_learners_variant(tmp_path):
    """train_run takes any network: the lesson's own is recorded as the model, an edited one under
    `<model>-net<digest>` with its own parameter count; describing and comparing it say "your
    variant", and loading it as the package's model is refused with a message that says how."""
    hp = HParams.for_model("iter1").with_(epochs=1, train_subset=256)
    edited = _net_class("01", EXERCISES[0][2])
    _, _, record, _ = train_run(hp, quiet_cpu(tmp_path), net=edited)
    digest = network_digest(edited())
    assert record["name"] == f"iter1-net{digest}-epochs1-train_subset256_seed1"
    assert record["model"] == f"iter1-net{digest}" and record["based_on"] == "iter1"
    assert record["params"] == sum(p.numel() for p in edited().parameters()) != 24_498
    assert "your variant of iter1" in describe_run(record)
    assert "your variant" in compare_with_recorded(record, label="your run")
    with pytest.raises(RecordError, match="network of your own.*load_state_dict"):
        load_run(tmp_path / f"{record['name']}.json")
    _, _, same, _ = train_run(hp, quiet_cpu(tmp_path), net=_net_class("01"))
    assert same["name"] == "iter1-epochs1-train_subset256_seed1" and "based_on" not in same
