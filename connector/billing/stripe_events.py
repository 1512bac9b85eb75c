"""Stripe webhook events -> billing facts for one customer.

Both payload shapes are read (reference/billing.md §1.2):
- API 2025-03-31.basil and later: an invoice carries no `charge`/`payment_intent`/`subscription`
  (the subscription is at `parent.subscription_details.subscription`), and charges/payment
  intents carry no `invoice`. A decline is then joined to its invoice attempt by customer and
  time in `connector.domain.billing_state` (rule and window documented there).
- older versions: `invoice.charge`, `invoice.payment_intent`, `invoice.subscription`,
  `charge.invoice`, `payment_intent.invoice`.

Each failed charge is keyed by its charge id wherever an event names it (`ch:<id>`), so the
charge.failed, payment_intent.payment_failed and (pre-basil) invoice.payment_failed events of one
attempt become one fact; events that name no charge are keyed by event id (`evt:<id>`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
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
    DisputeSnapshot,
    Fact,
    InvoiceSnapshot,
    PaymentFailure,
    ProfileSnapshot,
    RefundSnapshot,
    SubscriptionSnapshot,
)

log = logging.getLogger(__name__)


# The provider-neutral result; the old name stays for readers of this module.
StripeEventFacts = EventFacts


# ---------------------------------------------------------------------------------------------
# The envelope.


def parse_stripe_event(payload: bytes) -> dict[str, Any]:
    """The event as a dict, or `MalformedEvent` saying what is wrong with it."""
    event = load_json_object(payload)
    if event.get("object") == "v2.core.event":
        raise MalformedEvent("thin (v2) events are not supported; send snapshot (v1) events")
    if event.get("object", "event") != "event":
        raise MalformedEvent(f"body is a {event.get('object')!r} object, not an event")
    event_id = event.get("id")
    if not isinstance(event_id, str) or not event_id.startswith("evt_"):
        raise MalformedEvent("event has no id starting with evt_")
    if not isinstance(event.get("type"), str) or not event["type"]:
        raise MalformedEvent("event has no type")
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise MalformedEvent("event has no data.object")
    if not is_epoch(event.get("created")):
        raise MalformedEvent("event has no created time in epoch seconds (before 2100)")
    if not isinstance(event.get("livemode"), bool):
        raise MalformedEvent("event has no livemode flag")
    return event


# ---------------------------------------------------------------------------------------------
# Field helpers.





def _id(value: Any) -> str | None:
    """An id from a field that may be a string or an expanded object."""
    if isinstance(value, dict):
        return as_str(value.get("id"))
    return as_str(value)




def _invoice_subscription(inv: Mapping[str, Any]) -> str | None:
    # basil+: parent.subscription_details.subscription; before: invoice.subscription.
    sub = _id(as_dict(as_dict(inv.get("parent")).get("subscription_details")).get("subscription"))
    if sub is None:
        sub = _id(inv.get("subscription"))
    if sub is None:
        for line in as_dict(inv.get("lines")).get("data") or ():
            details = as_dict(as_dict(as_dict(line).get("parent")).get("subscription_item_details"))
            sub = _id(details.get("subscription")) or _id(as_dict(line).get("subscription"))
            if sub:
                break
    return sub


def _invoice_snapshot(inv: Mapping[str, Any], observed_at: int) -> InvoiceSnapshot:
    transitions = as_dict(inv.get("status_transitions"))
    return InvoiceSnapshot(
        invoice_id=inv["id"],
        observed_at=observed_at,
        status=as_str(inv.get("status")) or "draft",
        collection_method=as_str(inv.get("collection_method")),
        currency=as_currency(inv.get("currency")),
        total=as_int(inv.get("total")),
        amount_due=as_int(inv.get("amount_due")),
        amount_paid=as_int(inv.get("amount_paid")),
        amount_remaining=as_int(inv.get("amount_remaining")),
        due_date=as_epoch(inv.get("due_date")),
        created=as_epoch(inv.get("created")),
        attempt_count=as_int(inv.get("attempt_count")) or 0,
        next_payment_attempt=as_epoch(inv.get("next_payment_attempt")),
        billing_reason=as_str(inv.get("billing_reason")),
        subscription_id=_invoice_subscription(inv),
        paid_at=as_epoch(transitions.get("paid_at")),
        voided_at=as_epoch(transitions.get("voided_at")),
        marked_uncollectible_at=as_epoch(transitions.get("marked_uncollectible_at")),
    )


def _codes_from_error(err: Mapping[str, Any]) -> dict[str, str | None]:
    # PaymentIntent.last_payment_error: code (e.g. card_declined), decline_code, advice_code.
    return {
        "decline_code": as_str(err.get("decline_code")),
        "failure_code": as_str(err.get("code")),
        "advice_code": as_str(err.get("advice_code")),
    }


def _codes_from_charge(charge: Mapping[str, Any]) -> dict[str, str | None]:
    # A Charge has no decline_code field: the issuer's decline code (or Radar's reason, e.g.
    # highest_risk_level) is outcome.reason; failure_code is the generic code.
    outcome = as_dict(charge.get("outcome"))
    return {
        "decline_code": as_str(outcome.get("reason")),
        "failure_code": as_str(charge.get("failure_code")),
        "advice_code": as_str(outcome.get("advice_code")),
    }


# ---------------------------------------------------------------------------------------------
# Handlers: (event, data.object) -> StripeEventFacts.


def _invoice_event(event: Mapping[str, Any], inv: Mapping[str, Any]) -> StripeEventFacts:
    customer = _id(inv.get("customer"))
    created = event["created"]
    facts: list[Fact] = [_invoice_snapshot(inv, created)]
    email, name = as_str(inv.get("customer_email")), as_str(inv.get("customer_name"))
    if email or name:
        facts.append(ProfileSnapshot(created, email, name, source="invoice"))
    if event["type"] in ("invoice.payment_failed", "invoice.payment_action_required"):
        facts.append(_invoice_failure(event, inv))
    return StripeEventFacts(customer, facts, customer_email=email, customer_name=name)


def _invoice_failure(event: Mapping[str, Any], inv: Mapping[str, Any]) -> PaymentFailure:
    # Pre-basil invoices name the charge of the attempt, possibly expanded; basil ones don't.
    charge = inv.get("charge")
    charge_id = _id(charge)
    intent = inv.get("payment_intent")
    codes: dict[str, str | None] = {}
    if isinstance(intent, dict):
        codes = _codes_from_error(as_dict(intent.get("last_payment_error")))
    if isinstance(charge, dict) and not any(codes.values()):
        codes = _codes_from_charge(charge)
    return PaymentFailure(
        key=f"ch:{charge_id}" if charge_id else f"evt:{event['id']}",
        at=event["created"],
        invoice_id=inv["id"],
        charge_id=charge_id,
        payment_intent_id=_id(intent),
        action_required=event["type"] == "invoice.payment_action_required",
        amount=as_int(inv.get("amount_remaining")),
        currency=as_currency(inv.get("currency")),
        sources=frozenset({event["type"]}),
        **codes,
    )


def _charge_failed(event: Mapping[str, Any], ch: Mapping[str, Any]) -> StripeEventFacts:
    failure = PaymentFailure(
        key=f"ch:{ch['id']}",
        at=as_epoch(ch.get("created")) or event["created"],
        invoice_id=_id(ch.get("invoice")),  # pre-basil only
        charge_id=ch["id"],
        payment_intent_id=_id(ch.get("payment_intent")),
        amount=as_int(ch.get("amount")),
        currency=as_currency(ch.get("currency")),
        sources=frozenset({"charge.failed"}),
        **_codes_from_charge(ch),
    )
    return StripeEventFacts(_id(ch.get("customer")), [failure])


def _payment_intent_failed(event: Mapping[str, Any], pi: Mapping[str, Any]) -> StripeEventFacts:
    err = as_dict(pi.get("last_payment_error"))
    charge_id = _id(err.get("charge")) or _id(pi.get("latest_charge"))
    failure = PaymentFailure(
        key=f"ch:{charge_id}" if charge_id else f"evt:{event['id']}",
        at=event["created"],
        invoice_id=_id(pi.get("invoice")),  # pre-basil only
        charge_id=charge_id,
        payment_intent_id=pi["id"],
        amount=as_int(pi.get("amount")),
        currency=as_currency(pi.get("currency")),
        sources=frozenset({"payment_intent.payment_failed"}),
        **_codes_from_error(err),
    )
    return StripeEventFacts(_id(pi.get("customer")), [failure])


def _charge_refunded(event: Mapping[str, Any], ch: Mapping[str, Any]) -> StripeEventFacts:
    refund = RefundSnapshot(
        charge_id=ch["id"],
        observed_at=event["created"],
        amount_refunded=as_int(ch.get("amount_refunded")) or 0,
        currency=as_currency(ch.get("currency")),
    )
    return StripeEventFacts(_id(ch.get("customer")), [refund])


def _dispute(event: Mapping[str, Any], dp: Mapping[str, Any]) -> StripeEventFacts:
    snapshot = DisputeSnapshot(
        dispute_id=dp["id"],
        observed_at=event["created"],
        status=as_str(dp.get("status")) or "needs_response",
        charge_id=_id(dp.get("charge")),
        amount=as_int(dp.get("amount")),
        currency=as_currency(dp.get("currency")),
        reason=as_str(dp.get("reason")),
    )
    # A Dispute has no customer field; an expanded charge or payment intent would name it.
    customer = _id(as_dict(dp.get("charge")).get("customer")) or _id(
        as_dict(dp.get("payment_intent")).get("customer")
    )
    if customer:
        return StripeEventFacts(customer, [snapshot])
    return StripeEventFacts(
        None,
        [snapshot],
        lookup_charge_id=snapshot.charge_id,
        note=f"dispute {dp['id']} names no customer; read charge {snapshot.charge_id} to find it",
    )


def _subscription(event: Mapping[str, Any], sub: Mapping[str, Any]) -> StripeEventFacts:
    snapshot = SubscriptionSnapshot(
        subscription_id=sub["id"],
        observed_at=event["created"],
        status=as_str(sub.get("status")) or "active",
        collection_method=as_str(sub.get("collection_method")),
        canceled_at=as_epoch(sub.get("canceled_at")),
        ended_at=as_epoch(sub.get("ended_at")),
        cancellation_reason=as_str(as_dict(sub.get("cancellation_details")).get("reason")),
        renews_at=_period_end(sub),
    )
    return StripeEventFacts(_id(sub.get("customer")), [snapshot])


def _period_end(sub: Mapping[str, Any]) -> int | None:
    # basil+: the period lives on the items (reference/billing.md §1.2); before: on the subscription.
    ends = [as_epoch(as_dict(i).get("current_period_end")) for i in as_dict(sub.get("items")).get("data") or ()]
    ends = [e for e in ends if e]
    return min(ends) if ends else as_epoch(sub.get("current_period_end"))


def _card(event: Mapping[str, Any], obj: Mapping[str, Any], *, status: str = "valid",
          auto_updated: bool = False) -> CardSnapshot | None:
    """A PaymentMethod or Source (card inside `card`) or a legacy Card (flat) as a card fact."""
    nested = obj.get("object") in ("payment_method", "source")
    card = as_dict(obj.get("card")) if nested else obj
    if (nested and obj.get("type") != "card") or obj.get("object") not in ("payment_method",
                                                                          "source", "card"):
        return None
    return CardSnapshot(
        card_id=obj["id"],
        observed_at=event["created"],
        exp_month=as_int_between(card.get("exp_month"), 1, 12),
        exp_year=as_int_between(card.get("exp_year"), 1970, 2099),
        status=status,
        last4=as_str(card.get("last4")),
        brand=as_str(card.get("brand")),
        auto_updated_at=event["created"] if auto_updated else None,
    )


def _payment_method(event: Mapping[str, Any], pm: Mapping[str, Any]) -> StripeEventFacts:
    # No payment_method event says whether the card is the customer's default; the connector
    # treats a customer's card as its default (the common one-card B2B case).
    etype = event["type"]
    snap = _card(event, pm, status="removed" if etype == "payment_method.detached" else "valid",
                 auto_updated=etype == "payment_method.automatically_updated")
    customer = _id(pm.get("customer")) or _id(as_dict(as_dict(event.get("data")).get(
        "previous_attributes")).get("customer"))
    return StripeEventFacts(customer, [snap] if snap else [])


def _source_expiring(event: Mapping[str, Any], src: Mapping[str, Any]) -> StripeEventFacts:
    # "Occurs whenever a card or source will expire at the end of the month" (legacy Cards/Sources).
    snap = _card(event, src, status="expiring")
    return StripeEventFacts(_id(src.get("customer")), [snap] if snap else [])


def _customer(event: Mapping[str, Any], cus: Mapping[str, Any]) -> StripeEventFacts:
    email, name = as_str(cus.get("email")), as_str(cus.get("name"))
    snapshot = ProfileSnapshot(event["created"], email, name, source="customer")
    facts: list[Fact] = [snapshot]
    card = _default_card(event, cus)
    if card is not None:
        facts.append(card)
    return StripeEventFacts(cus["id"], facts, customer_email=email, customer_name=name)


def _default_card(event: Mapping[str, Any], cus: Mapping[str, Any]) -> CardSnapshot | None:
    """The customer's default card, when the customer was read with it expanded (API reads ask
    for `invoice_settings.default_payment_method` and `default_source`; events carry ids only).

    Invoices charge `invoice_settings.default_payment_method` first and fall back to the legacy
    `default_source`, so the card fact follows the same order.
    """
    for candidate in (as_dict(as_dict(cus.get("invoice_settings")).get("default_payment_method")),
                      as_dict(cus.get("default_source"))):
        if as_str(candidate.get("id")):
            return _card(event, candidate)
    return None


def _customer_deleted(event: Mapping[str, Any], cus: Mapping[str, Any]) -> StripeEventFacts:
    # No personal data is passed on for a deleted customer: it is about to be erased.
    return StripeEventFacts(cus["id"], [CustomerDeleted(at=event["created"])])


_Handler = Callable[[Mapping[str, Any], Mapping[str, Any]], StripeEventFacts]

_INVOICE_TYPES = (
    "invoice.created",
    "invoice.finalized",
    "invoice.updated",
    "invoice.sent",
    "invoice.paid",
    "invoice.payment_succeeded",
    "invoice.payment_failed",
    "invoice.payment_action_required",
    "invoice.marked_uncollectible",
    "invoice.voided",
    "invoice.deleted",
    "invoice.overdue",
    "invoice.will_be_due",
    "invoice.finalization_failed",
)
_DISPUTE_TYPES = (
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.closed",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
)
_SUBSCRIPTION_TYPES = (
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
)

HANDLERS: dict[str, _Handler] = {
    **dict.fromkeys(_INVOICE_TYPES, _invoice_event),
    "charge.failed": _charge_failed,
    "payment_intent.payment_failed": _payment_intent_failed,
    "charge.refunded": _charge_refunded,
    **dict.fromkeys(_DISPUTE_TYPES, _dispute),
    **dict.fromkeys(_SUBSCRIPTION_TYPES, _subscription),
    "customer.created": _customer,
    "customer.updated": _customer,
    "customer.deleted": _customer_deleted,
    "payment_method.attached": _payment_method,
    "payment_method.updated": _payment_method,
    "payment_method.automatically_updated": _payment_method,
    "payment_method.detached": _payment_method,
    "customer.source.expiring": _source_expiring,
}
HANDLED_EVENT_TYPES: frozenset[str] = frozenset(HANDLERS)


def facts_from_stripe_event(event: Mapping[str, Any]) -> StripeEventFacts:
    """The facts one (parsed) Stripe event tells about one customer."""
    handler = HANDLERS.get(event.get("type", ""))
    obj = as_dict(as_dict(event.get("data")).get("object"))
    if handler is None:
        return StripeEventFacts(_id(obj.get("customer")), handled=False)
    if not as_str(obj.get("id")):
        # Not raised: the shell applies stored events later, and an event that can never be
        # applied must be recorded as ignored, not retried forever.
        return StripeEventFacts(
            _id(obj.get("customer")), handled=False, note=f"{event['type']} object has no id"
        )
    return handler(event, obj)


# ---------------------------------------------------------------------------------------------
# Objects read from the API (backfill, reconcile sweeps) rather than delivered in events.

_OBJECT_EVENT_TYPES = {
    "invoice": "invoice.updated",
    "subscription": "customer.subscription.updated",
    "dispute": "charge.dispute.updated",
    "customer": "customer.updated",
}


def facts_from_stripe_object(obj: Mapping[str, Any], *, observed_at: int) -> StripeEventFacts:
    """The facts an object read from Stripe's API tells, as if an event had delivered it.

    The object is wrapped in a synthetic envelope and read by the webhook handlers, so both
    paths give the same facts. `observed_at` is when it was read: the snapshot shows the object
    as of then. A charge tells a failure (at its own `created`) or a refund, else nothing.
    """
    kind = obj.get("object")
    if kind == "charge":
        if obj.get("status") == "failed":
            event_type = "charge.failed"
        elif (as_int(obj.get("amount_refunded")) or 0) > 0:
            event_type = "charge.refunded"
        else:
            return StripeEventFacts(_id(obj.get("customer")), handled=False, note="charge needs no fact")
    else:
        event_type = _OBJECT_EVENT_TYPES.get(str(kind), "")
    envelope = {"id": f"read:{obj.get('id')}", "type": event_type, "created": observed_at,
                "data": {"object": dict(obj)}}
    return facts_from_stripe_event(envelope)
