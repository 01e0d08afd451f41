"""The command line's arguments and failures: one sub-parser per verb of `python -m
effmnist_utils` (`build_parser`), argument types that refuse bad input with one clear line, and
`run`, which turns the expected failures into one line on stderr. What each verb does is in
`__main__`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .core.config import RUNS_DIR, SCRATCH_DIR, HParams
from .core.data import DataError
from .core.loop import TrainingError
from .core.models import MODELS, build_model
from .core.place import RunPlace


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one clear line and status 2, no usage dump
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


def int_at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low:
            kind = "a positive integer" if low == 1 else f"an integer >= {low}"
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}")
        return value
    return parse


positive_int, non_negative_int = int_at_least(1), int_at_least(0)


def shard(text: str) -> tuple[int, int]:
    """`K/N` (0 <= K < N): the K-th of N shares of a plan."""
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        k = n = -1
    if not 0 <= k < n:
        raise argparse.ArgumentTypeError(f"expected K/N with 0 <= K < N (e.g. 0/2), got {text!r}")
    return k, n


def seed_list(text: str) -> list[int]:
    """`1-4` or `1,2,7` or `1-3,7`: distinct integer seeds, in the order given."""
    seeds = []
    try:
        for part in text.split(","):
            low, _, high = part.strip().partition("-")
            seeds += list(range(int(low), int(high) + 1)) if high else [int(low)]
    except ValueError:
        seeds = []
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"expected distinct seeds such as 1-4 or 1,2,7, got {text!r}")
    return seeds


def model_name(text: str) -> str:
    try:
        build_model(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def run_variant(text: str) -> str:
    """A model, or a model's variant `<model>-<tag>` (e.g. f8a-robust)."""
    model_name(text.split("-", 1)[0])
    return text


def writable_dir(text: str) -> Path:
    path = Path(text)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".effmnist_write_test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot write to output dir {text!r} ({exc.strerror})") from None
    return path


def run_place(args) -> RunPlace:
    """Where a verb's runs run, built once from its --device, --data-dir and --out-dir and handed
    down (a plan's or a search's --out-dir is the root of their folders; none: the default)."""
    return RunPlace(args.device, args.data_dir, args.out_dir)


def _add_train(sub) -> None:
    d = HParams()
    t = sub.add_parser("train", help="train one model with its recipe and record the run",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _add_run(t)
    t.add_argument("--seed", type=int, default=d.seed)
    t.add_argument("--resume", action="store_true", help="continue an interrupted run")
    t.add_argument("--loader", choices=("fast", "reference"), default=d.loader,
                   help="fast: device-resident batches; reference: the original's per-sample pipeline")
    p = sub.add_parser("population", help="train several seeds of one model in one pass (a population) "
                       "and record each as a run", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _add_run(p)
    p.add_argument("--seeds", type=seed_list, default=[1, 2, 3, 4],
                   help="one member per seed: 1-4, 1,2,7 or 1-3,7")
    p.add_argument("--resume", action="store_true", help="continue an interrupted population")


def _add_run(t) -> None:
    """What `train` and `population` share: the model, its recipe's main settings, where it runs
    and where its records go."""
    d = HParams()
    t.add_argument("model", type=model_name, help=f"one of: {', '.join(MODELS)}")
    t.add_argument("--epochs", type=positive_int, default=None,
                   help=f"default: the model's recipe ({d.optim.epochs} for the original's)")
    t.add_argument("--batch-size", type=positive_int, default=None,
                   help=f"default: the model's recipe ({d.optim.batch_size} for the original's)")
    t.add_argument("--lr", type=float, default=None,
                   help=f"(peak) learning rate; default: the model's recipe ({d.optim.lr} for the original's)")
    t.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cuda, mps or cpu")
    t.add_argument("--data-dir", default=None,
                   help="where MNIST lives (default: $EFFMNIST_DATA or ~/.cache/effmnist)")
    t.add_argument("--out-dir", type=writable_dir, default=SCRATCH_DIR,
                   help="where the results JSON and weights go (a git-ignored scratch folder of the "
                        f"working folder; record into the project with --out-dir {RUNS_DIR})")
    t.add_argument("--tag", default=None,
                   help="names the run <model>-<tag>_seed<seed> (default: the settings that differ "
                        "from the model's recipe, e.g. epochs1; none for the recipe itself)")
    t.add_argument("--val-size", type=non_negative_int, default=d.val_size,
                   help="training images held out for validation")
    t.add_argument("--train-subset", type=non_negative_int, default=d.train_subset,
                   help="train on only this many images (0: all); for smoke runs")


def _add_where(p, recorded: str, folders: str, scratch: str) -> None:
    """Where a plan's or a search's runs go and run: --record, --out-dir, --device, --data-dir."""
    p.add_argument("--record", action="store_true", help=f"record into {recorded}")
    p.add_argument("--out-dir", type=writable_dir, default=None,
                   help=f"the root of {folders} instead (default: {scratch})")
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cuda, mps or cpu")
    p.add_argument("--data-dir", default=None)


def _add_plan(sub) -> None:
    p = sub.add_parser("plan", help="run a named plan (a study: its runs, stages and tables); "
                       "without a name, list the plans", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("name", nargs="?", help="the plan (see `plan` without a name)")
    p.add_argument("--stage", default=None, help="run only this stage (default: all, in order)")
    p.add_argument("--shard", type=shard, default=(0, 1),
                   help="K/N: only every N-th run from the K-th (0-based), to share a plan between "
                        "N processes or machines writing to the same folder")
    _add_where(p, "the project's results/ (the committed runs and tables)", "the plan's folders", "effmnist-runs/plans")
    p.add_argument("--smoke", action="store_true", help="every run cut to 1 epoch on 1,024 images: "
                   "checks the plumbing (never with --record)")
    p.add_argument("--table", action="store_true",
                   help="run nothing: regenerate the plan's tables from its recorded runs")
    sub.add_parser("report", help="regenerate the README's and docs/ pages' generated blocks and figures "
                                  "from results/")


def _add_search(sub) -> None:
    s = sub.add_parser("search", help="run a named search on Optuna (its trials recorded like every run); "
                       "without a name, list the searches", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    s.add_argument("name", nargs="?", help="the search (see `search` without a name)")
    s.add_argument("--trials", type=positive_int, default=None,
                   help="the finished (complete or pruned) trials the search should have; default: its own")
    s.add_argument("--seconds", type=positive_int, default=None,
                   help="start no trial after this many seconds (the ones under way finish); default: no limit")
    s.add_argument("--workers", type=positive_int, default=1,
                   help="worker processes on this machine, sharing its cores (or its GPU) and the storage")
    s.add_argument("--storage", default=None,
                   help="a database URL (postgresql://user@host/db, sqlite:///search.db) that workers on several "
                        "machines share; default: the journal file in the search's folder")
    _add_where(s, "the project's results/searches/NAME (committed)", "the searches' folders", "effmnist-runs")


def _add_speed(sub) -> None:
    b = sub.add_parser("bench", help="images/s of the original's per-sample pipeline vs the fast loader",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    b.add_argument("--model", type=model_name, default="iter6")
    b.add_argument("--batches", type=positive_int, default=100)
    b.add_argument("--rounds", type=positive_int, default=3)
    b.add_argument("--device", default="auto")
    b.add_argument("--data-dir", default=None)
    b.add_argument("--compile", action="store_true", help="also time the fast loader with torch.compile")
    b.add_argument("--record", action="store_true",
                   help="record into results/bench/ (docs/speed.md's table); with --population into "
                        "results/speed/population_bench_<device>.json; default: print only")
    b.add_argument("--population", action="store_true",
                   help="instead: member-epochs/s of populations of 1-32 members against solo runs, "
                        "for iter6, f8a and t1b (--batches timed batches, --rounds, --threads)")
    b.add_argument("--threads", type=positive_int, default=None, help="torch's CPU threads (default: torch's)")


def _add_robustness(sub) -> None:
    r = sub.add_parser("robustness", help="recorded runs on the corruption suite (MNIST-C's 15 families)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    r.add_argument("runs", nargs="*", help="recorded runs' JSONs (default: every run in results/runs)")
    r.add_argument("--record", action="store_true",
                   help="write each run's scores beside it, in robustness/<name>.json (docs/robustness.md's "
                        "table reads results/runs/robustness); default: print only")
    r.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto")
    r.add_argument("--data-dir", default=None)


def _add_deploy(sub) -> None:
    p = sub.add_parser("predict", help="your own digit: prepare images like MNIST's and predict them",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("images", nargs="+", help="image files (PNG, JPEG, ...): a digit, any colours and size")
    p.add_argument("--model", type=run_variant, default=None,
                   help="use this model's (or variant's, e.g. f8a-robust) recorded run with the lowest seed "
                        "(never the run with the best test accuracy: that would be choosing on the test "
                        "set); default: f8a-robust if it meets its robustness goal, else f8a")
    p.add_argument("--run", default=None, help="a recorded run's JSON (its .pt beside it); overrides --model")
    e = sub.add_parser("export", help="export a recorded run to ONNX (and int8); needs the [deploy] extra",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    e.add_argument("run", help="a recorded run's JSON, e.g. results/runs/f8a_seed1.json")
    e.add_argument("--format", choices=("onnx",), default="onnx")
    e.add_argument("--int8", action="store_true", help="also a statically quantised int8 model")
    e.add_argument("--calibration", type=positive_int, default=1000, help="training images that calibrate int8")
    e.add_argument("--out-dir", type=writable_dir, default="exports", help="where the .onnx files go")
    e.add_argument("--data-dir", default=None)
    e.add_argument("--bench", action="store_true", help="also measure PyTorch, ONNX fp32 and int8 on the "
                   "10,000 test images")
    e.add_argument("--record", action="store_true",
                   help="with --bench: record the measurement in results/deploy/ (docs/deploy.md's table)")


def _add_serve(sub) -> None:
    s = sub.add_parser("serve", help="the draw-a-digit page (web/): the int8 model answers in your browser",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    s.add_argument("--port", type=non_negative_int, default=8000, help="0: any free port")
    s.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to open it from another device")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m effmnist_utils",
                     description="Train and list the EfficientMnist-Under20K models.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    sub.add_parser("list", help="the models and their parameter counts")
    for add in (_add_train, _add_plan, _add_search, _add_speed, _add_robustness, _add_deploy, _add_serve):
        add(sub)
    return parser


def run(action) -> int:
    """Run `action`, turning the expected failures into one line on stderr."""
    try:
        action()
    except (ValueError, DataError, TrainingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # e.g. an output folder that cannot be written
        print(f"error: {exc.strerror or exc}: {exc.filename or ''}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted; finished epochs are checkpointed and finished runs recorded. "
              "Run the same command (with --resume for train) to continue.", file=sys.stderr)
        return 130
    return 0
