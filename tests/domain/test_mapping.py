"""desired_fields: the §3 CRM values of one customer as canonical strings."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from connector.domain.fields import FIELD_NAMES, FailureReason, PaymentStatus, Segment
from connector.domain.mapping import desired_fields
from connector.domain.risk import RiskPoint, RiskScore
from connector.domain.state import CollectionMethod, CustomerState, Episode

PAST_DUE = CustomerState(
    customer_id="cus_QX8fL2mNc3",
    payment_status=PaymentStatus.PAST_DUE,
    days_past_due=16,
    outstanding_minor=12_050,
    currency="USD",
    currency_exponent=2,
    failed_payment_attempts=3,
    last_failure_reason=FailureReason.EXPIRED_CARD,
    next_payment_retry_date=None,
    first_failed_payment_date=date(2026, 3, 1),
    last_successful_payment_date=date(2026, 2, 1),
    late_payments_12m=3,
    current_episode=Episode(
        start=date(2026, 3, 1), collection_method=CollectionMethod.CHARGE_AUTOMATICALLY
    ),
    median_invoice_minor=12_050,
)
RISK = RiskScore(69, (RiskPoint(24.0, "16 days past due"), RiskPoint(45.0, "card expired")))
LINK = "https://connector.example.com/pay/pl_8Gk2vQ"


def fields_for(state: CustomerState = PAST_DUE, **kw) -> dict[str, str]:
    args = {"provider": "stripe", "payment_link": LINK} | kw
    return desired_fields(state, RISK, Segment.HIGH_RISK, **args)


def test_past_due_customer_all_fields():
    assert fields_for() == {
        "billing_customer_id": "cus_QX8fL2mNc3",
        "billing_provider": "stripe",
        "payment_status": "past_due",
        "days_past_due": "16",
        "outstanding_amount": "120.50",
        "outstanding_currency": "USD",
        "failed_payment_attempts": "3",
        "last_failure_reason": "expired_card",
        "next_payment_retry_date": "",
        "first_failed_payment_date": "2026-03-01",
        "last_successful_payment_date": "2026-02-01",
        "late_payments_12m": "3",
        "risk_score": "69",
        "risk_segment": "high_risk",
        "risk_reasons": "card expired (+45); 16 days past due (+24)",
        "payment_link": LINK,
    }


def test_every_logical_field_but_updated_at_is_present():
    assert list(fields_for()) == [n for n in FIELD_NAMES if n != "billing_updated_at"]


@pytest.mark.parametrize(
    ("minor", "currency", "exponent", "expected"),
    [
        pytest.param(12_050, "USD", 2, "120.50", id="usd-trailing-zero"),
        pytest.param(5, "EUR", 2, "0.05", id="cents-only"),
        pytest.param(0, "USD", 2, "0.00", id="nothing-owed"),
        pytest.param(35_200, "KWD", 3, "35.200", id="kwd-three-decimals"),
        pytest.param(5_000, "JPY", 0, "5000", id="jpy-zero-decimal"),
        pytest.param(123_456_789, "ISK", 2, "1234567.89", id="isk-two-decimals-in-stripe"),
        pytest.param(-1_500, "USD", 2, "-15.00", id="credit"),
        pytest.param(0, "", 2, "", id="never-billed"),
    ],
)
def test_outstanding_amount_uses_the_provider_exponent(minor, currency, exponent, expected):
    state = dataclasses.replace(
        PAST_DUE, outstanding_minor=minor, currency=currency, currency_exponent=exponent
    )
    assert fields_for(state)["outstanding_amount"] == expected


def test_recovered_customer_has_empty_episode_fields():
    state = dataclasses.replace(
        PAST_DUE,
        payment_status=PaymentStatus.CURRENT,
        days_past_due=0,
        failed_payment_attempts=0,
        outstanding_minor=0,
        current_episode=None,
        first_failed_payment_date=date(2026, 3, 1),  # stale: must not reach the CRM
    )
    values = fields_for(state, payment_link=None)
    assert values["first_failed_payment_date"] == ""
    assert values["payment_link"] == ""
    assert values["days_past_due"] == "0"
    assert values["last_failure_reason"] == "expired_card"  # stays as history (§4)


@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        pytest.param(
            {"next_payment_retry_date": date(2026, 3, 20)},
            "next_payment_retry_date",
            "2026-03-20",
            id="retry-date",
        ),
        pytest.param({"last_failure_reason": None}, "last_failure_reason", "", id="never-failed"),
        pytest.param(
            {"last_successful_payment_date": None},
            "last_successful_payment_date",
            "",
            id="never-paid",
        ),
        pytest.param(
            {"payment_status": PaymentStatus.UNCOLLECTIBLE},
            "payment_status",
            "uncollectible",
            id="enum-value",
        ),
    ],
)
def test_single_field_values(changes, field, expected):
    assert fields_for(dataclasses.replace(PAST_DUE, **changes))[field] == expected


def test_provider_and_segment_are_enum_values():
    values = desired_fields(
        PAST_DUE, RISK, Segment.LOW_RISK, provider="chargebee", payment_link=None
    )
    assert (values["billing_provider"], values["risk_segment"]) == ("chargebee", "low_risk")


def test_unknown_provider_is_refused():
    with pytest.raises(ValueError, match="paypal"):
        fields_for(provider="paypal")
