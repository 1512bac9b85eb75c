"""A customer's billing state (PRODUCT.md §4), derived purely from what is known about it.

`derive_state(facts, now=..., tz=...)` is a function of the fact store (see `billing_facts`) and
the clock: the same facts give the same state whatever order the events came in. The clock
matters because a `send_invoice` invoice starts an episode by passing its due date — no event
says so (Stripe sends `invoice.overdue` only when an Automation is set up, reference/billing.md §1.1).

How failed payments are counted, once each:
- records naming the same charge share a key and are one record already (`billing_facts`);
- since API 2025-03-31.basil an invoice event names no charge and a charge names no invoice, so
  the rest is joined here by time: records of the same invoice (or, for a charge/payment intent,
  of no known invoice) within `ATTEMPT_JOIN_WINDOW_S` of an attempt, from event types that attempt
  has not yet heard from, and naming no other charge, are that attempt. Stripe emits the charge,
  payment-intent and invoice events of one attempt within seconds; automatic retries are hours
  or days apart.
- a charge/payment-intent failure that joins no invoice attempt (a one-off payment) counts as no
  attempt and starts no episode.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from connector.domain.billing_facts import (
    DISPUTE_CLOSED_STATUSES,
    CustomerDeleted,
    CustomerFacts,
    DisputeSnapshot,
    Fact,
    InvoiceRecord,
    InvoiceSnapshot,
    PaymentFailure,
    ProfileSnapshot,
    RefundSnapshot,
    SubscriptionRecord,
    SubscriptionSnapshot,
    erase_personal_data,
    join_facts,
    merge_facts,
)
from connector.domain.failure_reasons import normalise_chargebee_failure, normalise_failure
from connector.domain.fields import FailureReason, PaymentStatus
from connector.domain.money import chargebee_exponent, format_minor, stripe_exponent
from connector.domain.state import CollectionMethod, CustomerState, Episode, Outcome

__all__ = [
    "ATTEMPT_JOIN_WINDOW_S",
    "CustomerDeleted",
    "CustomerFacts",
    "DisputeSnapshot",
    "Fact",
    "InvoiceSnapshot",
    "PaymentFailure",
    "ProfileSnapshot",
    "RefundSnapshot",
    "SubscriptionSnapshot",
    "derive_state",
    "erase_personal_data",
    "join_facts",
    "merge_facts",
]

ATTEMPT_JOIN_WINDOW_S = 600
_OWED_STATUSES = ("open", "uncollectible")
_NON_PAYMENT = "payment_failed"  # Subscription.cancellation_details.reason


# ---------------------------------------------------------------------------------------------
# Failed attempts.


@dataclass
class _Attempt:
    """One failed payment attempt, joined from one or more failure records."""

    at: int
    invoice_id: str | None
    first_key: str
    charge_ids: set[str] = field(default_factory=set)
    sources: set[str] = field(default_factory=set)
    decline_code: str | None = None
    failure_code: str | None = None
    advice_code: str | None = None
    action_required: bool = False
    amount: int | None = None
    currency: str | None = None
    provider: str = "stripe"

    def accepts(self, r: PaymentFailure) -> bool:
        if abs(r.at - self.at) > ATTEMPT_JOIN_WINDOW_S or self.sources & r.sources:
            return False
        if r.invoice_id is not None and r.invoice_id != self.invoice_id:
            return False
        return r.charge_id is None or not self.charge_ids or r.charge_id in self.charge_ids

    def add(self, r: PaymentFailure) -> None:
        self.at = min(self.at, r.at)
        if r.charge_id:
            self.charge_ids.add(r.charge_id)
        self.sources |= r.sources
        self.decline_code = self.decline_code or r.decline_code
        self.failure_code = self.failure_code or r.failure_code
        self.advice_code = self.advice_code or r.advice_code
        self.action_required = self.action_required or r.action_required
        self.amount = self.amount if self.amount is not None else r.amount
        self.currency = self.currency or r.currency

    @property
    def reason(self) -> FailureReason | None:
        if self.decline_code or self.failure_code:
            normalise = (
                normalise_chargebee_failure if self.provider == "chargebee" else normalise_failure
            )
            return normalise(self.decline_code, self.failure_code, self.advice_code)
        if self.action_required:
            return FailureReason.AUTHENTICATION_REQUIRED
        return None  # e.g. a basil invoice.payment_failed whose charge event has not arrived


def _join_attempts(records: Iterable[PaymentFailure], provider: str = "stripe") -> list[_Attempt]:
    ordered = sorted(records, key=lambda r: (r.at, r.key))
    attempts: list[_Attempt] = []
    by_invoice: dict[str, list[_Attempt]] = {}
    for r in (r for r in ordered if r.invoice_id):
        assert r.invoice_id is not None
        same_invoice = by_invoice.setdefault(r.invoice_id, [])
        target = next((a for a in reversed(same_invoice) if a.accepts(r)), None)
        if target is None:
            target = _Attempt(
                at=r.at, invoice_id=r.invoice_id, first_key=r.key, provider=provider
            )
            same_invoice.append(target)
            attempts.append(target)
        target.add(r)
    for r in (r for r in ordered if not r.invoice_id):
        candidates = [a for a in attempts if a.accepts(r)]
        if candidates:
            min(candidates, key=lambda a: (abs(a.at - r.at), a.at, a.first_key)).add(r)
    return sorted(attempts, key=lambda a: (a.at, a.first_key))


# ---------------------------------------------------------------------------------------------
# Invoices as the derivation sees them.


@dataclass
class _Invoice:
    id: str
    status: str
    collection_method: str
    currency: str
    owed: int  # still owed, if the status is open/uncollectible
    billed: int  # amount due (episode amounts)
    total: int
    paid: int
    created: int
    due_date: int | None
    next_payment_attempt: int | None
    billing_reason: str | None
    subscription: SubscriptionRecord | None
    transitions: tuple[int | None, int | None, int | None]  # paid, voided, uncollectible
    attempts: list[_Attempt]
    trigger: int | None = None  # the instant it started an episode
    start: date | None = None  # the episode start date it gives
    closure: int | None = None  # the instant it stopped being dunned (None: still is)
    written_off: bool = False  # Chargebee write_off_amount > 0


def _sub_canceled_for_non_payment(sub: SubscriptionRecord | None) -> bool:
    return (
        sub is not None
        and sub.snapshot.status == "canceled"
        and sub.snapshot.cancellation_reason == _NON_PAYMENT
    )


def _invoices(facts: CustomerFacts, attempts: list[_Attempt]) -> dict[str, _Invoice]:
    by_invoice: dict[str, list[_Attempt]] = {}
    for a in attempts:
        assert a.invoice_id is not None
        by_invoice.setdefault(a.invoice_id, []).append(a)
    out: dict[str, _Invoice] = {}
    for inv_id, rec in facts.invoices.items():
        out[inv_id] = _from_record(rec, facts.subscriptions, by_invoice.get(inv_id, []))
    # An invoice known only from its failed charges (a pre-basil charge.failed names it): open,
    # automatically collected, owing the charge amount, until its own events arrive.
    for inv_id, its in by_invoice.items():
        if inv_id not in out:
            first = its[0]
            out[inv_id] = _Invoice(
                id=inv_id,
                status="open",
                collection_method=CollectionMethod.CHARGE_AUTOMATICALLY.value,
                currency=(first.currency or "").upper(),
                owed=first.amount or 0,
                billed=first.amount or 0,
                total=first.amount or 0,
                paid=0,
                created=first.at,
                due_date=None,
                next_payment_attempt=None,
                billing_reason=None,
                subscription=None,
                transitions=(None, None, None),
                attempts=its,
            )
    return out


def _from_record(
    rec: InvoiceRecord,
    subscriptions: Mapping[str, SubscriptionRecord],
    attempts: list[_Attempt],
) -> _Invoice:
    s = rec.snapshot
    owed = _first_not_none(s.amount_remaining, s.amount_due, s.total, 0)
    return _Invoice(
        id=s.invoice_id,
        status=s.status,
        collection_method=s.collection_method or CollectionMethod.CHARGE_AUTOMATICALLY.value,
        currency=(s.currency or "").upper(),
        owed=owed,
        billed=_first_not_none(s.amount_due, s.total, 0),
        total=_first_not_none(s.total, s.amount_due, 0),
        paid=_first_not_none(s.amount_paid, s.total if s.status == "paid" else 0, 0),
        created=_first_not_none(s.created, attempts[0].at if attempts else None, s.observed_at),
        due_date=s.due_date,
        next_payment_attempt=s.next_payment_attempt,
        billing_reason=s.billing_reason,
        subscription=subscriptions.get(s.subscription_id) if s.subscription_id else None,
        transitions=(s.paid_at, s.voided_at, s.marked_uncollectible_at),
        attempts=attempts,
        written_off=s.written_off,
    )


def _first_not_none(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _starts_no_episode(inv: _Invoice) -> bool:
    # PRODUCT.md §4: a failed first invoice of a new subscription (`incomplete`) starts none. Only
    # an automatic charge leaves a new subscription incomplete: a send_invoice one is active at
    # once, and its first invoice unpaid past the due date is an episode like any other.
    if inv.billing_reason == "subscription_create" and inv.collection_method != "send_invoice":
        return True
    sub = inv.subscription
    return sub is not None and sub.snapshot.status in ("incomplete", "incomplete_expired")


def _closure(inv: _Invoice) -> int | None:
    """When the invoice stopped being dunned: paid, voided, marked uncollectible, or the provider
    gave up on its subscription (canceled for non-payment, or `unpaid`) after it was created."""
    times = [t for t in inv.transitions if t is not None]
    if inv.status in ("paid", "void", "uncollectible") and not times:
        times.append(inv.created)  # a terminal status without its transition time
    sub = inv.subscription
    if sub is not None:
        if _sub_canceled_for_non_payment(sub):
            canceled = _first_not_none(sub.snapshot.canceled_at, sub.snapshot.ended_at)
            if canceled is not None and canceled >= inv.created:
                times.append(canceled)
        times.extend(t for t in sub.unpaid_seen if t >= inv.created)
    return min(times) if times else None


def _local_midnight(d: date, tz: ZoneInfo) -> int:
    return int(datetime.combine(d, time(0), tzinfo=tz).timestamp())


def _local_date(ts: int, tz: ZoneInfo) -> date:
    return datetime.fromtimestamp(ts, tz).date()


def _set_trigger(inv: _Invoice, *, now_ts: int, tz: ZoneInfo) -> None:
    if inv.status == "draft" or _starts_no_episode(inv):
        return
    if inv.collection_method == CollectionMethod.SEND_INVOICE.value:
        if inv.due_date is None:
            return
        due = _local_date(inv.due_date, tz)
        trigger = _local_midnight(due + timedelta(days=1), tz)  # it has passed its due date
        start = due  # days_past_due is 1 on the day after the due date
    else:
        if not inv.attempts:
            return
        trigger = inv.attempts[0].at  # the first failed automatic attempt
        start = _local_date(trigger, tz)  # days_past_due is 0 on that day
    if trigger > now_ts or (inv.closure is not None and inv.closure <= trigger):
        return
    inv.trigger, inv.start = trigger, start


# ---------------------------------------------------------------------------------------------
# Episodes.


@dataclass
class _EpisodeBuild:
    start: date
    collection_method: str
    members: list[_Invoice]

    @property
    def open_until(self) -> int | None:
        closures = [m.closure for m in self.members]
        return None if any(c is None for c in closures) else max(c for c in closures if c)

    def outcome(self) -> Outcome | None:
        if self.open_until is None:
            return None
        # The final known facts decide, whatever the order they happened in (§4):
        # recovered > written_off > canceled > uncollectible.
        still_owed = [m for m in self.members if m.status in _OWED_STATUSES and m.owed > 0]
        if not still_owed:
            paid = [m for m in self.members if m.status == "paid" and not _credited(m)]
            return Outcome.RECOVERED if paid else Outcome.WRITTEN_OFF
        if any(_sub_canceled_for_non_payment(m.subscription) for m in self.members):
            return Outcome.CANCELED
        return Outcome.UNCOLLECTIBLE


def _credited(inv: _Invoice) -> bool:
    # A credit note covering the whole amount turns the invoice `paid` with nothing paid:
    # a write-off, not a recovery.
    # Chargebee says so outright: a write-off closes the invoice `paid` with write_off_amount.
    return inv.status == "paid" and ((inv.paid == 0 and inv.total > 0) or inv.written_off)


def _episodes(invoices: Iterable[_Invoice]) -> list[_EpisodeBuild]:
    triggered = sorted(
        (i for i in invoices if i.trigger is not None), key=lambda i: (i.trigger, i.id)
    )
    episodes: list[_EpisodeBuild] = []
    for inv in triggered:
        assert inv.trigger is not None and inv.start is not None
        current = episodes[-1] if episodes else None
        if current is not None:
            until = current.open_until
            if until is None or inv.trigger < until:
                current.members.append(inv)
                continue
        episodes.append(_EpisodeBuild(inv.start, inv.collection_method, [inv]))
    return episodes


def _to_episode(e: _EpisodeBuild, tz: ZoneInfo) -> Episode:
    currency = e.members[0].currency
    until = e.open_until
    return Episode(
        start=e.start,
        collection_method=CollectionMethod(e.collection_method),
        end=_local_date(until, tz) if until is not None else None,
        outcome=e.outcome(),
        invoice_ids=tuple(sorted(m.id for m in e.members)),
        amount_minor=sum(m.billed for m in e.members if m.currency == currency),
        currency=currency,
    )


# ---------------------------------------------------------------------------------------------
# The state.


def _in_last_365_days(d: date, today: date) -> bool:
    return 0 <= (today - d).days < 365


def _median(values: list[int]) -> int:
    if not values:
        return 0
    return int(Decimal(str(statistics.median(values))).to_integral_value(ROUND_HALF_UP))


def _payment_status(
    current: _EpisodeBuild | None, owed: list[_Invoice], closed: list[_EpisodeBuild]
) -> PaymentStatus:
    if current is not None:
        return PaymentStatus.PAST_DUE
    outcome_of = {m.id: e.outcome() for e in closed for m in e.members}
    if any(
        _sub_canceled_for_non_payment(i.subscription) or outcome_of.get(i.id) == Outcome.CANCELED
        for i in owed
    ):
        return PaymentStatus.CANCELED
    if any(
        i.status == "uncollectible"
        or (i.subscription is not None and i.subscription.snapshot.status == "unpaid")
        or outcome_of.get(i.id) == Outcome.UNCOLLECTIBLE
        for i in owed
    ):
        return PaymentStatus.UNCOLLECTIBLE
    return PaymentStatus.CURRENT


def derive_state(facts: CustomerFacts, *, now: datetime, tz: ZoneInfo) -> CustomerState:
    """The §4 billing state of one customer at `now` (aware), dates in the installation's `tz`."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    now_ts = int(now.timestamp())
    today = now.astimezone(tz).date()

    attempts = _join_attempts(facts.failures.values(), facts.provider)
    invoices = _invoices(facts, attempts)
    for inv in invoices.values():
        inv.closure = _closure(inv)
        _set_trigger(inv, now_ts=now_ts, tz=tz)
    builds = _episodes(invoices.values())
    current = builds[-1] if builds and builds[-1].open_until is None else None
    closed = [b for b in builds if b is not current]

    # What is owed, in the currency of the oldest unpaid invoice (§4).
    owed = sorted(
        (i for i in invoices.values() if i.status in _OWED_STATUSES and i.owed > 0),
        key=lambda i: (i.created, i.id),
    )
    by_currency: dict[str, int] = {}
    for inv in owed:
        by_currency[inv.currency] = by_currency.get(inv.currency, 0) + inv.owed
    if owed:
        currency = owed[0].currency
    else:
        latest = max(invoices.values(), key=lambda i: (i.created, i.id), default=None)
        currency = latest.currency if latest else ""
    # Each provider's own exponent (§4): Chargebee has no three-decimal currencies.
    exponent_of = chargebee_exponent if facts.provider == "chargebee" else stripe_exponent
    exponent = exponent_of(currency) if currency else 2
    others = tuple(sorted(c for c in by_currency if c != currency))
    notes = tuple(
        f"Also owes {c} {format_minor(by_currency[c], exponent_of(c))} "
        f"(not included in the outstanding amount)."
        for c in others
    )

    last_reason = next((a.reason for a in reversed(attempts) if a.reason), None)

    episode_attempts: list[_Attempt] = []
    next_retry: int | None = None
    if current is not None:
        members = {m.id for m in current.members}
        since = _local_midnight(current.start, tz)
        episode_attempts = [a for a in attempts if a.invoice_id in members and a.at >= since]
        retries = [
            m.next_payment_attempt
            for m in current.members
            if m.status == "open" and m.next_payment_attempt is not None
        ]
        next_retry = min(retries) if retries else None
    episode_reason = next((a.reason for a in reversed(episode_attempts) if a.reason), None)

    paid_dates = [
        _local_date(i.transitions[0], tz)
        for i in invoices.values()
        if i.status == "paid" and i.paid > 0 and i.transitions[0] is not None
    ]
    recent_totals = [
        i.total
        for i in invoices.values()
        if i.currency == currency
        and i.status in ("open", "paid", "uncollectible")
        and i.total > 0
        and _in_last_365_days(_local_date(i.created, tz), today)
    ]
    episodes = tuple(_to_episode(b, tz) for b in builds)
    profile = facts.profile
    email = profile.email
    return CustomerState(
        customer_id=facts.customer_id,
        payment_status=_payment_status(current, owed, closed),
        days_past_due=(today - current.start).days if current is not None else 0,
        outstanding_minor=by_currency.get(currency, 0),
        currency=currency,
        currency_exponent=exponent,
        other_currencies_owed=others,
        failed_payment_attempts=len(episode_attempts),
        last_failure_reason=last_reason,
        episode_failure_reason=episode_reason,
        next_payment_retry_date=_local_date(next_retry, tz) if next_retry is not None else None,
        first_failed_payment_date=current.start if current is not None else None,
        last_successful_payment_date=max(paid_dates, default=None),
        late_payments_12m=sum(1 for e in episodes if _in_last_365_days(e.start, today)),
        episodes=episodes,
        current_episode=episodes[-1] if current is not None else None,
        retry_scheduled=next_retry is not None,
        median_invoice_minor=_median(recent_totals),
        open_disputes=sum(
            1 for d in facts.disputes.values() if d.status not in DISPUTE_CLOSED_STATUSES
        ),
        email=email,
        email_domain=email.rsplit("@", 1)[1].lower() if email and "@" in email else None,
        name=profile.name,
        deleted=profile.deleted,
        notes=notes,
    )
