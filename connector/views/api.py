"""JSON API for the dashboard: installations, accounts with their §3 values, CRM writes."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, jsonify, request
from sqlmodel import func, select

from connector.auth import require_admin
from connector.context import get_services
from connector.domain.fields import FIELD_NAMES
from connector.storage.db import session_scope
from connector.storage.models import (
    CustomerBilling,
    Installation,
    OutboxItem,
    PlaybookDecision,
    SyncRun,
)

bp = Blueprint("api", __name__, url_prefix="/api")


def _installation_json(inst: Installation) -> dict:
    return {
        "id": inst.id, "crm": inst.crm, "external_id": inst.external_id, "name": inst.name,
        "status": inst.status, "status_reason": inst.status_reason, "preview": inst.preview,
        "timezone": inst.timezone, "sandbox": bool(inst.settings.get("sandbox")),
    }


@bp.get("/me")
def me():  # noqa: ANN201
    admin = require_admin()
    return jsonify(name=admin.name, how=admin.how, demo=get_services().settings.is_demo)


@bp.get("/installations")
def installations():  # noqa: ANN201
    admin = require_admin()
    with session_scope(get_services().engine) as s:
        rows = [i for i in s.exec(select(Installation).order_by(Installation.id)) if admin.may_see(i.id)]
        return jsonify([_installation_json(i) for i in rows])


@bp.get("/installations/<int:installation_id>/accounts")
def accounts(installation_id: int):  # noqa: ANN201
    require_admin(installation_id)
    limit = max(1, min(request.args.get("limit", 500, type=int), 2000))
    with session_scope(get_services().engine) as s:
        if s.get(Installation, installation_id) is None:
            abort(404, "No such installation.")
        # An erased customer (customer.deleted, PRODUCT.md §4) is no longer an account: counted only.
        rows = list(s.exec(select(CustomerBilling).where(CustomerBilling.installation_id == installation_id,
                                                         CustomerBilling.deleted.is_(False))
                           .order_by(CustomerBilling.risk_score.desc(), CustomerBilling.customer_id)
                           .limit(limit)))
        erased = s.exec(select(func.count()).select_from(CustomerBilling).where(
            CustomerBilling.installation_id == installation_id, CustomerBilling.deleted.is_(True))).one()
        enrolled = _enrolled_episodes(s, installation_id)
        return jsonify(fields=list(FIELD_NAMES), erased=erased,
                       accounts=[_account_json(r) | {"sequence": _sequence_note(r, enrolled)} for r in rows])


def _enrolled_episodes(s, installation_id: int) -> dict[int, date]:  # noqa: ANN001
    """Customer row -> start of the latest episode in which the connector enrolled its contact."""
    rows = s.exec(select(PlaybookDecision.customer_row_id, func.max(PlaybookDecision.episode_start))
                  .where(PlaybookDecision.installation_id == installation_id,
                         PlaybookDecision.kind == "enroll", PlaybookDecision.status == "applied")
                  .group_by(PlaybookDecision.customer_row_id))
    return dict(rows.all())


def _sequence_note(row: CustomerBilling, enrolled: dict[int, date]) -> str:
    """HubSpot has no unenroll API: after the episode ends the contact stays in the sequence until
    the install guide's workflow (or the sequence itself) ends it, so say so (PRODUCT.md §6)."""
    if row.id not in enrolled:
        return ""
    if row.desired.get("first_failed_payment_date"):
        return "in sequence"
    return "still in sequence (episode ended; the unenroll workflow ends it)"


def _account_json(row: CustomerBilling) -> dict:
    return {
        "customer_id": row.customer_id, "name": (row.facts.get("profile") or {}).get("name"),
        "match_status": row.match_status, "match_detail": row.match_detail,
        "crm_record_id": row.crm_record_id,
        "fields": {name: row.desired.get(name, "") for name in FIELD_NAMES},
    }


@bp.get("/installations/<int:installation_id>/writes")
def writes(installation_id: int):  # noqa: ANN201
    """CRM writes: made (live) or that would be made (preview), newest first."""
    require_admin(installation_id)
    with session_scope(get_services().engine) as s:
        if s.get(Installation, installation_id) is None:
            abort(404, "No such installation.")
        items = s.exec(select(OutboxItem, CustomerBilling.customer_id)
                       .join(CustomerBilling, CustomerBilling.id == OutboxItem.customer_row_id)
                       .where(OutboxItem.installation_id == installation_id)
                       .order_by(OutboxItem.id.desc()).limit(300))
        out = [{"id": item.id, "customer_id": cid, "status": item.status, "attempts": item.attempts,
                "last_error": item.last_error, "at": (item.done_at or item.created_at).isoformat(),
                "record_id": item.payload.get("record_id"),
                "values": item.payload.get("would_write") or item.payload.get("written") or {},
                "outcome": item.payload.get("outcome") or item.payload.get("error", "")}
               for item, cid in items]
        pending = s.exec(select(func.count()).select_from(OutboxItem).where(
            OutboxItem.installation_id == installation_id, OutboxItem.status == "pending")).one()
        runs = s.exec(select(SyncRun).where(SyncRun.installation_id == installation_id)
                      .order_by(SyncRun.id.desc()).limit(10))
        return jsonify(writes=out, pending=pending,
                       runs=[{"kind": r.kind, "outcome": r.outcome, "counts": r.counts,
                              "finished_at": r.finished_at.isoformat() if r.finished_at else None}
                             for r in runs])
