"""PRODUCT.md §4 rules, one by one, on facts built directly (Stripe parsing is tested apart)."""

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.domain.billing_state import (
    ATTEMPT_JOIN_WINDOW_S,
    CustomerDeleted,
    CustomerFacts,
    DisputeSnapshot,
    InvoiceSnapshot,
    PaymentFailure,
    ProfileSnapshot,
    SubscriptionSnapshot,
    derive_state,
    erase_personal_data,
    merge_facts,
)
from connector.domain.fields import FailureReason, PaymentStatus
from connector.domain.state import CollectionMethod, Outcome

TZ = ZoneInfo("Europe/London")
CUS = "cus_Rk4hJ2x9WcN7Qa"
SUB = "sub_1QxT2aHOQNg4XnOMLw8dPq3Z"
DAY = 86400


def ts(y, m, d, hh=10, mm=0) -> int:
    return int(datetime(y, m, d, hh, mm, tzinfo=UTC).timestamp())


def at(y, m, d, hh=12) -> datetime:
    return datetime(y, m, d, hh, tzinfo=UTC)


def inv(
    invoice_id="in_A",
    status="open",
    *,
    observed,
    created=None,
    amount=12050,
    remaining=None,
    paid=None,
    currency="GBP",
    method="charge_automatically",
    due=None,
    next_attempt=None,
    attempts=0,
    reason="subscription_cycle",
    sub=SUB,
    paid_at=None,
    voided_at=None,
    uncollectible_at=None,
):
    if remaining is None:
        remaining = 0 if status in ("paid", "void") else amount
    if paid is None:
        paid = amount if status == "paid" else 0
    return InvoiceSnapshot(
        invoice_id=invoice_id,
        observed_at=observed,
        status=status,
        collection_method=method,
        currency=currency,
        total=amount,
        amount_due=amount,
        amount_paid=paid,
        amount_remaining=remaining,
        due_date=due,
        created=created if created is not None else observed,
        attempt_count=attempts,
        next_payment_attempt=next_attempt,
        billing_reason=reason,
        subscription_id=sub,
        paid_at=paid_at,
        voided_at=voided_at,
        marked_uncollectible_at=uncollectible_at,
    )


def failed(
    invoice_id,
    when,
    *,
    key=None,
    decline="insufficient_funds",
    code="card_declined",
    advice=None,
    charge=None,
    source="charge.failed",
    action_required=False,
):
    return PaymentFailure(
        key=key or (f"ch:{charge}" if charge else f"evt:{invoice_id}:{when}:{source}"),
        at=when,
        invoice_id=invoice_id,
        charge_id=charge,
        decline_code=decline,
        failure_code=code,
        advice_code=advice,
        action_required=action_required,
        sources=frozenset({source}),
    )


def sub(status, observed, *, canceled_at=None, reason=None, sub_id=SUB):
    return SubscriptionSnapshot(
        subscription_id=sub_id,
        observed_at=observed,
        status=status,
        collection_method="charge_automatically",
        canceled_at=canceled_at,
        ended_at=canceled_at,
        cancellation_reason=reason,
    )


def state(facts_list, now, tz=TZ):
    facts = merge_facts(CustomerFacts(CUS), facts_list)
    return derive_state(facts, now=now, tz=tz)


T1 = ts(2026, 3, 1, 11)  # first automatic attempt of the March invoice fails


def march_failure(**kw):
    return [
        inv(observed=T1, created=T1 - 3600, attempts=1, next_attempt=T1 + 3 * DAY, **kw),
        failed("in_A", T1, charge="ch_1"),
    ]


# --- episode start, days past due, attempts -------------------------------------------------


def test_first_failed_automatic_attempt_starts_an_episode():
    s = state(march_failure(), at(2026, 3, 1, 18))
    assert s.payment_status == PaymentStatus.PAST_DUE
    assert s.in_episode
    assert s.first_failed_payment_date == date(2026, 3, 1)
    assert s.days_past_due == 0  # 0 on the day of the first failed attempt
    assert s.failed_payment_attempts == 1
    assert s.last_failure_reason == FailureReason.INSUFFICIENT_FUNDS
    assert s.episode_failure_reason == FailureReason.INSUFFICIENT_FUNDS
    assert s.next_payment_retry_date == date(2026, 3, 4)
    assert s.retry_scheduled
    assert s.outstanding_minor == 12050 and s.currency == "GBP" and s.currency_exponent == 2
    assert s.current_episode.collection_method == CollectionMethod.CHARGE_AUTOMATICALLY
    assert s.current_episode.invoice_ids == ("in_A",)
    assert s.late_payments_12m == 1


@pytest.mark.parametrize(
    ("now", "days"),
    [(at(2026, 3, 1, 23), 0), (at(2026, 3, 2, 0), 1), (at(2026, 3, 17), 16)],
)
def test_days_past_due_counts_calendar_days(now, days):
    assert state(march_failure(), now).days_past_due == days


def test_dates_are_calendar_dates_in_the_installation_time_zone():
    late = ts(2026, 3, 1, 23, 30)  # 23:30 UTC is already 2 March in Berlin
    facts = [inv(observed=late, attempts=1), failed("in_A", late, charge="ch_1")]
    assert state(
        facts, at(2026, 3, 2, 12), ZoneInfo("Europe/Berlin")
    ).first_failed_payment_date == date(2026, 3, 2)
    assert state(facts, at(2026, 3, 2, 12), ZoneInfo("UTC")).first_failed_payment_date == date(
        2026, 3, 1
    )
    assert state(facts, at(2026, 3, 2, 12), ZoneInfo("UTC")).days_past_due == 1
    assert state(facts, at(2026, 3, 2, 12), ZoneInfo("Europe/Berlin")).days_past_due == 0


def test_each_retry_counts_once_and_the_last_reason_wins():
    facts = march_failure() + [
        failed("in_A", T1 + 3 * DAY, charge="ch_2", decline="expired_card", code="expired_card"),
        inv(observed=T1 + 3 * DAY, created=T1 - 3600, attempts=2, next_attempt=None),
    ]
    s = state(facts, at(2026, 3, 5))
    assert s.failed_payment_attempts == 2
    assert s.last_failure_reason == FailureReason.EXPIRED_CARD
    assert s.next_payment_retry_date is None and not s.retry_scheduled


def test_one_failed_charge_described_by_three_events_counts_once_basil():
    # basil: invoice.payment_failed names no charge; charge.failed / PI name no invoice.
    facts = [
        inv(observed=T1 + 2, created=T1 - 3600, attempts=1),
        failed(
            "in_A", T1 + 2, key="evt:1", decline=None, code=None, source="invoice.payment_failed"
        ),
        PaymentFailure(
            key="ch:ch_1",
            at=T1,
            charge_id="ch_1",
            decline_code="expired_card",
            failure_code="expired_card",
            sources=frozenset({"charge.failed"}),
        ),
        PaymentFailure(
            key="ch:ch_1",
            at=T1 + 1,
            charge_id="ch_1",
            payment_intent_id="pi_1",
            failure_code="expired_card",
            sources=frozenset({"payment_intent.payment_failed"}),
        ),
    ]
    s = state(facts, at(2026, 3, 2))
    assert s.failed_payment_attempts == 1
    assert s.last_failure_reason == FailureReason.EXPIRED_CARD


def test_two_quick_attempts_on_one_invoice_stay_two_and_each_gets_its_own_charge():
    # basil: the customer retries by hand two minutes later; nothing names a charge on the
    # invoice events, so the time join must not fold the second attempt into the first.
    facts = [
        inv(observed=T1 + 121, created=T1 - 3600, attempts=1),
        failed(
            "in_A", T1 + 1, key="evt:1", decline=None, code=None, source="invoice.payment_failed"
        ),
        failed(
            "in_A", T1 + 121, key="evt:2", decline=None, code=None, source="invoice.payment_failed"
        ),
        PaymentFailure(
            key="ch:ch_1",
            at=T1,
            charge_id="ch_1",
            decline_code="insufficient_funds",
            sources=frozenset({"charge.failed"}),
        ),
        PaymentFailure(
            key="ch:ch_2",
            at=T1 + 120,
            charge_id="ch_2",
            decline_code="expired_card",
            sources=frozenset({"charge.failed"}),
        ),
    ]
    s = state(facts, at(2026, 3, 2))
    assert s.failed_payment_attempts == 2
    assert s.last_failure_reason == FailureReason.EXPIRED_CARD


def test_charge_failure_outside_the_join_window_is_not_an_invoice_attempt():
    facts = [
        inv(observed=T1, created=T1 - 3600, attempts=1),
        failed("in_A", T1, key="evt:1", decline=None, code=None, source="invoice.payment_failed"),
        PaymentFailure(
            key="ch:ch_9",
            at=T1 + ATTEMPT_JOIN_WINDOW_S + 1,
            charge_id="ch_9",
            decline_code="lost_card",
            sources=frozenset({"charge.failed"}),
        ),
    ]
    s = state(facts, at(2026, 3, 2))
    assert s.failed_payment_attempts == 1
    assert s.last_failure_reason is None  # the invoice attempt's charge event never arrived


def test_a_one_off_charge_failure_starts_no_episode():
    facts = [
        PaymentFailure(
            key="ch:ch_9",
            at=T1,
            charge_id="ch_9",
            decline_code="generic_decline",
            sources=frozenset({"charge.failed"}),
        )
    ]
    s = state(facts, at(2026, 3, 2))
    assert not s.in_episode and s.payment_status == PaymentStatus.CURRENT
    assert s.failed_payment_attempts == 0 and s.late_payments_12m == 0


def test_payment_action_required_and_payment_failed_of_one_attempt_count_once():
    facts = [
        inv(observed=T1 + 1, created=T1 - 3600, attempts=1),
        failed("in_A", T1, key="evt:1", decline=None, code=None, source="invoice.payment_failed"),
        failed(
            "in_A",
            T1 + 1,
            key="evt:2",
            decline=None,
            code=None,
            source="invoice.payment_action_required",
            action_required=True,
        ),
    ]
    s = state(facts, at(2026, 3, 2))
    assert s.failed_payment_attempts == 1
    assert s.last_failure_reason == FailureReason.AUTHENTICATION_REQUIRED


def test_a_late_payment_failed_never_undoes_a_newer_paid():
    paid = inv(
        status="paid", observed=T1 + 2 * DAY, created=T1 - 3600, attempts=2, paid_at=T1 + 2 * DAY
    )
    failure_snapshot = inv(observed=T1, created=T1 - 3600, attempts=1, next_attempt=T1 + DAY)
    for order in ([paid, failure_snapshot], [failure_snapshot, paid]):
        s = state([*order, failed("in_A", T1, charge="ch_1")], at(2026, 3, 10))
        assert s.payment_status == PaymentStatus.CURRENT
        assert s.episodes[-1].outcome == Outcome.RECOVERED


# --- outcomes ---------------------------------------------------------------------------------


def test_recovered_episode_clears_the_episode_fields_and_keeps_the_reason():
    facts = march_failure() + [
        inv(
            status="paid",
            observed=T1 + 4 * DAY,
            created=T1 - 3600,
            attempts=2,
            paid_at=T1 + 4 * DAY,
        ),
    ]
    s = state(facts, at(2026, 3, 8))
    assert s.payment_status == PaymentStatus.CURRENT
    assert not s.in_episode and s.current_episode is None
    assert s.days_past_due == 0
    assert s.first_failed_payment_date is None
    assert s.failed_payment_attempts == 0
    assert s.next_payment_retry_date is None and not s.retry_scheduled
    assert s.outstanding_minor == 0
    assert s.last_failure_reason == FailureReason.INSUFFICIENT_FUNDS  # history
    assert s.episode_failure_reason is None
    assert s.last_successful_payment_date == date(2026, 3, 5)
    (ep,) = s.episodes
    assert (ep.start, ep.end, ep.outcome) == (date(2026, 3, 1), date(2026, 3, 5), Outcome.RECOVERED)
    assert s.late_payments_12m == 1


UNCOLLECTIBLE = inv(
    status="uncollectible",
    observed=T1 + 14 * DAY,
    created=T1 - 3600,
    attempts=4,
    uncollectible_at=T1 + 14 * DAY,
)
CANCELED_SUB = sub("canceled", T1 + 15 * DAY, canceled_at=T1 + 15 * DAY, reason="payment_failed")
VOIDED = inv(
    status="void",
    observed=T1 + 20 * DAY,
    created=T1 - 3600,
    attempts=4,
    uncollectible_at=T1 + 14 * DAY,
    voided_at=T1 + 20 * DAY,
)
PAID_LATE = inv(
    status="paid",
    observed=T1 + 30 * DAY,
    created=T1 - 3600,
    attempts=4,
    uncollectible_at=T1 + 14 * DAY,
    paid_at=T1 + 30 * DAY,
)
CREDITED = inv(
    status="paid", observed=T1 + 20 * DAY, created=T1 - 3600, paid=0, paid_at=T1 + 20 * DAY
)


@pytest.mark.parametrize(
    ("extra", "outcome", "status", "owed"),
    [
        ([UNCOLLECTIBLE], Outcome.UNCOLLECTIBLE, PaymentStatus.UNCOLLECTIBLE, 12050),
        ([CANCELED_SUB], Outcome.CANCELED, PaymentStatus.CANCELED, 12050),
        # Stripe marks uncollectible *and* cancels, in either order: canceled wins
        ([UNCOLLECTIBLE, CANCELED_SUB], Outcome.CANCELED, PaymentStatus.CANCELED, 12050),
        ([CANCELED_SUB, UNCOLLECTIBLE], Outcome.CANCELED, PaymentStatus.CANCELED, 12050),
        ([UNCOLLECTIBLE, VOIDED], Outcome.WRITTEN_OFF, PaymentStatus.CURRENT, 0),
        ([UNCOLLECTIBLE, CANCELED_SUB, VOIDED], Outcome.WRITTEN_OFF, PaymentStatus.CURRENT, 0),
        ([UNCOLLECTIBLE, CANCELED_SUB, PAID_LATE], Outcome.RECOVERED, PaymentStatus.CURRENT, 0),
        ([UNCOLLECTIBLE, PAID_LATE], Outcome.RECOVERED, PaymentStatus.CURRENT, 0),
        ([CREDITED], Outcome.WRITTEN_OFF, PaymentStatus.CURRENT, 0),
        ([sub("unpaid", T1 + 15 * DAY)], Outcome.UNCOLLECTIBLE, PaymentStatus.UNCOLLECTIBLE, 12050),
    ],
)
def test_outcomes_by_precedence(extra, outcome, status, owed):
    s = state(march_failure() + extra, at(2026, 4, 15))
    (ep,) = s.episodes
    assert ep.outcome == outcome
    assert ep.end is not None and ep.end <= date(2026, 3, 31)
    assert s.payment_status == status
    assert s.outstanding_minor == owed
    assert not s.in_episode and s.days_past_due == 0 and s.failed_payment_attempts == 0
    assert s.first_failed_payment_date is None


def test_voluntary_cancellation_is_not_an_outcome():
    s = state(
        march_failure()
        + [sub("canceled", T1 + DAY, canceled_at=T1 + DAY, reason="cancellation_requested")],
        at(2026, 3, 5),
    )
    assert s.in_episode and s.payment_status == PaymentStatus.PAST_DUE


def test_a_later_failure_starts_a_new_episode():
    april = ts(2026, 4, 1, 11)
    facts = march_failure() + [
        inv(status="paid", observed=T1 + DAY, created=T1 - 3600, paid_at=T1 + DAY),
        inv("in_B", observed=april, created=april - 3600, attempts=1),
        failed("in_B", april, charge="ch_b"),
    ]
    s = state(facts, at(2026, 4, 3))
    assert [e.outcome for e in s.episodes] == [Outcome.RECOVERED, None]
    assert s.first_failed_payment_date == date(2026, 4, 1)
    assert s.days_past_due == 2 and s.failed_payment_attempts == 1
    assert s.late_payments_12m == 2 and s.earlier_episodes_12m == 1


def test_a_second_invoice_failing_during_an_open_episode_joins_it():
    april = ts(2026, 4, 1, 11)
    facts = march_failure() + [
        inv("in_B", observed=april, created=april - 3600, attempts=1, next_attempt=april + DAY),
        failed("in_B", april, charge="ch_b", decline="do_not_honor"),
    ]
    s = state(facts, at(2026, 4, 3))
    assert len(s.episodes) == 1
    assert s.current_episode.invoice_ids == ("in_A", "in_B")
    assert s.days_past_due == 33 and s.failed_payment_attempts == 2
    assert s.outstanding_minor == 24100
    assert s.episode_failure_reason == FailureReason.CARD_DECLINED
    assert s.next_payment_retry_date == date(2026, 3, 4)  # the earliest scheduled retry


# --- send_invoice: a clock, not an event ------------------------------------------------------

DUE = ts(2026, 3, 14, 10)


def send_invoice(**kw):
    return inv(
        "in_S",
        method="send_invoice",
        due=DUE,
        observed=ts(2026, 2, 12),
        amount=95000,
        **{"reason": "manual", "sub": None, **kw},
    )


@pytest.mark.parametrize(
    ("now", "in_episode", "days"),
    [
        (at(2026, 3, 10), False, 0),
        (at(2026, 3, 14, 23), False, 0),
        (at(2026, 3, 15, 0), True, 1),
        (at(2026, 3, 20), True, 6),
    ],
)
def test_send_invoice_passing_its_due_date_starts_an_episode(now, in_episode, days):
    s = state([send_invoice()], now)
    assert s.in_episode is in_episode
    assert s.days_past_due == days
    if in_episode:
        assert s.first_failed_payment_date == date(2026, 3, 14)  # the due date
        assert s.current_episode.collection_method == CollectionMethod.SEND_INVOICE
        assert s.failed_payment_attempts == 0
        assert s.episode_failure_reason is None and s.last_failure_reason is None
        assert not s.retry_scheduled


def test_send_invoice_paid_by_its_due_date_starts_nothing():
    s = state([send_invoice(status="paid", paid_at=DUE - DAY)], at(2026, 3, 20))
    assert s.episodes == () and s.payment_status == PaymentStatus.CURRENT


def test_send_invoice_paid_after_its_due_date_was_a_recovered_episode():
    s = state([send_invoice(status="paid", paid_at=DUE + 3 * DAY)], at(2026, 3, 20))
    (ep,) = s.episodes
    assert (ep.start, ep.end, ep.outcome) == (
        date(2026, 3, 14),
        date(2026, 3, 17),
        Outcome.RECOVERED,
    )
    assert s.late_payments_12m == 1 and s.payment_status == PaymentStatus.CURRENT


def test_the_unpaid_first_invoice_of_a_send_invoice_subscription_starts_an_episode():
    # Only an automatic charge leaves a new subscription incomplete; invoice billing is active at
    # once, so its first invoice unpaid past due is an episode (it was skipped as "incomplete").
    s = state([send_invoice(reason="subscription_create")], at(2026, 3, 17))
    assert s.in_episode and s.days_past_due == 3
    assert s.payment_status == PaymentStatus.PAST_DUE


# --- incomplete first invoices --------------------------------------------------------------


def test_failed_first_invoice_of_a_new_subscription_starts_no_episode():
    facts = [
        inv(observed=T1, attempts=1, reason="subscription_create"),
        failed("in_A", T1, charge="ch_1"),
        sub("incomplete", T1),
    ]
    s = state(facts, at(2026, 3, 2))
    assert s.episodes == () and s.payment_status == PaymentStatus.CURRENT
    assert s.failed_payment_attempts == 0 and s.late_payments_12m == 0


def test_invoice_of_an_incomplete_subscription_starts_no_episode_even_without_billing_reason():
    facts = [
        inv(observed=T1, attempts=1, reason=None),
        failed("in_A", T1, charge="ch_1"),
        sub("incomplete_expired", T1 + DAY),
    ]
    assert state(facts, at(2026, 3, 2)).episodes == ()


# --- 12 months, medians, money --------------------------------------------------------------


@pytest.mark.parametrize(("days_ago", "counted"), [(0, 1), (364, 1), (365, 0), (400, 0)])
def test_late_payments_12m_window(days_ago, counted):
    start = ts(2026, 3, 1, 11)
    facts = [
        inv(status="paid", observed=start + DAY, created=start - 3600, paid_at=start + DAY),
        failed("in_A", start, charge="ch_1"),
    ]
    now = datetime(2026, 3, 1, 15, tzinfo=UTC) + timedelta(days=days_ago)
    assert state(facts, now).late_payments_12m == counted


def test_median_invoice_total_over_365_days_in_the_outstanding_currency():
    now = at(2026, 6, 1)
    facts = [
        inv("in_1", "paid", observed=ts(2026, 1, 1), amount=10000, paid_at=ts(2026, 1, 1)),
        inv("in_2", "paid", observed=ts(2026, 2, 1), amount=20000, paid_at=ts(2026, 2, 1)),
        inv("in_3", "paid", observed=ts(2026, 3, 1), amount=30001, paid_at=ts(2026, 3, 1)),
        inv("in_4", "open", observed=ts(2026, 5, 1), amount=40000),
        inv("in_old", "paid", observed=ts(2025, 5, 1), amount=99999, paid_at=ts(2025, 5, 1)),
        inv(
            "in_eur",
            "paid",
            observed=ts(2026, 4, 1),
            amount=5,
            currency="EUR",
            paid_at=ts(2026, 4, 1),
        ),
        inv("in_void", "void", observed=ts(2026, 4, 2), amount=7, voided_at=ts(2026, 4, 2)),
        inv("in_zero", "paid", observed=ts(2026, 4, 3), amount=0, paid_at=ts(2026, 4, 3)),
    ]
    s = state(facts, now)
    assert s.currency == "GBP"
    assert s.median_invoice_minor == 25001  # (20000 + 30001) / 2 = 25000.5, rounded half up
    assert s.last_successful_payment_date == date(2026, 4, 1)


def test_outstanding_is_in_the_currency_of_the_oldest_unpaid_invoice():
    facts = [
        inv("in_eur", observed=ts(2026, 1, 5), amount=4500, currency="EUR"),
        inv("in_gbp", observed=ts(2026, 2, 5), amount=12050),
        inv(
            "in_eur2",
            "uncollectible",
            observed=ts(2026, 3, 5),
            amount=500,
            currency="EUR",
            uncollectible_at=ts(2026, 3, 5),
        ),
        inv("in_kwd", observed=ts(2026, 3, 6), amount=35200, currency="KWD"),
        inv("in_draft", "draft", observed=ts(2025, 12, 1), amount=777, currency="USD"),
    ]
    s = state(facts, at(2026, 3, 10))
    assert (s.outstanding_minor, s.currency, s.currency_exponent) == (5000, "EUR", 2)
    assert s.other_currencies_owed == ("GBP", "KWD")
    assert any("GBP 120.50" in n for n in s.notes)
    assert any("KWD 35.200" in n for n in s.notes)


@pytest.mark.parametrize(("currency", "exponent"), [("JPY", 0), ("KWD", 3), ("ISK", 2), ("USD", 2)])
def test_currency_exponent_follows_the_provider(currency, exponent):
    s = state([inv(observed=T1, currency=currency, amount=5000)], at(2026, 3, 2))
    assert (s.currency, s.currency_exponent, s.outstanding_minor) == (currency, exponent, 5000)


def test_never_billed():
    s = state([], at(2026, 3, 2))
    assert (s.currency, s.outstanding_minor, s.payment_status) == ("", 0, PaymentStatus.CURRENT)


# --- disputes, profile, erasure -------------------------------------------------------------


def test_open_disputes_count_until_closed_in_any_order():
    created = DisputeSnapshot("du_1", T1, "needs_response", charge_id="ch_1", amount=12050)
    closed = DisputeSnapshot("du_1", T1 + 20 * DAY, "won", charge_id="ch_1", amount=12050)
    other = DisputeSnapshot("du_2", T1, "warning_needs_response")
    assert state([created, other], at(2026, 3, 5)).open_disputes == 2
    assert state([closed, created, other], at(2026, 3, 5)).open_disputes == 1
    assert not state([created], at(2026, 3, 5)).in_episode  # disputes start no episode


def test_customer_profile_outranks_the_copy_on_invoices():
    facts = [
        ProfileSnapshot(T1 - 10 * DAY, "dr@brightsmile.co.uk", "Bright Smile", source="customer"),
        ProfileSnapshot(T1, "old@example.com", "Old Name", source="invoice"),
    ]
    s = state(facts, at(2026, 3, 2))
    assert (s.email, s.email_domain, s.name) == (
        "dr@brightsmile.co.uk",
        "brightsmile.co.uk",
        "Bright Smile",
    )


def test_customer_deleted_erases_personal_data_for_good():
    facts = [
        ProfileSnapshot(T1, "Dr@BrightSmile.co.uk", "Bright Smile"),
        CustomerDeleted(T1 + DAY),
        ProfileSnapshot(T1 + 2 * DAY, "late@brightsmile.co.uk", "Late update"),
    ]
    merged = merge_facts(CustomerFacts(CUS), facts)
    s = derive_state(merged, now=at(2026, 3, 5), tz=TZ)
    assert s.deleted and s.email is None and s.name is None and s.email_domain is None
    assert "brightsmile" not in json.dumps(merged.to_json()).lower()


def test_erase_personal_data_keeps_billing_facts():
    merged = merge_facts(CustomerFacts(CUS), [ProfileSnapshot(T1, "a@b.co", "A"), *march_failure()])
    erased = erase_personal_data(merged)
    again = merge_facts(erased, [ProfileSnapshot(T1 + DAY, "a@b.co", "A")])
    s = derive_state(again, now=at(2026, 3, 2), tz=TZ)
    assert s.email is None and s.name is None and not s.deleted
    assert s.in_episode and s.outstanding_minor == 12050
    assert "a@b.co" not in json.dumps(again.to_json())


# --- store mechanics ------------------------------------------------------------------------


def test_json_round_trip():
    facts = merge_facts(
        CustomerFacts(CUS),
        [
            *march_failure(),
            sub("unpaid", T1 + DAY),
            DisputeSnapshot("du_1", T1, "needs_response"),
            ProfileSnapshot(T1, "a@b.co", "A"),
        ],
    )
    text = json.dumps(facts.to_json())
    back = CustomerFacts.from_json(json.loads(text))
    assert back == facts
    assert derive_state(back, now=at(2026, 3, 3), tz=TZ) == derive_state(
        facts, now=at(2026, 3, 3), tz=TZ
    )


def test_unknown_store_version_is_refused():
    with pytest.raises(ValueError, match="version"):
        CustomerFacts.from_json({"version": 99, "customer_id": CUS})


def test_merging_another_customers_store_is_refused():
    from connector.domain.billing_facts import join_facts

    with pytest.raises(ValueError):
        join_facts(CustomerFacts(CUS), CustomerFacts("cus_other"))


def test_now_must_be_aware():
    with pytest.raises(ValueError):
        derive_state(CustomerFacts(CUS), now=datetime(2026, 3, 1), tz=TZ)  # noqa: DTZ001


# --- semilattice laws on arbitrary facts ------------------------------------------------------

_times = st.integers(min_value=T1 - 5 * DAY, max_value=T1 + 40 * DAY)
_inv_ids = st.sampled_from(["in_A", "in_B"])
_facts = st.one_of(
    st.builds(
        lambda i, s, t, a: inv(
            i,
            s,
            observed=t,
            created=T1 - DAY,
            attempts=a,
            paid_at=t if s == "paid" else None,
            voided_at=t if s == "void" else None,
            uncollectible_at=t if s == "uncollectible" else None,
        ),
        _inv_ids,
        st.sampled_from(["draft", "open", "paid", "void", "uncollectible"]),
        _times,
        st.integers(0, 4),
    ),
    st.builds(
        lambda i, t, k, d: failed(i, t, key=k, decline=d),
        st.one_of(st.none(), _inv_ids),
        _times,
        st.sampled_from(["ch:1", "ch:2", "evt:3"]),
        st.sampled_from([None, "expired_card", "insufficient_funds"]),
    ),
    st.builds(
        lambda s, t: sub(s, t, canceled_at=t if s == "canceled" else None, reason="payment_failed"),
        st.sampled_from(["active", "past_due", "unpaid", "canceled"]),
        _times,
    ),
    st.builds(
        lambda s, t: DisputeSnapshot("du_1", t, s),
        st.sampled_from(["needs_response", "won"]),
        _times,
    ),
    st.builds(
        lambda e, t, src: ProfileSnapshot(t, e, None, source=src),
        st.sampled_from(["a@x.co", "b@y.co"]),
        _times,
        st.sampled_from(["customer", "invoice"]),
    ),
    st.builds(CustomerDeleted, _times),
)


@settings(max_examples=150, deadline=None)
@given(
    a=st.lists(_facts, max_size=6), b=st.lists(_facts, max_size=6), c=st.lists(_facts, max_size=6)
)
def test_merge_is_commutative_associative_idempotent(a, b, c):
    empty = CustomerFacts(CUS)
    assert merge_facts(merge_facts(empty, a), b) == merge_facts(merge_facts(empty, b), a)
    assert merge_facts(merge_facts(merge_facts(empty, a), b), c) == merge_facts(empty, a + b + c)
    once = merge_facts(empty, a)
    assert merge_facts(once, a) == once


# --- any delivery order, any duplicates: the same state ----------------------------------------
# Realistic Stripe event streams for one customer (both payload shapes), built like the payloads
# in tests/payloads/stripe: each event carries the object as it was when the event was created.


def _stripe_invoice(
    inv_id,
    created,
    status,
    *,
    legacy,
    attempt_count=0,
    next_attempt=None,
    charge=None,
    paid_at=None,
    voided_at=None,
    uncollectible_at=None,
    amount=12050,
):
    obj = {
        "id": inv_id,
        "object": "invoice",
        "customer": CUS,
        "currency": "gbp",
        "status": status,
        "collection_method": "charge_automatically",
        "billing_reason": "subscription_cycle",
        "created": created,
        "total": amount,
        "amount_due": amount,
        "amount_paid": amount if status == "paid" else 0,
        "amount_remaining": 0 if status in ("paid", "void") else amount,
        "attempt_count": attempt_count,
        "attempted": attempt_count > 0,
        "next_payment_attempt": next_attempt,
        "due_date": None,
        "customer_email": "accounts@brightsmile-dental.co.uk",
        "status_transitions": {
            "finalized_at": created + 3600,
            "paid_at": paid_at,
            "voided_at": voided_at,
            "marked_uncollectible_at": uncollectible_at,
        },
    }
    if legacy:
        obj.update(
            {
                "subscription": SUB,
                "charge": charge,
                "payment_intent": f"pi_{inv_id}",
                "paid": status == "paid",
            }
        )
    else:
        obj["parent"] = {
            "type": "subscription_details",
            "subscription_details": {"metadata": {}, "subscription": SUB},
        }
    return obj


def _event(n, etype, created, obj):
    return {
        "id": f"evt_{n:04d}",
        "object": "event",
        "type": etype,
        "created": created,
        "livemode": False,
        "api_version": "2025-08-27.basil",
        "data": {"object": obj},
    }


@st.composite
def stripe_histories(draw):
    legacy = draw(st.booleans())
    events = []
    clock = [ts(2025, 11, 1)]

    def emit(etype, obj, dt=1):
        clock[0] += dt
        events.append(_event(len(events), etype, clock[0], obj))

    emit(
        "customer.created",
        {"id": CUS, "object": "customer", "email": "dr@brightsmile.co.uk", "name": "Bright Smile"},
    )
    canceled = False
    for month in range(draw(st.integers(1, 3))):
        if canceled:
            break
        inv_id = f"in_{month}"
        created = ts(2025, 12, 1) + month * 31 * DAY
        clock[0] = max(clock[0], created)
        emit(
            "invoice.finalized",
            _stripe_invoice(inv_id, created, "open", legacy=legacy, next_attempt=created + 3600),
        )
        n_failures = draw(st.integers(0, 4))
        reasons = draw(
            st.lists(
                st.sampled_from(
                    [
                        "insufficient_funds",
                        "expired_card",
                        "generic_decline",
                        "do_not_honor",
                        "lost_card",
                    ]
                ),
                min_size=n_failures,
                max_size=n_failures,
            )
        )
        for k, reason in enumerate(reasons):
            attempt = created + 3600 + k * 3 * DAY
            clock[0] = max(clock[0], attempt)
            ch, pi = f"ch_{month}_{k}", f"pi_{inv_id}"
            charge = {
                "id": ch,
                "object": "charge",
                "customer": CUS,
                "status": "failed",
                "created": attempt,
                "amount": 12050,
                "currency": "gbp",
                "failure_code": "card_declined" if reason != "expired_card" else "expired_card",
                "outcome": {"type": "issuer_declined", "reason": reason, "advice_code": None},
                "payment_intent": pi,
            }
            intent = {
                "id": pi,
                "object": "payment_intent",
                "customer": CUS,
                "amount": 12050,
                "currency": "gbp",
                "latest_charge": ch,
                "status": "requires_payment_method",
                "last_payment_error": {
                    "type": "card_error",
                    "code": charge["failure_code"],
                    "decline_code": reason,
                    "charge": ch,
                },
            }
            if legacy:
                charge["invoice"] = intent["invoice"] = inv_id
            emit("charge.failed", charge)
            if draw(st.booleans()):
                emit("payment_intent.payment_failed", intent)
            last = k == n_failures - 1
            snap = _stripe_invoice(
                inv_id,
                created,
                "open",
                legacy=legacy,
                attempt_count=k + 1,
                charge=ch,
                next_attempt=None if last else attempt + 3 * DAY,
            )
            emit("invoice.payment_failed", snap)
            emit("invoice.updated", snap)
            if k == 0:
                emit(
                    "customer.subscription.updated",
                    {
                        "id": SUB,
                        "object": "subscription",
                        "customer": CUS,
                        "status": "past_due",
                        "cancellation_details": {"reason": None},
                    },
                )
        outcome = draw(
            st.sampled_from(["paid", "uncollectible", "void", "open", "uncollectible_paid"])
        )
        done = clock[0] + 2 * DAY
        clock[0] = done
        if outcome in ("uncollectible", "uncollectible_paid"):
            emit(
                "invoice.marked_uncollectible",
                _stripe_invoice(
                    inv_id,
                    created,
                    "uncollectible",
                    legacy=legacy,
                    attempt_count=n_failures,
                    uncollectible_at=done,
                ),
            )
            if draw(st.booleans()):
                emit(
                    "customer.subscription.deleted",
                    {
                        "id": SUB,
                        "object": "subscription",
                        "customer": CUS,
                        "status": "canceled",
                        "canceled_at": clock[0] + 1,
                        "ended_at": clock[0] + 1,
                        "cancellation_details": {"reason": "payment_failed"},
                    },
                )
                canceled = True
        if outcome == "paid" or outcome == "uncollectible_paid":
            paid_at = clock[0] + DAY
            clock[0] = paid_at
            paid = _stripe_invoice(
                inv_id,
                created,
                "paid",
                legacy=legacy,
                attempt_count=n_failures,
                paid_at=paid_at,
                uncollectible_at=done if outcome != "paid" else None,
            )
            emit("invoice.paid", paid)
            emit("invoice.payment_succeeded", paid)
            if not canceled:
                emit(
                    "customer.subscription.updated",
                    {
                        "id": SUB,
                        "object": "subscription",
                        "customer": CUS,
                        "status": "active",
                        "cancellation_details": {"reason": None},
                    },
                )
        if outcome == "void":
            emit(
                "invoice.voided",
                _stripe_invoice(
                    inv_id, created, "void", legacy=legacy, attempt_count=n_failures, voided_at=done
                ),
            )
    if draw(st.booleans()):
        emit(
            "charge.dispute.created",
            {
                "id": "du_1",
                "object": "dispute",
                "status": "needs_response",
                "charge": {"id": "ch_0_0", "customer": CUS},
                "amount": 12050,
            },
        )
    if draw(st.booleans()):
        emit("customer.deleted", {"id": CUS, "object": "customer", "email": None})
    return events


def _facts_of(events):
    from connector.billing.stripe_events import facts_from_stripe_event

    out = []
    for e in events:
        parsed = facts_from_stripe_event(e)
        assert parsed.handled and parsed.customer_id == CUS
        out.extend(parsed.facts)
    return out


@settings(max_examples=150, deadline=None)
@given(data=st.data(), events=stripe_histories())
def test_any_delivery_order_with_duplicates_gives_the_same_state(data, events):
    now = datetime.fromtimestamp(events[-1]["created"] + 3 * DAY, UTC)
    in_order = CustomerFacts(CUS)
    for e in events:  # as the shell does: one event at a time
        in_order = merge_facts(in_order, _facts_of([e]))
    expected = derive_state(in_order, now=now, tz=TZ)

    shuffled = data.draw(st.permutations(events))
    dupes = data.draw(st.lists(st.sampled_from(events), max_size=len(events)))
    delivery = list(shuffled)
    for d in dupes:
        delivery.insert(data.draw(st.integers(0, len(delivery))), d)
    store = CustomerFacts(CUS)
    for e in delivery:
        store = merge_facts(store, _facts_of([e]))
    assert store == in_order
    assert derive_state(store, now=now, tz=TZ) == expected
    # and through the JSON store, as the shell keeps it
    assert (
        derive_state(
            CustomerFacts.from_json(json.loads(json.dumps(store.to_json()))), now=now, tz=TZ
        )
        == expected
    )


@settings(max_examples=100, deadline=None)
@given(events=stripe_histories())
def test_every_failed_charge_counts_once_whatever_the_shape(events):
    now = datetime.fromtimestamp(events[-1]["created"] + DAY, UTC)
    s = derive_state(merge_facts(CustomerFacts(CUS), _facts_of(events)), now=now, tz=TZ)
    charges = {
        e["data"]["object"]["id"]: e["data"]["object"].get("customer")
        for e in events
        if e["type"] == "charge.failed"
    }
    if s.current_episode is not None:
        members = set(s.current_episode.invoice_ids)
        expected = sum(
            1 for ch in charges if ch.split("_")[1] in {m.split("_")[1] for m in members}
        )
        assert s.failed_payment_attempts == expected
    assert len(s.episodes) <= len(
        {e["data"]["object"]["id"] for e in events if e["type"] == "invoice.payment_failed"}
    )
