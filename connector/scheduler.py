"""APScheduler 3.x jobs, started by `dunning-connector worker` or `serve --with-scheduler`.

Never started per web worker: the app factory does not start it; only the CLI does, once per
process (start_scheduler), and never in the Flask reloader's watcher process.

Several processes (PostgreSQL): each job runs in exactly one of them. The first process to take
a job's PostgreSQL advisory lock keeps it for as long as it lives (a session-level lock on a
connection held open for that purpose); the others skip the job, and try again at each run, so
when the holder dies (its connection closes, PostgreSQL releases the lock) another one takes
over. SQLite has no such lock: run one process with the scheduler (one `worker`, or one
`serve --with-scheduler`) — SQLite is for single-host, single-process use.

A restart or a stall does not replay a burst of missed runs: the job store is in memory (a
restarted process schedules from now), `coalesce` folds the runs missed during a stall into
one, and a run more than `misfire_grace_time` late is skipped.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from connector.context import Services

log = logging.getLogger(__name__)

# coalesce: a restart after downtime runs a missed job once, not once per missed slot.
# max_instances=1: a slow run is never overlapped by the next one.
JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 300}

# (job id, interval, name of the function in connector.jobs, looked up when the job runs).
JOBS: tuple[tuple[str, dict[str, int], str], ...] = (
    ("drain", {"seconds": 30}, "drain_all"),
    # Hourly, so each installation's local midnight (days past due, due dates) is seen within the hour.
    ("tick", {"hours": 1}, "tick"),
    ("purge", {"hours": 24}, "purge"),
    # New Stripe connections get their 12 months of history within minutes of connecting.
    ("backfill", {"minutes": 2}, "backfill_pending"),
    # Missed events (Events API) and CRM drift; the daily run also sweeps owed invoices.
    ("reconcile", {"hours": 1}, "reconcile_incremental"),
    ("reconcile_full", {"hours": 24}, "reconcile_full"),
)


class JobLocks:
    """Which scheduled jobs this process owns (PostgreSQL advisory locks; always on SQLite)."""

    # First half of the two-int advisory-lock key: this application's namespace.
    NAMESPACE = 0x44554E  # "DUN"

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._exclusive = engine.dialect.name == "postgresql"
        self._conn: Connection | None = None
        self._held: set[str] = set()
        self._mutex = threading.Lock()

    @staticmethod
    def key(job_id: str) -> int:
        """A stable signed 32-bit key per job id (the second half of the lock key)."""
        return int.from_bytes(hashlib.blake2b(job_id.encode(), digest_size=4).digest(), "big", signed=True)

    def acquire(self, job_id: str) -> bool:
        """True when this process may run the job: it holds (or has just taken) its lock."""
        if not self._exclusive:
            return True
        with self._mutex:
            try:
                conn = self._connection()
                if job_id in self._held:
                    conn.execute(text("SELECT 1"))  # the lock lives as long as this connection
                    return True
                got = conn.execute(text("SELECT pg_try_advisory_lock(:ns, :k)"),
                                   {"ns": self.NAMESPACE, "k": self.key(job_id)}).scalar()
            except Exception:
                # The connection broke: its locks are gone with it. Start afresh next time.
                log.warning("scheduler.lock_connection_lost job=%s", job_id, exc_info=True)
                self._drop()
                return False
            if got:
                self._held.add(job_id)
                log.info("scheduler.job_owned job=%s pid=%s", job_id, os.getpid())
            return bool(got)

    def release_all(self) -> None:
        with self._mutex:
            self._drop()

    def _connection(self) -> Connection:
        if self._conn is None:
            # Autocommit: a session-level lock is not tied to a transaction, and an idle
            # open transaction would hold back vacuum for as long as the process lives.
            self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    def _drop(self) -> None:
        self._held.clear()
        if self._conn is not None:
            try:
                self._conn.close()  # closing the session releases its advisory locks
            except Exception:  # already broken
                log.debug("scheduler.lock_connection_close_failed", exc_info=True)
            self._conn = None


def guarded(locks: JobLocks, job_id: str, run: Callable[[], Any]) -> Callable[[], Any]:
    """The job as the scheduler calls it: runs only where this process owns the job."""

    def job() -> Any:
        if not locks.acquire(job_id):
            log.debug("scheduler.job_skipped job=%s (owned by another process)", job_id)
            return None
        return run()

    job.__name__ = f"job_{job_id}"
    return job


def build_scheduler(services: Services, *, locks: JobLocks | None = None, **scheduler_kwargs: Any
                    ) -> BackgroundScheduler:
    locks = locks or JobLocks(services.engine)
    scheduler = BackgroundScheduler(job_defaults=JOB_DEFAULTS, timezone="UTC", **scheduler_kwargs)
    for job_id, interval, name in JOBS:
        scheduler.add_job(guarded(locks, job_id, _runner(services, name)), IntervalTrigger(**interval),
                          id=job_id, name=name)
    scheduler.dunning_locks = locks  # type: ignore[attr-defined] - released on shutdown
    return scheduler


def _runner(services: Services, name: str) -> Callable[[], Any]:
    def run() -> Any:
        from connector import jobs

        return getattr(jobs, name)(services)

    return run


_started: BackgroundScheduler | None = None
_start_lock = threading.Lock()


def start_scheduler(services: Services, *, use_reloader: bool = False) -> BackgroundScheduler | None:
    """Start the scheduler once in this process; None in the Flask reloader's watcher process.

    Under the Werkzeug reloader two processes import the app: the watcher (no WERKZEUG_RUN_MAIN)
    and the serving child (WERKZEUG_RUN_MAIN=true). Only the child runs jobs.
    """
    global _started
    if use_reloader and os.environ.get("WERKZEUG_RUN_MAIN") != "true":
        log.info("scheduler.not_started reason=reloader-watcher")
        return None
    with _start_lock:
        if _started is None:
            _started = build_scheduler(services)
            _started.start()
            log.info("scheduler.started pid=%s", os.getpid())
        return _started


def stop_scheduler() -> None:
    global _started
    with _start_lock:
        if _started is not None:
            _started.shutdown(wait=False)
            _started.dunning_locks.release_all()  # type: ignore[attr-defined]
            _started = None
