"""The frozen clock of the test suite (tests/conftest.py hands it to the app)."""

from __future__ import annotations

from datetime import UTC, datetime

FIXED_NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)


def now_ts() -> int:
    return int(FIXED_NOW.timestamp())
