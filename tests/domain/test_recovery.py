"""Recovery figures (issue 5 point 5) on a known data set worked out by hand (tests/recovery_dataset.py)."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest

from connector.domain.billing_facts import CustomerFacts
from connector.domain.policy import parse_risk_policy
from connector.domain.recovery import (
    NO_FAILED_PAYMENT,
    Period,
    PeriodError,
    billed_between,
    churn_counts,
    parse_period,
    receivables_at,
    recovery_report,
)

from recovery_dataset import NOVEMBER_EUR, NOVEMBER_USD, customers, ts
from tests_clock import FIXED_NOW

TZ = ZoneInfo("Europe/London")
NOVEMBER = Period(date(2026, 11, 1), date(2026, 11, 30), "2026-11")


@pytest.fixture(scope="module")
def report():
    return {c.currency: c for c in recovery_report(customers(), period=NOVEMBER, tz=TZ, now=FIXED_NOW).currencies}


def test_recovery_rate_by_count_and_by_amount(report):
    usd = report["USD"].recovery
    assert (usd.ended, usd.recovered) == (NOVEMBER_USD["ended"], NOVEMBER_USD["recovered"])
    assert usd.rate == pytest.approx(3 / 6)
    assert (usd.amount_ended, usd.amount_recovered) == (79000, 48000)
    assert usd.amount_rate == pytest.approx(48000 / 79000)
    assert report["USD"].recovered_amount == 48000


def test_currencies_are_never_added_together(report):
    assert sorted(report) == ["EUR", "USD"]
    eur = report["EUR"]
    assert (eur.recovery.ended, eur.recovery.recovered) == (NOVEMBER_EUR["ended"], NOVEMBER_EUR["recovered"])
    assert eur.recovered_amount == 4000


def test_dso_is_open_receivables_over_billed_times_days(report):
    usd = report["USD"].dso
    assert (usd.open_at_end, usd.billed, usd.days) == (12000, 50000, 30)
    assert usd.value == pytest.approx(7.2)
    eur = report["EUR"].dso
    assert (eur.open_at_end, eur.billed) == (4500, 8500)
    assert eur.value == pytest.approx(4500 / 8500 * 30)


def test_involuntary_churn(report):
    usd = report["USD"].churn
    assert (usd.canceled_for_non_payment, usd.active_at_start) == NOVEMBER_USD["churn"]
    assert usd.rate == pytest.approx(0.25)
    assert report["EUR"].churn.rate is None  # no subscription was active on 1 November


@pytest.mark.parametrize(("week", "expected"), list(NOVEMBER_USD["by_week"].items()))
def test_by_week_of_episode_end(report, week, expected):
    weeks = {monday.isoformat(): (r.ended, r.recovered) for monday, r in report["USD"].by_week}
    assert list(weeks) == list(NOVEMBER_USD["by_week"])  # every week touching the period, empty ones too
    assert weeks[week] == expected


@pytest.mark.parametrize(("segment", "expected"), list(NOVEMBER_USD["by_segment"].items()))
def test_by_segment_reached_in_the_episode(report, segment, expected):
    segments = {s: (r.ended, r.recovered) for s, r in report["USD"].by_segment}
    assert segments[segment] == expected


@pytest.mark.parametrize(("reason", "expected"), list(NOVEMBER_USD["by_reason"].items()))
def test_by_failure_reason(report, reason, expected):
    reasons = {s: (r.ended, r.recovered) for s, r in report["USD"].by_reason}
    assert reasons[reason] == expected
    assert list(reasons) == ["card_declined", "insufficient_funds", "expired_card", NO_FAILED_PAYMENT]


def test_segment_follows_the_installation_policy():
    # With a threshold of 15 points, A (19.5 points on its last day) counts as high risk.
    policy = parse_risk_policy({"high_risk_threshold": 15})
    usd = next(c for c in recovery_report(customers(), period=NOVEMBER, tz=TZ, now=FIXED_NOW, policy=policy)
               .currencies if c.currency == "USD")
    segments = {s: (r.ended, r.recovered) for s, r in usd.by_segment}
    assert segments["high_risk"][0] > NOVEMBER_USD["by_segment"]["high_risk"][0]


def test_episodes_ending_outside_the_period_are_not_counted():
    october = Period(date(2026, 10, 1), date(2026, 10, 31))
    usd = next(c for c in recovery_report(customers(), period=october, tz=TZ, now=FIXED_NOW).currencies
               if c.currency == "USD")
    assert usd.recovery.ended == 0 and usd.recovery.rate is None
    assert usd.dso.value is not None  # B0 was billed in October


def _by_id(customer_id: str) -> CustomerFacts:
    return next(c for c in customers() if c.customer_id == customer_id)


@pytest.mark.parametrize(("customer_id", "at", "expected"), [
    ("cus_A", ts(2026, 11, 4), {"USD": 10000}),  # failed, not yet paid
    ("cus_A", ts(2026, 11, 6), {}),  # paid on the 5th
    ("cus_B", ts(2026, 11, 19), {"USD": 20000}),
    ("cus_B", ts(2026, 11, 21), {}),  # marked uncollectible: written off the books
    ("cus_H", ts(2026, 11, 8), {"USD": 6000}),
    ("cus_H", ts(2026, 11, 10), {}),  # voided
    ("cus_C", ts(2026, 12, 1), {"USD": 5000}),  # still open after the subscription ended
])
def test_receivables_at_an_instant(customer_id, at, expected):
    assert receivables_at(_by_id(customer_id), at) == expected


def test_billed_leaves_void_invoices_out():
    assert billed_between(_by_id("cus_H"), ts(2026, 11, 1, 0), ts(2026, 12, 1, 0)) == {}
    assert billed_between(_by_id("cus_A"), ts(2026, 11, 1, 0), ts(2026, 12, 1, 0)) == {"USD": 10000}


def test_churn_counts_need_the_subscription_started_before_the_period():
    start, end = ts(2026, 11, 1, 0), ts(2026, 12, 1, 0)
    assert churn_counts(_by_id("cus_C"), start, end) == {"USD": (1, 1)}
    assert churn_counts(_by_id("cus_G"), start, end) == {}  # began on the 26th: neither count
    assert churn_counts(_by_id("cus_E"), start, end) == {}  # no subscription


@pytest.mark.parametrize(("text", "start", "end"), [
    (None, date(2026, 9, 5), date(2026, 12, 3)),
    ("30d", date(2026, 11, 4), date(2026, 12, 3)),
    ("1d", date(2026, 12, 3), date(2026, 12, 3)),
    ("2026-11", date(2026, 11, 1), date(2026, 11, 30)),
    ("2024-02", date(2024, 2, 1), date(2024, 2, 29)),
    # The current month or quarter runs to today, so DSO counts only the days lived.
    ("2026-Q4", date(2026, 10, 1), date(2026, 12, 3)),
    ("2026-12", date(2026, 12, 1), date(2026, 12, 3)),
    ("2026-q1", date(2026, 1, 1), date(2026, 3, 31)),
])
def test_parse_period(text, start, end):
    period = parse_period(text, today=date(2026, 12, 3))
    assert (period.start, period.end) == (start, end)


@pytest.mark.parametrize("text", ["0d", "yesterday", "2026-13", "2026-Q5", "2026-11-01", "0000-01", "9999-Q4",
                                  "2027-01", "2027-Q1"])
def test_parse_period_refuses_with_a_message(text):
    with pytest.raises(PeriodError, match="period"):
        parse_period(text, today=date(2026, 12, 3))
