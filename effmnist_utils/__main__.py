"""Command line: `python -m effmnist_utils
{list,train,population,plan,search,report,bench,robustness,predict,export,serve}` (--help)."""
from __future__ import annotations

import signal
import sys
from pathlib import Path

from tqdm import tqdm

from .cli import build_parser, run, run_place
from .core.config import RECIPES, RUNS_DIR, HParams, auto_tag, describe_levers, record_dir
from .core.models import ITER_SPECS, MODELS, build_model, count_params
from .core.population_runs import train_population
from .core.runs import train_run
from .core.runtime import as_device
from .report import write_report
from .studies import plans, robustness
from .studies.bench import bench, format_bench, save_bench
from .studies.population_bench import population_bench, render_population_bench, save_population_bench
from .studies.robustness import predict_default
from .studies.search.engine import interrupt_once, run_search
from .studies.search.spaces import SEARCHES, get
from .use import web
from .use.deploy import export_run, predict_files
from .use.deploy_bench import benchmark, render_deploy_table


def cmd_plan(args) -> int:
    def action():
        ignored = [flag for flag, given in (("--stage", args.stage), ("--shard", args.shard != (0, 1)),
                                            ("--smoke", args.smoke)) if given]
        if (args.name is None or args.table) and ignored:
            raise ValueError(f"{', '.join(ignored)} only apply when a plan runs; drop "
                             f"{'them' if len(ignored) > 1 else 'it'} "
                             f"{'or drop --table' if args.table else 'or name a plan'}")
        if args.name is None:
            for p in plans.plans().values():
                print(f"{p.name:<22} {p.about} (results/{p.folder}; stages: {', '.join(p.stages)})")
            return
        if args.table:
            root = plans.root_for(args.record, args.out_dir)
            for file, path in plans.write_tables(args.name, root).items():
                print(f"wrote {path}")
            return
        plans.run_plan(args.name, args.stage, args.record, run_place(args), args.shard, args.smoke)
    return run(action)


def cmd_search(args) -> int:
    def action():
        if args.name is None:
            given = [f for f, v in (("--trials", args.trials), ("--workers", args.workers != 1),
                                    ("--storage", args.storage), ("--record", args.record)) if v]
            if given:
                raise ValueError(f"{', '.join(given)} only apply when a search runs; name a search")
            for s in SEARCHES.values():
                print(f"{s.name:<14} {s.about} (budget {s.budget:,} parameters, {s.trials} trials, "
                      f"folder {s.folder})")
            return
        previous = interrupt_once()  # SIGTERM too: a `timeout` ending a GPU window loses no trial
        try:
            run_search(get(args.name), args.trials, args.workers, args.storage, run_place(args), args.record,
                       seconds=args.seconds)
        finally:  # main() may run inside another program (the tests)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    return run(action)


def cmd_report(args) -> int:
    return run(lambda: print("\n".join(f"wrote {p}" for p in write_report())))


def cmd_bench(args) -> int:
    def action():
        if args.population:
            return _population_bench(args)
        result = bench(args.model, args.batches, args.rounds, device=args.device,
                       data_dir=args.data_dir, compile_model=args.compile)
        print(format_bench(result))
        if args.record:
            print(f"recorded in {save_bench(result)}")
    return run(action)


def _population_bench(args) -> None:
    result = population_bench(steps=args.batches, rounds=args.rounds, threads=args.threads, device=args.device,
                              data_dir=args.data_dir)
    print(render_population_bench([result]))
    if args.record:
        print(f"recorded in {save_population_bench(result)}")


def cmd_robustness(args) -> int:
    def action():
        paths = [Path(p) for p in args.runs] or sorted(RUNS_DIR.glob("*_seed*.json"))
        bad = [str(p) for p in paths if not p.is_file()]
        if bad:
            raise ValueError(f"no such run file: {', '.join(bad)} (recorded runs are in {RUNS_DIR})")
        device, scores = as_device(args.device), []
        for path in tqdm(paths, desc="robustness", unit="run"):
            scores.append(robustness.record_run(path, device, args.data_dir) if args.record
                          else robustness.score_run(path, device, args.data_dir))
        print(robustness.render_table(robustness.summarise(scores)))
        print(robustness.legend())
        if args.record:
            print(f"recorded {len(scores)} runs' scores in robustness/ beside their results files")
    return run(action)


def cmd_list(args) -> int:
    for name in MODELS:
        trains = ("original recipe" if name in ITER_SPECS else
                  f"recipe: {describe_levers(RECIPES[name])}" if name in RECIPES else
                  "search candidate (proxy runs only)")
        print(f"{name:<10} {count_params(build_model(name)):>7,} parameters   {trains}")
    return 0


def cmd_train(args) -> int:
    def action():
        given = {k: v for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size),
                                   ("lr", args.lr)) if v is not None}
        hp = HParams.for_model(args.model, seed=args.seed, val_size=args.val_size,
                               train_subset=args.train_subset, loader=args.loader, **given)
        tag = auto_tag(hp) if args.tag is None else args.tag
        record = train_run(hp, run_place(args), resume=args.resume, tag=tag)[2]
        print(f"final test accuracy after epoch {len(record['history'])}: "
              f"{record['final_test_acc']:.2%} (best {record['best_test_acc']:.2%} at epoch "
              f"{record['best_epoch']}); recorded in {Path(args.out_dir) / record['name']}.json")
    return run(action)


def cmd_population(args) -> int:
    def action():
        given = {k: v for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size),
                                   ("lr", args.lr)) if v is not None}
        hp = HParams.for_model(args.model, val_size=args.val_size, train_subset=args.train_subset, **given)
        records = train_population(hp, args.seeds, run_place(args), tag=args.tag, resume=args.resume)[2]
        key = "final_test_acc" if "final_test_acc" in records[0] else None
        for record in records:
            acc = f"final test accuracy {record[key]:.2%}; " if key else ""
            print(f"seed {record['seed']}: {acc}recorded in {Path(args.out_dir) / record['name']}.json")
    return run(action)


def cmd_predict(args) -> int:
    def action():
        model, why = args.model, ""
        if args.run is None and model is None:  # the CLI, not `use`, knows the studies' verdict
            model, why = predict_default()
        print(predict_files(args.images, model=model or "f8a", run=args.run, why=why))
    return run(action)


def cmd_export(args) -> int:
    def action():
        if args.record and not args.bench:
            raise ValueError("--record keeps a --bench measurement; add --bench")
        for kind, path in export_run(args.run, args.out_dir, args.int8, args.calibration,
                                     args.data_dir).items():
            print(f"{kind:<5} {path}  {path.stat().st_size:,} bytes")
        if args.bench:
            out = record_dir("deploy") if args.record else None
            print(render_deploy_table(benchmark(args.run, out, calibration=args.calibration,
                                                data_dir=args.data_dir)))
            if out:
                print(f"recorded in {out}")
    return run(action)


def cmd_serve(args) -> int:
    def action():
        server = web.make_server(web.check(web.WEB_DIR), args.host, args.port, verbose=True)
        print(f"serving the draw-a-digit page at {web.url(server)} (Ctrl-C stops it)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("stopped")
        finally:
            server.server_close()
    return run(action)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    commands = {"list": cmd_list, "train": cmd_train, "plan": cmd_plan, "search": cmd_search,
                "report": cmd_report, "bench": cmd_bench, "population": cmd_population, "robustness": cmd_robustness, "predict": cmd_predict, "export": cmd_export, "serve": cmd_serve}
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
