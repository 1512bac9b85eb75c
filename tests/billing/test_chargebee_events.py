"""Chargebee v2 events (tests/payloads/chargebee, the envelope of reference/billing.md §5.3) ->
billing facts -> the same PRODUCT.md §4 state as Stripe's."""

import copy
import itertools
import json
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from connector.billing.chargebee_events import (
    MalformedChargebeeEvent,
    facts_from_chargebee_event,
    parse_chargebee_event,
)
from connector.domain.billing_facts import (
    CardSnapshot,
    CustomerDeleted,
    CustomerFacts,
    InvoiceSnapshot,
    PaymentFailure,
    ProfileSnapshot,
    RefundSnapshot,
    SubscriptionSnapshot,
    merge_facts,
)
from connector.domain.billing_state import derive_state
from connector.domain.fields import FailureReason, PaymentStatus
from connector.domain.state import CollectionMethod, Outcome

from factories import load_payload

TZ = ZoneInfo("Europe/London")
NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
CUS = "AzZTZgUYnOq8D1Eh"


def cb(name: str) -> dict:
    return copy.deepcopy(load_payload(f"chargebee/{name}.json"))


def state_of(*events: dict, now: datetime = NOW):
    facts = CustomerFacts(CUS, provider="chargebee")
    for ev in events:
        parsed = facts_from_chargebee_event(ev)
        assert parsed.customer_id == CUS
        facts = merge_facts(facts, parsed.facts)
    return derive_state(facts, now=now, tz=TZ)


def of_type(facts, kind):
    return [f for f in facts if isinstance(f, kind)]


# --- the envelope ------------------------------------------------------------------------------


def test_parses_a_real_shaped_event():
    event = parse_chargebee_event(json.dumps(cb("payment_failed")).encode())
    assert event["event_type"] == "payment_failed"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not valid JSON"),
        (b"[1]", "not a JSON object"),
        (json.dumps({**cb("payment_failed"), "id": ""}).encode(), "no id"),
        (json.dumps({**cb("payment_failed"), "event_type": None}).encode(), "no event_type"),
        (json.dumps({**cb("payment_failed"), "occurred_at": "yesterday"}).encode(), "occurred_at"),
        (json.dumps({**cb("payment_failed"), "content": []}).encode(), "no content"),
        (json.dumps({**cb("payment_failed"), "api_version": "v1"}).encode(), "set the webhook to v2"),
    ],
)
def test_refuses_malformed_bodies(body, message):
    with pytest.raises(MalformedChargebeeEvent, match=message):
        parse_chargebee_event(body)


def test_unknown_types_are_recorded_as_not_handled():
    event = cb("invoice_generated")
    event["event_type"] = "quote_created"
    parsed = facts_from_chargebee_event(event)
    assert parsed.handled is False and parsed.facts == []


# --- mapping -----------------------------------------------------------------------------------


def test_payment_failed_maps_invoice_failure_subscription_card_and_profile():
    parsed = facts_from_chargebee_event(cb("payment_failed"))
    (inv,) = of_type(parsed.facts, InvoiceSnapshot)
    assert (inv.invoice_id, inv.status, inv.collection_method) == ("1042", "open", "charge_automatically")
    assert (inv.currency, inv.total, inv.amount_remaining, inv.attempt_count) == ("USD", 24900, 24900, 1)
    assert inv.resource_version == cb("payment_failed")["content"]["invoice"]["resource_version"]
    (failure,) = of_type(parsed.facts, PaymentFailure)
    assert failure.key == "txn:txn_AzZTZgUYnOqG41Em"
    assert (failure.invoice_id, failure.decline_code, failure.failure_code) == (
        "1042", "insufficient_funds", "card_declined")
    (sub,) = of_type(parsed.facts, SubscriptionSnapshot)
    assert sub.status == "active" and sub.renews_at is not None
    (card,) = of_type(parsed.facts, CardSnapshot)
    assert (card.card_id, card.exp_month, card.exp_year, card.is_default) == (
        "pm_AzZTZgUYnOq5Y1Eg", 12, 2026, True)
    (profile,) = of_type(parsed.facts, ProfileSnapshot)
    assert (profile.email, profile.name) == ("billing@brightsmile-dental.example", "BrightSmile Dental")


def test_payment_failed_without_a_transaction_still_counts_an_attempt():
    event = cb("payment_failed")
    del event["content"]["transaction"]
    (failure,) = of_type(facts_from_chargebee_event(event).facts, PaymentFailure)
    assert failure.key == f"evt:{event['id']}" and failure.invoice_id == "1042"


def test_subscription_cancelled_for_not_paid_is_cancellation_for_non_payment():
    (sub,) = of_type(facts_from_chargebee_event(cb("subscription_cancelled")).facts, SubscriptionSnapshot)
    assert (sub.status, sub.cancellation_reason) == ("canceled", "payment_failed")


def test_other_cancel_reasons_are_kept_as_they_are():
    event = cb("subscription_cancelled")
    event["content"]["subscription"]["cancel_reason"] = "no_card"
    (sub,) = of_type(facts_from_chargebee_event(event).facts, SubscriptionSnapshot)
    assert sub.cancellation_reason == "no_card"


def test_paused_and_resumed():
    (paused,) = of_type(facts_from_chargebee_event(cb("subscription_paused")).facts, SubscriptionSnapshot)
    (resumed,) = of_type(facts_from_chargebee_event(cb("subscription_resumed")).facts, SubscriptionSnapshot)
    assert (paused.status, resumed.status) == ("paused", "active")


def test_payment_refunded_is_a_refund_of_the_original_transaction():
    (refund,) = of_type(facts_from_chargebee_event(cb("payment_refunded")).facts, RefundSnapshot)
    assert (refund.charge_id, refund.amount_refunded, refund.currency) == (
        "txn_AzZTZgUYnOqP61Eu", 5000, "USD")


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("card_expiry_reminder", "expiring"),
        ("payment_source_expiring", "expiring"),
        ("card_expired", "expired"),
        ("payment_source_expired", "expired"),
    ],
)
def test_card_events(name, status):
    (card,) = of_type(facts_from_chargebee_event(cb(name)).facts, CardSnapshot)
    assert (card.card_id, card.status, card.exp_month, card.exp_year, card.last4) == (
        "pm_AzZTZgUYnOq5Y1Eg", status, 12, 2026, "4242")


def test_customer_deleted_passes_on_no_personal_data():
    parsed = facts_from_chargebee_event(cb("customer_deleted"))
    assert parsed.customer_id == CUS
    assert [type(f) for f in parsed.facts] == [CustomerDeleted]
    assert parsed.customer_email is None


def test_offline_invoice_not_paid_without_dunning_is_simply_owed():
    event = cb("invoice_generated")
    event["content"]["invoice"].update(status="not_paid")
    event["content"]["customer"] = {"id": CUS, "auto_collection": "off"}
    (inv,) = of_type(facts_from_chargebee_event(event).facts, InvoiceSnapshot)
    assert (inv.status, inv.collection_method) == ("open", "send_invoice")


# --- the §4 state, same rules as Stripe --------------------------------------------------------


def test_a_failed_payment_opens_an_episode():
    state = state_of(cb("invoice_generated"), cb("payment_failed"))
    assert state.payment_status == PaymentStatus.PAST_DUE
    assert state.first_failed_payment_date == date(2026, 11, 28)
    assert state.days_past_due == 5
    assert state.failed_payment_attempts == 1
    assert state.last_failure_reason == FailureReason.INSUFFICIENT_FUNDS
    assert (state.outstanding_minor, state.currency, state.currency_exponent) == (24900, "USD", 2)
    assert state.current_episode.collection_method == CollectionMethod.CHARGE_AUTOMATICALLY


def test_exhausted_dunning_with_the_invoice_unpaid_is_uncollectible():
    state = state_of(cb("payment_failed"), cb("dunning_updated"), cb("payment_failed_exhausted"))
    assert state.payment_status == PaymentStatus.UNCOLLECTIBLE
    assert state.failed_payment_attempts == 0 and not state.in_episode
    assert state.episodes[-1].outcome == Outcome.UNCOLLECTIBLE
    assert state.outstanding_minor == 24900


def test_exhausted_then_paid_is_recovered():
    paid = cb("payment_succeeded")
    # Paid after exhaustion: a newer version of the invoice.
    paid["content"]["invoice"]["resource_version"] = (
        cb("payment_failed_exhausted")["content"]["invoice"]["resource_version"] + 1000)
    state = state_of(cb("payment_failed"), cb("payment_failed_exhausted"), paid)
    assert state.payment_status == PaymentStatus.CURRENT
    assert state.episodes[-1].outcome == Outcome.RECOVERED


def test_exhausted_then_written_off_ends_the_episode_written_off():
    state = state_of(cb("payment_failed"), cb("payment_failed_exhausted"), cb("invoice_updated"))
    assert state.payment_status == PaymentStatus.CURRENT
    assert state.outstanding_minor == 0
    assert state.episodes[-1].outcome == Outcome.WRITTEN_OFF


def test_exhausted_then_voided_ends_the_episode_written_off():
    voided = cb("invoice_updated")
    voided["content"]["invoice"].update(status="voided", write_off_amount=0, voided_at=voided["occurred_at"])
    state = state_of(cb("payment_failed"), cb("payment_failed_exhausted"), voided)
    assert state.episodes[-1].outcome == Outcome.WRITTEN_OFF


def test_subscription_cancelled_for_non_payment_is_canceled():
    state = state_of(cb("payment_failed"), cb("payment_failed_exhausted"), cb("subscription_cancelled"))
    assert state.payment_status == PaymentStatus.CANCELED
    assert state.episodes[-1].outcome == Outcome.CANCELED


def test_every_delivery_order_gives_the_same_state():
    events = [cb("payment_failed"), cb("dunning_updated"), cb("payment_failed_exhausted"),
              cb("subscription_cancelled")]
    states = {state_of(*order) for order in itertools.permutations(events)}
    assert len(states) == 1


def test_an_older_version_never_overwrites_a_newer_one():
    paid = cb("payment_succeeded")  # invoice version: Dec 2
    late_retry = cb("dunning_updated")  # invoice version: Dec 1, delivered late
    assert (late_retry["content"]["invoice"]["resource_version"]
            < paid["content"]["invoice"]["resource_version"])
    for order in ((paid, late_retry), (late_retry, paid)):
        state = state_of(cb("payment_failed"), *order)
        assert state.payment_status == PaymentStatus.CURRENT


def test_resource_version_outranks_the_status_lattice():
    """A paid invoice whose payment was reversed (Chargebee payment_reversal) is owed again: the
    newer version wins although `paid` ranks above `open` for Stripe's versionless snapshots."""
    paid = cb("payment_succeeded")
    reopened = cb("payment_failed_exhausted")
    reopened["content"]["invoice"]["resource_version"] = (
        paid["content"]["invoice"]["resource_version"] + 86_400_000)
    for order in ((paid, reopened), (reopened, paid)):
        state = state_of(cb("payment_failed"), *order)
        assert state.payment_status == PaymentStatus.UNCOLLECTIBLE


def test_chargebee_amounts_use_chargebee_exponents():
    kwd = cb("payment_failed")
    kwd["content"]["invoice"]["currency_code"] = "KWD"  # 3 decimals at Stripe, 2 at Chargebee
    assert state_of(kwd).currency_exponent == 2
    jpy = cb("payment_failed")
    jpy["content"]["invoice"]["currency_code"] = "JPY"
    assert state_of(jpy).currency_exponent == 0


def test_chargebee_gateway_codes_are_normalised():
    braintree = cb("payment_failed")
    txn = braintree["content"]["transaction"]
    txn.update(gateway="braintree", error_code="2004", error_text="Expired Card")
    txn["error_detail"] = {"error_code": "2004", "error_message": "Expired Card"}
    assert state_of(braintree).last_failure_reason == FailureReason.EXPIRED_CARD
