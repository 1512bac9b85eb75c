"""The playbook settings of PRODUCT.md §6: defaults and the parsing of an installation's settings.

Like `policy.parse_risk_policy`: settings arrive as a plain mapping (stored config edited by an
admin), each value is checked here, and a bad one is refused with a PolicyError naming the field,
so the caller can keep the old settings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from connector.domain.calendar import PRE_DUE_DAYS, TOUCH_POINT_DAYS, CalendarError, check_calendar
from connector.domain.policy import PolicyError

DEFAULT_DAILY_CAP = 200


@dataclass(frozen=True)
class PlaybookSettings:
    gentle_sequence_id: str | None = None  # first_time_late / low_risk in an episode
    firm_sequence_id: str | None = None  # habitual_late
    pre_due_sequence_id: str | None = None
    pre_due_reminder: bool = False  # §6: off by default
    pre_due_days: int = PRE_DUE_DAYS
    fallback_owner_id: str | None = None  # tasks of unowned records go to this CRM owner
    fallback_sender_user_id: str | None = None  # sequence sender when the owner can't send
    fallback_sender_email: str | None = None
    working_hour: int = 9  # task due time, in the installation's time zone
    daily_cap: int = DEFAULT_DAILY_CAP  # new tasks + enrollments per installation calendar day
    region: str | None = None  # holiday region within the installation's country ("CA", "ENG")
    touch_point_days: tuple[int, ...] = TOUCH_POINT_DAYS
    # Card-expiry pre-dunning (issue 7; off by default): a default card that expires before the
    # next renewal -> the billing contact into this sequence, or without one a TODO task.
    card_expiry_reminder: bool = False
    card_update_sequence_id: str | None = None


DEFAULT_PLAYBOOK = PlaybookSettings()


def parse_playbook_settings(settings: Mapping[str, Any], *, country: str | None = None
                            ) -> PlaybookSettings:
    """Build PlaybookSettings from settings, defaults for missing keys; raise PolicyError if invalid.

    With `country`, the holiday region is checked against the holidays package too.
    """
    if not isinstance(settings, Mapping):
        raise PolicyError("playbook settings must be an object")
    known = {f.name for f in fields(PlaybookSettings)}
    unknown = sorted(str(k) for k in settings if k not in known)
    if unknown:
        raise PolicyError(f"unknown playbook setting: {', '.join(unknown)}")
    values = {name: _PARSERS[name](name, value) for name, value in settings.items()}
    parsed = replace(DEFAULT_PLAYBOOK, **values)
    _check_together(parsed)
    if country:
        try:
            check_calendar(country, parsed.region)
        except CalendarError as exc:
            raise PolicyError(f"region: {exc}") from None
    return parsed


def _check_together(s: PlaybookSettings) -> None:
    if bool(s.fallback_sender_user_id) != bool(s.fallback_sender_email):
        raise PolicyError("fallback_sender_user_id and fallback_sender_email: set both or neither "
                          "(HubSpot needs the sender's user id and connected email)")
    if s.pre_due_reminder and not s.pre_due_sequence_id:
        raise PolicyError("pre_due_sequence_id: required when pre_due_reminder is on")


def _optional_text(name: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # HubSpot ids are numbers in its UI; accept them as typed
    if not isinstance(value, str) or not value.strip():
        raise PolicyError(f"{name}: must be text, got {type(value).__name__}")
    if len(value) > 100:
        raise PolicyError(f"{name}: at most 100 characters")
    return value.strip()


def _email(name: str, value: Any) -> str | None:
    text = _optional_text(name, value)
    if text is not None and ("@" not in text or text.startswith("@") or text.endswith("@")):
        raise PolicyError(f"{name}: must be an email address")
    return text


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise PolicyError(f"{name}: must be true or false, got {type(value).__name__}")
    return value


def _whole_in(low: int, high: int) -> Callable[[str, Any], int]:
    def parse(name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise PolicyError(f"{name}: must be a whole number, got {type(value).__name__}")
        if not low <= value <= high:
            raise PolicyError(f"{name}: must be between {low} and {high}, got {value}")
        return value
    return parse


def _touch_days(name: str, value: Any) -> tuple[int, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise PolicyError(f"{name}: must be a non-empty list of days")
    days = tuple(_whole_in(0, 90)(f"{name}[{i}]", v) for i, v in enumerate(value))
    if days[0] != 0:
        raise PolicyError(f"{name}: must start with 0 (the episode's first day)")
    if any(b <= a for a, b in zip(days, days[1:], strict=False)):
        raise PolicyError(f"{name}: must be strictly increasing, got {list(days)}")
    return days


_PARSERS: dict[str, Callable[[str, Any], Any]] = {
    "gentle_sequence_id": _optional_text,
    "firm_sequence_id": _optional_text,
    "pre_due_sequence_id": _optional_text,
    "pre_due_reminder": _flag,
    "pre_due_days": _whole_in(1, 30),
    "fallback_owner_id": _optional_text,
    "fallback_sender_user_id": _optional_text,
    "fallback_sender_email": _email,
    "working_hour": _whole_in(0, 23),
    "daily_cap": _whole_in(0, 100_000),
    "region": _optional_text,
    "touch_point_days": _touch_days,
    "card_expiry_reminder": _flag,
    "card_update_sequence_id": _optional_text,
}
