"""Read the bundled sample data, with every Stripe timestamp moved so the demo looks current.

The events were generated relative to a fixed anchor (`"anchor"` in the file). Loading shifts
each epoch timestamp by `now - anchor`, so "2 days past due" stays 2 days past due whenever the
demo runs. Stripe marks no field as a timestamp, so the keys are listed here by name
(stripe-python resource classes: every `int` field documented as "Time at which…" / "Measured in
seconds since the Unix epoch"). `start`/`end` are timestamps only inside a `period` object.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

EVENTS_FILE = "stripe_events.json"
COMPANIES_FILE = "sandbox_companies.json"

# Keys whose integer values are Unix timestamps in Stripe events/objects.
STRIPE_TIMESTAMP_KEYS: frozenset[str] = frozenset(
    {
        "created",
        "due_date",
        "due_by",  # dispute evidence_details
        "effective_at",
        "finalized_at",
        "paid_at",
        "voided_at",
        "marked_uncollectible_at",
        "next_payment_attempt",
        "automatically_finalizes_at",
        "webhooks_delivered_at",
        "period_start",
        "period_end",
        "current_period_start",
        "current_period_end",
        "billing_cycle_anchor",
        "start_date",
        "cancel_at",
        "canceled_at",
        "ended_at",
        "trial_start",
        "trial_end",
        "resumes_at",
    }
)
# Keys that are timestamps only under a parent key (invoice line `period: {start, end}`).
STRIPE_NESTED_TIMESTAMP_KEYS: dict[str, frozenset[str]] = {"period": frozenset({"start", "end"})}


def load_sample_events(now: datetime) -> list[dict[str, Any]]:
    """The sample Stripe events, oldest first, shifted so the anchor falls on `now`.

    Returns fresh copies on every call: callers may mutate them freely. The shift is a whole
    number of seconds (`int(now.timestamp()) - anchor`), so relative order and spacing are kept.
    """
    delta = int(_aware(now).timestamp()) - sample_anchor_epoch()
    return [_shift(event, delta, parent=None) for event in _events_doc()["events"]]


def sample_anchor() -> datetime:
    """The instant the sample data was generated "as of" (before shifting)."""
    return datetime.fromtimestamp(sample_anchor_epoch(), UTC)


def sample_anchor_epoch() -> int:
    return int(_events_doc()["anchor"])


def load_sandbox_companies() -> list[dict[str, Any]]:
    """HubSpot-company-shaped records for the sandbox: `{"id", "properties": {...}}`."""
    return json.loads(_read_text(COMPANIES_FILE))


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now


def _shift(value: Any, delta: int, parent: str | None) -> Any:
    if isinstance(value, dict):
        nested = STRIPE_NESTED_TIMESTAMP_KEYS.get(parent or "", frozenset())
        return {
            key: (
                item + delta
                if _is_epoch(item) and (key in STRIPE_TIMESTAMP_KEYS or key in nested)
                else _shift(item, delta, parent=key)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_shift(item, delta, parent=parent) for item in value]
    return value


def _is_epoch(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@cache
def _events_doc() -> dict[str, Any]:
    # Parsed once; _shift builds new containers, so the cached document is never handed out.
    return json.loads(_read_text(EVENTS_FILE))


def _read_text(name: str) -> str:
    # importlib.resources so it works from an installed wheel as well as from the source tree.
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
