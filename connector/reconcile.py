"""Reconcile one installation: billing truth re-read from Stripe, CRM values re-read and healed.

1. Events missed (the app was down, a delivery failed for good): Stripe's Events API from a
   stored cursor, fed through the webhook's own store/apply path and deduplicated by event id
   (BillingEvent's unique constraint). Stripe keeps 30 days of events (reference/billing.md
   §2.5); a cursor older than that leaves a gap, reported, that the full sweep covers.
2. Full sweep (daily, `full=True`): every open and uncollectible invoice re-read, and the
   invoices we still think owed on customers not `current` that Stripe no longer lists as owed;
   every customer's default card re-read (card-expiry pre-dunning: no event tells that a card
   saved long ago now lapses before the next renewal, and a missed payment_method.* event
   would leave an old expiry in the store).
3. CRM drift: the §3 values of every linked record read back in batches, compared field by
   field with the desired values (diff.changed_fields: the CRM's echo forms are not drift). A
   value an account manager overwrote is drift. Healing goes through the outbox: the row's
   `crm_values` become what was read, so the drain rewrites exactly the drifted fields.
   A record the CRM no longer returns (merged or deleted) is re-resolved through matching, and
   never recreated. In preview a difference is drift only where the CRM held our value before
   (written while live): any other is a value preview withheld, which going live will write,
   counted apart (`preview_differs`) with nothing queued and health untouched. Drift found in
   preview is reported on every run and healed on going live.
4. What was found and fixed is recorded as a SyncRun of kind "reconcile".
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from connector import outbox
from connector.backfill import CARD_STREAM, INVOICE_SWEEP_STREAMS, STREAMS_BY_NAME
from connector.billing.stripe_api import MAX_EVENT_TYPES_PER_LIST, WEBHOOK_EVENTS, StripeApi
from connector.billing.stripe_bulk import apply_objects, bulk_api, customers_with_card
from connector.context import Services
from connector.crm import adapter_for
from connector.customers import refresh_customer
from connector.domain.billing_state import CustomerFacts
from connector.domain.diff import changed_fields
from connector.errors import ConnectorError
from connector.ingest import ingest_fetched_event
from connector.ports import CrmAdapter, CrmRef
from connector.storage.db import session_scope
from connector.storage.models import (
    BillingConnection,
    BillingCursor,
    CustomerBilling,
    Installation,
    SyncRun,
)
from connector.sync import RECORD_GONE, drain_installation, match_customers

log = logging.getLogger(__name__)

EVENTS_STREAM = "events"
EVENTS_RETENTION = timedelta(days=30)
# Read a little before the cursor: an event becomes listable a moment after its `created`.
EVENTS_OVERLAP = timedelta(minutes=10)
_OWED = ("open", "uncollectible")


@dataclass
class ReconcileReport:
    installation_id: int
    full: bool = False
    preview: bool = False
    events_recovered: int = 0  # stored now, missed before
    events_known: int = 0  # already stored (delivered by webhook)
    events_gap: bool = False  # the cursor was older than Stripe keeps events
    invoices_swept: int = 0
    invoices_reread: int = 0
    cards_reread: int = 0  # customers whose default card was re-read (full sweep)
    records_read: int = 0
    records_drifted: int = 0
    drift_found: dict[str, int] = field(default_factory=dict)  # field -> records
    drift_healed: dict[str, int] = field(default_factory=dict)  # field -> records written back
    # Preview: field -> records whose CRM value differs from billing (going live writes them).
    preview_differs: dict[str, int] = field(default_factory=dict)
    records_differing: int = 0
    records_gone: int = 0  # merged or deleted in the CRM
    re_resolved: int = 0  # of those, linked again
    crm_read_calls: int = 0
    stripe_calls: int = 0
    drain: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # what was skipped by design, not failed

    @property
    def outcome(self) -> str:
        if not self.errors:
            return "ok"
        return "partial" if (self.records_read or self.events_recovered or self.invoices_swept) else "failed"

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "errors": self.errors[:20], "notices": self.notices[:20],
                "outcome": self.outcome}


def reconcile_installation(services: Services, installation_id: int, *, full: bool = False,
                           adapter: CrmAdapter | None = None, drain: bool = True) -> ReconcileReport:
    """Reconcile one installation now (the scheduler, the CLI and the dashboard button call this)."""
    started = services.clock()
    report = ReconcileReport(installation_id, full=full)
    with session_scope(services.engine) as session:
        installation = session.get(Installation, installation_id)
        if installation is None:
            raise LookupError(f"installation {installation_id} does not exist")
        report.preview = installation.preview
        active = installation.status == "active"
        conn_ids = list(session.exec(select(BillingConnection.id).where(
            BillingConnection.installation_id == installation_id,
            BillingConnection.provider.in_(("stripe", "chargebee")))))
    if not active:
        report.errors.append(f"installation is {installation.status}; nothing reconciled")
        _record(services, report, started)
        return report
    for conn_id in conn_ids:
        _reconcile_billing(services, conn_id, report, full=full)
    try:
        adapter = adapter or adapter_for(services, installation_id)
        drifted = _check_crm(services, installation_id, adapter, report)
        if drain and ((drifted and not report.preview) or report.re_resolved):
            counts = drain_installation(services, installation_id, adapter)
            report.drain = counts.as_dict()
        if not report.preview:  # in preview nothing is written, so nothing is healed
            _count_healed(services, drifted, report)
    except ConnectorError as exc:
        log.warning("reconcile.crm_failed installation=%s error=%s", installation_id, type(exc).__name__)
        report.errors.append(f"crm: {exc}")
    _record(services, report, started)
    log.info("reconcile.done installation=%s full=%s recovered=%s drifted=%s gone=%s", installation_id,
             full, report.events_recovered, report.records_drifted, report.records_gone)
    return report


def reconcile_all(services: Services, *, full: bool = False) -> dict[int, ReconcileReport]:
    """Every active installation; one failing never stops the others."""
    from connector.jobs import active_installation_ids

    out: dict[int, ReconcileReport] = {}
    for installation_id in active_installation_ids(services):
        try:
            out[installation_id] = reconcile_installation(services, installation_id, full=full)
        except Exception:
            log.exception("reconcile.failed installation=%s", installation_id)
    return out


# ---------------------------------------------------------------------------------------------
# Billing side.


def _reconcile_billing(services: Services, conn_id: int, report: ReconcileReport, *, full: bool) -> None:
    with session_scope(services.engine) as session:
        conn = session.get(BillingConnection, conn_id)
        provider = conn.provider
        api = bulk_api(services, conn) if provider == "stripe" else None
        mode = conn.mode
    if provider == "chargebee":
        from connector.chargebee_reconcile import reconcile_chargebee_billing

        reconcile_chargebee_billing(services, conn_id, report, full=full)
        return
    if api is None:
        # Connected with only a webhook secret (allowed, and the demo's case): webhooks alone feed
        # it. Not a failure of this run, but the admin should know missed events stay missed.
        report.notices.append(f"connection {conn_id}: no Stripe API key, so missed events cannot be "
                              "re-read; add a key to let reconcile recover them")
        return
    try:
        _recover_events(services, api, conn_id, mode, report)
        if full:
            _sweep_invoices(services, api, conn_id, report)
            _sweep_cards(services, api, conn_id, report)
    except ConnectorError as exc:
        log.warning("reconcile.billing_failed connection=%s error=%s", conn_id, type(exc).__name__)
        report.errors.append(f"stripe: {exc}")


def _recover_events(services: Services, api: StripeApi, conn_id: int, mode: str,
                    report: ReconcileReport) -> None:
    run_start = services.clock()
    oldest = run_start - EVENTS_RETENTION + timedelta(minutes=5)  # safely inside the window
    with session_scope(services.engine) as session:
        cursor = _events_cursor(session, conn_id, run_start)
        known_since = cursor.since
    start = oldest
    if known_since:
        wanted = datetime.fromtimestamp(known_since, run_start.tzinfo) - EVENTS_OVERLAP
        report.events_gap = report.events_gap or wanted < oldest
        start = max(wanted, oldest)
    since = int(start.timestamp())
    types = list(WEBHOOK_EVENTS)
    for i in range(0, len(types), MAX_EVENT_TYPES_PER_LIST):
        params = {"created": {"gte": since}, "types": types[i:i + MAX_EVENT_TYPES_PER_LIST]}
        starting_after = None
        while True:
            page = api.list_page("events", params, starting_after=starting_after)
            report.stripe_calls += 1
            for event in page.data:
                if bool(event.get("livemode")) != (mode == "live"):
                    continue
                if ingest_fetched_event(services, conn_id, event):
                    report.events_recovered += 1
                else:
                    report.events_known += 1
            if not page.has_more:
                break
            starting_after = page.last_id
    # Everything created before this run started has been listed (the overlap covers the lag).
    with session_scope(services.engine) as session:
        cursor = _events_cursor(session, conn_id, run_start)
        cursor.since = int(run_start.timestamp())
        cursor.items += report.events_recovered
        cursor.updated_at = services.clock()
        session.add(cursor)


def _events_cursor(session: Session, conn_id: int, now: datetime) -> BillingCursor:
    cursor = session.exec(select(BillingCursor).where(
        BillingCursor.connection_id == conn_id, BillingCursor.stream == EVENTS_STREAM)).first()
    if cursor is None:
        cursor = BillingCursor(connection_id=conn_id, stream=EVENTS_STREAM, since=0, started_at=now,
                               updated_at=now)
        session.add(cursor)
        session.flush()
    return cursor


def _sweep_invoices(services: Services, api: StripeApi, conn_id: int, report: ReconcileReport) -> None:
    """Re-read every owed invoice; then those we think owed that Stripe no longer lists as owed."""
    seen: set[str] = set()
    for name in INVOICE_SWEEP_STREAMS:
        stream = STREAMS_BY_NAME[name]
        starting_after = None
        while True:
            page = api.list_page(stream.resource, stream.query(0), starting_after=starting_after)
            report.stripe_calls += 1
            seen.update(o["id"] for o in page.data)
            _apply_and_refresh(services, conn_id, page.data)
            report.invoices_swept += len(page.data)
            if not page.has_more:
                break
            starting_after = page.last_id
    stale = _stale_owed_invoices(services, conn_id, seen)
    for invoice_id in stale:
        _apply_and_refresh(services, conn_id, [api.retrieve_invoice(invoice_id)])
        report.stripe_calls += 1
        report.invoices_reread += 1


def _sweep_cards(services: Services, api: StripeApi, conn_id: int, report: ReconcileReport) -> None:
    """Re-read every customer's default card, as the backfill's card stream reads them."""
    stream = STREAMS_BY_NAME[CARD_STREAM]
    starting_after = None
    while True:
        page = api.list_page(stream.resource, stream.query(0), starting_after=starting_after)
        report.stripe_calls += 1
        with_card = customers_with_card(page.data)
        _apply_and_refresh(services, conn_id, with_card)
        report.cards_reread += len(with_card)
        if not page.has_more:
            break
        starting_after = page.last_id


def _stale_owed_invoices(services: Services, conn_id: int, seen: set[str]) -> list[str]:
    """Invoices the store holds as owed, on customers not `current`, that the sweep did not see.

    Limited to customers whose CRM values depend on them (not `current`): a long outage past the
    Events API's 30 days can only leave those wrong in a way the account manager sees.
    """
    stale: list[str] = []
    last_id = 0
    while True:
        with session_scope(services.engine) as session:
            rows = list(session.exec(select(CustomerBilling).where(
                CustomerBilling.connection_id == conn_id, CustomerBilling.payment_status != "current",
                CustomerBilling.id > last_id).order_by(CustomerBilling.id).limit(500)))
        if not rows:
            return stale
        last_id = rows[-1].id
        for row in rows:
            facts = CustomerFacts.from_json(row.facts)
            stale.extend(i for i, rec in facts.invoices.items()
                         if rec.snapshot.status in _OWED and i not in seen)


def _apply_and_refresh(services: Services, conn_id: int, objects: list[dict[str, Any]]) -> None:
    now = services.clock()
    with session_scope(services.engine) as session:
        conn = session.get(BillingConnection, conn_id)
        installation = session.get(Installation, conn.installation_id)
        for row in apply_objects(session, conn, objects, now=now):
            refresh_customer(session, installation, row, now=now, base_url=services.settings.public_base_url)


# ---------------------------------------------------------------------------------------------
# CRM side.


def _check_crm(services: Services, installation_id: int, adapter: CrmAdapter,
               report: ReconcileReport) -> dict[int, tuple[str, ...]]:
    """Read every linked record in batches; queue drifted ones; returns row id -> drifted fields."""
    drifted: dict[int, tuple[str, ...]] = {}
    found: Counter[str] = Counter()
    withheld: Counter[str] = Counter()  # preview: field -> records whose value was never sent
    last_id = 0
    while True:
        with session_scope(services.engine) as session:
            batch = [(r.id, CrmRef(r.crm_object_type, r.crm_record_id)) for r in session.exec(
                select(CustomerBilling).where(
                    CustomerBilling.installation_id == installation_id,
                    CustomerBilling.match_status == "matched", CustomerBilling.crm_record_id != "",
                    CustomerBilling.deleted.is_(False), CustomerBilling.id > last_id)
                .order_by(CustomerBilling.id).limit(adapter.max_batch_size))]
        if not batch:
            break
        last_id = batch[-1][0]
        # The CRM call is made outside any transaction: no lock is held while HubSpot answers.
        values = adapter.read_fields([ref for _, ref in batch])
        report.crm_read_calls += 1
        report.records_read += len(values)
        gone = _compare(services, installation_id, batch, values, drifted, found, withheld, report)
        if gone:
            _re_resolve(services, adapter, gone, report)
    report.preview_differs = dict(sorted(withheld.items()))
    report.drift_found = dict(sorted(found.items()))
    report.records_drifted = len(drifted)
    return drifted


def _compare(services: Services, installation_id: int, batch: list[tuple[int, CrmRef]],
             values: dict[CrmRef, dict[str, str]], drifted: dict[int, tuple[str, ...]],
             found: Counter[str], withheld: Counter[str], report: ReconcileReport) -> list[int]:
    gone: list[int] = []
    now = services.clock()
    with session_scope(services.engine) as session:
        rows = {r.id: r for r in session.exec(select(CustomerBilling).where(
            CustomerBilling.id.in_([row_id for row_id, _ in batch])))}
        for row_id, ref in batch:
            row = rows.get(row_id)
            if row is None or row.crm_record_id != ref.record_id or not row.desired:
                continue  # relinked meanwhile, or never derived
            current = values.get(ref)
            if current is None:
                gone.append(row_id)
                continue
            drift = changed_fields(row.desired, current)
            if report.preview:
                # Fields whose last known CRM value is not ours: preview never sent them.
                never_sent = set(changed_fields(row.desired, row.crm_values)) & set(drift)
                withheld.update(never_sent)
                report.records_differing += bool(never_sent)
                drift = {f: v for f, v in drift.items() if f not in never_sent}
            if not drift:
                continue
            drifted[row_id] = tuple(sorted(drift))
            found.update(drift.keys())
            if report.preview:
                # Nothing can be written in preview, and crm_values must keep saying what we
                # wrote while live: else the next run would take this drift for a withheld value.
                continue
            # What the CRM holds now: the drain then writes exactly the drifted fields.
            row.crm_values = dict(current)
            session.add(row)
            outbox.enqueue_field_sync(session, installation_id, row_id, now)
    return gone


def _re_resolve(services: Services, adapter: CrmAdapter, row_ids: list[int], report: ReconcileReport) -> None:
    """Records merged or deleted in the CRM: find the customer's record again, never recreate it."""
    now = services.clock()
    with session_scope(services.engine) as session:
        rows = list(session.exec(select(CustomerBilling).where(CustomerBilling.id.in_(row_ids))))
        old = {r.id: r.crm_record_id for r in rows}
        for row in rows:
            row.crm_record_id, row.crm_values = "", {}
            row.match_status, row.match_detail = "pending", f"{RECORD_GONE} (was {old[row.id]})"
        match_customers(session, adapter, rows)
        for row in rows:
            report.records_gone += 1
            if row.match_status == "matched":
                report.re_resolved += 1
                # The surviving record may lack our values, or hold the merged-away customer's.
                row.crm_values = {}
                row.match_detail = f"{row.match_detail}; was record {old[row.id]} (merged or deleted)"
                outbox.enqueue_field_sync(session, row.installation_id, row.id, now)
            elif not row.match_detail.startswith(RECORD_GONE):
                row.match_detail = f"{RECORD_GONE} (was {old[row.id]}); {row.match_detail}"
            session.add(row)
            log.info("reconcile.record_gone row=%s old_record=%s now=%s", row.id, old[row.id],
                     row.match_status)


def _count_healed(services: Services, drifted: dict[int, tuple[str, ...]], report: ReconcileReport) -> None:
    """A drifted field is healed when what we know the CRM holds now equals the desired value."""
    healed: Counter[str] = Counter()
    ids = list(drifted)
    for i in range(0, len(ids), 500):
        with session_scope(services.engine) as session:
            rows = session.exec(select(CustomerBilling).where(CustomerBilling.id.in_(ids[i:i + 500])))
            for row in rows:
                still = changed_fields(row.desired, row.crm_values)
                healed.update(f for f in drifted[row.id] if f not in still)
    report.drift_healed = dict(sorted(healed.items()))


def _record(services: Services, report: ReconcileReport, started: datetime) -> None:
    counts = report.as_dict()
    for key in ("installation_id", "errors", "outcome"):
        counts.pop(key, None)
    with session_scope(services.engine) as session:
        session.add(SyncRun(installation_id=report.installation_id, kind="reconcile", started_at=started,
                            finished_at=services.clock(), outcome=report.outcome, counts=counts,
                            error="; ".join(report.errors[:3])[:500]))
