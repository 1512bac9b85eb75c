"""Billing webhooks in: verify, store before acknowledging, then fold into customer state.

The promise (PRODUCT.md §8): an event acknowledged with 2xx is stored first. Storing and
applying are separate transactions, so a bug or outage while applying leaves the event `pending`
for the tick to apply again; it never turns into a 5xx that makes the provider retry forever.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from connector.billing.chargebee_events import (
    MalformedChargebeeEvent,
    event_customer_id,
    facts_from_chargebee_event,
    parse_chargebee_event,
)
from connector.billing.connections import (
    chargebee_basic_auth_ok,
    connection_by_token,
    webhook_secrets,
)
from connector.billing.stripe_events import (
    MalformedEvent,
    facts_from_stripe_event,
    parse_stripe_event,
)
from connector.billing.stripe_signature import SignatureError, verify_stripe_signature
from connector.context import Services
from connector.customers import apply_facts, get_or_create_customer, refresh_customer
from connector.storage.db import session_scope
from connector.storage.models import BillingConnection, BillingEvent, Installation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebhookResult:
    status: int
    body: dict

    @classmethod
    def refuse(cls, status: int, message: str, **log_extra) -> WebhookResult:
        log.warning("webhook.refused status=%s reason=%s %s", status, message,
                    " ".join(f"{k}={v}" for k, v in log_extra.items()))
        return cls(status, {"error": message})


def receive_stripe_webhook(services: Services, token: str, payload: bytes, signature: str | None) -> WebhookResult:
    """Verify and store one Stripe delivery; apply it when stored."""
    now = services.clock()
    with session_scope(services.engine) as session:
        conn = connection_by_token(session, token)
        if conn is None or conn.provider != "stripe":
            return WebhookResult.refuse(404, "unknown webhook URL")
        installation = session.get(Installation, conn.installation_id)
        if installation is None or installation.status == "disconnected":
            return WebhookResult.refuse(410, "this installation is disconnected", connection=conn.id)
        try:
            verify_stripe_signature(payload, signature or "", webhook_secrets(conn, services.box),
                                    now=int(now.timestamp()))
            event = parse_stripe_event(payload)
        except (SignatureError, MalformedEvent) as exc:
            return WebhookResult.refuse(400, str(exc), connection=conn.id)
        if bool(event["livemode"]) != (conn.mode == "live"):
            return WebhookResult.refuse(
                400, f"a {'live' if event['livemode'] else 'test'}-mode event was sent to a {conn.mode}-mode "
                     "connection", connection=conn.id)
        conn_id = conn.id
    row_id = _store_event(services, conn_id, event, payload, now)
    if row_id is None:
        log.info("webhook.duplicate connection=%s event=%s", conn_id, event["id"])
        return WebhookResult(200, {"status": "duplicate"})
    apply_stored_event(services, row_id)
    return WebhookResult(200, {"status": "received"})


def ingest_fetched_event(services: Services, conn_id: int, event: dict) -> bool:
    """Store and apply an event read back from the provider's Events API (the reconciler).

    The same path as a webhook delivery, deduplicated by event id: False when it was already
    stored (delivered by webhook, or recovered before).
    """
    # default=str: stripe-python hands `*_decimal` fields back as Decimal; Stripe sends them as
    # strings, which is what str() gives.
    payload = json.dumps(event, separators=(",", ":"), default=str).encode()
    row_id = _store_event(services, conn_id, parse_stripe_event(payload), payload, services.clock())
    if row_id is None:
        return False
    apply_stored_event(services, row_id)
    return True


def ingest_fetched_chargebee_event(services: Services, conn_id: int, event: dict) -> bool:
    """Store and apply a Chargebee event read back from its list events API (the reconciler);
    False when it was already stored."""
    payload = json.dumps(event, separators=(",", ":")).encode()
    event = parse_chargebee_event(payload)
    row = BillingEvent(
        connection_id=conn_id, event_id=event["id"], type=event["event_type"],
        customer_id=event_customer_id(event), created=int(event["occurred_at"]),
        payload=payload.decode("utf-8"), received_at=services.clock(),
    )
    row_id = _insert_event(services, row)
    if row_id is None:
        return False
    apply_stored_event(services, row_id)
    return True


def _store_event(services: Services, conn_id: int, event: dict, payload: bytes, now: datetime) -> int | None:
    obj = event["data"]["object"]
    customer = obj.get("customer") if isinstance(obj, dict) else None
    if event["type"].startswith("customer.") and not event["type"].startswith("customer.subscription"):
        customer = obj.get("id")
    row = BillingEvent(
        connection_id=conn_id, event_id=event["id"], type=event["type"],
        customer_id=customer if isinstance(customer, str) else None,
        created=int(event.get("created") or 0), payload=payload.decode("utf-8"), received_at=now,
    )
    return _insert_event(services, row)


def _insert_event(services: Services, row: BillingEvent) -> int | None:
    """Store a new event row; None when (connection, event id) is already stored."""
    try:
        with session_scope(services.engine) as session:
            session.add(row)
            session.flush()
            return row.id
    except IntegrityError:
        return None


def receive_chargebee_webhook(services: Services, token: str, payload: bytes,
                              authorization: str | None) -> WebhookResult:
    """Authenticate and store one Chargebee delivery; apply it when stored.

    Chargebee signs nothing (reference/billing.md §5.2): the unguessable token names the
    connection and HTTP Basic auth proves the sender. Nothing is stored unless both hold and
    the body is a v2 event; the 2xx comes only after the event is stored.
    """
    now = services.clock()
    with session_scope(services.engine) as session:
        conn = connection_by_token(session, token)
        if conn is None or conn.provider != "chargebee":
            return WebhookResult.refuse(404, "unknown webhook URL")
        installation = session.get(Installation, conn.installation_id)
        if installation is None or installation.status == "disconnected":
            return WebhookResult.refuse(410, "this installation is disconnected", connection=conn.id)
        if not chargebee_basic_auth_ok(services, conn, authorization):
            return WebhookResult.refuse(401, "wrong or missing basic auth credentials",
                                        connection=conn.id)
        conn_id = conn.id
    try:
        event = parse_chargebee_event(payload)
    except MalformedChargebeeEvent as exc:
        return WebhookResult.refuse(400, str(exc), connection=conn_id)
    row = BillingEvent(
        connection_id=conn_id, event_id=event["id"], type=event["event_type"],
        customer_id=event_customer_id(event), created=int(event["occurred_at"]),
        payload=payload.decode("utf-8"), received_at=now,
    )
    row_id = _insert_event(services, row)
    if row_id is None:
        log.info("webhook.duplicate connection=%s event=%s", conn_id, event["id"])
        return WebhookResult(200, {"status": "duplicate"})
    apply_stored_event(services, row_id)
    return WebhookResult(200, {"status": "received"})


# A failing apply is retried with every drain (about a minute apart): a busy database or a deploy
# clears within these; an event that still fails holds a problem retrying will not fix.
MAX_APPLY_ATTEMPTS = 5


def apply_stored_event(services: Services, event_row_id: int) -> None:
    """Fold one stored event into its customer's state. A failure leaves it pending, logged and
    counted; after MAX_APPLY_ATTEMPTS it is `failed`, kept for a person (and reconcile) to see."""
    now = services.clock()
    try:
        with session_scope(services.engine) as session:
            event_row = session.get(BillingEvent, event_row_id)
            if event_row is None or event_row.status != "pending":
                return
            _apply(session, services, event_row, now)
    except Exception as exc:
        log.exception("webhook.apply_failed event_row=%s", event_row_id)
        _count_failed_apply(services, event_row_id, exc, now)


def _count_failed_apply(services: Services, event_row_id: int, exc: Exception, now: datetime) -> None:
    try:
        with session_scope(services.engine) as session:
            event_row = session.get(BillingEvent, event_row_id)
            if event_row is None or event_row.status != "pending":
                return
            event_row.apply_attempts += 1
            event_row.error = f"apply failed: {type(exc).__name__}"[:200]
            if event_row.apply_attempts >= MAX_APPLY_ATTEMPTS:
                event_row.status, event_row.processed_at = "failed", now
                log.error("webhook.apply_gave_up event_row=%s attempts=%s error=%s", event_row_id,
                          event_row.apply_attempts, type(exc).__name__)
            session.add(event_row)
    except Exception:
        log.exception("webhook.apply_failure_not_counted event_row=%s", event_row_id)


def _apply(session: Session, services: Services, event_row: BillingEvent, now: datetime) -> None:
    conn = session.get(BillingConnection, event_row.connection_id)
    installation = session.get(Installation, conn.installation_id)
    parsed = _facts_of(conn.provider, json.loads(event_row.payload))
    event_row.processed_at = now
    if not parsed.handled or not parsed.customer_id:
        event_row.status = "ignored" if not parsed.handled else "applied"
        event_row.error = "" if parsed.handled else "event type not used by the connector"
        session.add(event_row)
        return
    row = get_or_create_customer(session, conn, parsed.customer_id, now)
    erase = event_row.type in _DELETION_TYPES
    apply_facts(session, row, parsed.facts, erase=erase)
    if erase:
        _scrub_payloads(session, conn.id, parsed.customer_id)
    refresh_customer(session, installation, row, now=now, base_url=services.settings.public_base_url)
    event_row.status = "applied"
    session.add(event_row)


_DELETION_TYPES = frozenset({"customer.deleted", "customer_deleted"})


def _facts_of(provider: str, event: dict):  # noqa: ANN202 - Stripe/ChargebeeEventFacts
    if provider == "chargebee":
        return facts_from_chargebee_event(event)
    return facts_from_stripe_event(event)


def _scrub_payloads(session: Session, conn_id: int, customer_id: str) -> None:
    """Erasure: raw payloads of a deleted customer hold personal data; keep only ids and types."""
    rows = session.exec(select(BillingEvent).where(
        BillingEvent.connection_id == conn_id, BillingEvent.customer_id == customer_id))
    for ev in rows:
        ev.payload = json.dumps({"id": ev.event_id, "type": ev.type, "erased": True})
        session.add(ev)


def apply_pending_events(services: Services, limit: int = 500, *, min_age: timedelta = timedelta(0)) -> int:
    """Apply events left pending (an apply that failed, or a crash between store and apply).

    `min_age` leaves alone events a web process stored a moment ago and is applying right now.
    """
    cutoff = services.clock() - min_age
    with session_scope(services.engine) as session:
        ids = list(session.exec(select(BillingEvent.id).where(
            BillingEvent.status == "pending", BillingEvent.received_at <= cutoff)
            # Events that never failed first: a pile of failing ones never starves the others.
            .order_by(BillingEvent.apply_attempts, BillingEvent.id).limit(limit)))
    for event_id in ids:
        apply_stored_event(services, event_id)
    return len(ids)
