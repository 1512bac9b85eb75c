"""The scheduler: every job guarded by a per-job lock (one process runs it, proven with two real
processes on PostgreSQL), no burst of missed runs after a restart or a stall, never started in
the Flask reloader's watcher, never twice in one process."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
from apscheduler.executors.debug import DebugExecutor

from connector import jobs, scheduler
from connector.scheduler import JOB_DEFAULTS, JOBS, JobLocks, build_scheduler, guarded

ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("TEST_DATABASE_URL", "")

CHILD = """
import sys
from connector.scheduler import JobLocks, guarded
from connector.storage.db import make_engine

locks = JobLocks(make_engine(sys.argv[1]))
job = guarded(locks, sys.argv[2], lambda: "ran")
for line in sys.stdin:
    if line.strip() == "run":
        print(job() or "skipped", flush=True)
    else:
        break
locks.release_all()
"""


class Child:
    """A separate Python process holding its own JobLocks: asked to run the job, it says what it did."""

    def __init__(self, job_id: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", CHILD, PG_URL, job_id], cwd=ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def run(self) -> str:
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.communicate("exit\n", timeout=30)


@pytest.mark.skipif(not PG_URL.startswith("postgresql"), reason="advisory locks need PostgreSQL "
                    "(TEST_DATABASE_URL); on SQLite one process runs the scheduler")
def test_two_processes_run_a_job_in_exactly_one_and_the_other_takes_over_when_it_dies():
    job_id = f"test-job-{uuid.uuid4()}"  # touches no table; unique so nothing else holds it
    first, second = Child(job_id), Child(job_id)
    try:
        assert first.run() == "ran"
        assert second.run() == "skipped"
        # The owner keeps the job run after run; the other keeps skipping it.
        assert [first.run(), second.run(), first.run(), second.run()] == ["ran", "skipped", "ran", "skipped"]
        first.stop()
        # Its session ended, PostgreSQL released the lock; the survivor takes the job over.
        outcome = "skipped"
        for _ in range(100):
            outcome = second.run()
            if outcome == "ran":
                break
            time.sleep(0.05)
        assert outcome == "ran"
        assert second.run() == "ran"
    finally:
        first.stop()
        second.stop()


def test_on_sqlite_the_single_process_always_runs_its_jobs(services):
    if services.engine.dialect.name != "sqlite":
        pytest.skip("SQLite behaviour")
    locks = JobLocks(services.engine)
    assert locks.acquire("drain") and locks.acquire("drain")


def test_lock_keys_are_stable_and_distinct_per_job():
    keys = {JobLocks.key(job_id) for job_id, _, _ in JOBS}
    assert len(keys) == len(JOBS)
    assert JobLocks.key("drain") == JobLocks.key("drain")
    assert all(-(2**31) <= k < 2**31 for k in keys)


def test_a_job_this_process_does_not_own_is_skipped():
    class Refusing:
        def acquire(self, job_id):
            return False

    ran = []
    assert guarded(Refusing(), "drain", lambda: ran.append(1))() is None
    assert ran == []


def test_every_job_coalesces_runs_alone_and_has_a_misfire_grace(services):
    sched = build_scheduler(services)
    names = {job.id: job for job in sched.get_jobs()}
    assert set(names) == {"drain", "tick", "purge", "backfill", "reconcile", "reconcile_full"}
    assert JOB_DEFAULTS == {"coalesce": True, "max_instances": 1, "misfire_grace_time": 300}


@pytest.fixture
def counted(monkeypatch):
    runs: dict[str, int] = {}
    for _, _, name in JOBS:
        monkeypatch.setattr(jobs, name, lambda _services, name=name: runs.__setitem__(name, runs.get(name, 0) + 1))
    return runs


def test_a_restart_runs_nothing_at_once_and_a_stall_replays_no_burst(services, counted):
    sched = build_scheduler(services, executors={"default": DebugExecutor()})
    sched.start(paused=True)
    try:
        now = datetime.now(UTC)
        # A fresh process schedules from now: nothing is due at start (in-memory job store).
        assert all(job.next_run_time > now for job in sched.get_jobs())
        # The process stalled: tick (hourly) missed three runs, the last one a minute ago;
        # purge (daily) missed two, the last an hour ago, beyond the grace time.
        sched.modify_job("tick", next_run_time=now - timedelta(hours=2, minutes=1))
        sched.modify_job("purge", next_run_time=now - timedelta(days=1, hours=1))
        done = {"tick": threading.Event(), "purge": threading.Event()}
        sched.add_listener(lambda ev: done[ev.job_id].set() if ev.job_id in done else None,
                           EVENT_JOB_EXECUTED | EVENT_JOB_MISSED | EVENT_JOB_ERROR)
        sched.resume()
        assert done["tick"].wait(30) and done["purge"].wait(30)
        assert counted == {"tick": 1}  # three missed runs became one; purge's was too late
        later = datetime.now(UTC)
        assert sched.get_job("tick").next_run_time > later
        assert sched.get_job("purge").next_run_time > later
    finally:
        sched.shutdown(wait=False)
        sched.dunning_locks.release_all()


def test_the_reloader_watcher_starts_no_scheduler_and_a_process_starts_one(services, monkeypatch, counted):
    monkeypatch.delenv("WERKZEUG_RUN_MAIN", raising=False)
    monkeypatch.setattr(scheduler, "_started", None)
    assert scheduler.start_scheduler(services, use_reloader=True) is None
    monkeypatch.setenv("WERKZEUG_RUN_MAIN", "true")
    try:
        first = scheduler.start_scheduler(services, use_reloader=True)
        assert first is not None and first.running
        assert scheduler.start_scheduler(services) is first  # never twice in one process
    finally:
        scheduler.stop_scheduler()
    assert scheduler._started is None
