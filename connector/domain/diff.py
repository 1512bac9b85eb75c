"""Which desired CRM values differ from what the record holds, compared canonically.

CRMs echo values back in their own forms: HubSpot and Salesforce may return "5000.0" or "120.5" for
a number we sent as "5000" / "120.50", a date as midnight-UTC ISO datetime or epoch milliseconds,
and null for an empty field. Comparing by field kind keeps a second sync from rewriting them,
which saves CRM rate limits and makes reconciliation idempotent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from connector.domain.fields import FIELDS_BY_NAME, FieldKind

UPDATED_AT_FIELD = "billing_updated_at"


def changed_fields(
    desired: Mapping[str, str], current: Mapping[str, str | None] | None
) -> dict[str, str]:
    """Return the desired values that differ from current ones.

    current None means the record's values are unknown (never read): every desired value is a
    change. A field missing from current, or null, counts as empty.
    """
    if current is None:
        return dict(desired)
    return {
        name: value for name, value in desired.items() if not _same(name, value, current.get(name))
    }


def with_updated_at(changes: Mapping[str, str], now_iso: str) -> dict[str, str]:
    """Add billing_updated_at = now_iso when something changed; nothing changed stays empty."""
    if not changes:
        return {}
    return {**changes, UPDATED_AT_FIELD: now_iso}


def _same(name: str, desired: str | None, current: str | None) -> bool:
    want, have = (desired or "").strip(), (current or "").strip()
    if want == have:
        return True
    if not want or not have:
        return False
    spec = FIELDS_BY_NAME.get(name)
    parse = _PARSERS.get(spec.kind) if spec else None
    if parse is None:
        return False
    a, b = parse(want), parse(have)
    return a is not None and a == b


def _number(text: str) -> Decimal | None:
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _instant(text: str) -> datetime | None:
    try:
        if text.isdigit():
            # Epoch milliseconds: HubSpot's legacy date/datetime form.
            return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
        parsed = datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _day(text: str) -> date | None:
    # A date travels as midnight UTC of that date (§3), so its UTC calendar day is the value.
    instant = _instant(text)
    return instant.date() if instant else None


_PARSERS: dict[FieldKind, Callable[[str], object]] = {
    FieldKind.NUMBER: _number,
    FieldKind.DATE: _day,
    FieldKind.DATETIME: _instant,
}
