"""The billing half of reconcile (connector.reconcile) for a Chargebee site.

1. Events missed: Chargebee's list events API from the stored `occurred_at` cursor ("webhooks
   reach your application out-of-order and… get duplicated. For time-critical applications, we
   recommend using the list events API", reference/billing.md §5.2), fed through the webhook's
   own store/apply path and deduplicated by event id.
2. Full sweep (daily): every invoice Chargebee is still collecting or gave up on (payment_due,
   not_paid) re-read, and every card it flags expiring or expired (card-expiry pre-dunning).

Uses the same cursor table (BillingCursor stream "events") and report as Stripe's reconcile.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from connector.billing.chargebee_bulk import (
    DUNNING_INVOICE_QUERY,
    ChargebeePager,
    apply_chargebee_objects,
    chargebee_pager,
)
from connector.billing.chargebee_events import HANDLED_EVENT_TYPES
from connector.context import Services
from connector.customers import refresh_customer
from connector.errors import ConnectorError
from connector.ingest import ingest_fetched_chargebee_event
from connector.storage.db import session_scope
from connector.storage.models import BillingConnection, Installation

if TYPE_CHECKING:
    from connector.reconcile import ReconcileReport

log = logging.getLogger(__name__)

# First run without a cursor: the backfill read the history; recent events are what may be missed.
FIRST_LOOKBACK = timedelta(days=30)
# Read a little before the cursor: an event becomes listable a moment after it occurred.
EVENTS_OVERLAP = timedelta(minutes=10)
CARD_QUERY: dict[str, Any] = {"type": {"is": "card"}, "status": {"in": ["expiring", "expired"]}}


def reconcile_chargebee_billing(services: Services, conn_id: int, report: ReconcileReport, *,
                                full: bool, pager: ChargebeePager | None = None) -> None:
    from connector.reconcile import _events_cursor

    with session_scope(services.engine) as session:
        conn = session.get(BillingConnection, conn_id)
        pager = pager or chargebee_pager(services, conn)
    if pager is None:
        report.notices.append(f"connection {conn_id}: no Chargebee API key, so missed events cannot be re-read")
        return
    try:
        _recover_events(services, pager, conn_id, report, _events_cursor)
        if full:
            _sweep(services, pager, conn_id, report)
    except ConnectorError as exc:
        log.warning("reconcile.billing_failed connection=%s error=%s", conn_id, type(exc).__name__)
        report.errors.append(f"chargebee: {exc}")


def _recover_events(services: Services, pager: ChargebeePager, conn_id: int,
                    report: ReconcileReport, events_cursor: Any) -> None:
    run_start = services.clock()
    with session_scope(services.engine) as session:
        known_since = events_cursor(session, conn_id, run_start).since
    start = run_start - FIRST_LOOKBACK
    if known_since:
        start = datetime.fromtimestamp(known_since, run_start.tzinfo) - EVENTS_OVERLAP
    offset = None
    while True:
        items, offset = pager.api.list_events(occurred_after=int(start.timestamp()) - 1,
                                              offset=offset)
        report.stripe_calls += 1  # the report's count of billing-provider calls
        for event in items:
            if event.get("event_type") not in HANDLED_EVENT_TYPES:
                continue  # listed but never subscribed to: nothing to recover
            if ingest_fetched_chargebee_event(services, conn_id, event):
                report.events_recovered += 1
            else:
                report.events_known += 1
        if offset is None:
            break
    # Everything that occurred before this run started has been listed (the overlap covers lag).
    with session_scope(services.engine) as session:
        cursor = events_cursor(session, conn_id, run_start)
        cursor.since = int(run_start.timestamp())
        cursor.items += report.events_recovered
        cursor.updated_at = services.clock()
        session.add(cursor)


def _sweep(services: Services, pager: ChargebeePager, conn_id: int, report: ReconcileReport) -> None:
    for resource, query in (("invoices", DUNNING_INVOICE_QUERY), ("payment_sources", CARD_QUERY)):
        offset = None
        while True:
            page = pager.list_page(resource, query, starting_after=offset)
            report.stripe_calls += 1
            _apply_and_refresh(services, conn_id, page.data)
            if resource == "invoices":
                report.invoices_swept += len(page.data)
            if not page.has_more:
                break
            offset = page.last_id


def _apply_and_refresh(services: Services, conn_id: int, objects: list[dict[str, Any]]) -> None:
    now = services.clock()
    with session_scope(services.engine) as session:
        conn = session.get(BillingConnection, conn_id)
        installation = session.get(Installation, conn.installation_id)
        for row in apply_chargebee_objects(session, conn, objects, now=now):
            refresh_customer(session, installation, row, now=now,
                             base_url=services.settings.public_base_url)
