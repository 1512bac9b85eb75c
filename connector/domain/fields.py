"""The CRM data contract of PRODUCT.md §3: logical field names, their kinds and enum values."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FieldKind(StrEnum):
    TEXT = "text"
    ENUM = "enum"
    NUMBER = "number"
    DATE = "date"
    DATETIME = "datetime"


class PaymentStatus(StrEnum):
    CURRENT = "current"
    PAST_DUE = "past_due"
    UNCOLLECTIBLE = "uncollectible"
    CANCELED = "canceled"


class FailureReason(StrEnum):
    EXPIRED_CARD = "expired_card"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    CARD_DECLINED = "card_declined"
    AUTHENTICATION_REQUIRED = "authentication_required"
    INCORRECT_CARD_DETAILS = "incorrect_card_details"
    LOST_OR_STOLEN_CARD = "lost_or_stolen_card"
    FRAUD_SUSPECTED = "fraud_suspected"
    DO_NOT_RETRY = "do_not_retry"
    PROCESSING_ERROR = "processing_error"
    OTHER = "other"


class Segment(StrEnum):
    LOW_RISK = "low_risk"
    FIRST_TIME_LATE = "first_time_late"
    HABITUAL_LATE = "habitual_late"
    HIGH_RISK = "high_risk"


class BillingProvider(StrEnum):
    STRIPE = "stripe"
    CHARGEBEE = "chargebee"


@dataclass(frozen=True)
class FieldSpec:
    """One logical CRM field: its name, kind, human label and (for enums) values with labels."""

    name: str
    kind: FieldKind
    label: str
    description: str
    options: tuple[tuple[str, str], ...] = ()
    unique: bool = False


def _labels(enum: type[StrEnum]) -> tuple[tuple[str, str], ...]:
    return tuple((m.value, m.value.replace("_", " ").capitalize()) for m in enum)


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("billing_customer_id", FieldKind.TEXT, "Billing customer ID",
              "The billing provider's customer id (cus_…).", unique=True),
    FieldSpec("billing_provider", FieldKind.ENUM, "Billing provider",
              "Which billing system bills this customer.", _labels(BillingProvider)),
    FieldSpec("payment_status", FieldKind.ENUM, "Payment status",
              "current, past due, uncollectible or canceled for non-payment.", _labels(PaymentStatus)),
    FieldSpec("days_past_due", FieldKind.NUMBER, "Days past due",
              "Whole days since the current dunning episode started; 0 outside one."),
    FieldSpec("outstanding_amount", FieldKind.NUMBER, "Outstanding amount",
              "Owed on open and uncollectible invoices, in major units."),
    FieldSpec("outstanding_currency", FieldKind.TEXT, "Outstanding currency",
              "ISO 4217 code of the outstanding amount."),
    FieldSpec("failed_payment_attempts", FieldKind.NUMBER, "Failed payment attempts",
              "Failed payment attempts in the current episode."),
    FieldSpec("last_failure_reason", FieldKind.ENUM, "Last failure reason",
              "Why the last payment failed, normalised across providers.", _labels(FailureReason)),
    FieldSpec("next_payment_retry_date", FieldKind.DATE, "Next payment retry date",
              "The provider's next automatic payment attempt."),
    FieldSpec("first_failed_payment_date", FieldKind.DATE, "First failed payment date",
              "Start of the current dunning episode; empty outside one."),
    FieldSpec("last_successful_payment_date", FieldKind.DATE, "Last successful payment date",
              "Date of the last successful payment."),
    FieldSpec("late_payments_12m", FieldKind.NUMBER, "Late payments (12 months)",
              "Dunning episodes started in the last 365 days, the current one included."),
    FieldSpec("risk_score", FieldKind.NUMBER, "Payment risk score", "0-100; see risk reasons."),
    FieldSpec("risk_segment", FieldKind.ENUM, "Payment risk segment",
              "Risk segment used for lists, tasks and sequences.", _labels(Segment)),
    FieldSpec("risk_reasons", FieldKind.TEXT, "Risk reasons", "Why this risk score, in plain words."),
    FieldSpec("payment_link", FieldKind.TEXT, "Payment link",
              "A stable link the customer can use to pay or update their card."),
    FieldSpec("billing_updated_at", FieldKind.DATETIME, "Billing updated at",
              "When the connector last changed any of these fields on this record."),
)

FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)
FIELDS_BY_NAME: dict[str, FieldSpec] = {f.name: f for f in FIELDS}
