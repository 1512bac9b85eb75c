"""APScheduler 3.x jobs, started by `dunning-connector worker` or `serve --with-scheduler`.

Never started per web worker: the app factory does not start it; only the CLI does, once.
"""

from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from connector import jobs
from connector.context import Services

log = logging.getLogger(__name__)

# coalesce: a restart after downtime runs a missed job once, not once per missed slot.
# max_instances=1: a slow run is never overlapped by the next one.
JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 300}


def build_scheduler(services: Services) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(job_defaults=JOB_DEFAULTS, timezone="UTC")
    scheduler.add_job(jobs.drain_all, IntervalTrigger(seconds=30), args=[services], id="drain")
    # Hourly, so each installation's local midnight (days past due, due dates) is seen within the hour.
    scheduler.add_job(jobs.tick, IntervalTrigger(hours=1), args=[services], id="tick")
    scheduler.add_job(jobs.purge, IntervalTrigger(hours=24), args=[services], id="purge")
    return scheduler
