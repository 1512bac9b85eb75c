"""RiskPolicy defaults (PRODUCT.md §5) and the validation of an installation's risk settings."""

from __future__ import annotations

import dataclasses
import json

import pytest

from connector.domain.policy import DEFAULT_POLICY, PolicyError, RiskPolicy, parse_risk_policy


def test_defaults_are_the_spec_values():
    assert dataclasses.asdict(RiskPolicy()) == {
        "points_per_day": 1.5,
        "days_points_cap": 45,
        "earlier_episode_points": (0, 5, 10, 20),
        "hard_decline_points": 20,
        "medium_decline_points": 10,
        "other_decline_points": 5,
        "amount_ratio_points": ((1, 5), (2, 10), (3, 15)),
        "no_retry_points": 10,
        "dispute_points": 10,  # §4 "a dispute raises risk"; §5 has no row: our default
        "high_risk_threshold": 70,
        "hard_decline_days": 14,
        "habitual_episodes": 3,
    }
    assert RiskPolicy() == DEFAULT_POLICY


def test_empty_settings_give_the_defaults():
    assert parse_risk_policy({}) == DEFAULT_POLICY


def test_every_field_can_be_set_from_json_settings():
    # Settings come from stored JSON: tuples arrive as lists. Every field must have a parser.
    settings = json.loads(json.dumps(dataclasses.asdict(DEFAULT_POLICY)))
    assert parse_risk_policy(settings) == DEFAULT_POLICY


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        pytest.param({"high_risk_threshold": 60}, {"high_risk_threshold": 60}, id="threshold"),
        pytest.param(
            {"high_risk_threshold": 100}, {"high_risk_threshold": 100}, id="threshold-max"
        ),
        pytest.param({"points_per_day": 2}, {"points_per_day": 2}, id="int-points"),
        pytest.param({"no_retry_points": 0}, {"no_retry_points": 0}, id="zero-points"),
        pytest.param(
            {"earlier_episode_points": [0, 0, 0]},
            {"earlier_episode_points": (0, 0, 0)},
            id="flat-earlier-table-disables-history",
        ),
        pytest.param(
            {"amount_ratio_points": [[1.5, 5], [4, 20]]},
            {"amount_ratio_points": ((1.5, 5), (4, 20))},
            id="ratio-table",
        ),
        pytest.param({"habitual_episodes": 2}, {"habitual_episodes": 2}, id="habitual"),
    ],
)
def test_valid_overrides_replace_only_their_fields(settings, expected):
    assert parse_risk_policy(settings) == dataclasses.replace(DEFAULT_POLICY, **expected)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        pytest.param(
            {"points_per_week": 1}, "unknown risk setting: points_per_week", id="unknown-key"
        ),
        pytest.param({"points_per_day": "1.5"}, "points_per_day: must be a number", id="string"),
        pytest.param({"no_retry_points": True}, "no_retry_points: must be a number", id="bool"),
        pytest.param({"days_points_cap": None}, "days_points_cap: must be a number", id="null"),
        pytest.param(
            {"points_per_day": float("nan")}, "points_per_day: must be a finite", id="nan"
        ),
        pytest.param(
            {"hard_decline_points": -1}, "hard_decline_points: must not be negative", id="negative"
        ),
        pytest.param(
            {"high_risk_threshold": 101},
            "high_risk_threshold: must be at most 100",
            id="threshold-over-100",
        ),
        pytest.param(
            {"high_risk_threshold": 70.5},
            "high_risk_threshold: must be a whole number",
            id="threshold-fraction",
        ),
        pytest.param(
            {"hard_decline_days": -3}, "hard_decline_days: must not be negative", id="negative-days"
        ),
        pytest.param(
            {"habitual_episodes": 0}, "habitual_episodes: must be at least 1", id="habitual-zero"
        ),
        pytest.param(
            {"earlier_episode_points": [0, 10, 5]},
            "earlier_episode_points: must be never decreasing",
            id="earlier-decreasing",
        ),
        pytest.param(
            {"earlier_episode_points": []},
            "earlier_episode_points: must be a non-empty",
            id="earlier-empty",
        ),
        pytest.param(
            {"earlier_episode_points": [0, "5"]},
            "earlier_episode_points[1]: must be a",
            id="earlier-entry-type",
        ),
        pytest.param(
            {"amount_ratio_points": [[2, 10], [2, 15]]},
            "amount_ratio_points ratios: must be strictly increasing",
            id="ratio-repeated",
        ),
        pytest.param(
            {"amount_ratio_points": [[3, 15], [2, 10]]},
            "amount_ratio_points ratios: must be strictly increasing",
            id="ratio-descending",
        ),
        pytest.param(
            {"amount_ratio_points": [[1, 15], [2, 10]]},
            "amount_ratio_points points: must be never decreasing",
            id="ratio-points-down",
        ),
        pytest.param(
            {"amount_ratio_points": [[1, 5, 7]]},
            "amount_ratio_points[0]: must be a [ratio, points] pair",
            id="ratio-row-shape",
        ),
        pytest.param(
            {"amount_ratio_points": {"1": 5}},
            "amount_ratio_points: must be a non-empty",
            id="ratio-not-list",
        ),
        # Finite but huge values overflowed the score's Decimal arithmetic after being saved.
        pytest.param({"earlier_episode_points": [1e30]}, "earlier_episode_points[0]: must be at most 100",
                     id="earlier-huge"),
        pytest.param({"points_per_day": 1e28}, "points_per_day: must be at most 100", id="per-day-huge"),
        pytest.param({"hard_decline_points": 101}, "hard_decline_points: must be at most 100", id="hard-huge"),
        pytest.param({"amount_ratio_points": [[1e30, 5]]}, "amount_ratio_points[0] ratio: must be at most 1000",
                     id="ratio-huge"),
        pytest.param({"hard_decline_days": 10**30}, "hard_decline_days: must be at most 3650", id="days-huge"),
        pytest.param({"habitual_episodes": 10**30}, "habitual_episodes: must be at most 100", id="episodes-huge"),
    ],
)
def test_invalid_settings_are_refused_naming_the_field(settings, message):
    with pytest.raises(PolicyError) as caught:
        parse_risk_policy(settings)
    assert message in caught.value.message
    assert str(caught.value) == caught.value.message


def test_settings_must_be_a_mapping():
    with pytest.raises(PolicyError, match="must be an object"):
        parse_risk_policy([("high_risk_threshold", 70)])  # type: ignore[arg-type]


def test_policy_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_POLICY.high_risk_threshold = 10  # type: ignore[misc]
