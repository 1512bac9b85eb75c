"""changed_fields / with_updated_at: only real changes are written, compared canonically."""

from __future__ import annotations

import pytest

from connector.domain.diff import changed_fields, with_updated_at


@pytest.mark.parametrize(
    ("field", "desired", "current"),
    [
        pytest.param("outstanding_amount", "5000", "5000.0", id="number-trailing-zero"),
        pytest.param("outstanding_amount", "120.50", "120.5", id="number-cents"),
        pytest.param("outstanding_amount", "35.200", "35.2", id="number-kwd"),
        pytest.param("days_past_due", "0", "0", id="number-same"),
        pytest.param(
            "next_payment_retry_date",
            "2026-03-20",
            "2026-03-20T00:00:00Z",
            id="date-vs-midnight-utc",
        ),
        pytest.param(
            "next_payment_retry_date",
            "2026-03-20",
            "2026-03-20T00:00:00.000Z",
            id="date-vs-millis-iso",
        ),
        pytest.param(
            "next_payment_retry_date", "2026-03-20", "1773964800000", id="date-vs-epoch-ms"
        ),
        pytest.param("first_failed_payment_date", "", None, id="empty-vs-null"),
        pytest.param("payment_link", "", None, id="text-empty-vs-null"),
        pytest.param("payment_status", "past_due", "past_due", id="enum-same"),
        pytest.param(
            "billing_updated_at",
            "2026-03-20T10:00:00Z",
            "2026-03-20T10:00:00.000Z",
            id="datetime-same-instant",
        ),
        pytest.param(
            "billing_updated_at",
            "2026-03-20T10:00:00+00:00",
            "1774000800000",
            id="datetime-vs-epoch-ms",
        ),
    ],
)
def test_equal_forms_are_not_changes(field, desired, current):
    assert changed_fields({field: desired}, {field: current}) == {}


@pytest.mark.parametrize(
    ("field", "desired", "current"),
    [
        pytest.param("days_past_due", "0", "", id="zero-vs-empty"),
        pytest.param("days_past_due", "0", None, id="zero-vs-null"),
        pytest.param("days_past_due", "5", "6", id="number-differs"),
        pytest.param("outstanding_amount", "5", "five", id="number-vs-garbage"),
        pytest.param("outstanding_amount", "5", "NaN", id="number-vs-nan"),
        pytest.param("next_payment_retry_date", "2026-03-20", "2026-03-21", id="date-differs"),
        pytest.param("next_payment_retry_date", "", "2026-03-20", id="date-cleared"),
        pytest.param("next_payment_retry_date", "2026-03-20", "soon", id="date-vs-garbage"),
        pytest.param("billing_customer_id", "cus_AbC", "cus_abc", id="id-case-sensitive"),
        pytest.param("billing_customer_id", "5000", "5000.0", id="text-is-not-a-number"),
        pytest.param("payment_status", "current", "past_due", id="enum-differs"),
        pytest.param(
            "billing_updated_at",
            "2026-03-20T10:00:00Z",
            "2026-03-20T10:00:01Z",
            id="datetime-differs",
        ),
        pytest.param("risk_reasons", "card expired (+20)", "", id="text-filled"),
    ],
)
def test_different_values_are_changes(field, desired, current):
    assert changed_fields({field: desired}, {field: current}) == {field: desired}


def test_only_changed_fields_are_returned_with_desired_values():
    desired = {"days_past_due": "16", "outstanding_amount": "120.50", "payment_status": "past_due"}
    current = {"days_past_due": "15", "outstanding_amount": "120.5", "payment_status": "past_due"}
    assert changed_fields(desired, current) == {"days_past_due": "16"}


def test_field_missing_from_current_counts_as_empty():
    desired = {"payment_link": "", "risk_score": "18"}
    assert changed_fields(desired, {}) == {"risk_score": "18"}


def test_unknown_current_values_change_everything():
    desired = {"payment_link": "", "risk_score": "18"}
    assert changed_fields(desired, None) == desired


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param({}, {}, id="nothing-changed-no-stamp"),
        pytest.param(
            {"risk_score": "18"},
            {"risk_score": "18", "billing_updated_at": "2026-03-20T10:00:00Z"},
            id="stamped",
        ),
    ],
)
def test_with_updated_at(changes, expected):
    original = dict(changes)
    assert with_updated_at(changes, "2026-03-20T10:00:00Z") == expected
    assert changes == original
