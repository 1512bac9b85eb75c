"""Chargebee webhook events -> the same provider-neutral billing facts as Stripe's.

The envelope (reference/billing.md §5.3): `{"id", "object": "event", "api_version": "v2",
"event_type", "occurred_at", "content": {"invoice", "transaction", "customer", "subscription",
"card", "payment_source", ...}}`. Every content object is a full snapshot carrying its own
`resource_version` (ms), so each becomes a snapshot fact ordered by that version: a late,
older delivery never overwrites a newer one (PRODUCT.md §4).

Chargebee's vocabulary is mapped onto the facts' (Stripe-shaped) one:
- invoice status paid -> paid, voided -> void, pending -> draft, posted / payment_due -> open,
  not_paid -> uncollectible once dunning gave up (`dunning_status` exhausted or stopped), else
  open (an offline invoice past its due date is still simply owed); `write_off_amount` > 0 ->
  written off, whatever was paid before;
- subscription cancelled with `cancel_reason: not_paid` -> canceled for non-payment;
- a failed payment is keyed by its transaction (`txn:<id>`), so the payment_failed event and a
  backfilled transaction of the same attempt are one fact; its reason comes from
  `error_detail.decline_code`, else the transaction's `error_code` (normalised in
  connector.domain.failure_reasons.normalise_chargebee_failure).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from connector.billing.events import (
    EventFacts,
    MalformedEvent,
    as_currency,
    as_dict,
    as_epoch,
    as_int,
    as_int_between,
    as_str,
    is_epoch,
    load_json_object,
)
from connector.domain.billing_facts import (
    CardSnapshot,
    CustomerDeleted,
    Fact,
    InvoiceSnapshot,
    PaymentFailure,
    ProfileSnapshot,
    RefundSnapshot,
    SubscriptionSnapshot,
)

log = logging.getLogger(__name__)

API_VERSION = "v2"


class MalformedChargebeeEvent(MalformedEvent):
    """The body is not a Chargebee v2 event the connector can read. The message is safe to log."""


ChargebeeEventFacts = EventFacts


# ---------------------------------------------------------------------------------------------
# The envelope.


def parse_chargebee_event(payload: bytes) -> dict[str, Any]:
    """The event as a dict, or `MalformedChargebeeEvent` saying what is wrong with it."""
    event = load_json_object(payload, MalformedChargebeeEvent)
    if event.get("object", "event") != "event":
        raise MalformedChargebeeEvent(f"body is a {event.get('object')!r} object, not an event")
    if not as_str(event.get("id")):
        raise MalformedChargebeeEvent("event has no id")
    if not as_str(event.get("event_type")):
        raise MalformedChargebeeEvent("event has no event_type")
    if not is_epoch(event.get("occurred_at")):
        raise MalformedChargebeeEvent("event has no occurred_at in epoch seconds (before 2100)")
    if not isinstance(event.get("content"), dict):
        raise MalformedChargebeeEvent("event has no content object")
    # v1 content is shaped differently; the webhook's API version is set in Chargebee.
    if event.get("api_version", API_VERSION) != API_VERSION:
        raise MalformedChargebeeEvent(
            f"api_version {event.get('api_version')!r} is not supported; set the webhook to v2"
        )
    return event


def event_customer_id(event: Mapping[str, Any]) -> str | None:
    """The customer an event is about, for storing it (before it is applied)."""
    content = as_dict(event.get("content"))
    customer = as_dict(content.get("customer"))
    if as_str(customer.get("id")):
        return customer["id"]
    for key in ("invoice", "transaction", "subscription", "card", "payment_source", "credit_note"):
        found = as_str(as_dict(content.get(key)).get("customer_id"))
        if found:
            return found
    return None


# ---------------------------------------------------------------------------------------------
# Field helpers.







_GAVE_UP = frozenset({"exhausted", "stopped"})
_INVOICE_STATUS = {
    "paid": "paid",
    "voided": "void",
    "pending": "draft",
    "posted": "open",
    "payment_due": "open",
}
_SUBSCRIPTION_STATUS = {
    "future": "trialing",  # not started yet: nothing is billed
    "in_trial": "trialing",
    "active": "active",
    "non_renewing": "active",  # still billed until the term ends
    "paused": "paused",
    "cancelled": "canceled",
    "transferred": "canceled",
}
# Subscription.cancel_reason not_paid = dunning ended by cancelling (§4 `canceled`); the facts
# use Stripe's word for it.
_NON_PAYMENT = "payment_failed"
# Event sources that are Chargebee itself, not a person (card updater runs as "system").
_AUTOMATIC_SOURCES = frozenset({"system", "scheduled_job", "external_service"})


def _collection_method(content: Mapping[str, Any]) -> str | None:
    inv = as_dict(content.get("invoice"))
    if inv.get("dunning_status") or inv.get("dunning_attempts") or inv.get("next_retry_at"):
        return "charge_automatically"
    for key in ("subscription", "customer"):
        auto = as_dict(content.get(key)).get("auto_collection")
        if auto == "on":
            return "charge_automatically"
        if auto == "off":
            return "send_invoice"
    return None


def invoice_snapshot(
    inv: Mapping[str, Any], observed_at: int, collection_method: str | None = None
) -> InvoiceSnapshot:
    """A Chargebee invoice (webhook content or API read) as an invoice fact."""
    raw = as_str(inv.get("status")) or "pending"
    dunning = as_str(inv.get("dunning_status"))
    if raw == "not_paid":
        status = "uncollectible" if dunning in _GAVE_UP else "open"
    else:
        status = _INVOICE_STATUS.get(raw, "open")
    if collection_method is None and (dunning or inv.get("dunning_attempts")):
        collection_method = "charge_automatically"
    # Closure times the derivation needs; Chargebee names only paid_at and voided_at, so the
    # version time of the snapshot stands in for the others.
    changed = as_epoch(inv.get("updated_at")) or observed_at
    paid_at = as_epoch(inv.get("paid_at")) or (changed if status == "paid" else None)
    write_off = as_int(inv.get("write_off_amount")) or 0
    return InvoiceSnapshot(
        invoice_id=inv["id"],
        observed_at=observed_at,
        status=status,
        collection_method=collection_method,
        currency=as_currency(inv.get("currency_code")),
        total=as_int(inv.get("total")),
        amount_paid=as_int(inv.get("amount_paid")),
        amount_remaining=as_int(inv.get("amount_due")),  # Chargebee's amount_due = still owed
        due_date=as_epoch(inv.get("due_date")),
        created=as_epoch(inv.get("date")),
        attempt_count=len(inv.get("dunning_attempts") or ()),
        next_payment_attempt=as_epoch(inv.get("next_retry_at")),
        billing_reason="subscription_cycle" if inv.get("recurring") else None,
        subscription_id=as_str(inv.get("subscription_id")),
        paid_at=paid_at,
        voided_at=as_epoch(inv.get("voided_at")) or (changed if status == "void" else None),
        marked_uncollectible_at=changed if status == "uncollectible" else None,
        resource_version=as_int(inv.get("resource_version")),
        written_off=write_off > 0,
    )


def subscription_snapshot(sub: Mapping[str, Any], observed_at: int) -> SubscriptionSnapshot:
    status = _SUBSCRIPTION_STATUS.get(as_str(sub.get("status")) or "", "active")
    reason = as_str(sub.get("cancel_reason"))
    auto = sub.get("auto_collection")
    return SubscriptionSnapshot(
        subscription_id=sub["id"],
        observed_at=observed_at,
        status=status,
        collection_method={"on": "charge_automatically", "off": "send_invoice"}.get(auto),
        canceled_at=as_epoch(sub.get("cancelled_at")),
        ended_at=as_epoch(sub.get("cancelled_at")) if status == "canceled" else None,
        cancellation_reason=_NON_PAYMENT if reason == "not_paid" else reason,
        resource_version=as_int(sub.get("resource_version")),
        renews_at=as_epoch(sub.get("next_billing_at")) or as_epoch(sub.get("current_term_end")),
    )


def payment_failure(
    txn: Mapping[str, Any], observed_at: int, invoice_id: str | None, source: str
) -> PaymentFailure:
    """A failed Chargebee transaction as a failure fact (keyed by the transaction)."""
    detail = as_dict(txn.get("error_detail"))
    if invoice_id is None:
        linked = [as_dict(x) for x in txn.get("linked_invoices") or ()]
        invoice_id = next((as_str(x.get("invoice_id")) for x in linked if x.get("invoice_id")), None)
    return PaymentFailure(
        key=f"txn:{txn['id']}",
        at=as_epoch(txn.get("date")) or observed_at,
        invoice_id=invoice_id,
        charge_id=as_str(txn.get("id_at_gateway")),
        decline_code=as_str(detail.get("decline_code")),
        failure_code=as_str(txn.get("error_code")) or as_str(detail.get("error_code")),
        advice_code=as_str(detail.get("processor_advice_code")),
        action_required=txn.get("status") == "needs_attention",
        amount=as_int(txn.get("amount")),
        currency=as_currency(txn.get("currency_code")),
        sources=frozenset({source}),
    )


def _profile(customer: Mapping[str, Any], observed_at: int) -> ProfileSnapshot | None:
    email = as_str(customer.get("email"))
    person = " ".join(x for x in (customer.get("first_name"), customer.get("last_name")) if as_str(x))
    name = as_str(customer.get("company")) or as_str(person)
    if not (email or name):
        return None
    return ProfileSnapshot(observed_at, email, name, source="customer")


def card_snapshot(
    card: Mapping[str, Any],
    observed_at: int,
    *,
    status: str | None = None,
    primary_id: str | None = None,
    auto_updated: bool = False,
) -> CardSnapshot | None:
    """A Chargebee card (or the card of a payment source) as a card fact."""
    # A payment_source wraps its card; the legacy card resource is flat.
    inner = as_dict(card.get("card")) if card.get("object") == "payment_source" else card
    card_id = (
        as_str(card.get("id")) if card.get("object") == "payment_source" else None
    ) or as_str(card.get("payment_source_id"))
    if card_id is None:
        customer = as_str(card.get("customer_id"))
        if customer is None:
            return None
        card_id = f"card:{customer}"  # a legacy single card of the customer
    return CardSnapshot(
        card_id=card_id,
        observed_at=observed_at,
        exp_month=as_int_between(inner.get("expiry_month"), 1, 12),
        exp_year=as_int_between(inner.get("expiry_year"), 1970, 2099),
        status=status or as_str(card.get("status")) or "valid",
        is_default=primary_id is None or primary_id == card_id,
        last4=as_str(inner.get("last4")),
        brand=as_str(inner.get("brand")) or as_str(inner.get("card_type")),
        auto_updated_at=observed_at if auto_updated else None,
        resource_version=as_int(card.get("resource_version")),
    )


# ---------------------------------------------------------------------------------------------
# The mapping.

HANDLED_EVENT_TYPES: frozenset[str] = frozenset(
    {
        "payment_failed",
        "payment_succeeded",
        "payment_refunded",
        "invoice_generated",
        "invoice_updated",
        "dunning_updated",
        "subscription_created",
        "subscription_activated",
        "subscription_changed",
        "subscription_renewed",
        "subscription_cancelled",
        "subscription_reactivated",
        "subscription_paused",
        "subscription_resumed",
        "customer_created",
        "customer_changed",
        "customer_deleted",
        "card_added",
        "card_updated",
        "card_expiry_reminder",
        "card_expired",
        "card_deleted",
        "payment_source_added",
        "payment_source_updated",
        "payment_source_expiring",
        "payment_source_expired",
        "payment_source_deleted",
    }
)

_CARD_STATUS_BY_EVENT = {
    "card_expiry_reminder": "expiring",
    "payment_source_expiring": "expiring",
    "card_expired": "expired",
    "payment_source_expired": "expired",
    "card_deleted": "removed",
    "payment_source_deleted": "removed",
}


def facts_from_chargebee_event(event: Mapping[str, Any]) -> ChargebeeEventFacts:
    """The facts one (parsed) Chargebee event tells about one customer."""
    etype = event.get("event_type", "")
    content = as_dict(event.get("content"))
    customer_id = event_customer_id(event)
    if etype not in HANDLED_EVENT_TYPES:
        return ChargebeeEventFacts(customer_id, handled=False)
    at = event["occurred_at"]
    customer = as_dict(content.get("customer"))

    if etype == "customer_deleted":
        # No personal data is passed on for a deleted customer: it is about to be erased.
        return ChargebeeEventFacts(customer_id, [CustomerDeleted(at=at)])

    facts: list[Fact] = []
    inv = as_dict(content.get("invoice"))
    if as_str(inv.get("id")) and etype != "invoice_deleted":
        facts.append(invoice_snapshot(inv, at, _collection_method(content)))
    sub = as_dict(content.get("subscription"))
    if as_str(sub.get("id")):
        facts.append(subscription_snapshot(sub, at))
    txn = as_dict(content.get("transaction"))
    if etype == "payment_failed":
        if as_str(txn.get("id")):
            facts.append(payment_failure(txn, at, as_str(inv.get("id")), etype))
        elif as_str(inv.get("id")):
            facts.append(
                PaymentFailure(
                    key=f"evt:{event['id']}",
                    at=at,
                    invoice_id=inv["id"],
                    amount=as_int(inv.get("amount_due")),
                    currency=as_currency(inv.get("currency_code")),
                    sources=frozenset({etype}),
                )
            )
    if etype == "payment_refunded" and as_str(txn.get("id")):
        facts.append(
            RefundSnapshot(
                charge_id=as_str(txn.get("reference_transaction_id"))
                or as_str(txn.get("refunded_txn_id"))
                or txn["id"],
                observed_at=at,
                amount_refunded=as_int(txn.get("amount")) or 0,
                currency=as_currency(txn.get("currency_code")),
            )
        )
    card_obj = as_dict(content.get("payment_source")) or as_dict(content.get("card"))
    if card_obj:
        moved = etype in ("card_updated", "payment_source_updated") and (
            event.get("source") in _AUTOMATIC_SOURCES
        )
        snap = card_snapshot(
            card_obj,
            at,
            status=_CARD_STATUS_BY_EVENT.get(etype),
            primary_id=as_str(customer.get("primary_payment_source_id")),
            auto_updated=moved,
        )
        if snap is not None:
            facts.append(snap)
    email, name = None, None
    profile = _profile(customer, at) if customer else None
    if profile is not None:
        facts.append(profile)
        email, name = profile.email, profile.name
    if customer_id is None:
        return ChargebeeEventFacts(None, [], note=f"{etype} names no customer")
    return ChargebeeEventFacts(customer_id, facts, customer_email=email, customer_name=name)
