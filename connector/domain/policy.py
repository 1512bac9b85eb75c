"""The risk policy of PRODUCT.md §5: its defaults and the parsing of an installation's settings.

Settings arrive as a plain mapping (the installation's stored config, edited by an admin), so every
value is checked here and a bad one is refused with a message that names the field.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

Number = int | float


class PolicyError(ValueError):
    """An installation's risk settings were refused; the message names the bad field."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class RiskPolicy:
    """Points, thresholds and tables of the risk score and the segment rules (§5 defaults)."""

    points_per_day: Number = 1.5
    days_points_cap: Number = 45
    # Indexed by the number of earlier episodes in 365 days; the last entry covers "that many or more".
    earlier_episode_points: tuple[Number, ...] = (0, 5, 10, 20)
    hard_decline_points: Number = 20
    medium_decline_points: Number = 10
    other_decline_points: Number = 5
    # (ratio of amount owed to the median invoice, points), ratios rising; the highest one reached wins.
    amount_ratio_points: tuple[tuple[Number, Number], ...] = ((1, 5), (2, 10), (3, 15))
    no_retry_points: Number = 10
    # §4 "a dispute raises risk"; the §5 table has no row for it, so this default is ours.
    dispute_points: Number = 10
    high_risk_threshold: int = 70
    hard_decline_days: int = 14
    habitual_episodes: int = 3


DEFAULT_POLICY = RiskPolicy()


def parse_risk_policy(settings: Mapping[str, Any]) -> RiskPolicy:
    """Build a RiskPolicy from settings, defaults for missing keys; raise PolicyError if invalid."""
    if not isinstance(settings, Mapping):
        raise PolicyError("risk settings must be an object")
    known = {f.name for f in fields(RiskPolicy)}
    unknown = sorted(str(k) for k in settings if k not in known)
    if unknown:
        raise PolicyError(f"unknown risk setting: {', '.join(unknown)}")
    values = {name: _PARSERS[name](name, value) for name, value in settings.items()}
    policy = replace(DEFAULT_POLICY, **values)
    return policy


# The score is capped at 100, so no one input needs more points than that; the upper bounds also
# keep the Decimal arithmetic of the score far from overflow (a saved 1e30 broke every re-score).
MAX_POINTS = 100
MAX_RATIO = 1000  # amount owed ÷ median invoice
MAX_DAYS = 3650
MAX_EPISODES = 100


def _number(name: str, value: Any, maximum: Number = MAX_POINTS, why: str = "") -> Number:
    # bool is an int subclass in Python; a JSON `true` is never a number of points.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PolicyError(f"{name}: must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise PolicyError(f"{name}: must be a finite number")
    if value < 0:
        raise PolicyError(f"{name}: must not be negative")
    if value > maximum:
        raise PolicyError(f"{name}: must be at most {maximum}{why}")
    return value


def _whole(name: str, value: Any, maximum: int = MAX_POINTS, why: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PolicyError(f"{name}: must be a whole number, got {type(value).__name__}")
    return int(_number(name, value, maximum, why))


def _days(name: str, value: Any) -> int:
    return _whole(name, value, MAX_DAYS)


def _threshold(name: str, value: Any) -> int:
    return _whole(name, value, MAX_POINTS, " (the score's maximum)")


def _episodes(name: str, value: Any) -> int:
    number = _whole(name, value, MAX_EPISODES)
    if number < 1:
        raise PolicyError(f"{name}: must be at least 1")
    return number


def _sequence(name: str, value: Any) -> list[Any]:
    if not isinstance(value, list | tuple) or not value:
        raise PolicyError(f"{name}: must be a non-empty list")
    return list(value)


def _earlier_table(name: str, value: Any) -> tuple[Number, ...]:
    points = tuple(_number(f"{name}[{i}]", v) for i, v in enumerate(_sequence(name, value)))
    _require_rising(name, points, strict=False)
    return points


def _ratio_table(name: str, value: Any) -> tuple[tuple[Number, Number], ...]:
    rows = []
    for i, row in enumerate(_sequence(name, value)):
        if not isinstance(row, list | tuple) or len(row) != 2:
            raise PolicyError(f"{name}[{i}]: must be a [ratio, points] pair")
        rows.append((_number(f"{name}[{i}] ratio", row[0], MAX_RATIO), _number(f"{name}[{i}] points", row[1])))
    _require_rising(f"{name} ratios", [r for r, _ in rows], strict=True)
    _require_rising(f"{name} points", [p for _, p in rows], strict=False)
    return tuple(rows)


def _require_rising(name: str, values: list[Number] | tuple[Number, ...], *, strict: bool) -> None:
    """Refuse a table that goes down (or, when strict, stays flat) as severity rises."""
    for before, after in zip(values, values[1:], strict=False):
        if after < before or (strict and after == before):
            rule = "strictly increasing" if strict else "never decreasing"
            raise PolicyError(f"{name}: must be {rule}, got {list(values)}")


_PARSERS: dict[str, Callable[[str, Any], Any]] = {
    "points_per_day": _number,
    "days_points_cap": _number,
    "earlier_episode_points": _earlier_table,
    "hard_decline_points": _number,
    "medium_decline_points": _number,
    "other_decline_points": _number,
    "amount_ratio_points": _ratio_table,
    "no_retry_points": _number,
    "dispute_points": _number,
    "high_risk_threshold": _threshold,
    "hard_decline_days": _days,
    "habitual_episodes": _episodes,
}
