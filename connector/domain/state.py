"""The derived billing state of one customer: what PRODUCT.md §4 says the CRM should show.

Produced by `billing_state.derive_state` from the customer's known facts; consumed by the risk
score, the segment rules and the CRM field mapping. Amounts are integer minor units.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from connector.domain.fields import FailureReason, PaymentStatus


class Outcome(StrEnum):
    RECOVERED = "recovered"
    WRITTEN_OFF = "written_off"
    CANCELED = "canceled"
    UNCOLLECTIBLE = "uncollectible"


class CollectionMethod(StrEnum):
    CHARGE_AUTOMATICALLY = "charge_automatically"
    SEND_INVOICE = "send_invoice"


@dataclass(frozen=True)
class Episode:
    """One dunning episode: from the first failed attempt (or due date passed) to its outcome."""

    start: date
    collection_method: CollectionMethod
    end: date | None = None  # None while open
    outcome: Outcome | None = None
    invoice_ids: tuple[str, ...] = ()
    amount_minor: int = 0  # owed at the start of the episode (recovery figures)
    currency: str = ""

    @property
    def is_open(self) -> bool:
        return self.end is None


@dataclass(frozen=True)
class CustomerState:
    customer_id: str
    payment_status: PaymentStatus = PaymentStatus.CURRENT
    days_past_due: int = 0
    outstanding_minor: int = 0
    currency: str = ""  # ISO 4217 upper case; "" when nothing was ever billed
    currency_exponent: int = 2  # as the *provider* uses it
    other_currencies_owed: tuple[str, ...] = ()
    failed_payment_attempts: int = 0
    last_failure_reason: FailureReason | None = None  # history: kept after the episode ends
    # the latest known reason among the *current* episode's attempts (None outside an episode, or
    # for an unpaid send_invoice invoice with no failed payment): what §5's reason row scores
    episode_failure_reason: FailureReason | None = None
    next_payment_retry_date: date | None = None
    first_failed_payment_date: date | None = None
    last_successful_payment_date: date | None = None
    late_payments_12m: int = 0  # episodes started in the last 365 days, current included
    episodes: tuple[Episode, ...] = ()  # oldest first
    current_episode: Episode | None = None
    retry_scheduled: bool = False
    median_invoice_minor: int = 0  # median invoice total over 365 days in `currency`
    open_disputes: int = 0
    email: str | None = None
    email_domain: str | None = None
    name: str | None = None
    deleted: bool = False
    notes: tuple[str, ...] = field(default=())  # plain-words remarks (e.g. other currencies owed)

    @property
    def in_episode(self) -> bool:
        return self.current_episode is not None

    @property
    def earlier_episodes_12m(self) -> int:
        return self.late_payments_12m - (1 if self.in_episode else 0)
