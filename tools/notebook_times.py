"""Record how long "Run all" took in a notebook's stored execution: from the first cell's start to
the last cell's reply, as Jupyter wrote them into the cells' metadata. Appends one row per
notebook to results/notebooks/run_all.json, which each notebook's opening reads
(`effmnist_utils.run_all_times`).

    python tools/notebook_times.py --device "cpu (Intel Xeon, 2 threads)" [--note TEXT] NOTEBOOK...

tools/execute_notebooks.sh calls it after each execution, naming the device it ran on.
"""
import argparse
import json
from datetime import datetime
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "results" / "notebooks" / "run_all.json"


def span(path: Path) -> tuple[str, float]:
    """(start as ISO time, seconds) of the notebook's stored execution."""
    stamps = sorted(c["metadata"]["execution"][k] for c in json.loads(path.read_text())["cells"]
                    for k in ("iopub.execute_input", "shell.execute_reply")
                    if k in c.get("metadata", {}).get("execution", {}))
    if not stamps:
        raise SystemExit(f"{path}: no execution times in its cells' metadata; execute it with "
                         "tools/execute_notebooks.sh first")
    first, last = (datetime.fromisoformat(s.replace("Z", "+00:00")) for s in (stamps[0], stamps[-1]))
    return stamps[0], round((last - first).total_seconds(), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", required=True, help='where it ran, e.g. "cuda (NVIDIA H200)"')
    parser.add_argument("--note", default="", help="what else shared the device, if anything")
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args()
    rows = json.loads(OUT.read_text()) if OUT.exists() else []
    for path in args.notebooks:
        start, seconds = span(path)
        row = {"notebook": path.stem, "device": args.device, "seconds": seconds, "executed": start}
        rows = [r for r in rows if (r["notebook"], r["executed"]) != (row["notebook"], start)]
        rows.append(row | ({"note": args.note} if args.note else {}))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(sorted(rows, key=lambda r: (r["notebook"], r["executed"])), indent=1) + "\n")


if __name__ == "__main__":
    main()
