"""Admin JSON for the dashboard: sync health, recovery figures, segments, unmatched customers,
settings (validated; a refused value keeps the old settings) and the reconcile button.

Every route takes the installation id and checks the admin may see it: another tenant's
installation answers 404, exactly like one that does not exist.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from flask import Blueprint, abort, jsonify, request
from sqlalchemy import func
from sqlmodel import Session, select

from connector import reconcile_runs
from connector.auth import require_admin
from connector.context import Services, get_services
from connector.csrf import check_csrf
from connector.customers import refresh_customer
from connector.domain.billing_state import CustomerFacts
from connector.domain.calendar import CalendarError, check_calendar
from connector.domain.fields import Segment
from connector.domain.playbook_settings import DEFAULT_PLAYBOOK, parse_playbook_settings
from connector.domain.policy import DEFAULT_POLICY, PolicyError, parse_risk_policy
from connector.domain.recovery import PeriodError, parse_period
from connector.recovery_figures import recovery_json
from connector.storage.db import session_scope
from connector.storage.models import AuditLog, CustomerBilling, Installation
from connector.sync_health import refresh_health

log = logging.getLogger(__name__)
bp = Blueprint("admin", __name__, url_prefix="/api/installations/<int:installation_id>")

UNMATCHED_STATUSES = ("unmatched", "ambiguous", "conflict")


def _installation(session: Session, installation_id: int) -> Installation:
    inst = session.get(Installation, installation_id)
    if inst is None:
        abort(404, "No such installation.")
    return inst


@bp.get("/health")
def health(installation_id: int):  # noqa: ANN201
    require_admin(installation_id)
    snapshot = refresh_health(get_services(), installation_id)
    if snapshot is None:
        abort(404, "No such installation.")
    return jsonify(snapshot)


@bp.get("/recovery")
def recovery(installation_id: int):  # noqa: ANN201
    require_admin(installation_id)
    services = get_services()
    now = services.clock()
    with session_scope(services.engine) as s:
        inst = _installation(s, installation_id)
        try:
            period = parse_period(request.args.get("period"), today=now.astimezone(ZoneInfo(inst.timezone)).date())
        except PeriodError as exc:
            abort(400, str(exc))
        return jsonify(recovery_json(s, inst, period, now))


@bp.get("/segments")
def segments(installation_id: int):  # noqa: ANN201
    """Accounts per §5 segment, with how many are past due in each."""
    require_admin(installation_id)
    with session_scope(get_services().engine) as s:
        _installation(s, installation_id)
        rows = s.exec(select(CustomerBilling.risk_segment, CustomerBilling.payment_status, func.count())
                      .where(CustomerBilling.installation_id == installation_id,
                             CustomerBilling.deleted.is_(False))
                      .group_by(CustomerBilling.risk_segment, CustomerBilling.payment_status)).all()
    out = {seg.value: {"segment": seg.value, "accounts": 0, "by_status": {}} for seg in
           (Segment.HIGH_RISK, Segment.HABITUAL_LATE, Segment.FIRST_TIME_LATE, Segment.LOW_RISK)}
    for segment, status, n in rows:
        entry = out.setdefault(segment, {"segment": segment, "accounts": 0, "by_status": {}})
        entry["accounts"] += n
        entry["by_status"][status] = n
    return jsonify(segments=list(out.values()))


@bp.get("/unmatched")
def unmatched(installation_id: int):  # noqa: ANN201
    """Customers with no CRM record, an ambiguous match, or a record linked to another customer."""
    require_admin(installation_id)
    with session_scope(get_services().engine) as s:
        _installation(s, installation_id)
        rows = s.exec(select(CustomerBilling).where(
            CustomerBilling.installation_id == installation_id, CustomerBilling.deleted.is_(False),
            CustomerBilling.match_status.in_(UNMATCHED_STATUSES))
            .order_by(CustomerBilling.risk_score.desc(), CustomerBilling.customer_id).limit(1000))
        out = []
        for row in rows:
            profile = CustomerFacts.from_json(row.facts).profile
            out.append({"customer_id": row.customer_id, "name": profile.name,
                        "email_domain": profile.email.rsplit("@", 1)[-1] if profile.email else None,
                        "match_status": row.match_status, "detail": row.match_detail,
                        "payment_status": row.payment_status, "risk_segment": row.risk_segment})
    return jsonify(customers=out)


# --- settings -------------------------------------------------------------------------------


def _plain(obj: Any) -> Any:
    return json_ready(dataclasses.asdict(obj))


def json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    return value


def _settings_json(inst: Installation) -> dict[str, Any]:
    def effective(parse, raw, default):  # noqa: ANN001, ANN202
        try:
            return _plain(parse(raw))
        except PolicyError:
            return _plain(default)  # never saved through the API; show what applies

    return {
        "risk": effective(parse_risk_policy, inst.settings.get("risk", {}), DEFAULT_POLICY),
        "risk_defaults": _plain(DEFAULT_POLICY),
        "playbook": effective(parse_playbook_settings, inst.settings.get("playbook", {}), DEFAULT_PLAYBOOK),
        "playbook_defaults": _plain(DEFAULT_PLAYBOOK),
        "timezone": inst.timezone,
        "country": inst.country,
        "preview": inst.preview,
    }


_NAMED_ZONES = frozenset(available_timezones()) - {"localtime", "Factory", "posixrules"}


def _validate(inst: Installation, body: dict[str, Any]) -> dict[str, Any]:
    """The new stored settings, or abort(400) naming the bad value; nothing is changed here."""
    known = {"risk", "playbook", "timezone", "country"}
    unknown = sorted(set(body) - known)
    if unknown:
        abort(400, f"Unknown setting: {', '.join(unknown)}.")
    changes: dict[str, Any] = {}
    country = inst.country
    if "country" in body:
        country = body["country"].strip().upper() if isinstance(body["country"], str) else ""
        try:
            check_calendar(country)
        except CalendarError:
            abort(400, f"country: no business-day calendar for {country!r} (use an ISO 3166 code "
                       "like US, GB or DE)")
        changes["country"] = country
        # The stored holiday region must exist in the new country too (a sent one is checked below).
        if "playbook" not in body:
            try:
                parse_playbook_settings(inst.settings.get("playbook", {}), country=country)
            except PolicyError as exc:
                abort(400, f"playbook: {exc.message}; clear it when changing the country")
    parsers = {"risk": parse_risk_policy,
               "playbook": lambda raw: parse_playbook_settings(raw, country=country)}
    for section, parse in parsers.items():
        if section not in body:
            continue
        try:
            parse(body[section])
        except PolicyError as exc:
            abort(400, f"{section}: {exc.message}")
        changes[section] = dict(body[section])
    if "timezone" in body:
        tz = body["timezone"]
        try:
            # Named zones only: "localtime" follows the server, "Factory" and "right/…" are not
            # places, though ZoneInfo() opens them.
            if not isinstance(tz, str) or tz not in _NAMED_ZONES:
                raise ZoneInfoNotFoundError(tz)
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            abort(400, f"timezone: not a known time zone: {tz!r} (use an IANA name like Europe/London)")
        changes["timezone"] = tz
    return changes


@bp.get("/settings")
def get_settings(installation_id: int):  # noqa: ANN201
    require_admin(installation_id)
    with session_scope(get_services().engine) as s:
        return jsonify(_settings_json(_installation(s, installation_id)))


@bp.post("/settings")
def save_settings(installation_id: int):  # noqa: ANN201
    admin = require_admin(installation_id)
    check_csrf(admin.how)
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not body:
        abort(400, 'Send JSON like {"risk": {"high_risk_threshold": 70}}.')
    services = get_services()
    with session_scope(services.engine) as s:
        inst = _installation(s, installation_id)
        changes = _validate(inst, body)
        if "timezone" in changes:
            inst.timezone = changes.pop("timezone")
        if "country" in changes:
            inst.country = changes.pop("country")
        inst.settings = {**inst.settings, **changes}
        inst.updated_at = services.clock()
        s.add(inst)
        s.add(AuditLog(installation_id=installation_id, actor=admin.name, at=services.clock(),
                       action="settings.saved", detail={"sections": sorted(body)}))
    log.info("admin.settings.saved installation=%s sections=%s", installation_id, ",".join(sorted(body)))
    refreshed = _rederive(services, installation_id)
    with session_scope(services.engine) as s:
        return jsonify(saved=True, refreshed=refreshed, settings=_settings_json(_installation(s, installation_id)))


def _rederive(services: Services, installation_id: int) -> int:
    """New thresholds change scores and segments now, not at the next tick; only changed values
    reach the outbox."""
    changed = 0
    try:
        with session_scope(services.engine) as s:
            inst = s.get(Installation, installation_id)
            rows = s.exec(select(CustomerBilling).where(CustomerBilling.installation_id == installation_id,
                                                        CustomerBilling.deleted.is_(False)))
            for row in rows:
                before = dict(row.desired)
                refresh_customer(s, inst, row, now=services.clock(), base_url=services.settings.public_base_url)
                changed += row.desired != before
    except Exception:
        # The settings are saved; the daily tick re-derives everyone anyway.
        log.exception("admin.settings.rederive_failed installation=%s", installation_id)
    return changed


# --- reconcile -------------------------------------------------------------------------------


@bp.post("/reconcile")
def start_reconcile(installation_id: int):  # noqa: ANN201
    admin = require_admin(installation_id)
    check_csrf(admin.how)
    body = request.get_json(silent=True) or {}
    full = body.get("full", False) if isinstance(body, dict) else False
    if not isinstance(full, bool):
        abort(400, 'Send JSON {"full": true} or {"full": false}.')
    services = get_services()
    with session_scope(services.engine) as s:
        inst = _installation(s, installation_id)
        if inst.status != "active":
            abort(409, f"This installation is {inst.status.replace('_', ' ')}; reconnect it first.")
    run, started = reconcile_runs.start(services, installation_id, full=full)
    log.info("admin.reconcile installation=%s full=%s started=%s by=%s", installation_id, full, started, admin.how)
    return jsonify(started=started, run=run.as_json()), 202 if started else 409


@bp.get("/reconcile")
def reconcile_status(installation_id: int):  # noqa: ANN201
    require_admin(installation_id)
    with session_scope(get_services().engine) as s:
        _installation(s, installation_id)
    run = reconcile_runs.status(installation_id)
    return jsonify(run=run.as_json() if run else None)
