"""The CRM field values of PRODUCT.md §3 for one customer, as canonical strings.

Canonical means: enum values, numbers as decimal text, dates ISO `YYYY-MM-DD`, "" for empty
(FieldUpdate's contract in connector/ports.py). Adapters turn them into each vendor's format.
billing_updated_at is not here: it is stamped only when something changed (diff.with_updated_at).
"""

from __future__ import annotations

from datetime import date

from connector.domain.fields import BillingProvider, Segment
from connector.domain.money import format_minor
from connector.domain.risk import RiskScore, risk_reasons_text
from connector.domain.state import CustomerState


def desired_fields(
    state: CustomerState,
    risk: RiskScore,
    segment: Segment,
    *,
    provider: str,
    payment_link: str | None,
) -> dict[str, str]:
    """Return every §3 logical field except billing_updated_at, as the CRM should show it."""
    return {
        "billing_customer_id": state.customer_id,
        "billing_provider": BillingProvider(provider).value,
        "payment_status": state.payment_status.value,
        "days_past_due": str(state.days_past_due),
        "outstanding_amount": _amount(state),
        "outstanding_currency": state.currency.upper(),
        "failed_payment_attempts": str(state.failed_payment_attempts),
        "last_failure_reason": state.last_failure_reason.value if state.last_failure_reason else "",
        "next_payment_retry_date": _date(state.next_payment_retry_date),
        # §3: empty outside an episode, whatever the state still remembers.
        "first_failed_payment_date": _date(
            state.first_failed_payment_date if state.in_episode else None
        ),
        "last_successful_payment_date": _date(state.last_successful_payment_date),
        "late_payments_12m": str(state.late_payments_12m),
        "risk_score": str(risk.score),
        "risk_segment": Segment(segment).value,
        "risk_reasons": risk_reasons_text(risk, state),
        "payment_link": payment_link or "",
    }


def _amount(state: CustomerState) -> str:
    # Nothing ever billed: no currency to show the amount in, so leave the field empty.
    if not state.currency:
        return ""
    return format_minor(state.outstanding_minor, state.currency_exponent)


def _date(value: date | None) -> str:
    return value.isoformat() if value else ""
