"""Where a search's trials live: Optuna's storage (by default a journal file in the search's
folder, which can be committed; any SQLAlchemy URL, e.g. PostgreSQL, lets workers on many
machines share one search), the study in it, and the trials that killed workers left RUNNING.

A trial records the worker that runs it (`host:pid`) and, after every epoch, a heartbeat. A
RUNNING trial is stale when its worker is gone: on this host, its process no longer exists; on
another host, a database's own heartbeat (Optuna's, every `HEARTBEAT_S`) is older than `GRACE_S`,
or, with the journal file, nothing was heard from it for `JOURNAL_GRACE_S`. A stale trial is
marked FAIL, its checkpoint deleted and its parameters enqueued again (`Retry`), so that the
search resumes where it stopped.
"""
from __future__ import annotations

import importlib.util
import os
import socket
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

JOURNAL = "journal.log"  # the default storage, in the search's folder
HEARTBEAT_S, GRACE_S = 60, 600  # a database storage: Optuna's heartbeat, and when it is stale
JOURNAL_GRACE_S = 1800  # the journal file: another host's trial silent this long (an epoch's end) is stale
RETRIES = 2  # a stale trial's parameters are enqueued again at most this many times


def optuna_module():
    """Optuna, quiet (warnings and errors only), or a clear error where it is missing."""
    try:
        # heavy/optional: Optuna loads only when a search runs or is read, not when report imports this
        import optuna
    except ImportError:
        raise ValueError("searches need Optuna, which is not installed; `pip install -e .` in the clone "
                         "installs the version pyproject.toml pins") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def worker_id() -> str:
    """This process as a trial records it: `host:pid`."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _shown(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        # heavy/optional: SQLAlchemy (Optuna's storage layer) loads only for a storage URL
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not even a URL: show its scheme only
        return url.split("://")[0] + "://..." if "://" in url else repr(url)


def _with_driver(url: str) -> str:
    """`postgresql://` with the PostgreSQL driver that is installed: SQLAlchemy 2.1 means psycopg 3
    by it; with only psycopg2 (the dev extra's psycopg2-binary), `postgresql+psycopg2://`."""
    # heavy/optional: SQLAlchemy (Optuna's storage layer) loads only for a storage URL
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.drivername == "postgresql" and not importlib.util.find_spec("psycopg") \
            and importlib.util.find_spec("psycopg2"):
        return parsed.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
    return url


def open_storage(url: str | None, folder: Path):
    """The journal file `folder/journal.log` when `url` is None, else the database at `url` (any
    SQLAlchemy URL: sqlite:///search.db, postgresql://user@host/db); a ValueError naming the
    problem when it cannot be opened."""
    optuna = optuna_module()
    if url is None:
        folder.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(folder / JOURNAL)))
    if "://" not in url:
        raise ValueError(f"--storage {url!r} is not a database URL: give a SQLAlchemy URL such as "
                         "sqlite:///search.db or postgresql://user@host/db, or leave --storage out for the "
                         "journal file in the search's folder")
    # heavy/optional: SQLAlchemy loads only for a storage URL
    from sqlalchemy.exc import SQLAlchemyError

    try:
        url = _with_driver(url)
        return optuna.storages.RDBStorage(url, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
                                          heartbeat_stale_trial_callback=Retry(folder))
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise ValueError(f"cannot open the storage {_shown(url)}: {first.strip()} (check the URL, that its "
                         "server runs, and its driver: PostgreSQL's is psycopg2-binary, the dev extra's)") from None


def where(url: str | None, folder: Path) -> str:
    return str(folder / JOURNAL) if url is None else _shown(url)


def load_study(search, storage, create: bool = False):
    """`search`'s study in `storage` (created with `create`), with its sampler and pruner: TPE
    (multivariate; with several workers its "constant liar" keeps them from drawing alike), and
    Hyperband on the epochs or none (`search.pruner`)."""
    optuna = optuna_module()
    epochs = dict(search.fixed).get("epochs", 1)
    pruner = (optuna.pruners.HyperbandPruner(min_resource=2, max_resource=epochs, reduction_factor=3)
              if search.pruner == "hyperband" else optuna.pruners.NopPruner())
    sampler = optuna.samplers.TPESampler(multivariate=True, group=True, constant_liar=True)
    if create:
        return optuna.create_study(storage=storage, study_name=search.name, direction="maximize",
                                   sampler=sampler, pruner=pruner, load_if_exists=True)
    try:
        return optuna.load_study(study_name=search.name, storage=storage, sampler=sampler, pruner=pruner)
    except KeyError:
        raise ValueError(f"the storage holds no search {search.name!r}") from None


@dataclass(frozen=True)
class Retry:
    """Called with a trial marked FAIL because its worker is gone, or `stopped` (by hand, or a
    GPU window's end): enqueues its parameters again (as the first trials are), and keeps its
    checkpoint, from which the repeat goes on (it has the same name); deletes the checkpoint
    when it does not. A trial whose worker was lost `RETRIES` times is not enqueued again (a
    stopped one always is). `retry_history` (system attribute) lists the trials it repeats, the
    first of them the one whose name its runs keep; `lost`, how many of them lost their worker.
    Returns whether it enqueued it."""

    folder: Path
    stopped: bool = False

    def __call__(self, study, trial) -> bool:
        history = [*trial.system_attrs.get("retry_history", []), trial.number]
        lost = trial.system_attrs.get("lost", 0) + (not self.stopped)
        params = {**trial.system_attrs.get("fixed_params", {}), **trial.params}
        if lost > RETRIES or not params:
            if run := trial.user_attrs.get("run"):  # a run's checkpoint, or its population's
                (self.folder / "trials" / f"{run}.ckpt").unlink(missing_ok=True)
                for ckpt in (self.folder / "trials").glob(f"{run.rsplit('_seed', 1)[0]}_seeds*.ckpt"):
                    ckpt.unlink()
            return False
        optuna = optuna_module()
        study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.WAITING,
                                                  system_attrs={"fixed_params": params, "retry_history": history,
                                                                "lost": lost}))
        return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def is_stale(trial, now: float, host: str, grace: float = JOURNAL_GRACE_S) -> bool | None:
    """Whether a RUNNING trial's worker is gone: on `host`, whether its process is; elsewhere,
    whether it was silent (no epoch's end, no start) for `grace` seconds; None for another
    host's trial when `grace` is None (a database's heartbeat judges those)."""
    at, _, pid = trial.user_attrs.get("worker", "").rpartition(":")
    if at == host and pid.isdigit():
        return not _alive(int(pid))
    if grace is None:
        return None
    last = trial.user_attrs.get("heartbeat") or trial.datetime_start.timestamp()
    return now - last > grace


def fail_stale(study, storage, folder: Path, log=print) -> list[int]:
    """Mark the study's stale RUNNING trials FAIL and enqueue them again (`Retry`); returns their
    numbers. Several workers may do this at once: each trial is failed by one of them."""
    optuna = optuna_module()
    database = isinstance(storage, optuna.storages.RDBStorage)
    if database:
        optuna.storages.fail_stale_trials(study)  # by Optuna's heartbeat; its callback is a Retry
    host, now, failed = socket.gethostname(), time.time(), []
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        if not is_stale(trial, now, host, None if database else JOURNAL_GRACE_S):
            continue
        try:
            study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        except (optuna.exceptions.UpdateFinishedTrialError, ValueError, RuntimeError):
            continue  # another worker failed it first
        again = Retry(folder)(study, trial)
        failed.append(trial.number)
        log(f"trial {trial.number}: its worker {trial.user_attrs.get('worker', '(unknown)')} is gone; marked failed"
            + (" and enqueued again" if again else f", not enqueued again (tried {RETRIES + 1} times)"))
    return failed
