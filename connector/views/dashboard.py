"""The admin dashboard: a static page plus the state-changing admin actions it calls."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Blueprint, abort, current_app, jsonify, request, send_from_directory
from sqlalchemy import func
from sqlmodel import select

from connector.auth import require_admin
from connector.billing.connections import (
    chargebee_webhook_credentials,
    connect_chargebee,
    connect_stripe,
    stripe_webhook_url,
)
from connector.context import get_services
from connector.csrf import check_csrf, csrf_token
from connector.errors import BadInput, FatalProviderError, TransientProviderError
from connector.modes import set_preview
from connector.storage.db import session_scope
from connector.storage.models import AuditLog, BillingConnection, BillingEvent, Installation
from connector.timestamps import iso_utc

log = logging.getLogger(__name__)
bp = Blueprint("dashboard", __name__)


@bp.get("/")
def index():  # noqa: ANN201
    return send_from_directory(current_app.static_folder, "index.html")


@bp.get("/api/session")
def session_info():  # noqa: ANN201
    admin = require_admin()
    return jsonify(name=admin.name, how=admin.how, demo=get_services().settings.is_demo, csrf=csrf_token())


@bp.post("/api/installations/<int:installation_id>/mode")
def change_mode(installation_id: int):  # noqa: ANN201
    admin = require_admin(installation_id)
    check_csrf(admin.how)
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("preview"), bool):
        log.info("admin.mode.bad_request installation=%s", installation_id)
        abort(400, 'Send JSON {"preview": true} or {"preview": false}.')
    services = get_services()
    with session_scope(services.engine) as s:
        inst = s.get(Installation, installation_id)
        if inst is None:
            abort(404, "No such installation.")
        pushed = set_preview(s, inst, body["preview"], now=services.clock())
        s.add(AuditLog(installation_id=installation_id, actor=admin.name, at=services.clock(),
                       action="mode.preview" if body["preview"] else "mode.live", detail={"queued": pushed}))
    return jsonify(preview=body["preview"], queued=pushed)


def _form_or_json_object() -> dict:
    """The request's form, or its JSON body when that is an object; anything else is a 400."""
    if not request.is_json:
        return request.form.to_dict()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, "Send a JSON object.")
    return body


@contextmanager
def _refusals_as_4xx(provider: str, installation_id: int) -> Iterator[None]:
    """A refused connection attempt answers a 4xx (a vendor outage a 503) with a log line."""
    try:
        yield
    except BadInput as exc:
        log.info("admin.connect.refused provider=%s installation=%s reason=%s", provider, installation_id, exc)
        abort(exc.status, str(exc))
    except FatalProviderError as exc:
        log.info("admin.connect.provider_refused provider=%s installation=%s status=%s", provider,
                 installation_id, exc.status)
        abort(400, str(exc))
    except TransientProviderError:
        abort(503, f"{provider} did not answer; try again in a minute.")


@bp.post("/api/installations/<int:installation_id>/stripe")
def connect_stripe_account(installation_id: int):  # noqa: ANN201
    """Connect (or reconnect) the installation's Stripe account from a pasted API key."""
    admin = require_admin(installation_id)
    check_csrf(admin.how)
    body = _form_or_json_object()
    api_key = body.get("api_key") or ""
    endpoint_secret = body.get("endpoint_secret") or None
    if not isinstance(api_key, str) or not api_key.strip():
        abort(400, "Paste a Stripe secret or restricted API key (sk_… or rk_…).")
    if endpoint_secret is not None and not isinstance(endpoint_secret, str):
        abort(400, "endpoint_secret is the webhook signing secret as text (whsec_…).")
    services = get_services()
    with _refusals_as_4xx("Stripe", installation_id), session_scope(services.engine) as s:
        conn = connect_stripe(s, services, installation_id, api_key=api_key.strip(),
                              endpoint_secret=endpoint_secret, actor=admin.name)
        result = {"connection_id": conn.id, "mode": conn.mode,
                  "webhook_url": stripe_webhook_url(services.settings.public_base_url, conn.webhook_token)}
    return jsonify(result)


@bp.post("/api/installations/<int:installation_id>/chargebee")
def connect_chargebee_site(installation_id: int):  # noqa: ANN201
    """Connect (or reconnect) a Chargebee site; answers the webhook URL and Basic-auth login."""
    admin = require_admin(installation_id)
    check_csrf(admin.how)
    body = _form_or_json_object()
    site, api_key, mode = body.get("site"), body.get("api_key"), body.get("mode")
    if not isinstance(site, str) or not isinstance(api_key, str) or not site.strip() or not api_key.strip():
        abort(400, "Enter the Chargebee site name and an API key.")
    can_write = body.get("key_can_write") in (True, "true", "on", "1")
    services = get_services()
    with _refusals_as_4xx("Chargebee", installation_id), session_scope(services.engine) as s:
        conn, hook = connect_chargebee(s, services, installation_id, site=site, api_key=api_key,
                                       mode=mode if isinstance(mode, str) else None,
                                       key_can_write=can_write, actor=admin.name)
        result = {"connection_id": conn.id, "mode": conn.mode, "site": conn.account_ref,
                  "webhook_url": hook["url"], "webhook_username": hook["username"],
                  "webhook_password": hook["password"]}
    return jsonify(result)


@bp.get("/api/installations/<int:installation_id>/connections")
def billing_connections(installation_id: int):  # noqa: ANN201
    """The installation's billing connection(s), with the webhook URL to configure at the provider.

    No secret is answered here: the Chargebee webhook password is shown when connecting (and
    again on reconnecting, which keeps it); Stripe's signing secret never leaves the store.
    """
    require_admin(installation_id)
    services = get_services()
    base = services.settings.public_base_url
    with session_scope(services.engine) as s:
        if s.get(Installation, installation_id) is None:
            abort(404, "No such installation.")
        conns = s.exec(select(BillingConnection).where(BillingConnection.installation_id == installation_id)
                       .order_by(BillingConnection.id)).all()
        last_events = dict(s.exec(select(BillingEvent.connection_id, func.max(BillingEvent.received_at))
                                  .where(BillingEvent.connection_id.in_([c.id for c in conns]))
                                  .group_by(BillingEvent.connection_id)).all())
        out = []
        for c in conns:
            item = {"id": c.id, "provider": c.provider, "mode": c.mode, "account": c.account_ref,
                    "has_api_key": bool(c.api_key_enc), "created_at": iso_utc(c.created_at),
                    "last_event_at": iso_utc(last_events.get(c.id))}
            if c.provider == "chargebee":
                hook = chargebee_webhook_credentials(services, c)  # its password is not answered
                item["webhook_url"], item["webhook_username"] = hook["url"], hook["username"]
            else:
                item["webhook_url"] = stripe_webhook_url(base, c.webhook_token)
                item["webhook_endpoint"] = "created by the connector" if c.provider_endpoint_id else "made by hand"
            out.append(item)
    return jsonify(connections=out)


@bp.get("/api/installations/<int:installation_id>/card-expiry")
def card_expiry(installation_id: int):  # noqa: ANN201
    """Card-expiry pre-dunning figures: touch points sent, cards caught before they failed."""
    from connector.card_expiry_report import card_expiry_figures

    require_admin(installation_id)
    services = get_services()
    with session_scope(services.engine) as s:
        inst = s.get(Installation, installation_id)
        if inst is None:
            abort(404, "No such installation.")
        figures = card_expiry_figures(s, installation_id, services.clock())
        enabled = bool((inst.settings.get("playbook") or {}).get("card_expiry_reminder"))
    return jsonify(enabled=enabled, **figures)
