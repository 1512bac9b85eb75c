"""JSON API of the playbook: the decisions feed (per installation and per account), its settings
and the segment lists. Each decision says what, why, the result, when, and whether it was
previewed, applied or deferred by the daily cap, so the dashboard shows it without rules of its own.
"""

from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, abort, jsonify, request
from sqlmodel import select

from connector.auth import require_admin
from connector.context import get_services
from connector.csrf import check_csrf
from connector.domain.playbook import ActionKind, DecisionStatus
from connector.domain.playbook_settings import PlaybookSettings, parse_playbook_settings
from connector.domain.policy import PolicyError
from connector.playbook_runner import (
    business_calendar,
    ensure_lists,
    playbook_settings,
    save_playbook_settings,
    used_today,
)
from connector.storage.db import session_scope
from connector.storage.models import CustomerBilling, Installation, PlaybookDecision
from connector.timestamps import iso_utc

bp = Blueprint("playbook", __name__, url_prefix="/api")

_STATUS_LABELS = {
    DecisionStatus.PROPOSED: "Queued for the CRM",
    DecisionStatus.PREVIEWED: "Preview: shown, not sent",
    DecisionStatus.APPLIED: "Done in the CRM",
    DecisionStatus.FAILED: "Failed",
    DecisionStatus.DEFERRED: "Deferred by the daily cap",
    DecisionStatus.SKIPPED: "Skipped",
}


@bp.get("/installations/<int:installation_id>/decisions")
def decisions(installation_id: int):  # noqa: ANN201
    """The feed, newest first; `customer`, `kind` and `status` filter it."""
    require_admin(installation_id)
    kind, status = request.args.get("kind"), request.args.get("status")
    if kind and kind not in {k.value for k in ActionKind}:
        abort(400, f"kind must be one of {', '.join(k.value for k in ActionKind)}")
    if status and status not in {s.value for s in DecisionStatus}:
        abort(400, f"status must be one of {', '.join(s.value for s in DecisionStatus)}")
    return jsonify(_feed(installation_id, customer=request.args.get("customer"), kind=kind,
                         status=status, limit=max(1, min(request.args.get("limit", 200, type=int), 1000))))


@bp.get("/installations/<int:installation_id>/accounts/<customer_id>/decisions")
def account_decisions(installation_id: int, customer_id: str):  # noqa: ANN201
    require_admin(installation_id)
    return jsonify(_feed(installation_id, customer=customer_id, require_customer=True))


def _feed(installation_id: int, *, customer: str | None = None, kind: str | None = None,
          status: str | None = None, limit: int = 200, require_customer: bool = False) -> dict:
    services = get_services()
    with session_scope(services.engine) as s:
        inst = s.get(Installation, installation_id)
        if inst is None:
            abort(404, "No such installation.")
        stmt = (select(PlaybookDecision, CustomerBilling)
                .join(CustomerBilling, CustomerBilling.id == PlaybookDecision.customer_row_id)
                .where(PlaybookDecision.installation_id == installation_id))
        if customer:
            if require_customer and s.exec(select(CustomerBilling.id).where(
                    CustomerBilling.installation_id == installation_id,
                    CustomerBilling.customer_id == customer)).first() is None:
                abort(404, "No such account.")
            stmt = stmt.where(CustomerBilling.customer_id == customer)
        if kind:
            stmt = stmt.where(PlaybookDecision.kind == kind)
        if status:
            stmt = stmt.where(PlaybookDecision.status == status)
        rows = s.exec(stmt.order_by(PlaybookDecision.created_at.desc(), PlaybookDecision.id.desc())
                      .limit(limit))
        items = [decision_json(d, row) for d, row in rows]
        settings = playbook_settings(inst)
        today = business_calendar(inst, settings).today(services.clock())
        waiting = s.exec(select(PlaybookDecision.id).where(
            PlaybookDecision.installation_id == installation_id,
            PlaybookDecision.status == DecisionStatus.DEFERRED.value)).all()
        return {
            "mode": "preview" if inst.preview else "live",
            "daily_cap": {"limit": settings.daily_cap, "day": today.isoformat(),
                          "used": used_today(s, installation_id, today),
                          "deferred": len(waiting), "reached": len(waiting) > 0},
            "decisions": items,
        }


def decision_json(d: PlaybookDecision, row: CustomerBilling) -> dict:
    """One decision, self-explanatory for the dashboard."""
    detail = d.detail or {}
    status = DecisionStatus(d.status)
    return {
        "id": d.id,
        "customer_id": row.customer_id,
        "customer_name": None if row.deleted else (row.facts.get("profile") or {}).get("name"),
        "crm_record_id": row.crm_record_id or None,
        "episode_start": d.episode_start.isoformat(),
        "touch_point": d.touch_point,
        "touch_point_label": touch_point_label(d.touch_point),
        "kind": d.kind,
        "what": what_label(d),
        "why": d.why,
        "status": d.status,
        "status_label": _STATUS_LABELS[status],
        "preview": status is DecisionStatus.PREVIEWED,
        "deferred_by_cap": status is DecisionStatus.DEFERRED,
        "result": d.result,
        "risk_score": d.risk_score,
        "segment": d.segment,
        "subject": detail.get("subject"),
        "body": detail.get("body"),
        "due_at": detail.get("due_at"),
        "sequence": detail.get("sequence"),
        "todo_reason": detail.get("todo_reason"),
        "fell_back_to_todo": detail.get("fallback") == "todo_task",
        "card_update": bool(detail.get("card_update")),
        "crm_task_id": d.crm_task_id or None,
        "crm_enrollment_id": d.crm_enrollment_id or None,
        "decided_at": iso_utc(d.created_at),
        "applied_at": iso_utc(d.applied_at),
        "decided_for_day": d.day.isoformat(),
    }


def touch_point_label(point: str) -> str:
    if point.startswith("day_"):
        return f"Day {point.removeprefix('day_')}"
    if point.startswith("end"):
        return "Episode end"
    if point.startswith("pre_due:"):
        return f"Pre-due reminder ({point.removeprefix('pre_due:')})"
    return point


def what_label(d: PlaybookDecision) -> str:
    detail = d.detail or {}
    if d.kind == ActionKind.CALL_TASK:
        return "CALL task for the account owner"
    if d.kind == ActionKind.ENROLL:
        return f"Enroll the billing contact in the {detail.get('sequence', '')} sequence"
    if d.kind == ActionKind.TODO_TASK:
        return "TODO task for the account owner"
    if d.kind == ActionKind.UNENROLL:
        return f"Remove contact {detail.get('contact_id', '')} from the cadence"
    return f"Complete our CALL task {d.crm_task_id}"


@bp.get("/installations/<int:installation_id>/playbook-settings")
def get_playbook_settings(installation_id: int):  # noqa: ANN201
    require_admin(installation_id)
    with session_scope(get_services().engine) as s:
        inst = s.get(Installation, installation_id)
        if inst is None:
            abort(404, "No such installation.")
        stored = inst.settings.get("playbook", {})
        try:  # parsed here, not through playbook_settings(): its fallback would hide the error
            effective = parse_playbook_settings(stored)
        except PolicyError as exc:
            return jsonify(stored=stored, error=exc.message)
        return jsonify(stored=stored, effective=_settings_json(effective))


@bp.put("/installations/<int:installation_id>/playbook-settings")
def put_playbook_settings(installation_id: int):  # noqa: ANN201
    """Save new settings; a bad value is refused (400, naming the field) and the old ones stay."""
    admin = require_admin(installation_id)
    check_csrf(admin.how)
    raw = request.get_json(silent=True)
    if not isinstance(raw, dict):
        abort(400, "Send the playbook settings as a JSON object.")
    services = get_services()
    with session_scope(services.engine) as s:
        inst = s.get(Installation, installation_id)
        if inst is None:
            abort(404, "No such installation.")
        try:
            parsed = save_playbook_settings(s, inst, raw, actor=admin.name, now=services.clock())
        except PolicyError as exc:
            s.rollback()
            return jsonify(error="Bad Request", message=exc.message), 400
        return jsonify(stored=raw, effective=_settings_json(parsed))


def _settings_json(settings: PlaybookSettings) -> dict:
    out = asdict(settings)
    out["touch_point_days"] = list(settings.touch_point_days)
    return out


@bp.post("/installations/<int:installation_id>/segment-lists")
def post_segment_lists(installation_id: int):  # noqa: ANN201
    """Create or find again the four risk-segment lists (done at install; safe to repeat)."""
    admin = require_admin(installation_id)
    check_csrf(admin.how)
    return jsonify(ensure_lists(get_services(), installation_id))

