"""The CRM's API budget as its rate-limit headers last told it, per installation, in this process.

HubSpot sends `X-HubSpot-RateLimit-Max`, `-Remaining` and `-Interval-Milliseconds` on CRM calls
(not on search; reference/hubspot.md §8.1). The process making the calls (the worker) notes them
here; sync health copies the latest reading into the stored snapshot so every process sees it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import datetime

from connector.domain.health import ApiBudget

_readings: dict[int, ApiBudget] = {}
_lock = threading.Lock()


def budget_from_headers(headers: Mapping[str, str], seen_at: datetime) -> ApiBudget | None:
    try:
        maximum = int(headers["X-HubSpot-RateLimit-Max"])
        remaining = int(headers["X-HubSpot-RateLimit-Remaining"])
    except (KeyError, ValueError):
        return None
    raw = headers.get("X-HubSpot-RateLimit-Interval-Milliseconds")
    interval = int(raw) if raw and raw.isdigit() else None
    return ApiBudget(maximum, remaining, interval, seen_at)


def note(installation_id: int, headers: Mapping[str, str], seen_at: datetime) -> None:
    reading = budget_from_headers(headers, seen_at)
    if reading is not None:
        with _lock:
            _readings[installation_id] = reading


def recorder(installation_id: int, clock: Callable[[], datetime]) -> Callable[[Mapping[str, str]], None]:
    """A HubSpotClient `on_headers` hook for one installation."""
    return lambda headers: note(installation_id, headers, clock())


def note_usage(installation_id: int, used: int, maximum: int, seen_at: datetime) -> None:
    """A reading given as used/maximum (Salesforce `Sforce-Limit-Info: api-usage=used/max`)."""
    with _lock:
        _readings[installation_id] = ApiBudget(maximum, max(maximum - used, 0), None, seen_at)


def latest(installation_id: int) -> ApiBudget | None:
    with _lock:
        return _readings.get(installation_id)


def forget(installation_id: int | None = None) -> None:
    """Drop readings (tests; an uninstalled installation)."""
    with _lock:
        if installation_id is None:
            _readings.clear()
        else:
            _readings.pop(installation_id, None)
