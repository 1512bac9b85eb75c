"""The risk segments of PRODUCT.md §5: ordered rules, the first that matches decides."""

from __future__ import annotations

from collections.abc import Callable

from connector.domain.fields import PaymentStatus, Segment
from connector.domain.policy import DEFAULT_POLICY, RiskPolicy
from connector.domain.risk import RiskScore, is_hard_decline
from connector.domain.state import CustomerState

Rule = Callable[[CustomerState, RiskScore, RiskPolicy], bool]

_GIVEN_UP = frozenset({PaymentStatus.UNCOLLECTIBLE, PaymentStatus.CANCELED})


def _high_risk(state: CustomerState, risk: RiskScore, policy: RiskPolicy) -> bool:
    # Accounts the provider gave up on stay on the high-risk list even outside an episode (§5).
    if state.payment_status in _GIVEN_UP:
        return True
    if not state.in_episode:
        return False
    long_hard = state.days_past_due >= policy.hard_decline_days and is_hard_decline(state)
    return risk.score >= policy.high_risk_threshold or long_hard


def _habitual_late(state: CustomerState, risk: RiskScore, policy: RiskPolicy) -> bool:
    return state.late_payments_12m >= policy.habitual_episodes


def _first_time_late(state: CustomerState, risk: RiskScore, policy: RiskPolicy) -> bool:
    return state.in_episode


_RULES: tuple[tuple[Segment, Rule], ...] = (
    (Segment.HIGH_RISK, _high_risk),
    (Segment.HABITUAL_LATE, _habitual_late),
    (Segment.FIRST_TIME_LATE, _first_time_late),
)


def assign_segment(
    state: CustomerState, risk: RiskScore, policy: RiskPolicy = DEFAULT_POLICY
) -> Segment:
    """Return the customer's one segment: the first §5 rule that matches, else low_risk."""
    for segment, matches in _RULES:
        if matches(state, risk, policy):
            return segment
    return Segment.LOW_RISK
