"""What every provider's event parser returns, and the envelope check they share."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connector.domain.billing_facts import Fact


class MalformedEvent(ValueError):
    """The body is not an event the connector can read. The message is safe to log."""


@dataclass(frozen=True)
class EventFacts:
    """The facts one billing event states about one customer."""

    customer_id: str | None
    facts: list[Fact] = field(default_factory=list)
    handled: bool = True  # False: a type the connector does not use (record it and ack it)
    customer_email: str | None = None
    customer_name: str | None = None
    # Stripe: a dispute names only its charge; when the customer is not in the payload, the
    # shell may re-read this charge to learn it (then merge `facts` into that customer).
    lookup_charge_id: str | None = None
    note: str = ""


# Larger integers fit no database column (created, occurred_at) and no real provider sends them.
_MAX_DIGITS = 18


def load_json_object(payload: bytes, error: type[MalformedEvent] = MalformedEvent) -> dict[str, Any]:
    """The body as a JSON object, or `error` saying what is wrong with it.

    Everything the event is later stored and re-read as must hold here, before the 2xx: strict
    UTF-8 text without a byte-order mark, no lone surrogates, integers a database can hold.
    Otherwise an acknowledged event could fail to store or to apply, and be lost.
    """
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise error("body is not UTF-8 text") from None
    if text.startswith("\ufeff"):
        raise error("body starts with a byte-order mark; send plain UTF-8 JSON")
    try:
        event = json.loads(text, parse_int=_bounded_int)
        text.encode("utf-8")
        json.dumps(event, ensure_ascii=False).encode("utf-8")
    except (json.JSONDecodeError, ValueError, RecursionError) as exc:
        raise error(f"body is not valid JSON: {exc.__class__.__name__}") from None
    if not isinstance(event, dict):
        raise error("body is not a JSON object")
    return event


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > _MAX_DIGITS:
        raise ValueError("integer out of range")
    return int(digits)


# ---------------------------------------------------------------------------------------------
# Field readers shared by the provider parsers: a value of the wrong type or out of any sane
# range reads as absent, so one odd field never makes an acknowledged event unappliable.

# Epoch seconds before 2100-01-01: what every date computation downstream can represent.
MAX_EPOCH = 4_102_444_800


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def as_int(value: Any) -> int | None:
    return value if is_int(value) else None


def is_epoch(value: Any) -> bool:
    return is_int(value) and 0 <= value < MAX_EPOCH


def as_epoch(value: Any) -> int | None:
    """A timestamp in epoch seconds, or None when it is not one a calendar can hold."""
    return value if is_epoch(value) else None


def as_int_between(value: Any, low: int, high: int) -> int | None:
    return value if is_int(value) and low <= value <= high else None


def as_str(value: Any) -> str | None:
    """Text with something in it; blank text is absent (a customer id of "  " is no id)."""
    return value if isinstance(value, str) and value.strip() else None


def as_dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def as_currency(value: Any) -> str | None:
    return value.upper() if isinstance(value, str) and value else None
