"""Datetimes as the API answers them: UTC, to the second, with a Z.

SQLite hands datetimes back naive; every one the connector stores is UTC, so a naive value is
read as UTC rather than as local time.
"""

from __future__ import annotations

from datetime import UTC, datetime


def as_utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def iso_utc(value: datetime | None) -> str | None:
    value = as_utc(value)
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
