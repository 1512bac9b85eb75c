"""The explainable risk score of PRODUCT.md §5: every point carries a reason in plain words."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from connector.domain.failure_reasons import HARD_REASONS
from connector.domain.fields import FailureReason, PaymentStatus
from connector.domain.policy import DEFAULT_POLICY, RiskPolicy
from connector.domain.state import CollectionMethod, CustomerState

MAX_SCORE = 100
REASONS_MAX_CHARS = 255  # §3: risk_reasons is text ≤ 255 chars (Salesforce Text(255))

# §5's hard declines are the failure reasons' own list: one definition for score and playbook.
HARD_DECLINES = HARD_REASONS
MEDIUM_DECLINES = frozenset(
    {FailureReason.INSUFFICIENT_FUNDS, FailureReason.AUTHENTICATION_REQUIRED}
)

_FAILURE_WORDS: dict[FailureReason, str] = {
    FailureReason.EXPIRED_CARD: "card expired",
    FailureReason.INSUFFICIENT_FUNDS: "insufficient funds",
    FailureReason.CARD_DECLINED: "card declined",
    FailureReason.AUTHENTICATION_REQUIRED: "payment needs the customer's authentication",
    FailureReason.INCORRECT_CARD_DETAILS: "incorrect card details",
    FailureReason.LOST_OR_STOLEN_CARD: "card reported lost or stolen",
    FailureReason.FRAUD_SUSPECTED: "payment flagged as suspected fraud",
    FailureReason.DO_NOT_RETRY: "card issuer said not to retry",
    FailureReason.PROCESSING_ERROR: "payment processing error",
    FailureReason.OTHER: "payment failed for another reason",
}


@dataclass(frozen=True)
class RiskPoint:
    points: float
    reason: str


@dataclass(frozen=True)
class RiskScore:
    score: int  # 0-100, rounded half up
    points: tuple[RiskPoint, ...]  # the rows that gave points, in §5 table order


def failure_reason_words(reason: FailureReason) -> str:
    """Say a failure reason in plain words ("card expired")."""
    return _FAILURE_WORDS[reason]


def current_failure_reason(state: CustomerState) -> FailureReason | None:
    """Return the failure reason of the open episode, or None (no episode, or nothing failed yet).

    last_failure_reason stays as history after an episode ends, and a send_invoice episode may have
    no failed attempt at all, so only a failure counted in the current episode is its reason.
    """
    if not state.in_episode or state.failed_payment_attempts < 1:
        return None
    return state.episode_failure_reason


def is_hard_decline(state: CustomerState) -> bool:
    """Tell whether the open episode's failure is a hard decline (§5)."""
    return current_failure_reason(state) in HARD_DECLINES


def score_risk(state: CustomerState, policy: RiskPolicy = DEFAULT_POLICY) -> RiskScore:
    """Score a customer's payment risk per PRODUCT.md §5."""
    if state.in_episode:
        rows = [
            _days_row(state, policy),
            _history_row(state.earlier_episodes_12m, policy, earlier=True),
            _failure_row(state, policy),
            _amount_row(state, policy),
            _no_retry_row(state, policy),
        ]
    else:
        # §5: outside an episode only the earlier-episodes row counts, over all 12-month episodes.
        rows = [_history_row(state.late_payments_12m, policy, earlier=False)]
    # §4: a dispute raises risk, in an episode or not (a chargeback is money taken back).
    rows.append(_dispute_row(state, policy))
    if state.payment_status is PaymentStatus.UNCOLLECTIBLE:
        # §5 names only `uncollectible`; `canceled` is not forced to 100 (its segment is high_risk).
        rows.append((Decimal(MAX_SCORE), "the billing provider gave up collecting (uncollectible)"))
    points = tuple(RiskPoint(float(p), reason) for p, reason in _given(rows))
    return RiskScore(_total(points), points)


def risk_reasons_text(score: RiskScore, state: CustomerState) -> str:
    """Say why this score in at most 255 characters, the weightiest reasons first."""
    ranked = sorted(score.points, key=lambda p: -p.points)
    parts = [f"{p.reason} (+{_plain_number(p.points)})" for p in ranked]
    parts += _currency_and_notes(state)
    text = _fit(parts, REASONS_MAX_CHARS)
    codes = state.other_currencies_owed
    if codes and not all(code in text for code in codes):
        # §4: risk_reasons names the other currencies owed; trimming must never drop them.
        owed = f"also owes in {', '.join(codes)}"
        text = f"{_fit(parts, REASONS_MAX_CHARS - len(owed) - 2)}; {owed}"
    return text


Row = tuple[Decimal, str] | None


def _given(rows: Iterable[Row]) -> Iterable[tuple[Decimal, str]]:
    return (row for row in rows if row is not None and row[0] > 0)


def _days_row(state: CustomerState, policy: RiskPolicy) -> Row:
    days = state.days_past_due
    points = min(_dec(policy.points_per_day) * days, _dec(policy.days_points_cap))
    return points, f"{days} {_plural(days, 'day')} past due"


def _history_row(count: int, policy: RiskPolicy, *, earlier: bool) -> Row:
    count = max(count, 0)
    table = policy.earlier_episode_points
    points = _dec(table[min(count, len(table) - 1)])
    kind = "earlier late" if earlier else "late"
    return points, f"{count} {kind} {_plural(count, 'payment')} in the last 12 months"


def _failure_row(state: CustomerState, policy: RiskPolicy) -> Row:
    reason = current_failure_reason(state)
    if reason is None:
        return None
    if reason in HARD_DECLINES:
        return _dec(policy.hard_decline_points), f"{failure_reason_words(reason)} (hard decline)"
    if reason in MEDIUM_DECLINES:
        return _dec(policy.medium_decline_points), failure_reason_words(reason)
    return _dec(policy.other_decline_points), failure_reason_words(reason)


def _amount_row(state: CustomerState, policy: RiskPolicy) -> Row:
    if state.median_invoice_minor <= 0 or state.outstanding_minor <= 0:
        return None
    ratio = Decimal(state.outstanding_minor) / Decimal(state.median_invoice_minor)
    reached = [
        points for threshold, points in policy.amount_ratio_points if ratio >= _dec(threshold)
    ]
    if not reached:
        return None
    # Shown rounded down so the text never claims a threshold the ratio did not reach (2.96 → "2.9×").
    shown = ratio.quantize(Decimal("0.1"), rounding=ROUND_DOWN)
    return _dec(reached[-1]), f"owes {shown}× the usual invoice"


def _dispute_row(state: CustomerState, policy: RiskPolicy) -> Row:
    if state.open_disputes <= 0:
        return None
    return _dec(policy.dispute_points), f"{state.open_disputes} open {_plural(state.open_disputes, 'dispute')}"


def _no_retry_row(state: CustomerState, policy: RiskPolicy) -> Row:
    episode = state.current_episode
    if episode is None or episode.collection_method is not CollectionMethod.CHARGE_AUTOMATICALLY:
        return None
    if state.retry_scheduled:
        return None
    return _dec(policy.no_retry_points), "no automatic retry scheduled"


def _total(points: tuple[RiskPoint, ...]) -> int:
    # Decimal, because round() rounds half to even (round(68.5) == 68) and §5 says half up.
    total = sum((_dec(p.points) for p in points), Decimal(0))
    return max(0, min(MAX_SCORE, int(total.quantize(Decimal(1), rounding=ROUND_HALF_UP))))


def _currency_and_notes(state: CustomerState) -> list[str]:
    notes = [note for note in state.notes if note]
    codes = state.other_currencies_owed
    named = all(any(code in note for note in notes) for code in codes)
    currency = [] if named else [f"also owes in {', '.join(codes)}"]
    return currency + notes


def _fit(parts: list[str], limit: int, sep: str = "; ") -> str:
    """Join parts within limit; drop whole parts from the end (marking the cut with "…")."""
    text = sep.join(parts)
    if len(text) <= limit:
        return text
    cut = "…"
    kept: list[str] = []
    for part in parts:
        if len(sep.join([*kept, part, cut])) > limit:
            break
        kept.append(part)
    if not kept:
        return text[: limit - len(cut)].rstrip() + cut
    return sep.join([*kept, cut])


def _dec(value: float) -> Decimal:
    # str() first: Decimal(0.1) would carry the binary float's error into the score.
    return Decimal(str(value))


def _plain_number(value: float) -> str:
    return format(_dec(value).normalize(), "f")


def _plural(count: int, word: str) -> str:
    return word if count == 1 else f"{word}s"
