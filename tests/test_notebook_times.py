"""How long "Run all" took: tools/notebook_times.py reads it from an executed notebook's cell
metadata, and `run_all_times` prints the latest per device for a notebook's opening."""
import json
import subprocess
import sys
from pathlib import Path

from effmnist_utils.core.runs import run_all_times

ROOT = Path(__file__).resolve().parents[1]


def _executed(path: Path, start: str, end: str) -> Path:
    cell = {"cell_type": "code", "source": "", "outputs": [], "execution_count": 1,
            "metadata": {"execution": {"iopub.execute_input": start, "shell.execute_reply": end}}}
    path.write_text(json.dumps({"cells": [cell, {**cell, "metadata": {}}], "metadata": {}, "nbformat": 4,
                                "nbformat_minor": 5}))
    return path


def test_the_span_of_an_execution_is_read_from_the_cells(tmp_path):
    sys.path.insert(0, str(ROOT / "tools"))
    import notebook_times

    nb = _executed(tmp_path / "01_x.ipynb", "2026-12-07T10:00:00Z", "2026-12-07T10:03:30.5Z")
    assert notebook_times.span(nb) == ("2026-12-07T10:00:00Z", 210.5)


def test_a_notebook_without_execution_times_is_refused_with_a_message(tmp_path):
    nb = tmp_path / "02_y.ipynb"
    nb.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "notebook_times.py"), "--device", "cpu", str(nb)],
                          capture_output=True, text=True)
    assert done.returncode == 1 and "no execution times" in done.stderr and "Traceback" not in done.stderr


def test_the_latest_execution_per_device_is_printed_with_its_device(tmp_path):
    rows = [{"notebook": "01_baseline", "device": "cuda (GPU)", "seconds": 170, "executed": "2026-12-04T10:00:00Z",
             "note": "six at once"},
            {"notebook": "01_baseline", "device": "cpu (X, 2 threads)", "seconds": 900, "executed": "2026-12-05T10:00:00Z"},
            {"notebook": "01_baseline", "device": "cpu (X, 2 threads)", "seconds": 420, "executed": "2026-12-06T10:00:00Z"},
            {"notebook": "02_other", "device": "cuda (GPU)", "seconds": 60, "executed": "2026-12-06T10:00:00Z"}]
    path = tmp_path / "run_all.json"
    path.write_text(json.dumps(rows))
    assert run_all_times("01", path).splitlines() == [
        "Run all took, in this notebook's recorded executions:",
        "cpu (X, 2 threads): about 7 min", "cuda (GPU): about 3 min (six at once)"]
    assert "no execution of this notebook is recorded" in run_all_times("03", path)
