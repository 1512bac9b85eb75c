"""Sync health of an installation: gather the figures from the store, judge them, keep a snapshot.

The judging is pure (connector/domain/health.py). The snapshot (SyncHealth, one row per
installation) is rewritten after each drain and whenever the health is read, so `/metrics` in any
process and the dashboard report the same state, and `since` says how long it has held.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from connector import api_budget
from connector.context import Services
from connector.domain.health import ApiBudget, HealthInputs, HealthVerdict, assess_health
from connector.storage.db import session_scope
from connector.storage.models import (
    BillingConnection,
    BillingEvent,
    CrmCredential,
    CustomerBilling,
    Installation,
    OutboxItem,
    SyncHealth,
    SyncRun,
)
from connector.timestamps import as_utc, iso_utc

log = logging.getLogger(__name__)

DAY = timedelta(hours=24)
# An event still pending this long after it arrived was not applied (the tick retries it).
EVENT_STUCK_AFTER = timedelta(minutes=10)
RECENT_RUNS = 5




def _count(session: Session, *where: Any, model: type = OutboxItem) -> int:
    return session.exec(select(func.count()).select_from(model).where(*where)).one()


def _errors_24h(session: Session, installation_id: int, now: datetime,
                connection_ids: list[int]) -> dict[str, int]:
    since = now - DAY
    errors = {
        "billing_event_failed": _count(session, BillingEvent.connection_id.in_(connection_ids),
                                       BillingEvent.status == "failed", BillingEvent.received_at >= since,
                                       model=BillingEvent),
        "billing_event_not_applied": _count(session, BillingEvent.connection_id.in_(connection_ids),
                                            BillingEvent.status == "pending",
                                            BillingEvent.received_at < now - EVENT_STUCK_AFTER,
                                            model=BillingEvent),
        "crm_write_refused": _count(session, OutboxItem.installation_id == installation_id,
                                    OutboxItem.status == "failed", OutboxItem.done_at >= since),
        "crm_write_retrying": _count(session, OutboxItem.installation_id == installation_id,
                                     OutboxItem.status == "pending", OutboxItem.last_error != ""),
        "sync_run_failed": _count(session, SyncRun.installation_id == installation_id,
                                  SyncRun.outcome == "failed", SyncRun.started_at >= since, model=SyncRun),
    }
    return {kind: n for kind, n in errors.items() if n}


def _drift(run: SyncRun) -> tuple[int, int]:
    """Drifted and healed field values of a reconcile run (connector/reconcile.py records them
    per field: {"payment_status": 3, ...})."""
    c = run.counts or {}
    return _total(c.get("drift_found")), _total(c.get("drift_healed"))


def _total(value: Any) -> int:
    if isinstance(value, dict):
        return sum(int(v or 0) for v in value.values())
    return int(value or 0)


def _token_state(inst: Installation, cred: CrmCredential | None, now: datetime) -> dict[str, Any]:
    if inst.status in ("needs_reauth", "disconnected"):
        return {"state": inst.status, "reason": inst.status_reason, "expires_at": None}
    if inst.settings.get("sandbox"):
        return {"state": "sandbox", "reason": "the demo's in-memory CRM needs no token", "expires_at": None}
    if cred is None:
        return {"state": "none", "reason": "no CRM token stored", "expires_at": None}
    expires = as_utc(cred.expires_at)
    if expires is not None and expires <= now:
        # HubSpot access tokens live 30 minutes and are refreshed on use: expired is normal.
        return {"state": "expired", "reason": "refreshed on next use", "expires_at": iso_utc(expires)}
    return {"state": "valid", "reason": "", "expires_at": iso_utc(expires)}


def _budget(installation_id: int, stored: SyncHealth | None) -> ApiBudget | None:
    seen = api_budget.latest(installation_id)
    if seen is not None:
        return seen
    b = stored.api_budget if stored else {}
    if not b:
        return None
    return ApiBudget(int(b["max"]), int(b["remaining"]), b.get("interval_ms"),
                     datetime.fromisoformat(b["seen_at"].replace("Z", "+00:00")) if b.get("seen_at") else None)


def gather(session: Session, inst: Installation, now: datetime) -> tuple[HealthInputs, dict[str, Any]]:
    """The figures of one installation, as the judge wants them and as the dashboard shows them."""
    iid = inst.id
    connections = list(session.exec(select(BillingConnection).where(BillingConnection.installation_id == iid)))
    conn_ids = [c.id for c in connections]
    last_event = session.exec(select(func.max(BillingEvent.received_at)).where(
        BillingEvent.connection_id.in_(conn_ids))).one() if conn_ids else None
    last_success = session.exec(select(func.max(SyncRun.finished_at)).where(
        SyncRun.installation_id == iid, SyncRun.outcome.in_(("ok", "partial")))).one()
    oldest_pending = session.exec(select(func.min(OutboxItem.created_at)).where(
        OutboxItem.installation_id == iid, OutboxItem.status == "pending")).one()
    pending = _count(session, OutboxItem.installation_id == iid, OutboxItem.status == "pending")
    runs = list(session.exec(select(SyncRun).where(SyncRun.installation_id == iid, SyncRun.outcome != "running")
                             .order_by(SyncRun.id.desc()).limit(RECENT_RUNS)))
    reconciles = list(session.exec(select(SyncRun).where(
        SyncRun.installation_id == iid, SyncRun.kind == "reconcile", SyncRun.outcome != "running")
        .order_by(SyncRun.id.desc()).limit(RECENT_RUNS)))
    day_runs = session.exec(select(SyncRun.counts).where(SyncRun.installation_id == iid,
                                                         SyncRun.started_at >= now - DAY))
    calls_24h = sum(int((c or {}).get("calls", 0) or 0) for c in day_runs)
    by_match = dict(session.exec(select(CustomerBilling.match_status, func.count()).where(
        CustomerBilling.installation_id == iid, CustomerBilling.deleted.is_(False))
        .group_by(CustomerBilling.match_status)).all())
    cred = session.exec(select(CrmCredential).where(CrmCredential.installation_id == iid)).first()
    stored = session.exec(select(SyncHealth).where(SyncHealth.installation_id == iid)).first()
    budget = _budget(iid, stored)
    errors = _errors_24h(session, iid, now, conn_ids)
    found, healed = _drift(reconciles[0]) if reconciles else (None, None)

    inputs = HealthInputs(
        now=now,
        installation_status=inst.status,
        status_reason=inst.status_reason,
        has_billing_connection=bool(connections),
        connected_at=as_utc(min((c.created_at for c in connections), default=None)),
        last_event_at=as_utc(last_event),
        last_success_at=as_utc(last_success),
        oldest_pending_at=as_utc(oldest_pending),
        pending=pending,
        recent_run_outcomes=tuple(r.outcome for r in runs),
        last_run_error=(runs[0].error or "") if runs and runs[0].outcome == "failed" else "",
        errors_24h=errors,
        drift_found=found,
        drift_healed=healed,
        api_budget=budget,
        customers=sum(by_match.values()),
        unmatched=by_match.get("unmatched", 0),
        conflicts=by_match.get("conflict", 0) + by_match.get("ambiguous", 0),
    )
    oldest = as_utc(oldest_pending)
    figures = {
        "last_successful_sync": iso_utc(last_success),
        "pending": pending,
        "oldest_pending_at": iso_utc(oldest),
        "oldest_pending_age_s": int((now - oldest).total_seconds()) if oldest else None,
        "last_webhook_at": iso_utc(last_event),
        "webhook_age_s": int((now - as_utc(last_event)).total_seconds()) if last_event else None,
        "errors_24h": errors,
        "drift_runs": [{"at": iso_utc(r.finished_at), "outcome": r.outcome, "full": bool(r.counts.get("full")),
                        "records": int(r.counts.get("records_drifted", 0) or 0),
                        "found": _drift(r)[0], "healed": _drift(r)[1]} for r in reconciles],
        "token": _token_state(inst, cred, now),
        "api_budget": _budget_json(budget),
        "api_calls_24h": calls_24h,
        "customers": inputs.customers,
        "unmatched": inputs.unmatched,
        "conflicts": inputs.conflicts,
        "preview": inst.preview,
    }
    return inputs, figures


def _budget_json(b: ApiBudget | None) -> dict[str, Any]:
    if b is None:
        return {}
    return {"max": b.max, "remaining": b.remaining, "interval_ms": b.interval_ms,
            "used_share": round(b.used_share, 4), "seen_at": iso_utc(b.seen_at)}


def _store(session: Session, iid: int, verdict: HealthVerdict, figures: dict[str, Any], now: datetime
           ) -> SyncHealth:
    row = session.exec(select(SyncHealth).where(SyncHealth.installation_id == iid)).first()
    state = verdict.state.label
    if row is None:
        row = SyncHealth(installation_id=iid, state=state, since=now)
    elif row.state != state:
        log.info("health.changed installation=%s from=%s to=%s", iid, row.state, state)
        row.since = now
    row.state, row.reason, row.computed_at = state, verdict.reason, now
    row.figures = figures
    row.api_budget = figures["api_budget"]
    session.add(row)
    return row


def refresh_health(services: Services, installation_id: int) -> dict[str, Any] | None:
    """Judge one installation now, store the snapshot, and return it as JSON (None: no such one)."""
    now = services.clock()
    with session_scope(services.engine) as session:
        inst = session.get(Installation, installation_id)
        if inst is None:
            return None
        inputs, figures = gather(session, inst, now)
        verdict = assess_health(inputs)
        row = _store(session, installation_id, verdict, figures, now)
        return {
            "installation_id": installation_id,
            "state": verdict.state.label,
            "reason": verdict.reason,
            "since": iso_utc(row.since),
            "computed_at": iso_utc(now),
            "findings": [{"level": f.level.label, "code": f.code, "message": f.message}
                         for f in verdict.findings],
            "figures": figures,
        }


def refresh_all(services: Services) -> dict[int, str]:
    """Snapshot every installation that is not uninstalled (after each drain; one failing never
    stops the others)."""
    with session_scope(services.engine) as session:
        ids = list(session.exec(select(Installation.id).where(Installation.status != "disconnected")))
    states: dict[int, str] = {}
    for iid in ids:
        try:
            snapshot = refresh_health(services, iid)
        except Exception:
            log.exception("health.refresh_failed installation=%s", iid)
            continue
        if snapshot is not None:
            states[iid] = snapshot["state"]
    return states
