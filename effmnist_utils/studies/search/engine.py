"""The search engine: a search (`spaces.Search`) run on Optuna by worker processes that share
its storage (`storage`). `python -m effmnist_utils search NAME` is the command line.

Each trial is one run through the one loop (`runs.train_run`), recorded in the search's folder
under trials/ like every run (`<model>-t<number>_seed1.json` and `.pt`), so that any trial can be
re-scored; in a search with several seeds (`Search.seeds`) a trial is a population, one member
per seed trained in one pass (`population_runs.train_population`), each recorded as its seed's
run, and the trial's value is the members' mean. It is judged on the validation split and never
reads the test set (`read_test=False`):
the test set is read only for the finalists, by plans. A model with the search's budget of
parameters or more is pruned before any training; the others are pruned epoch by epoch on
validation accuracy (Hyperband, and any trial still near chance after its second epoch, which
Hyperband would train on while its bracket fills), which leaves no files (their values are in the storage). TPE
samples (multivariate; the budget is a constraint it learns to keep); with several workers its
"constant liar" keeps them from drawing alike. `results` reads a recorded search back.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import sys
import time
from pathlib import Path

import torch

from ...core.checkpoint import saved_history
from ...core.config import SCRATCH_DIR, run_name
from ...core.models import build_model, count_params
from ...core.place import RunPlace
from ...core.population_runs import checkpoint_path, train_population
from ...core.runs import train_run
from ...core.runtime import keep_freed_memory
from ..plans.base import root_for
from .storage import Retry, fail_stale, load_study, open_storage, optuna_module, where, worker_id
from .results import describe, note_call, summarise_call
from .spaces import Search, get

CHANCE_FLOOR = 0.2  # a trial still at or below this validation accuracy after epoch 2 learns nothing: pruned
POLL_S = 5  # how often a worker with nothing to start looks whether the others' trials finished
MAX_FAILS = 3  # a worker stops after this many failed trials in a row (a broken search, not bad luck)


def search_dir(search: Search, record: bool = False, out_root=None) -> Path:
    """results/searches/NAME with `record`, else under `out_root` or the scratch folder effmnist-runs/."""
    return root_for(record, out_root, scratch=SCRATCH_DIR) / search.folder


def objective(search: Search, place: RunPlace):
    """The function of a trial that trains it on `place` (its `out_dir`: the search's folder)
    and returns its final validation accuracy."""
    optuna = optuna_module()
    folder, log = Path(place.out_dir), place.log
    trial_place = place.with_(out_dir=folder / "trials")

    def report(trial, epochs: int):
        def on_epoch(rows) -> None:  # one run's row, or a population's rows (one per member)
            rows = rows if isinstance(rows, list) else [rows]
            trial.set_user_attr("heartbeat", time.time())
            if "val_acc" in rows[0]:  # every epoch, or the last of a timed run
                value, epoch = sum(r["val_acc"] for r in rows) / len(rows), rows[0]["epoch"]
                trial.report(value, epoch)
                if epoch < epochs and (trial.should_prune() or (epoch >= 2 and value <= CHANCE_FLOOR)):
                    raise optuna.TrialPruned(f"pruned after epoch {epoch}")
        return on_epoch

    def checkpoint(hp, tag: str) -> Path:
        """Where the trial's run, or its population, keeps its last finished epoch."""
        if len(search.seeds) == 1:
            return folder / "trials" / f"{run_name(hp, tag)}.ckpt"
        return checkpoint_path(folder / "trials", hp, list(search.seeds), tag)

    def train(hp, trial, tag: str) -> list[dict]:
        """The trial's records: one run, or one per member of its population. A trial that
        repeats one stopped by hand or by a lost worker goes on from that one's last finished
        epoch (its checkpoint), whose accuracies it first reports again, as the pruner saw them;
        a timed trial starts afresh."""
        hook, ckpt = report(trial, hp.optim.epochs), checkpoint(hp, tag)
        saved = None if search.timed else saved_history(ckpt, hp)  # None: none, or another run's
        resume = saved is not None
        if resume:
            histories = saved if len(search.seeds) > 1 else [saved]
            for rows in zip(*histories):
                hook(list(rows))
            log(f"trial {trial.number}: goes on after epoch {len(histories[0])} of the attempt it repeats")
        else:
            ckpt.unlink(missing_ok=True)
        if len(search.seeds) == 1:
            return [train_run(hp, trial_place, resume=resume, tag=tag, timed=search.timed, on_epoch=hook,
                              read_test=False)[2]]
        return train_population(hp, search.seeds, trial_place, tag=tag, read_test=False, on_epoch=hook,
                                resume=resume)[2]

    def attempt(trial) -> float:
        trial.set_user_attr("worker", worker_id())
        model, settings = search.suggest(trial)
        hp, params = search.hparams(model, settings), count_params(build_model(model))
        retried = trial.storage.get_trial_system_attrs(trial._trial_id).get("retry_history", [trial.number])
        tag = f"t{retried[0]}"  # a retry keeps the name of the trial it repeats
        name = run_name(hp, tag)
        for key, value in (("run", name), ("model", model), ("params", params), ("settings", settings)):
            trial.set_user_attr(key, value)
        trial.set_constraint("budget", params - search.budget + 1)  # > 0: infeasible, for TPE
        if params >= search.budget:
            trial.set_user_attr("over_budget", True)
            raise optuna.TrialPruned(f"{params:,} parameters, not under the budget of {search.budget:,}")
        log(f"trial {trial.number} started: {model}, {params:,} parameters")
        if hp.allocator == "keep":
            keep_freed_memory()  # for the rest of this process: the worker owns it
        interrupted = False
        try:
            records = train(hp, trial, tag)
        except optuna.TrialPruned:
            raise
        except KeyboardInterrupt:
            interrupted = True
            raise
        except Exception as exc:
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:500])
            raise
        finally:  # a pruned or failed trial is never resumed: its checkpoint goes; a stopped one's stays
            if not interrupted:
                checkpoint(hp, tag).unlink(missing_ok=True)
        accs = [r["history"][-1]["val_acc"] for r in records]
        trial.set_user_attr("train_seconds", records[0]["train_seconds"])  # a population's: all members'
        if len(records) > 1:
            trial.set_user_attr("seeds", list(search.seeds))
            trial.set_user_attr("member_val_accs", accs)
        return sum(accs) / len(accs)

    def run(trial) -> float:
        try:
            return attempt(trial)
        except KeyboardInterrupt:  # stopped by hand (Optuna marks it failed): `work` enqueues it again
            trial.set_user_attr("interrupted", True)
            raise
    return run


def work(search: Search, url: str | None, total: int, place: RunPlace, barrier=None,
         deadline: float | None = None) -> None:
    """One worker on `place` (its `out_dir`: the search's folder): start trials until the search
    has `total` finished ones (complete or pruned) or the clock passes `deadline` (time.time();
    the trial under way then finishes); when the missing ones are under way elsewhere, wait for
    them (they may fail)."""
    optuna = optuna_module()
    folder, log = Path(place.out_dir), place.log
    storage = open_storage(url, folder)
    study, run, fails = load_study(search, storage), objective(search, place), 0
    if barrier is not None:
        barrier.wait()  # the workers start together
    states = optuna.trial.TrialState
    while deadline is None or time.time() < deadline:
        fail_stale(study, storage, folder, log)
        trials = study.get_trials(deepcopy=False)
        finished = sum(t.state in (states.COMPLETE, states.PRUNED) for t in trials)
        if finished >= total:
            return
        if finished + sum(t.state == states.RUNNING for t in trials) >= total:
            time.sleep(POLL_S)
            continue
        done, before = [], {t.number for t in trials if t.state.is_finished()}
        try:
            study.optimize(run, n_trials=1, catch=(Exception,), callbacks=[lambda s, t: done.append(t)])
        except KeyboardInterrupt:  # the trial it stopped is enqueued again: the next call trains it
            for t in study.get_trials(deepcopy=False, states=(states.FAIL,)):
                if (t.number not in before and t.user_attrs.get("interrupted") and t.user_attrs.get("worker") == worker_id()
                        and Retry(folder, stopped=True)(study, t)):
                    log(f"trial {t.number}: stopped by hand; enqueued again")
            raise
        log(describe(done[0], search.budget))
        fails = fails + 1 if done[0].state == states.FAIL else 0
        if fails >= MAX_FAILS:
            raise ValueError(f"{MAX_FAILS} trials in a row failed, the last with "
                             f"{done[0].user_attrs.get('error', 'an error shown above')}")


def interrupt_once() -> dict:
    """From now on, in this process, the first SIGINT or SIGTERM (Ctrl-C; a `timeout` ending a
    GPU window) stops the search as Ctrl-C does: the trial under way is enqueued again with its
    checkpoint and the call is recorded. Later ones are ignored while that is written. Returns
    the handlers it replaced (`signal.signal(sig, old)` puts them back)."""
    def handler(signum, frame):
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        raise KeyboardInterrupt
    return {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}


def _worker_main(name, url, total, place, threads, k, barrier, deadline) -> None:
    interrupt_once()
    torch.set_num_threads(threads)
    prefix = f"[worker {k}] "
    try:
        work(get(name), url, total, place.with_(progress=False, log=lambda msg: print(prefix + msg, flush=True)),
             barrier, deadline)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - one line for the parent's report
        print(f"{prefix}error: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class Interrupted(KeyboardInterrupt):
    """Ctrl-C while workers ran: their ids, so that the call still records what they finished."""

    def __init__(self, ids: set[str]):
        super().__init__()
        self.ids = ids


def _spawn(search: Search, url, total: int, place: RunPlace, workers: int, deadline) -> set[str]:
    """`workers` processes on this machine, torch's threads split between them; their ids."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(workers)
    sent = place.with_(log=print)  # each worker logs with its own prefix; a caller's log may not pickle
    procs = [ctx.Process(target=_worker_main, args=(search.name, url, total, sent,
                                                    max(1, available_cores() // workers), k, barrier, deadline))
             for k in range(workers)]
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join()
    except KeyboardInterrupt:  # the workers may have got it too (one process group): let them record it
        for p in procs:
            if p.is_alive():
                os.kill(p.pid, signal.SIGTERM)  # a worker that did not ignores it no more than once
            p.join()
        raise Interrupted({f"{socket.gethostname()}:{p.pid}" for p in procs}) from None
    failed = [p.exitcode for p in procs if p.exitcode]
    if failed:
        raise ValueError(f"{len(failed)} of {workers} workers stopped with an error (shown above); run the "
                         "same command again to resume the search")
    return {f"{socket.gethostname()}:{p.pid}" for p in procs}


def run_search(search: Search, trials: int | None = None, workers: int = 1, storage: str | None = None,
               place="auto", record: bool = False, seconds: float | None = None) -> dict:
    """Run `search` until it has `trials` (default: its own number) finished trials, or for about
    `seconds` (no trial starts after them), with `workers` processes on `place` (a `RunPlace`,
    whose `out_dir` is the root of the searches' folders, as --out-dir; or a plain device); log,
    and return, what this call did and its trials per hour. `place.progress`: one worker prints
    every epoch too."""
    place = RunPlace.of(place)
    total, folder, log = trials or search.trials, search_dir(search, record, place.out_dir), place.log
    if search.timed and workers > 1:
        raise ValueError(f"{search.name} times its trials: run it with --workers 1 (workers sharing the "
                         "machine would slow each other's clock)")
    if search.device and place.device not in ("auto", search.device):
        raise ValueError(f"{search.name} runs on {search.device}: drop --device {place.device}")
    if search.device == "cuda" and not torch.cuda.is_available():  # before its storage is made
        raise ValueError(f"{search.name} runs on a GPU, and this machine has none (CUDA is not available): run "
                         "it on a GPU machine (tools/gpu_frontier.sh), or a search without -pop on this one")
    device = search.device or place.device
    place = place.with_(device=device, out_dir=folder)
    study = load_study(search, open_storage(storage, folder), create=True)
    if not study.get_trials(deepcopy=False):
        old = sorted((folder / "trials").glob("*.json"))
        if old:
            raise ValueError(f"{folder / 'trials'} holds {len(old)} trial records, but the search's storage "
                             f"({where(storage, folder)}) has no trials: give another --out-dir, or delete them")
        for params in search.first:
            study.enqueue_trial(params, skip_if_exists=True)
    log(f"search {search.name}: {total} finished trials wanted; storage {where(storage, folder)}; "
        f"trial records in {folder / 'trials'}")
    start = time.time()
    deadline = start + seconds if seconds else None
    stopped, ids = None, {worker_id()}
    try:
        if workers == 1:
            work(search, storage, total, place, deadline=deadline)
        else:
            ids = _spawn(search, storage, total, place, workers, deadline)
    except KeyboardInterrupt as exc:  # stopped by hand: what finished still counts as this call's
        stopped, ids = exc, getattr(exc, "ids", ids)
    call = summarise_call(search, study, ids, start, workers, log)
    if storage is None:  # the journal's folder keeps each call's throughput beside it
        threads = torch.get_num_threads() if workers == 1 else max(1, available_cores() // workers)  # as _spawn sets
        note_call(folder, call, device, threads)
    if stopped is not None:
        raise stopped
    return call
