"""Scheduled work as plain functions: tests call them directly with a frozen clock."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlmodel import select

from connector.context import Services
from connector.crm import adapter_for
from connector.customers import refresh_customer
from connector.ingest import apply_pending_events
from connector.playbook_runner import run_tick as run_playbook_tick
from connector.storage.db import session_scope
from connector.storage.models import CustomerBilling, Installation
from connector.sync import DrainCounts, drain_installation
from connector.sync_health import refresh_all as refresh_health_all

log = logging.getLogger(__name__)


def active_installation_ids(services: Services) -> list[int]:
    with session_scope(services.engine) as session:
        return list(session.exec(select(Installation.id).where(Installation.status == "active")))


def tick(services: Services) -> int:
    """Apply what time alone changes: days past due, send_invoice invoices passing their due date.

    Every customer is re-derived; only changed values reach the outbox, so running this more
    often than daily costs no CRM calls.
    """
    apply_pending_events(services)
    changed = 0
    now = services.clock()
    for installation_id in active_installation_ids(services):
        try:
            changed += _tick_installation(services, installation_id, now)
        except Exception:
            # One installation's failure (bad data, a bug) must not stop the others' day.
            log.exception("tick.failed installation=%s", installation_id)
    log.info("tick.done changed=%s", changed)
    return changed


def _tick_installation(services: Services, installation_id: int, now: datetime) -> int:
    changed = 0
    with session_scope(services.engine) as session:
        installation = session.get(Installation, installation_id)
        rows = session.exec(select(CustomerBilling).where(
            CustomerBilling.installation_id == installation_id, CustomerBilling.deleted.is_(False)))
        for row in rows:
            before = dict(row.desired)
            refresh_customer(session, installation, row, now=now, base_url=services.settings.public_base_url,
                             at_tick=True)
            changed += row.desired != before
        run_playbook_tick(session, installation, now)  # the daily cap: waiting decisions first
    return changed


def drain_all(services: Services) -> dict[int, DrainCounts]:
    """Drain every active installation's outbox; one failing installation never stops the others.

    First, events whose apply failed (a busy database, a bug since fixed) are applied again, so
    a stored event waits seconds, not until the hourly tick.
    """
    apply_pending_events(services, min_age=timedelta(minutes=1))
    results: dict[int, DrainCounts] = {}
    for installation_id in active_installation_ids(services):
        try:
            results[installation_id] = drain_installation(services, installation_id,
                                                          adapter_for(services, installation_id))
        except Exception:
            log.exception("drain.failed installation=%s", installation_id)
    # The worker makes the CRM calls, so it is the one that can store their rate-limit budget.
    refresh_health_all(services)
    return results


def purge(services: Services) -> list[int]:
    """Delete installations whose grace period after disconnecting has passed (PRODUCT.md §8)."""
    from oauth.installations import purge_disconnected

    return purge_disconnected(services.engine, services.clock())


# Pages per backfill run: the job comes back every few minutes and resumes from its cursors, so
# one long history never holds the worker (nor one installation's history the others).
BACKFILL_PAGES_PER_RUN = 200


def backfill_pending(services: Services) -> dict[int, bool]:
    """Backfill connections that have not finished theirs (at install: a new Stripe connection)."""
    from connector.backfill import backfill_connection, connections_needing_backfill

    done: dict[int, bool] = {}
    for connection_id in connections_needing_backfill(services):
        try:
            done[connection_id] = backfill_connection(
                services, connection_id, max_pages=BACKFILL_PAGES_PER_RUN).complete
        except Exception:
            log.exception("backfill.failed connection=%s", connection_id)
    return done


def reconcile_incremental(services: Services) -> dict:
    """Missed events and CRM drift, every installation."""
    from connector.reconcile import reconcile_all

    return reconcile_all(services, full=False)


def reconcile_full(services: Services) -> dict:
    """Daily: as reconcile_incremental, plus a sweep of every open and uncollectible invoice."""
    from connector.reconcile import reconcile_all

    return reconcile_all(services, full=True)
