"""Recovery figures for Finance / RevOps (issue 5 point 5), from the customers' billing facts.

Pure: `recovery_report(facts, period=..., tz=..., now=...)` derives every customer's episodes with
`derive_state` and counts. Each figure keeps its parts so the dashboard shows the formula with
the numbers in it:

- recovery rate = episodes ended `recovered` / episodes ended (in the period, by end date);
  amount-weighted = amount of the recovered episodes / amount of the ended episodes;
- recovered amount = the amounts of the episodes ended `recovered`;
- DSO = receivables open at period end / amount billed in the period × days in the period;
- involuntary churn = subscriptions canceled for non-payment in the period / subscriptions active
  at period start.

Amounts are never added across currencies: every figure is per currency.

What the facts cannot say exactly, and the choice made:
- an episode's segment is the §5 segment it had reached on the day it ended, re-scored with the
  installation's policy from the episode's own facts (days, reason, amount, episodes before it);
  the customer's segment *now* would put almost every recovered episode under low_risk;
- an episode's failure reason is the latest known reason of its failed attempts (what the CRM's
  `last_failure_reason` showed); an overdue send_invoice invoice has none (`no_failed_payment`);
- receivables: invoices created by the period end and not yet paid, voided or marked
  uncollectible then (marked uncollectible = written off in the books), at what is owed now if
  still open, else their amount due (partial payments before the period end are not known);
- a subscription started with its first invoice; one with no invoice is left out of churn.
"""

from __future__ import annotations

import calendar
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from connector.domain.billing_facts import CustomerFacts, InvoiceSnapshot, PaymentFailure
from connector.domain.billing_state import ATTEMPT_JOIN_WINDOW_S, derive_state
from connector.domain.failure_reasons import normalise_failure
from connector.domain.fields import FailureReason, PaymentStatus, Segment
from connector.domain.policy import DEFAULT_POLICY, RiskPolicy
from connector.domain.risk import score_risk
from connector.domain.segments import assign_segment
from connector.domain.state import CollectionMethod, CustomerState, Episode, Outcome

NO_FAILED_PAYMENT = "no_failed_payment"
FORMULAS = {
    "recovery_rate": "episodes ended recovered / episodes ended",
    "recovery_rate_amount": "amount of episodes ended recovered / amount of episodes ended",
    "recovered_amount": "sum of the amounts of the episodes ended recovered",
    "dso": "receivables open at period end / amount billed in the period × days in the period",
    "involuntary_churn": "subscriptions canceled for non-payment / subscriptions active at period start",
}


class PeriodError(ValueError):
    """A period the API cannot read; the message says what it accepts."""


@dataclass(frozen=True)
class Period:
    start: date  # first day, inclusive
    end: date  # last day, inclusive
    label: str = ""

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def contains(self, d: date) -> bool:
        return self.start <= d <= self.end


_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$", re.IGNORECASE)
_DAYS = re.compile(r"^(\d{1,4})d$")


def parse_period(text: str | None, *, today: date) -> Period:
    """`90d` (the last 90 days, today included; the default), `2026-11` (a month) or `2026-Q4`."""
    text = (text or "90d").strip()
    if m := _DAYS.match(text):
        n = int(m.group(1))
        if not 1 <= n <= 3660:
            raise PeriodError("period: between 1d and 3660d")
        return Period(today - timedelta(days=n - 1), today, f"last {n} days")
    if m := _MONTH.match(text):
        year, month = _year(m.group(1)), int(m.group(2))
        if not 1 <= month <= 12:
            raise PeriodError(f"period: no month {month}")
        last = calendar.monthrange(year, month)[1]
        return _to_date(Period(date(year, month, 1), date(year, month, last), text), today)
    if m := _QUARTER.match(text):
        year, q = _year(m.group(1)), int(m.group(2))
        first = date(year, 3 * q - 2, 1)
        last_month = 3 * q
        return _to_date(Period(first, date(year, last_month, calendar.monthrange(year, last_month)[1]),
                               f"{year}-Q{q}"), today)
    raise PeriodError("period: use 90d (last N days), 2026-11 (a month) or 2026-Q4 (a quarter)")


def _to_date(period: Period, today: date) -> Period:
    """The current month or quarter runs to today: its days not yet lived would inflate DSO
    (receivables now over a month's billing to date × the whole month's days)."""
    if period.start > today:
        raise PeriodError(f"period: {period.label} has not begun")
    if period.end <= today:
        return period
    return Period(period.start, today, f"{period.label} to date")


def _year(text: str) -> int:
    """A year the figures can be about (dates around it must stay representable)."""
    year = int(text)
    if not 1970 <= year <= 2100:
        raise PeriodError(f"period: year {year} is outside 1970-2100")
    return year


# ---------------------------------------------------------------------------------------------
# Figures.


@dataclass(frozen=True)
class Rate:
    """Recovery among ended episodes: by count and by amount (minor units of one currency)."""

    ended: int = 0
    recovered: int = 0
    amount_ended: int = 0
    amount_recovered: int = 0

    @property
    def rate(self) -> float | None:
        return self.recovered / self.ended if self.ended else None

    @property
    def amount_rate(self) -> float | None:
        return self.amount_recovered / self.amount_ended if self.amount_ended else None

    def add(self, episode: Episode) -> Rate:
        won = episode.outcome is Outcome.RECOVERED
        return Rate(self.ended + 1, self.recovered + won, self.amount_ended + episode.amount_minor,
                    self.amount_recovered + (episode.amount_minor if won else 0))


@dataclass(frozen=True)
class Dso:
    open_at_end: int
    billed: int
    days: int

    @property
    def value(self) -> float | None:
        return self.open_at_end / self.billed * self.days if self.billed else None


@dataclass(frozen=True)
class Churn:
    canceled_for_non_payment: int
    active_at_start: int

    @property
    def rate(self) -> float | None:
        return self.canceled_for_non_payment / self.active_at_start if self.active_at_start else None


@dataclass(frozen=True)
class CurrencyFigures:
    currency: str
    recovery: Rate
    by_week: tuple[tuple[date, Rate], ...]  # Monday of each ISO week touching the period
    by_segment: tuple[tuple[str, Rate], ...]  # §5 segments in rule order
    by_reason: tuple[tuple[str, Rate], ...]  # reasons seen, most episodes first
    dso: Dso
    churn: Churn

    @property
    def recovered_amount(self) -> int:
        return self.recovery.amount_recovered


@dataclass(frozen=True)
class RecoveryReport:
    period: Period
    currencies: tuple[CurrencyFigures, ...] = field(default=())


# ---------------------------------------------------------------------------------------------
# Per customer.


@dataclass(frozen=True)
class EndedEpisode:
    episode: Episode
    segment: str
    reason: str


def ended_episodes(facts: CustomerFacts, state: CustomerState, *, policy: RiskPolicy = DEFAULT_POLICY
                   ) -> list[EndedEpisode]:
    """The customer's ended episodes with the segment and failure reason each one had."""
    out = []
    for index, episode in enumerate(state.episodes):
        if episode.outcome is None or episode.end is None:
            continue
        reason = episode_reason(facts, episode)
        before = [e for e in state.episodes[:index] if 0 <= (episode.start - e.start).days < 365]
        out.append(EndedEpisode(episode, _segment_at_end(state, episode, reason, len(before), policy),
                                reason.value if reason else NO_FAILED_PAYMENT))
    return out


def _episode_failures(facts: CustomerFacts, episode: Episode) -> list[PaymentFailure]:
    invoices = set(episode.invoice_ids)
    linked = [f for f in facts.failures.values() if f.invoice_id in invoices]
    # Since Stripe's basil API a charge names no invoice: it belongs to the attempt it came with.
    unlinked = [f for f in facts.failures.values() if f.invoice_id is None
                and any(abs(f.at - g.at) <= ATTEMPT_JOIN_WINDOW_S for g in linked)]
    return sorted(linked + unlinked, key=lambda f: (f.at, f.key))


def episode_reason(facts: CustomerFacts, episode: Episode) -> FailureReason | None:
    """The latest known failure reason among the episode's failed attempts."""
    reason = None
    for f in _episode_failures(facts, episode):
        if f.decline_code or f.failure_code:
            reason = normalise_failure(f.decline_code, f.failure_code, f.advice_code)
        elif f.action_required:
            reason = FailureReason.AUTHENTICATION_REQUIRED
    return reason


def _segment_at_end(state: CustomerState, episode: Episode, reason: FailureReason | None,
                    earlier: int, policy: RiskPolicy) -> str:
    assert episode.end is not None
    gave_up = episode.outcome in (Outcome.CANCELED, Outcome.UNCOLLECTIBLE)
    automatic = episode.collection_method is CollectionMethod.CHARGE_AUTOMATICALLY
    then = replace(
        state,
        payment_status=PaymentStatus.PAST_DUE,
        days_past_due=(episode.end - episode.start).days,
        outstanding_minor=episode.amount_minor,
        currency=episode.currency,
        failed_payment_attempts=1 if reason else 0,
        episode_failure_reason=reason,
        late_payments_12m=earlier + 1,
        current_episode=replace(episode, end=None, outcome=None),
        # A provider that gave up had stopped retrying; otherwise assume a retry was still due.
        retry_scheduled=automatic and not gave_up,
    )
    segment = assign_segment(then, score_risk(then, policy), policy)
    if gave_up:
        segment = Segment.HIGH_RISK  # §5: uncollectible / canceled accounts are high risk
    return segment.value


# ---------------------------------------------------------------------------------------------
# Receivables, billing and subscriptions at a point in time (unix seconds).


def _closed_at(s: InvoiceSnapshot) -> int | None:
    times = [t for t in (s.paid_at, s.voided_at, s.marked_uncollectible_at) if t is not None]
    if times:
        return min(times)
    if s.status in ("paid", "void", "uncollectible"):
        return s.created if s.created is not None else s.observed_at  # terminal, time unknown
    return None


def receivables_at(facts: CustomerFacts, at: int) -> dict[str, int]:
    """What was owed at instant `at`, per currency."""
    out: dict[str, int] = defaultdict(int)
    for rec in facts.invoices.values():
        s = rec.snapshot
        created = s.created if s.created is not None else s.observed_at
        closed = _closed_at(s)
        if s.status == "draft" or not s.currency or created > at or (closed is not None and closed <= at):
            continue
        due = _first(s.amount_due, s.total, 0)
        owed = _first(s.amount_remaining, due) if s.status in ("open", "uncollectible") else due
        out[s.currency.upper()] += owed
    return dict(out)


def billed_between(facts: CustomerFacts, start: int, end: int) -> dict[str, int]:
    """Amount due of the invoices created in [start, end), per currency; void ones left out."""
    out: dict[str, int] = defaultdict(int)
    for rec in facts.invoices.values():
        s = rec.snapshot
        created = s.created if s.created is not None else s.observed_at
        if s.status in ("draft", "void") or not s.currency or not start <= created < end:
            continue
        out[s.currency.upper()] += _first(s.amount_due, s.total, 0)
    return dict(out)


def churn_counts(facts: CustomerFacts, start: int, end: int) -> dict[str, tuple[int, int]]:
    """Per currency: (canceled for non-payment in [start, end), active at `start`)."""
    first_invoice: dict[str, tuple[int, str]] = {}
    for rec in facts.invoices.values():
        s = rec.snapshot
        if s.subscription_id and s.currency:
            created = s.created if s.created is not None else s.observed_at
            known = first_invoice.get(s.subscription_id)
            if known is None or created < known[0]:
                first_invoice[s.subscription_id] = (created, s.currency.upper())
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for sub_id, rec in facts.subscriptions.items():
        if sub_id not in first_invoice:
            continue
        began, currency = first_invoice[sub_id]
        s = rec.snapshot
        ended = _first(s.ended_at, s.canceled_at) if s.status in ("canceled", "incomplete_expired") else None
        if s.status == "canceled" and s.cancellation_reason == "payment_failed" and ended is not None \
                and start <= ended < end:
            out[currency][0] += 1
        if s.status != "incomplete_expired" and began <= start and (ended is None or ended > start):
            out[currency][1] += 1
    return {c: (v[0], v[1]) for c, v in out.items()}


def _first(*values: int | None) -> int:
    return next(v for v in values if v is not None)


# ---------------------------------------------------------------------------------------------
# The report.


def week_start(d: date) -> date:
    return d - timedelta(days=d.weekday())


def _weeks(period: Period) -> list[date]:
    weeks, monday = [], week_start(period.start)
    while monday <= period.end:
        weeks.append(monday)
        monday += timedelta(days=7)
    return weeks


def recovery_report(customers: Iterable[CustomerFacts], *, period: Period, tz: ZoneInfo, now: datetime,
                    policy: RiskPolicy = DEFAULT_POLICY) -> RecoveryReport:
    """The figures of `period` (dates in `tz`) over every customer's facts, per currency."""
    start_ts = int(datetime.combine(period.start, time(0), tzinfo=tz).timestamp())
    end_ts = int(datetime.combine(period.end + timedelta(days=1), time(0), tzinfo=tz).timestamp())
    episodes: dict[str, list[EndedEpisode]] = defaultdict(list)
    open_at_end: dict[str, int] = defaultdict(int)
    billed: dict[str, int] = defaultdict(int)
    churn: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for facts in customers:
        state = derive_state(facts, now=now, tz=tz)
        for ended in ended_episodes(facts, state, policy=policy):
            assert ended.episode.end is not None
            if ended.episode.currency and period.contains(ended.episode.end):
                episodes[ended.episode.currency].append(ended)
        for currency, amount in receivables_at(facts, end_ts - 1).items():
            open_at_end[currency] += amount
        for currency, amount in billed_between(facts, start_ts, end_ts).items():
            billed[currency] += amount
        for currency, (lost, active) in churn_counts(facts, start_ts, end_ts).items():
            churn[currency][0] += lost
            churn[currency][1] += active
    currencies = sorted(set(episodes) | set(open_at_end) | set(billed) | set(churn))
    return RecoveryReport(period, tuple(
        _figures(c, episodes.get(c, []), period, Dso(open_at_end.get(c, 0), billed.get(c, 0), period.days),
                 Churn(*churn.get(c, (0, 0))))
        for c in currencies))


def _figures(currency: str, ended: Sequence[EndedEpisode], period: Period, dso: Dso, churn: Churn
             ) -> CurrencyFigures:
    total = Rate()
    weeks = {w: Rate() for w in _weeks(period)}
    # An episode is never low_risk (§5: any open episode is at least first_time_late).
    segments = {s.value: Rate() for s in (Segment.HIGH_RISK, Segment.HABITUAL_LATE, Segment.FIRST_TIME_LATE)}
    reasons: dict[str, Rate] = {}
    for e in ended:
        assert e.episode.end is not None
        total = total.add(e.episode)
        monday = week_start(e.episode.end)
        weeks[monday] = weeks[monday].add(e.episode)
        segments[e.segment] = segments.get(e.segment, Rate()).add(e.episode)
        reasons[e.reason] = reasons.get(e.reason, Rate()).add(e.episode)
    by_reason = sorted(reasons.items(), key=lambda kv: (-kv[1].ended, kv[0]))
    return CurrencyFigures(currency, total, tuple(weeks.items()), tuple(segments.items()),
                           tuple(by_reason), dso, churn)
