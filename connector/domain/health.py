"""Sync health of one installation: healthy, degraded or failing, and why (issue 5 point 4).

Pure: the shell (connector/sync_health.py) gathers the figures from the store and the clock;
this module only judges them against thresholds. Every finding carries a sentence an admin can
act on; the overall state is the worst finding's level, and its reason the first such finding.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum


class HealthState(IntEnum):
    # Ordered so max() gives the worst; the names are what the API and metrics show.
    HEALTHY = 0
    DEGRADED = 1
    FAILING = 2

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class HealthThresholds:
    outbox_degraded_after: timedelta = timedelta(minutes=15)
    outbox_failing_after: timedelta = timedelta(hours=2)
    # Stripe accounts of small vendors can be quiet for days; silence longer than this suggests a
    # deleted or misconfigured webhook endpoint.
    webhook_silence_degraded_after: timedelta = timedelta(days=3)
    errors_degraded_at: int = 1
    errors_failing_at: int = 100
    failed_runs_failing_at: int = 3  # this many latest runs in a row failed
    budget_degraded_below: float = 0.10  # share of the rate-limit window still available
    unmatched_degraded_share: float = 0.25
    unmatched_degraded_min: int = 5  # a handful of unmatched customers is normal


DEFAULT_THRESHOLDS = HealthThresholds()


@dataclass(frozen=True)
class ApiBudget:
    """The CRM's rate-limit headers as last seen (HubSpot: X-HubSpot-RateLimit-Max/-Remaining)."""

    max: int
    remaining: int
    interval_ms: int | None = None
    seen_at: datetime | None = None

    @property
    def used_share(self) -> float:
        return 0.0 if self.max <= 0 else (self.max - self.remaining) / self.max


@dataclass(frozen=True)
class HealthInputs:
    now: datetime
    installation_status: str = "active"  # active | needs_reauth | disconnected
    status_reason: str = ""
    has_billing_connection: bool = True
    connected_at: datetime | None = None  # when the billing connection was made
    last_event_at: datetime | None = None  # last billing webhook stored
    last_success_at: datetime | None = None  # last sync run that wrote or previewed
    oldest_pending_at: datetime | None = None  # oldest outbox item still pending
    pending: int = 0
    recent_run_outcomes: tuple[str, ...] = ()  # newest first
    last_run_error: str = ""  # the newest run's error, when it failed
    errors_24h: Mapping[str, int] = field(default_factory=dict)
    drift_found: int | None = None  # latest reconcile run; None when none ran
    drift_healed: int | None = None
    api_budget: ApiBudget | None = None
    customers: int = 0
    unmatched: int = 0
    conflicts: int = 0  # ambiguous matches and records linked to another customer


@dataclass(frozen=True)
class Finding:
    level: HealthState
    code: str
    message: str


@dataclass(frozen=True)
class HealthVerdict:
    state: HealthState
    reason: str
    findings: tuple[Finding, ...]


def assess_health(inputs: HealthInputs, thresholds: HealthThresholds = DEFAULT_THRESHOLDS) -> HealthVerdict:
    """Judge the figures; the state is the worst finding, the reason that finding's message."""
    findings = [f for check in _CHECKS if (f := check(inputs, thresholds)) is not None]
    if not findings:
        return HealthVerdict(HealthState.HEALTHY, "Billing and CRM are in step.", ())
    ordered = tuple(sorted(findings, key=lambda f: -f.level))  # stable: check order within a level
    return HealthVerdict(ordered[0].level, ordered[0].message, ordered)


def _token(i: HealthInputs, t: HealthThresholds) -> Finding | None:
    if i.installation_status == "needs_reauth":
        why = f" ({i.status_reason})" if i.status_reason else ""
        return Finding(HealthState.FAILING, "needs_reauth",
                       f"The CRM refused our token{why}: reconnect the app to resume syncing.")
    if i.installation_status == "disconnected":
        return Finding(HealthState.FAILING, "disconnected", "The app was uninstalled; nothing is synced.")
    return None


def _billing_connection(i: HealthInputs, t: HealthThresholds) -> Finding | None:
    if not i.has_billing_connection:
        return Finding(HealthState.DEGRADED, "no_billing_connection",
                       "No billing account is connected yet: connect Stripe to start.")
    return None


def _outbox(i: HealthInputs, t: HealthThresholds) -> Finding | None:
    if i.oldest_pending_at is None:
        return None
    age = i.now - i.oldest_pending_at
    if age >= t.outbox_failing_after:
        level = HealthState.FAILING
    elif age >= t.outbox_degraded_after:
        level = HealthState.DEGRADED
    else:
        return None
    return Finding(level, "outbox_behind",
                   f"CRM updates are {_duration(age)} behind ({i.pending} waiting).")


def _runs(i: HealthInputs, t: HealthThresholds) -> Finding | None:
    failed = 0
    for outcome in i.recent_run_outcomes:
        if outcome != "failed":
            break
        failed += 1
    why = f": {i.last_run_error}" if i.last_run_error else "."
    if failed >= t.failed_runs_failing_at:
        return Finding(HealthState.FAILING, "runs_failing", f"The last {failed} sync runs failed{why}")
    if failed:
        return Finding(HealthState.DEGRADED, "run_failed", f"The last sync run failed{why}")
    return None


def _errors(i: HealthInputs, t: HealthThresholds) -> Finding | None:
    total = sum(i.errors_24h.values())
    if total < t.errors_degraded_at:
        return None
    level = HealthState.FAILING if total >= t.errors_failing_at else HealthState.DEGRADED
    kinds = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in
                      sorted(i.errors_24h.items(), key=lambda kv: (-kv[1], kv[0])) if n)
    return Finding(level, "errors", f"{total} error{'s' if total != 1 else ''} in 24 h: {kinds}.")


def _webhooks(i: HealthInputs, t: HealthThresholds) -> Finding | None:
    if not i.has_billing_connection:
        return None
    if i.last_event_at is None:
        since = i.connected_at
        if since is not None and i.now - since < t.webhook_silence_degraded_after:
            return None  # a fresh connection: the first event may simply not have happened yet
        return Finding(HealthState.DEGRADED, "no_webhooks",
                       "No billing webhook has arrived yet: check the webhook endpoint at the provider.")
    silence = i.now - i.last_event_at
    if silence >= t.webhook_silence_degraded_after:
        return Finding(HealthState.DEGRADED, "webhooks_silent",
                       f"No billing webhook for {_duration(silence)}: check the webhook endpoint.")
    return None


def _drift(i: HealthInputs, t: HealthThresholds) -> Finding | None:
    if i.drift_found is None:
        return None
    left = i.drift_found - (i.drift_healed or 0)
    if left > 0:
        return Finding(HealthState.DEGRADED, "drift_unhealed",
                       f"The last reconcile found {i.drift_found} drifted values and healed "
                       f"{i.drift_healed or 0}.")
    return None


def _budget(i: HealthInputs, t: HealthThresholds) -> Finding | None:
    b = i.api_budget
    if b is None or b.max <= 0:
        return None
    if b.remaining / b.max < t.budget_degraded_below:
        return Finding(HealthState.DEGRADED, "api_budget",
                       f"The CRM's API budget is nearly used ({b.remaining} of {b.max} calls left "
                       "in the window).")
    return None


def _matching(i: HealthInputs, t: HealthThresholds) -> Finding | None:
    if i.conflicts:
        return Finding(HealthState.DEGRADED, "conflicts",
                       f"{i.conflicts} customer{'s' if i.conflicts != 1 else ''} match a CRM record "
                       "ambiguously or one linked to another customer.")
    if (i.customers and i.unmatched >= t.unmatched_degraded_min
            and i.unmatched / i.customers >= t.unmatched_degraded_share):
        return Finding(HealthState.DEGRADED, "unmatched",
                       f"{i.unmatched} of {i.customers} customers have no CRM record.")
    return None


_CHECKS = (_token, _outbox, _runs, _errors, _billing_connection, _webhooks, _drift, _budget, _matching)


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 3600:
        return f"{max(seconds // 60, 1)} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"
