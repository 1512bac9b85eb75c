"""Canonical field values (connector.ports.FieldUpdate) ⇄ HubSpot property values.

HubSpot property values are strings on the wire ("1200", not 1200); "" clears a value
(reference/hubspot.md §3). Dates must be midnight UTC: "Values must be represented in UTC time
and can be formatted as ISO 8601 strings or EPOCH-timestamps in milliseconds"
(https://developers.hubspot.com/docs/api/crm/properties); we send the ISO date `YYYY-MM-DD`,
which cannot carry another time of day. Datetimes go as ISO 8601 UTC with milliseconds, the form
HubSpot returns. HubSpot answers dates as `YYYY-MM-DD` or, in older shapes, epoch ms
("property_date": "1572480000000" in its batch examples); both are read back.
"""

from __future__ import annotations

from connector.domain.fields import FieldKind, FieldSpec
from crm_adapters.canonical import (
    FieldValueError,
    canonical_datetime,
    canonical_number,
    canonicalize,
    parse_date,
    parse_datetime,
)

__all__ = ["FieldValueError", "from_hubspot", "to_hubspot"]


def to_hubspot(spec: FieldSpec, value: str) -> str:
    """One canonical value as HubSpot wants it; raises FieldValueError on a value HubSpot would
    refuse (a bad enum value, a non-number), so it never leaves the connector."""
    canonical = canonicalize(spec, value)
    if canonical and spec.kind is FieldKind.DATETIME:
        moment = parse_datetime(canonical)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return canonical


def from_hubspot(spec: FieldSpec, value: object) -> str:
    """HubSpot's value back to canonical text; an unreadable value comes back as it is (someone
    typed something odd in the CRM: show it, and let the caller's diff repair it)."""
    if value is None or value == "":
        return ""
    text = str(value)
    try:
        if spec.kind is FieldKind.NUMBER:
            return canonical_number(text)
        if spec.kind is FieldKind.DATE:
            return parse_date(text).isoformat()
        if spec.kind is FieldKind.DATETIME:
            return canonical_datetime(text)
    except ValueError:
        return text
    return text
