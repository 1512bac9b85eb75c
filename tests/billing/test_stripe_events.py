import json
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from connector.billing.stripe_events import (
    HANDLED_EVENT_TYPES,
    MalformedEvent,
    facts_from_stripe_event,
    parse_stripe_event,
)
from connector.domain.billing_state import (
    CustomerDeleted,
    CustomerFacts,
    DisputeSnapshot,
    InvoiceSnapshot,
    PaymentFailure,
    ProfileSnapshot,
    RefundSnapshot,
    SubscriptionSnapshot,
    derive_state,
    merge_facts,
)
from connector.domain.fields import FailureReason, PaymentStatus
from connector.domain.state import Outcome

PAYLOADS = Path(__file__).resolve().parents[1] / "payloads" / "stripe"
CUS = "cus_Rk4hJ2x9WcN7Qa"
SUB = "sub_1QxT2aHOQNg4XnOMLw8dPq3Z"
INV = "in_1QyA0bHOQNg4XnOMTq2xYk"
TZ = ZoneInfo("Europe/London")


def raw(name: str) -> bytes:
    return (PAYLOADS / f"{name}.json").read_bytes()


def parsed(name: str):
    return facts_from_stripe_event(parse_stripe_event(raw(name)))


def of_type(facts, cls):
    return [f for f in facts if isinstance(f, cls)]


ALL = sorted(p.stem for p in PAYLOADS.glob("*.json"))


# --- the envelope ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_every_fixture_parses_and_is_handled(name):
    event = parse_stripe_event(raw(name))
    assert event["type"] in HANDLED_EVENT_TYPES
    result = facts_from_stripe_event(event)
    assert result.handled and result.facts


def _env(**over):
    base = {
        "id": "evt_1",
        "object": "event",
        "type": "invoice.paid",
        "created": 1700000000,
        "livemode": False,
        "data": {"object": {"id": "in_1", "object": "invoice"}},
    }
    base.update(over)
    return json.dumps(base).encode()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not UTF-8 text"),
        (b"[1, 2]", "not a JSON object"),
        (_env(object="invoice"), "not an event"),
        (_env(object="v2.core.event"), "thin"),
        (_env(id="in_1"), "evt_"),
        (_env(id=None), "evt_"),
        (_env(type=""), "no type"),
        (_env(data={}), "data.object"),
        (_env(data={"object": "in_1"}), "data.object"),
        (_env(created="1700000000"), "created"),
        (_env(created=True), "created"),
        (_env(livemode="false"), "livemode"),
    ],
)
def test_malformed_events(body, message):
    with pytest.raises(MalformedEvent, match=message):
        parse_stripe_event(body)
    assert issubclass(MalformedEvent, ValueError)


def test_unknown_types_are_not_handled():
    event = parse_stripe_event(
        _env(
            type="customer.tax_id.created",  # payment_method.* is handled since card pre-dunning
            data={"object": {"id": "txi_1", "customer": CUS}},
        )
    )
    result = facts_from_stripe_event(event)
    assert not result.handled and result.facts == [] and result.customer_id == CUS


@pytest.mark.parametrize("etype", ["invoice.updated", "charge.failed", "customer.updated"])
def test_object_without_id_is_not_handled(etype):
    # e.g. an invoice.upcoming-like preview: nothing to keep, and nothing to retry
    event = parse_stripe_event(_env(type=etype, data={"object": {"object": "invoice"}}))
    result = facts_from_stripe_event(event)
    assert not result.handled and result.facts == [] and "no id" in result.note


def test_brief_event_types_are_all_handled():
    assert {
        "invoice.payment_failed",
        "invoice.paid",
        "invoice.payment_succeeded",
        "invoice.payment_action_required",
        "invoice.marked_uncollectible",
        "invoice.voided",
        "invoice.finalized",
        "invoice.updated",
        "invoice.overdue",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "charge.failed",
        "payment_intent.payment_failed",
        "charge.refunded",
        "charge.dispute.created",
        "charge.dispute.closed",
        "customer.updated",
        "customer.deleted",
        "customer.created",
    } <= HANDLED_EVENT_TYPES


# --- invoices, both shapes ------------------------------------------------------------------


def test_basil_invoice_payment_failed():
    r = parsed("invoice.payment_failed")
    assert r.customer_id == CUS
    assert r.customer_email == "accounts@brightsmile-dental.co.uk"
    (snap,) = of_type(r.facts, InvoiceSnapshot)
    assert snap.invoice_id == INV and snap.status == "open"
    assert snap.subscription_id == SUB  # from parent.subscription_details
    assert (snap.currency, snap.amount_remaining, snap.attempt_count) == ("GBP", 12050, 1)
    assert snap.next_payment_attempt == 1772362800 + 3 * 86400
    assert snap.billing_reason == "subscription_cycle"
    (failure,) = of_type(r.facts, PaymentFailure)
    # basil: the invoice names no charge, so the failure is keyed by the event
    assert failure.key == "evt:" + json.loads(raw("invoice.payment_failed"))["id"]
    assert failure.invoice_id == INV and failure.charge_id is None
    assert failure.sources == {"invoice.payment_failed"}
    (profile,) = of_type(r.facts, ProfileSnapshot)
    assert profile.source == "invoice"


def test_legacy_invoice_payment_failed_names_charge_and_subscription():
    r = parsed("legacy.invoice.payment_failed")
    (snap,) = of_type(r.facts, InvoiceSnapshot)
    assert snap.subscription_id == SUB  # from invoice.subscription
    (failure,) = of_type(r.facts, PaymentFailure)
    assert failure.key == "ch:ch_3PhLAsHOQNg4XnOM1Xy9Zz"
    assert failure.payment_intent_id == "pi_3PhLAsHOQNg4XnOM1Mn8Bb"


def test_invoice_paid_and_payment_succeeded_say_the_same():
    a = of_type(parsed("invoice.paid").facts, InvoiceSnapshot)[0]
    b = of_type(parsed("invoice.payment_succeeded").facts, InvoiceSnapshot)[0]
    assert a.status == b.status == "paid"
    assert a.paid_at == b.paid_at == 1772362800 + 5 * 86400
    assert a.amount_paid == 12050 and a.amount_remaining == 0


@pytest.mark.parametrize(
    ("name", "status", "field"),
    [
        ("invoice.marked_uncollectible", "uncollectible", "marked_uncollectible_at"),
        ("invoice.voided", "void", "voided_at"),
    ],
)
def test_terminal_invoice_events(name, status, field):
    (snap,) = of_type(parsed(name).facts, InvoiceSnapshot)
    assert snap.status == status and getattr(snap, field) is not None


def test_payment_action_required_is_a_failure_needing_authentication():
    (failure,) = of_type(parsed("invoice.payment_action_required").facts, PaymentFailure)
    assert failure.action_required and failure.invoice_id == INV


def test_send_invoice_overdue_has_a_due_date_and_no_subscription():
    (snap,) = of_type(parsed("invoice.overdue").facts, InvoiceSnapshot)
    assert snap.collection_method == "send_invoice" and snap.due_date is not None
    assert snap.subscription_id is None and snap.amount_remaining == 95000
    assert not of_type(parsed("invoice.overdue").facts, PaymentFailure)


# --- charges and payment intents --------------------------------------------------------------


def test_basil_charge_failed():
    r = parsed("charge.failed")
    (f,) = r.facts
    assert r.customer_id == CUS
    assert f.key == "ch:ch_3QyA0cHOQNg4XnOM0Zk1Fq" and f.invoice_id is None
    assert (f.decline_code, f.failure_code, f.advice_code) == (
        "insufficient_funds",
        "card_declined",
        "try_again_later",
    )
    assert (f.amount, f.currency) == (12050, "GBP")


def test_basil_payment_intent_failed_shares_the_charge_key():
    (pi,) = parsed("payment_intent.payment_failed").facts
    (ch,) = parsed("charge.failed").facts
    assert pi.key == ch.key and pi.payment_intent_id == "pi_3QyA0cHOQNg4XnOM0Wd3Hs"
    assert (pi.decline_code, pi.failure_code) == ("insufficient_funds", "card_declined")


def test_legacy_charge_and_intent_name_the_invoice():
    (ch,) = parsed("legacy.charge.failed").facts
    (pi,) = parsed("legacy.payment_intent.payment_failed").facts
    assert ch.invoice_id == pi.invoice_id == "in_1PhL9rHOQNg4XnOMLg3cAa"
    assert ch.key == pi.key


def test_legacy_attempt_is_one_record_with_its_reason():
    facts = merge_facts(
        CustomerFacts(CUS),
        [
            *parsed("legacy.payment_intent.payment_failed").facts,
            *parsed("legacy.invoice.payment_failed").facts,
            *parsed("legacy.charge.failed").facts,
        ],
    )
    assert len(facts.failures) == 1
    s = derive_state(facts, now=datetime(2024, 7, 3, 12, tzinfo=UTC), tz=TZ)
    assert s.failed_payment_attempts == 1
    assert s.last_failure_reason == FailureReason.EXPIRED_CARD
    assert s.first_failed_payment_date == date(2024, 7, 1) and s.days_past_due == 2


def test_basil_attempt_joins_by_time_and_counts_once():
    names = [
        "invoice.finalized",
        "charge.failed",
        "payment_intent.payment_failed",
        "invoice.payment_failed",
        "invoice.updated",
        "customer.subscription.updated",
    ]
    facts = merge_facts(CustomerFacts(CUS), [f for n in names for f in parsed(n).facts])
    s = derive_state(facts, now=datetime(2026, 3, 3, 12, tzinfo=UTC), tz=TZ)
    assert s.payment_status == PaymentStatus.PAST_DUE
    assert s.failed_payment_attempts == 1
    assert s.last_failure_reason == FailureReason.INSUFFICIENT_FUNDS
    assert s.days_past_due == 2 and s.next_payment_retry_date == date(2026, 3, 4)


def test_charge_refunded():
    r = parsed("charge.refunded")
    (refund,) = r.facts
    assert isinstance(refund, RefundSnapshot)
    assert (refund.amount_refunded, refund.currency, r.customer_id) == (3000, "GBP", CUS)


# --- disputes -------------------------------------------------------------------------------


def test_dispute_names_no_customer_so_the_charge_is_to_be_read():
    r = parsed("charge.dispute.created")
    assert r.handled and r.customer_id is None
    assert r.lookup_charge_id == "ch_3QyA1cHOQNg4XnOM1a9Bcd"
    assert "ch_3QyA1cHOQNg4XnOM1a9Bcd" in r.note
    (d,) = r.facts
    assert isinstance(d, DisputeSnapshot) and d.status == "needs_response"


def test_dispute_with_expanded_charge_names_the_customer():
    event = json.loads(raw("charge.dispute.created"))
    event["data"]["object"]["charge"] = {
        "id": "ch_3QyA1cHOQNg4XnOM1a9Bcd",
        "object": "charge",
        "customer": CUS,
    }
    r = facts_from_stripe_event(event)
    assert r.customer_id == CUS and r.lookup_charge_id is None


def test_dispute_closed_after_created_in_any_order():
    created, closed = parsed("charge.dispute.created").facts, parsed("charge.dispute.closed").facts
    for order in (created + closed, closed + created):
        facts = merge_facts(CustomerFacts(CUS), order)
        assert derive_state(facts, now=datetime(2026, 4, 5, tzinfo=UTC), tz=TZ).open_disputes == 0
    assert (
        derive_state(
            merge_facts(CustomerFacts(CUS), created), now=datetime(2026, 4, 5, tzinfo=UTC), tz=TZ
        ).open_disputes
        == 1
    )


# --- subscriptions and customers ------------------------------------------------------------


def test_subscription_updated_and_deleted():
    (upd,) = parsed("customer.subscription.updated").facts
    assert isinstance(upd, SubscriptionSnapshot) and upd.status == "past_due"
    (dele,) = parsed("customer.subscription.deleted").facts
    assert dele.status == "canceled" and dele.cancellation_reason == "payment_failed"
    assert dele.canceled_at is not None


def test_customer_events():
    created = parsed("customer.created")
    assert (created.customer_id, created.customer_email) == (
        CUS,
        "dr.patel@brightsmile-dental.co.uk",
    )
    updated = parsed("customer.updated")
    assert updated.customer_name == "Bright Smile Dental Practice"
    deleted = parsed("customer.deleted")
    assert deleted.customer_id == CUS and deleted.customer_email is None
    assert isinstance(deleted.facts[0], CustomerDeleted)


def test_full_history_from_fixtures_canceled_for_non_payment():
    names = [
        "customer.created",
        "customer.updated",
        "invoice.finalized",
        "charge.failed",
        "payment_intent.payment_failed",
        "invoice.payment_failed",
        "invoice.updated",
        "customer.subscription.updated",
        "customer.subscription.deleted",
    ]
    facts = merge_facts(CustomerFacts(CUS), [f for n in reversed(names) for f in parsed(n).facts])
    s = derive_state(facts, now=datetime(2026, 4, 1, tzinfo=UTC), tz=TZ)
    assert s.payment_status == PaymentStatus.CANCELED
    assert s.episodes[-1].outcome == Outcome.CANCELED
    assert s.outstanding_minor == 12050 and s.email == "accounts@brightsmile-dental.co.uk"
    after = merge_facts(facts, parsed("customer.deleted").facts)
    s2 = derive_state(after, now=datetime(2026, 5, 1, tzinfo=UTC), tz=TZ)
    assert s2.deleted and s2.email is None and s2.name is None
