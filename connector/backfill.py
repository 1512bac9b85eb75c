"""Backfill: 12 months of a Stripe account's history, so the CRM is right from day one.

Episodes, `late_payments_12m`, segments and recovery figures need past failures, payments and
subscriptions that no webhook will ever deliver again. The backfill reads them from Stripe's list
endpoints, turns each object into the same facts a webhook would (billing.stripe_bulk), and
merges them into the same per-customer store.

Resumable: each stream keeps a cursor (BillingCursor) saved with each page in the page's own
transaction, so an interrupted backfill re-reads at most one page; merging is idempotent, so
that costs nothing but the call. State is derived (refresh_customer) only after every stream is
read, in a last resumable "refresh" stage, so the CRM never sees a half-read history.

Throttled under Stripe's rate limits and backing off on 429 (StripeApi.list_page).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from connector.billing.stripe_api import StripeApi
from connector.billing.stripe_bulk import (
    CUSTOMER_CARD_EXPAND,
    apply_objects,
    bulk_api,
    customers_with_card,
    link_failed_charges,
)
from connector.context import Services
from connector.customers import refresh_customer
from connector.storage.db import session_scope
from connector.storage.models import BillingConnection, BillingCursor, CustomerBilling, Installation

log = logging.getLogger(__name__)

WINDOW = timedelta(days=365)
REFRESH_STAGE = "refresh"
REFRESH_CHUNK = 200
CARD_STREAM = "customer_cards"  # re-read by the daily full reconcile too


@dataclass(frozen=True)
class Stream:
    name: str
    resource: str
    windowed: bool  # filtered on created >= the window start
    params: dict[str, Any] = field(default_factory=dict)

    def query(self, since: int) -> dict[str, Any]:
        return {**self.params, **({"created": {"gte": since}} if self.windowed else {})}


# Order matters only for cost: subscriptions and invoices first, so a resumed backfill has the
# objects the failures refer to.
STREAMS: tuple[Stream, ...] = (
    # status=all: the default list leaves canceled subscriptions out, and churn needs them.
    # Not windowed: a subscription created years ago may be active (or have ended) in the window.
    Stream("subscriptions", "subscriptions", windowed=False, params={"status": "all"}),
    Stream("invoices", "invoices", windowed=True),
    # Invoices older than the window still owed: outstanding amounts and open episodes.
    Stream("open_invoices", "invoices", windowed=False, params={"status": "open"}),
    Stream("uncollectible_invoices", "invoices", windowed=False, params={"status": "uncollectible"}),
    # Payments: failed charges are the failed attempts; refunded ones the refunds.
    Stream("charges", "charges", windowed=True),
    # The charge is expanded because a Dispute names no customer.
    Stream("disputes", "disputes", windowed=True, params={"expand": ["data.charge"]}),
    # Default cards for card-expiry pre-dunning (only customers whose default is a card are
    # kept). Not windowed: a card saved years ago is what the next renewal will charge.
    Stream(CARD_STREAM, "customers", windowed=False,
           params={"expand": list(CUSTOMER_CARD_EXPAND)}),
)
INVOICE_SWEEP_STREAMS = ("open_invoices", "uncollectible_invoices")
STREAMS_BY_NAME = {s.name: s for s in STREAMS}

# Chargebee (through connector.billing.chargebee_bulk's pager: `created.gte` becomes the list's
# own date filter). Chargebee lists every subscription status by default; customers are read for
# the billing email (Chargebee invoices carry none), payment sources for card expiry.
CHARGEBEE_STREAMS: tuple[Stream, ...] = (
    Stream("subscriptions", "subscriptions", windowed=False),
    Stream("customers", "customers", windowed=False),
    Stream("invoices", "invoices", windowed=True),
    # Older invoices still owed: posted (not yet due), being collected, or given up on.
    Stream("open_invoices", "invoices", windowed=False,
           params={"status": {"in": ["posted", "payment_due", "not_paid"]}}),
    # Failed payment transactions are the failed attempts; refund transactions the refunds.
    Stream("transactions", "transactions", windowed=True),
    Stream("payment_sources", "payment_sources", windowed=False, params={"type": {"is": "card"}}),
)


def streams_for(provider: str) -> tuple[Stream, ...]:
    return CHARGEBEE_STREAMS if provider == "chargebee" else STREAMS


def _bulk_reader(services: Services, conn: BillingConnection):  # noqa: ANN202 - StripeApi | ChargebeePager
    if conn.provider == "chargebee":
        from connector.billing.chargebee_bulk import chargebee_pager

        return chargebee_pager(services, conn)
    return bulk_api(services, conn)


def _apply_objects(session: Session, conn: BillingConnection, objects: list, *, now: datetime) -> list:
    if conn.provider == "chargebee":
        from connector.billing.chargebee_bulk import apply_chargebee_objects

        return apply_chargebee_objects(session, conn, objects, now=now)
    return apply_objects(session, conn, objects, now=now)

Progress = Callable[[str, int, bool], None]  # (stream, objects in this page, stream done)


@dataclass
class BackfillReport:
    connection_id: int
    complete: bool = False
    objects: dict[str, int] = field(default_factory=dict)  # read in this run, per stream
    customers_refreshed: int = 0
    calls: int = 0
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class BackfillUnavailable(Exception):
    """The connection cannot be backfilled (no API key, unknown connection)."""


def backfill_connection(services: Services, connection_id: int, *, api: StripeApi | None = None,
                        progress: Progress | None = None, max_pages: int | None = None,
                        restart: bool = False) -> BackfillReport:
    """Read the connection's last 12 months from Stripe; resume where a previous run stopped.

    `max_pages` bounds one run (the scheduled job uses it); the next run continues. Provider
    errors propagate after the pages done so far are saved.
    """
    report = BackfillReport(connection_id)
    with session_scope(services.engine) as session:
        conn = session.get(BillingConnection, connection_id)
        if conn is None or conn.provider not in ("stripe", "chargebee"):
            raise BackfillUnavailable(f"no billing connection {connection_id}")
        streams = streams_for(conn.provider)
        if restart:
            for cursor in _cursors(session, connection_id).values():
                session.delete(cursor)
        api = api or _bulk_reader(services, conn)
    if api is None:
        raise BackfillUnavailable(f"connection {connection_id} has no API key to read history with")
    since = _window_start(services, connection_id)
    pages_left = max_pages if max_pages is not None else -1
    for stream in streams:
        pages_left = _walk(services, api, connection_id, stream, since, report, progress, pages_left)
        if pages_left == 0:
            report.note = "stopped after max_pages; the next run resumes"
            return report
    report.complete = _refresh_all(services, connection_id, report, progress)
    log.info("backfill.done connection=%s complete=%s objects=%s", connection_id, report.complete,
             sum(report.objects.values()))
    return report


def backfill_status(session: Session, connection_id: int) -> dict[str, Any]:
    """Per stream: done and objects read; `complete` once the refresh stage has run."""
    cursors = _cursors(session, connection_id)
    conn = session.get(BillingConnection, connection_id)
    streams = {s.name: {"done": bool(c and c.done), "objects": c.items if c else 0}
               for s in streams_for(conn.provider if conn else "stripe")
               for c in [cursors.get(s.name)]}
    refresh = cursors.get(REFRESH_STAGE)
    return {"complete": bool(refresh and refresh.done), "streams": streams}


def connections_needing_backfill(services: Services) -> list[int]:
    """Stripe connections of active installations, with an API key, not yet fully backfilled."""
    with session_scope(services.engine) as session:
        conns = session.exec(select(BillingConnection.id).join(
            Installation, Installation.id == BillingConnection.installation_id).where(
            Installation.status == "active",
            BillingConnection.provider.in_(("stripe", "chargebee")),
            BillingConnection.api_key_enc != "")).all()
        done = set(session.exec(select(BillingCursor.connection_id).where(
            BillingCursor.stream == REFRESH_STAGE, BillingCursor.done.is_(True))).all())
    return [c for c in conns if c not in done]


# ---------------------------------------------------------------------------------------------


def _cursors(session: Session, connection_id: int) -> dict[str, BillingCursor]:
    return {c.stream: c for c in session.exec(
        select(BillingCursor).where(BillingCursor.connection_id == connection_id))}


def _cursor(session: Session, connection_id: int, stream: str, since: int, now: datetime) -> BillingCursor:
    cursor = session.exec(select(BillingCursor).where(
        BillingCursor.connection_id == connection_id, BillingCursor.stream == stream)).first()
    if cursor is None:
        cursor = BillingCursor(connection_id=connection_id, stream=stream, since=since,
                               started_at=now, updated_at=now)
        session.add(cursor)
        session.flush()
    return cursor


def _window_start(services: Services, connection_id: int) -> int:
    """The window start of the first run, so a resumed backfill asks Stripe the same question."""
    with session_scope(services.engine) as session:
        first = session.exec(select(BillingCursor.since).where(
            BillingCursor.connection_id == connection_id, BillingCursor.stream == STREAMS[0].name)).first()
    return first if first else int((services.clock() - WINDOW).timestamp())


def _walk(services: Services, api: StripeApi, connection_id: int, stream: Stream, since: int,
          report: BackfillReport, progress: Progress | None, pages_left: int) -> int:
    """Read one stream page by page from its cursor; returns the pages still allowed (-1: no bound)."""
    with session_scope(services.engine) as session:
        cursor = _cursor(session, connection_id, stream.name, since, services.clock())
        if cursor.done:
            return pages_left
        since, starting_after = cursor.since, cursor.starting_after or None
    intent_invoices: dict[str, str | None] = {}
    while pages_left != 0:
        page = api.list_page(stream.resource, stream.query(since), starting_after=starting_after)
        report.calls += 1
        objects = page.data
        if stream.name == "subscriptions":
            objects = [o for o in objects if _in_window(o, since)]
        if stream.name == "charges":
            objects = link_failed_charges(api, objects, intent_invoices)
        if stream.name == CARD_STREAM:
            objects = customers_with_card(objects)
        now = services.clock()
        with session_scope(services.engine) as session:
            conn = session.get(BillingConnection, connection_id)
            _apply_objects(session, conn, objects, now=now)
            cursor = _cursor(session, connection_id, stream.name, since, now)
            cursor.starting_after = page.last_id or cursor.starting_after
            cursor.items += len(page.data)
            cursor.done = not page.has_more
            cursor.updated_at = now
            session.add(cursor)
        report.objects[stream.name] = report.objects.get(stream.name, 0) + len(page.data)
        if progress:
            progress(stream.name, len(page.data), not page.has_more)
        pages_left -= 1 if pages_left > 0 else 0
        if not page.has_more:
            break
        starting_after = page.last_id
    return pages_left


def _in_window(sub: dict[str, Any], since: int) -> bool:
    if sub.get("status") not in ("canceled", "incomplete_expired", "cancelled"):  # Chargebee: ll
        return True
    ended = sub.get("ended_at") or sub.get("canceled_at") or sub.get("cancelled_at") or 0
    return ended >= since


def _refresh_all(services: Services, connection_id: int, report: BackfillReport,
                 progress: Progress | None) -> bool:
    """Derive every customer's state once all history is in; resumable by customer row id."""
    while True:
        now = services.clock()
        with session_scope(services.engine) as session:
            cursor = _cursor(session, connection_id, REFRESH_STAGE, 0, now)
            if cursor.done:
                return True
            after = int(cursor.starting_after or 0)
            conn = session.get(BillingConnection, connection_id)
            installation = session.get(Installation, conn.installation_id)
            rows = list(session.exec(select(CustomerBilling).where(
                CustomerBilling.connection_id == connection_id, CustomerBilling.id > after)
                .order_by(CustomerBilling.id).limit(REFRESH_CHUNK)))
            for row in rows:
                refresh_customer(session, installation, row, now=now,
                                 base_url=services.settings.public_base_url)
            cursor.starting_after = str(rows[-1].id) if rows else cursor.starting_after
            cursor.items += len(rows)
            cursor.done = len(rows) < REFRESH_CHUNK
            cursor.updated_at = now
            session.add(cursor)
        report.customers_refreshed += len(rows)
        if progress:
            progress(REFRESH_STAGE, len(rows), cursor.done)
