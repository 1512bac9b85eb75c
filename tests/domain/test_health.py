"""Sync health thresholds (issue 5 point 4): each row one situation, its state and its reason."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from connector.domain.health import (
    DEFAULT_THRESHOLDS,
    ApiBudget,
    HealthInputs,
    HealthState,
    assess_health,
)

NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
H, D, F = HealthState.HEALTHY, HealthState.DEGRADED, HealthState.FAILING

# A quiet, well installation: connected a month ago, a webhook an hour ago, nothing pending.
WELL = HealthInputs(now=NOW, connected_at=NOW - timedelta(days=30), last_event_at=NOW - timedelta(hours=1),
                    last_success_at=NOW - timedelta(minutes=5), recent_run_outcomes=("ok", "ok"),
                    customers=40, unmatched=2)


def ago(**kw) -> datetime:
    return NOW - timedelta(**kw)


CASES = [
    ("well", {}, H, None),
    ("needs reauth", {"installation_status": "needs_reauth", "status_reason": "refresh refused"}, F, "needs_reauth"),
    ("uninstalled", {"installation_status": "disconnected"}, F, "disconnected"),
    # Outbox age: under 15 min fine, from 15 min degraded, from 2 h failing.
    ("outbox 14 min", {"oldest_pending_at": ago(minutes=14), "pending": 3}, H, None),
    ("outbox 15 min", {"oldest_pending_at": ago(minutes=15), "pending": 3}, D, "outbox_behind"),
    ("outbox 1h59", {"oldest_pending_at": ago(minutes=119), "pending": 3}, D, "outbox_behind"),
    ("outbox 2 h", {"oldest_pending_at": ago(hours=2), "pending": 3}, F, "outbox_behind"),
    # Runs: the latest failed → degraded; three in a row → failing; an ok in between resets.
    ("last run failed", {"recent_run_outcomes": ("failed", "ok")}, D, "run_failed"),
    ("two runs failed", {"recent_run_outcomes": ("failed", "failed", "ok")}, D, "run_failed"),
    ("three runs failed", {"recent_run_outcomes": ("failed", "failed", "failed")}, F, "runs_failing"),
    ("failed long ago", {"recent_run_outcomes": ("ok", "failed", "failed", "failed")}, H, None),
    ("partial run", {"recent_run_outcomes": ("partial",)}, H, None),
    # Errors in 24 h: one degrades, a hundred fail.
    ("one error", {"errors_24h": {"crm_write_refused": 1}}, D, "errors"),
    ("99 errors", {"errors_24h": {"crm_write_refused": 90, "billing_event_failed": 9}}, D, "errors"),
    ("100 errors", {"errors_24h": {"crm_write_refused": 100}}, F, "errors"),
    ("zero counts", {"errors_24h": {"crm_write_refused": 0}}, H, None),
    # Webhook freshness: silence of 3 days degrades; a fresh connection with none yet is fine.
    ("webhook 71 h", {"last_event_at": ago(hours=71)}, H, None),
    ("webhook 3 days", {"last_event_at": ago(days=3)}, D, "webhooks_silent"),
    ("none yet, new", {"last_event_at": None, "connected_at": ago(hours=2)}, H, None),
    ("none yet, old", {"last_event_at": None, "connected_at": ago(days=4)}, D, "no_webhooks"),
    ("no connection", {"has_billing_connection": False, "last_event_at": None}, D, "no_billing_connection"),
    # Drift: healed all → fine; some left → degraded.
    ("drift healed", {"drift_found": 4, "drift_healed": 4}, H, None),
    ("drift left", {"drift_found": 4, "drift_healed": 3}, D, "drift_unhealed"),
    ("no drift", {"drift_found": 0, "drift_healed": 0}, H, None),
    # API budget: below 10 % of the window left degrades.
    ("budget 11 left", {"api_budget": ApiBudget(110, 11)}, H, None),
    ("budget 10 left", {"api_budget": ApiBudget(110, 10)}, D, "api_budget"),
    ("budget 0 left", {"api_budget": ApiBudget(110, 0)}, D, "api_budget"),
    # Matching: any conflict degrades; unmatched from 5 customers and a quarter of them.
    ("a conflict", {"conflicts": 1}, D, "conflicts"),
    ("4 unmatched of 8", {"customers": 8, "unmatched": 4}, H, None),
    ("5 unmatched of 20", {"customers": 20, "unmatched": 5}, D, "unmatched"),
    ("5 unmatched of 21", {"customers": 21, "unmatched": 5}, H, None),
]


@pytest.mark.parametrize(("changes", "state", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_thresholds(changes, state, code):
    verdict = assess_health(replace(WELL, **changes))
    assert verdict.state is state
    if code is None:
        assert verdict.findings == ()
    else:
        assert verdict.findings[0].code == code
        assert verdict.reason == verdict.findings[0].message


def test_the_worst_finding_gives_state_and_reason():
    verdict = assess_health(replace(WELL, conflicts=2, oldest_pending_at=ago(hours=3), pending=40,
                                    errors_24h={"crm_write_refused": 2}))
    assert verdict.state is F
    assert [f.code for f in verdict.findings] == ["outbox_behind", "errors", "conflicts"]
    assert verdict.reason == "CRM updates are 3 h behind (40 waiting)."


def test_reasons_read_as_sentences():
    verdict = assess_health(replace(WELL, errors_24h={"crm_write_refused": 3, "billing_event_failed": 1}))
    assert verdict.reason == "4 errors in 24 h: 3 crm write refused, 1 billing event failed."
    assert assess_health(WELL).reason == "Billing and CRM are in step."


def test_thresholds_can_be_tightened():
    strict = replace(DEFAULT_THRESHOLDS, outbox_degraded_after=timedelta(minutes=1))
    inputs = replace(WELL, oldest_pending_at=ago(minutes=2), pending=1)
    assert assess_health(inputs).state is H
    assert assess_health(inputs, strict).state is D


def test_a_failed_run_says_why():
    verdict = assess_health(HealthInputs(now=NOW, recent_run_outcomes=("failed", "ok"),
                                         last_run_error="crm: installation 1 has no credentials"))
    assert verdict.reason == "The last sync run failed: crm: installation 1 has no credentials"

