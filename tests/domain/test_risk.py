"""The risk score of PRODUCT.md §5 and its plain-words reasons."""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from datetime import date

import pytest

from connector.domain.fields import FailureReason, PaymentStatus
from connector.domain.policy import DEFAULT_POLICY, RiskPolicy
from connector.domain.risk import (
    RiskPoint,
    RiskScore,
    current_failure_reason,
    risk_reasons_text,
    score_risk,
)
from connector.domain.state import CollectionMethod, CustomerState, Episode

AUTO = CollectionMethod.CHARGE_AUTOMATICALLY
INVOICE = CollectionMethod.SEND_INVOICE
R = FailureReason


def in_episode(
    *,
    days: int = 2,
    reason: FailureReason | None = R.INSUFFICIENT_FUNDS,
    attempts: int = 1,
    episodes_12m: int = 1,
    owed: int = 10_000,
    median: int = 10_000,
    retry: bool = True,
    method: CollectionMethod = AUTO,
) -> CustomerState:
    """A customer in an open episode; defaults are §5 worked example (a)."""
    return CustomerState(
        customer_id="cus_QX8fL2mNc3",
        payment_status=PaymentStatus.PAST_DUE,
        days_past_due=days,
        outstanding_minor=owed,
        currency="USD",
        failed_payment_attempts=attempts,
        last_failure_reason=reason,
        episode_failure_reason=reason if attempts else None,
        first_failed_payment_date=date(2026, 3, 1),
        late_payments_12m=episodes_12m,
        current_episode=Episode(start=date(2026, 3, 1), collection_method=method),
        retry_scheduled=retry,
        median_invoice_minor=median,
    )


def outside_episode(*, status=PaymentStatus.CURRENT, episodes_12m=0, **kw) -> CustomerState:
    return CustomerState(
        customer_id="cus_QX8fL2mNc3",
        payment_status=status,
        late_payments_12m=episodes_12m,
        currency="USD",
        **kw,
    )


EXAMPLE_A = in_episode()
EXAMPLE_B = in_episode(days=16, reason=R.EXPIRED_CARD, episodes_12m=3, retry=False)


def test_worked_example_a_first_failure_insufficient_funds():
    assert score_risk(EXAMPLE_A, DEFAULT_POLICY) == RiskScore(
        18,
        (
            RiskPoint(3.0, "2 days past due"),
            RiskPoint(10.0, "insufficient funds"),
            RiskPoint(5.0, "owes 1.0× the usual invoice"),
        ),
    )


def test_worked_example_b_expired_card_sixteen_days():
    assert score_risk(EXAMPLE_B, DEFAULT_POLICY) == RiskScore(
        69,
        (
            RiskPoint(24.0, "16 days past due"),
            RiskPoint(10.0, "2 earlier late payments in the last 12 months"),
            RiskPoint(20.0, "card expired (hard decline)"),
            RiskPoint(5.0, "owes 1.0× the usual invoice"),
            RiskPoint(10.0, "no automatic retry scheduled"),
        ),
    )


def test_an_open_dispute_raises_risk_in_an_episode_and_outside_one():
    # §4: "a dispute raises risk"; it scored nothing before.
    assert score_risk(replace(EXAMPLE_A, open_disputes=1)).score == 18 + 10
    assert RiskPoint(10.0, "1 open dispute") in score_risk(replace(EXAMPLE_A, open_disputes=1)).points
    assert score_risk(outside_episode(open_disputes=2)).score == 10
    assert score_risk(replace(EXAMPLE_A, open_disputes=1), RiskPolicy(dispute_points=0)).score == 18


def _row(
    state: CustomerState, keyword: str, policy: RiskPolicy = DEFAULT_POLICY
) -> RiskPoint | None:
    found = [p for p in score_risk(state, policy).points if keyword in p.reason]
    assert len(found) <= 1
    return found[0] if found else None


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        pytest.param(0, None, id="day-0-no-points"),
        pytest.param(1, RiskPoint(1.5, "1 day past due"), id="one-day-singular"),
        pytest.param(16, RiskPoint(24.0, "16 days past due"), id="16-days"),
        pytest.param(30, RiskPoint(45.0, "30 days past due"), id="30-days-at-cap"),
        pytest.param(90, RiskPoint(45.0, "90 days past due"), id="capped-at-45"),
    ],
)
def test_days_past_due_points(days, expected):
    assert _row(in_episode(days=days), "past due") == expected


@pytest.mark.parametrize(
    ("episodes_12m", "expected"),
    [
        pytest.param(1, None, id="first-episode"),
        # An inconsistent count (0 while in an episode) must not index the table from its end.
        pytest.param(0, None, id="inconsistent-zero"),
        pytest.param(2, RiskPoint(5.0, "1 earlier late payment in the last 12 months"), id="one"),
        pytest.param(3, RiskPoint(10.0, "2 earlier late payments in the last 12 months"), id="two"),
        pytest.param(
            4, RiskPoint(20.0, "3 earlier late payments in the last 12 months"), id="three"
        ),
        pytest.param(
            9, RiskPoint(20.0, "8 earlier late payments in the last 12 months"), id="many"
        ),
    ],
)
def test_earlier_episodes_in_an_episode_exclude_the_current_one(episodes_12m, expected):
    assert _row(in_episode(episodes_12m=episodes_12m), "late payment") == expected


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        pytest.param(R.EXPIRED_CARD, RiskPoint(20.0, "card expired (hard decline)"), id="expired"),
        pytest.param(
            R.LOST_OR_STOLEN_CARD,
            RiskPoint(20.0, "card reported lost or stolen (hard decline)"),
            id="lost",
        ),
        pytest.param(
            R.FRAUD_SUSPECTED,
            RiskPoint(20.0, "payment flagged as suspected fraud (hard decline)"),
            id="fraud",
        ),
        pytest.param(
            R.INCORRECT_CARD_DETAILS,
            RiskPoint(20.0, "incorrect card details (hard decline)"),
            id="card-details",
        ),
        pytest.param(
            R.DO_NOT_RETRY,
            RiskPoint(20.0, "card issuer said not to retry (hard decline)"),
            id="do-not-retry",
        ),
        pytest.param(R.INSUFFICIENT_FUNDS, RiskPoint(10.0, "insufficient funds"), id="funds"),
        pytest.param(
            R.AUTHENTICATION_REQUIRED,
            RiskPoint(10.0, "payment needs the customer's authentication"),
            id="sca",
        ),
        pytest.param(R.CARD_DECLINED, RiskPoint(5.0, "card declined"), id="declined"),
        pytest.param(
            R.PROCESSING_ERROR, RiskPoint(5.0, "payment processing error"), id="processing"
        ),
        pytest.param(R.OTHER, RiskPoint(5.0, "payment failed for another reason"), id="other"),
    ],
)
def test_failure_reason_points(reason, expected):
    state = in_episode(reason=reason, owed=0, retry=True, days=0)
    assert score_risk(state).points == (expected,)


def test_unpaid_send_invoice_episode_has_no_failure_reason_even_with_an_old_one_on_record():
    # last_failure_reason stays as history from an earlier episode; nothing failed in this one.
    state = in_episode(reason=R.EXPIRED_CARD, attempts=0, method=INVOICE, owed=0, days=3)
    assert current_failure_reason(state) is None
    assert score_risk(state).points == (RiskPoint(4.5, "3 days past due"),)


@pytest.mark.parametrize(
    ("owed", "median", "expected"),
    [
        pytest.param(5_000, 10_000, None, id="half-no-points"),
        pytest.param(9_999, 10_000, None, id="just-under-1x"),
        pytest.param(10_000, 10_000, RiskPoint(5.0, "owes 1.0× the usual invoice"), id="1x"),
        pytest.param(
            19_999, 10_000, RiskPoint(5.0, "owes 1.9× the usual invoice"), id="just-under-2x"
        ),
        pytest.param(20_000, 10_000, RiskPoint(10.0, "owes 2.0× the usual invoice"), id="2x"),
        pytest.param(
            29_600,
            10_000,
            RiskPoint(10.0, "owes 2.9× the usual invoice"),
            id="2.96x-shown-rounded-down",
        ),
        pytest.param(31_000, 10_000, RiskPoint(15.0, "owes 3.1× the usual invoice"), id="3.1x"),
        pytest.param(500_000, 10_000, RiskPoint(15.0, "owes 50.0× the usual invoice"), id="50x"),
        pytest.param(10_000, 0, None, id="no-median-known"),
        pytest.param(0, 10_000, None, id="nothing-owed"),
    ],
)
def test_amount_vs_median_invoice_points(owed, median, expected):
    assert _row(in_episode(owed=owed, median=median), "usual invoice") == expected


@pytest.mark.parametrize(
    ("method", "retry", "expected"),
    [
        pytest.param(
            AUTO, False, RiskPoint(10.0, "no automatic retry scheduled"), id="auto-no-retry"
        ),
        pytest.param(AUTO, True, None, id="auto-retry-scheduled"),
        pytest.param(INVOICE, False, None, id="send-invoice-never-retries"),
    ],
)
def test_no_retry_points(method, retry, expected):
    assert _row(in_episode(method=method, retry=retry), "retry") == expected


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        pytest.param(outside_episode(), RiskScore(0, ()), id="clean-history"),
        pytest.param(
            outside_episode(episodes_12m=2),
            RiskScore(10, (RiskPoint(10.0, "2 late payments in the last 12 months"),)),
            id="all-12m-episodes-count",
        ),
        pytest.param(
            # Leftovers from the ended episode (history reason, debt, no retry) add nothing.
            outside_episode(
                episodes_12m=1,
                last_failure_reason=R.EXPIRED_CARD,
                failed_payment_attempts=2,
                outstanding_minor=90_000,
                median_invoice_minor=10_000,
            ),
            RiskScore(5, (RiskPoint(5.0, "1 late payment in the last 12 months"),)),
            id="only-history-row",
        ),
        pytest.param(
            outside_episode(status=PaymentStatus.UNCOLLECTIBLE, episodes_12m=1),
            RiskScore(
                100,
                (
                    RiskPoint(5.0, "1 late payment in the last 12 months"),
                    RiskPoint(100.0, "the billing provider gave up collecting (uncollectible)"),
                ),
            ),
            id="uncollectible-scores-100",
        ),
        pytest.param(
            # §5 says only `uncollectible` scores 100; canceled is high_risk by its segment rule.
            outside_episode(status=PaymentStatus.CANCELED, episodes_12m=1),
            RiskScore(5, (RiskPoint(5.0, "1 late payment in the last 12 months"),)),
            id="canceled-not-forced-to-100",
        ),
    ],
)
def test_outside_an_episode(state, expected):
    assert score_risk(state) == expected


@pytest.mark.parametrize(
    ("state", "policy", "expected"),
    [
        # round() would give 16 and 14 here (half to even); §5 says half up.
        pytest.param(in_episode(days=1), DEFAULT_POLICY, 17, id="16.5-up"),
        pytest.param(in_episode(days=3, owed=0), DEFAULT_POLICY, 15, id="14.5-up"),
        pytest.param(
            # 1.15 × 10 is 11.499999… in binary floats; the score must see 11.5.
            in_episode(days=10, reason=None, attempts=0, owed=0, method=INVOICE),
            RiskPolicy(points_per_day=1.15, days_points_cap=100),
            12,
            id="decimal-not-float",
        ),
        pytest.param(
            # As binary floats 0.35 + 0.15 sum to 0.4999…; in decimal they are 0.5, which rounds up.
            in_episode(days=1, reason=None, attempts=0, owed=0, method=INVOICE, episodes_12m=2),
            RiskPolicy(points_per_day=0.35, earlier_episode_points=(0, 0.15)),
            1,
            id="decimal-sum-of-points",
        ),
        pytest.param(
            in_episode(days=1, reason=None, attempts=0, owed=0, method=INVOICE),
            RiskPolicy(points_per_day=0.4),
            0,
            id="0.4-down",
        ),
        pytest.param(
            EXAMPLE_B, RiskPolicy(points_per_day=10, days_points_cap=100), 100, id="capped-at-100"
        ),
    ],
)
def test_score_rounding_and_cap(state, policy, expected):
    assert score_risk(state, policy).score == expected


def test_custom_policy_points_are_used():
    policy = dataclasses.replace(
        DEFAULT_POLICY,
        hard_decline_points=30,
        no_retry_points=0,
        amount_ratio_points=((1, 1),),
        earlier_episode_points=(0, 2),
    )
    assert score_risk(EXAMPLE_B, policy) == RiskScore(
        57,
        (
            RiskPoint(24.0, "16 days past due"),
            RiskPoint(2.0, "2 earlier late payments in the last 12 months"),
            RiskPoint(30.0, "card expired (hard decline)"),
            RiskPoint(1.0, "owes 1.0× the usual invoice"),
        ),
    )


def test_reasons_text_weightiest_first_with_points():
    assert risk_reasons_text(score_risk(EXAMPLE_B), EXAMPLE_B) == (
        "16 days past due (+24); card expired (hard decline) (+20); "
        "2 earlier late payments in the last 12 months (+10); no automatic retry scheduled (+10); "
        "owes 1.0× the usual invoice (+5)"
    )


def test_reasons_text_shows_fractional_points():
    state = in_episode(days=1, reason=None, attempts=0, owed=0, method=INVOICE)
    assert risk_reasons_text(score_risk(state), state) == "1 day past due (+1.5)"


def test_reasons_text_empty_without_reasons():
    state = outside_episode()
    assert risk_reasons_text(score_risk(state), state) == ""


@pytest.mark.parametrize(
    ("currencies", "notes", "expected_tail"),
    [
        pytest.param(("EUR", "GBP"), (), "; also owes in EUR, GBP", id="other-currencies"),
        pytest.param(
            ("EUR",),
            ("also owes EUR 40.00",),
            "; also owes EUR 40.00",
            id="note-already-names-currency",
        ),
        pytest.param((), ("disputed charge open",), "; disputed charge open", id="plain-note"),
    ],
)
def test_reasons_text_names_other_currencies_and_notes(currencies, notes, expected_tail):
    state = dataclasses.replace(EXAMPLE_A, other_currencies_owed=currencies, notes=notes)
    text = risk_reasons_text(score_risk(state), state)
    assert text.startswith("insufficient funds (+10); owes 1.0× the usual invoice (+5)")
    assert text.endswith(expected_tail)
    assert text.count("EUR") == (1 if "EUR" in currencies else 0)


def test_reasons_text_drops_whole_parts_to_fit_255_chars():
    notes = tuple(f"note {i}: " + "x" * 60 for i in range(6))
    state = dataclasses.replace(EXAMPLE_B, notes=notes)
    text = risk_reasons_text(score_risk(state), state)
    assert len(text) <= 255
    assert text.startswith("16 days past due (+24); card expired (hard decline) (+20)")
    assert text.endswith("; …")
    assert "note 5" not in text
    assert all(part.startswith(("note", "…")) or "(+" in part for part in text.split("; "))


def test_reasons_text_keeps_the_other_currencies_when_trimmed():
    # Each currency named by its own note: the short "also owes in …" was left out, and trimming
    # the notes then dropped EUR and USD.
    notes = tuple(f"Also owes {c} 10.00 (not included in the outstanding amount)." for c in ("CHF", "EUR", "USD"))
    state = dataclasses.replace(EXAMPLE_B, other_currencies_owed=("CHF", "EUR", "USD"), notes=notes)
    text = risk_reasons_text(score_risk(state), state)
    assert len(text) <= 255
    assert all(code in text for code in ("CHF", "EUR", "USD"))
    assert text.startswith("16 days past due (+24)")


def test_reasons_text_cuts_a_single_overlong_part():
    score = RiskScore(5, (RiskPoint(5.0, "y" * 400),))
    text = risk_reasons_text(score, outside_episode())
    assert len(text) == 255
    assert text == "y" * 254 + "…"


def test_reason_of_an_earlier_episode_never_scores_in_the_current_one():
    # Attempts failed in this episode but their reason is unknown: the history reason must not count.
    state = replace(in_episode(reason=R.EXPIRED_CARD, attempts=2, owed=0, days=0),
                    episode_failure_reason=None)
    assert current_failure_reason(state) is None
    assert score_risk(state).points == ()
