"""Canonical text forms of §3 field values, shared by every CRM adapter and the fake.

FieldUpdate values arrive as canonical strings (connector/ports.py) and read_fields must return
the same forms, so the caller's diff compares like with like whatever the CRM stored:
numbers as plain decimal text without trailing zeros ("120.5", "5000", "0"), dates `YYYY-MM-DD`,
datetimes `YYYY-MM-DDTHH:MM:SSZ` (milliseconds kept only when not zero), enums and text as they
are, and "" for empty.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from connector.domain.fields import FieldKind, FieldSpec


class FieldValueError(ValueError):
    """A value the CRM would refuse for this field; names the field."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field


def canonical_number(text: str) -> str:
    """Plain decimal text: no exponent, no trailing zeros ("120.50" → "120.5")."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"not a number: {text!r}") from None
    if not value.is_finite():
        raise ValueError(f"not a finite number: {text!r}")
    if value == value.to_integral_value():
        return str(value.quantize(Decimal(1)))
    return format(value.normalize(), "f")


def parse_datetime(text: str) -> datetime:
    """ISO 8601 with a zone (or Z), or epoch milliseconds → aware UTC datetime."""
    raw = text.strip()
    if raw.isdigit():
        return datetime.fromtimestamp(int(raw) / 1000, tz=UTC)
    parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"datetime without a time zone: {text!r}")
    return parsed.astimezone(UTC)


def canonical_datetime(text: str) -> str:
    moment = parse_datetime(text)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_date(text: str) -> date:
    """`YYYY-MM-DD`, or a datetime / epoch ms that is exactly midnight UTC."""
    raw = text.strip()
    if raw.isdigit() or "T" in raw:
        moment = parse_datetime(raw)
        if (moment.hour, moment.minute, moment.second, moment.microsecond) != (0, 0, 0, 0):
            raise ValueError(f"a date must be midnight UTC: {text!r}")
        return moment.date()
    return date.fromisoformat(raw)


def canonicalize(spec: FieldSpec, value: str) -> str:
    """Validate one value for its field and return its canonical form; raises FieldValueError."""
    if value == "":
        return ""
    try:
        if spec.kind is FieldKind.NUMBER:
            return canonical_number(value)
        if spec.kind is FieldKind.DATE:
            return parse_date(value).isoformat()
        if spec.kind is FieldKind.DATETIME:
            return canonical_datetime(value)
        if spec.kind is FieldKind.ENUM:
            allowed = [option for option, _label in spec.options]
            if value not in allowed:
                raise ValueError(f"{value!r} is not one of {allowed}")
    except ValueError as exc:
        raise FieldValueError(spec.name, str(exc)) from None
    return value
