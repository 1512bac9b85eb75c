"""The segment rules of PRODUCT.md §5: in order, first match wins."""

from __future__ import annotations

from datetime import date

import pytest

from connector.domain.fields import FailureReason, PaymentStatus, Segment
from connector.domain.policy import DEFAULT_POLICY, RiskPolicy
from connector.domain.risk import RiskScore, score_risk
from connector.domain.segments import assign_segment
from connector.domain.state import CollectionMethod, CustomerState, Episode

R = FailureReason


def in_episode(
    *,
    days: int = 2,
    reason: FailureReason | None = R.INSUFFICIENT_FUNDS,
    episodes_12m: int = 1,
    retry: bool = True,
) -> CustomerState:
    return CustomerState(
        customer_id="cus_QX8fL2mNc3",
        payment_status=PaymentStatus.PAST_DUE,
        days_past_due=days,
        outstanding_minor=10_000,
        currency="USD",
        failed_payment_attempts=1 if reason else 0,
        last_failure_reason=reason,
        episode_failure_reason=reason,
        first_failed_payment_date=date(2026, 3, 1),
        late_payments_12m=episodes_12m,
        current_episode=Episode(
            start=date(2026, 3, 1), collection_method=CollectionMethod.CHARGE_AUTOMATICALLY
        ),
        retry_scheduled=retry,
        median_invoice_minor=10_000,
    )


def outside(status: PaymentStatus = PaymentStatus.CURRENT, episodes_12m: int = 0) -> CustomerState:
    return CustomerState(
        customer_id="cus_QX8fL2mNc3",
        payment_status=status,
        late_payments_12m=episodes_12m,
        last_failure_reason=R.EXPIRED_CARD,
    )


def score(value: int) -> RiskScore:
    return RiskScore(value, ())


@pytest.mark.parametrize(
    ("state", "risk", "expected"),
    [
        pytest.param(in_episode(), score(18), Segment.FIRST_TIME_LATE, id="in-episode-first-time"),
        pytest.param(in_episode(), score(70), Segment.HIGH_RISK, id="score-at-threshold"),
        pytest.param(in_episode(), score(69), Segment.FIRST_TIME_LATE, id="score-below-threshold"),
        pytest.param(
            in_episode(days=14, reason=R.EXPIRED_CARD),
            score(40),
            Segment.HIGH_RISK,
            id="14-days-hard-decline",
        ),
        pytest.param(
            in_episode(days=13, reason=R.EXPIRED_CARD),
            score(40),
            Segment.FIRST_TIME_LATE,
            id="13-days-hard-decline",
        ),
        pytest.param(
            in_episode(days=20, reason=R.INSUFFICIENT_FUNDS),
            score(40),
            Segment.FIRST_TIME_LATE,
            id="20-days-soft-decline",
        ),
        pytest.param(
            in_episode(days=20, reason=None),
            score(40),
            Segment.FIRST_TIME_LATE,
            id="20-days-no-failure",
        ),
        pytest.param(
            in_episode(days=14, reason=R.DO_NOT_RETRY, episodes_12m=3),
            score(40),
            Segment.HIGH_RISK,
            id="high-risk-before-habitual",
        ),
        pytest.param(
            in_episode(episodes_12m=3),
            score(40),
            Segment.HABITUAL_LATE,
            id="third-episode-habitual",
        ),
        pytest.param(
            in_episode(episodes_12m=2),
            score(40),
            Segment.FIRST_TIME_LATE,
            id="second-episode-first-time",
        ),
        pytest.param(
            outside(PaymentStatus.UNCOLLECTIBLE), score(100), Segment.HIGH_RISK, id="uncollectible"
        ),
        pytest.param(outside(PaymentStatus.CANCELED), score(0), Segment.HIGH_RISK, id="canceled"),
        pytest.param(
            outside(episodes_12m=3), score(20), Segment.HABITUAL_LATE, id="habitual-outside-episode"
        ),
        pytest.param(outside(episodes_12m=2), score(10), Segment.LOW_RISK, id="two-ended-episodes"),
        pytest.param(
            outside(), score(90), Segment.LOW_RISK, id="score-alone-never-high-outside-episode"
        ),
        pytest.param(outside(), score(0), Segment.LOW_RISK, id="current-clean"),
    ],
)
def test_segment_rules(state, risk, expected):
    assert assign_segment(state, risk, DEFAULT_POLICY) is expected


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        pytest.param(in_episode(), Segment.FIRST_TIME_LATE, id="example-a"),
        pytest.param(
            in_episode(days=16, reason=R.EXPIRED_CARD, episodes_12m=3, retry=False),
            Segment.HIGH_RISK,
            id="example-b-69-but-hard-decline-14-days",
        ),
    ],
)
def test_worked_examples(state, expected):
    assert assign_segment(state, score_risk(state, DEFAULT_POLICY), DEFAULT_POLICY) is expected


@pytest.mark.parametrize(
    ("state", "risk", "policy", "expected"),
    [
        pytest.param(
            in_episode(),
            score(55),
            RiskPolicy(high_risk_threshold=50),
            Segment.HIGH_RISK,
            id="lower-threshold",
        ),
        pytest.param(
            in_episode(days=7, reason=R.EXPIRED_CARD),
            score(20),
            RiskPolicy(hard_decline_days=7),
            Segment.HIGH_RISK,
            id="fewer-hard-decline-days",
        ),
        pytest.param(
            in_episode(episodes_12m=2),
            score(20),
            RiskPolicy(habitual_episodes=2),
            Segment.HABITUAL_LATE,
            id="habitual-after-two",
        ),
    ],
)
def test_policy_changes_the_rules(state, risk, policy, expected):
    assert assign_segment(state, risk, policy) is expected
