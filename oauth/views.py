"""HubSpot install, OAuth callback (the admin login) and disconnect.

Codes, tokens and state values are never logged.
"""

from __future__ import annotations

import logging
import secrets

from flask import Blueprint, abort, jsonify, redirect, request, session

from connector.auth import require_admin
from connector.context import Services, get_services
from connector.csrf import check_csrf
from connector.errors import FatalProviderError, TransientProviderError
from connector.storage.db import session_scope
from connector.storage.models import Installation
from oauth.callback import (
    CallbackRefused,
    checked_state,
    log_in,
    page,
    run_install_hook,
    target_installation,
)
from oauth.hubspot import HubSpotOAuth, TokenInfo, authorize_url, callback_url, load_app_config
from oauth.installations import CRM, audit, disconnect_installation, upsert_installation
from oauth.state import issue_state
from oauth.tokens import TokenSet, store_tokens

log = logging.getLogger(__name__)

bp = Blueprint("oauth_hubspot", __name__)

_BIND_KEY = "oauth_bind"  # ties the state to the browser that started the install


@bp.get("/oauth/hubspot/install")
def install():  # noqa: ANN201
    svc = get_services()
    if not (svc.settings.hubspot_client_id and svc.settings.hubspot_client_secret):
        # HubSpot would show the installer a bare "invalid client" page: say what is missing here.
        log.warning("hubspot.install.not_configured")
        abort(503, "The HubSpot app is not configured on this server: set HUBSPOT_CLIENT_ID and "
                   "HUBSPOT_CLIENT_SECRET from the app uploaded from hubspot-app/ (see the README).")
    bind = secrets.token_urlsafe(16)
    session[_BIND_KEY] = bind
    state = issue_state(svc.settings.secret_key, {"crm": CRM, "bind": bind}, svc.clock())
    log.info("hubspot.install.redirect")
    return redirect(authorize_url(svc.settings, state), code=302)


@bp.get("/oauth/hubspot/callback")
def callback():  # noqa: ANN201
    svc = get_services()
    now = svc.clock()
    bind = session.pop(_BIND_KEY, None)

    error = request.args.get("error")
    if error:
        log.warning("hubspot.callback.denied error=%r", error[:64])  # %r: no forged log lines
        detail = (request.args.get("error_description") or error)[:200]
        return _page(400, "HubSpot did not connect",
                     f"HubSpot answered: {detail}. Nothing was installed; you can start again.")

    try:
        checked_state(svc, CRM, bind, now)
    except CallbackRefused as refused:
        return refused.response

    code = request.args.get("code")
    if not code:
        log.warning("hubspot.callback.no_code")
        return _page(400, "HubSpot did not send an authorization code",
                     "Please start the install again.")

    oauth = HubSpotOAuth(svc.http, svc.settings)
    try:
        tokens = oauth.exchange_code(code, callback_url(svc.settings))
        if not tokens.refresh_token:
            raise FatalProviderError("HubSpot OAuth code_exchange: no refresh token")
        info = oauth.introspect(tokens.access_token)
    except TransientProviderError:
        return _page(502, "HubSpot could not be reached",
                     "HubSpot did not answer in time. Please start the install again in a moment.")
    except FatalProviderError:
        return _page(400, "HubSpot refused the authorization",
                     "The authorization code was refused or has expired. Please start the install again.")

    installation_id, created, user = _record_install(svc, tokens, info)
    run_install_hook(svc, installation_id, created)
    log_in(installation_id, user)
    return redirect("/", code=302)


@bp.post("/oauth/hubspot/disconnect")
def disconnect():  # noqa: ANN201
    """Disconnect the signed-in admin's installation (or, with the admin token or in demo mode,
    the one named by the `installation_id` form/JSON field)."""
    admin = require_admin()
    check_csrf(admin.how)
    installation_id = target_installation(admin.installation_ids)
    require_admin(installation_id)
    svc = get_services()
    with session_scope(svc.engine) as s:
        inst = s.get(Installation, installation_id)
        if inst is None or inst.crm != CRM:
            abort(404, description="No such HubSpot installation.")
    inst = disconnect_installation(
        svc.engine,
        svc.box,
        HubSpotOAuth(svc.http, svc.settings).revoke,
        installation_id,
        svc.clock(),
        grace_days=svc.settings.purge_grace_days,
        actor=admin.name,
    )
    if admin.how == "crm":  # their installation is gone: so is their login
        session.pop("admin", None)
    if request.headers.get("X-CSRF-Token") or request.is_json or request.accept_mimetypes.best == "application/json":
        return jsonify(status=inst.status, purge_after=inst.purge_after.isoformat())
    return redirect("/", code=303)


# -- helpers ---------------------------------------------------------------------------------






def _record_install(svc: Services, tokens: TokenSet, info: TokenInfo) -> tuple[int, bool, str]:
    now = svc.clock()
    user = info.user or (str(info.user_id) if info.user_id is not None else "")
    granted = info.scopes or tokens.scopes
    missing = sorted(set(load_app_config().required_scopes) - set(granted))
    if missing:  # HubSpot enforces required scopes at consent; this would be a config mismatch
        log.warning("hubspot.install.missing_scopes hub_id=%s scopes=%s", info.hub_id, ",".join(missing))
    with session_scope(svc.engine) as s:
        inst, created = upsert_installation(
            s,
            external_id=str(info.hub_id),
            name=info.hub_domain or f"HubSpot {info.hub_id}",
            installed_by=user,
            now=now,
        )
        store_tokens(
            s, svc.box, inst.id, tokens, now,
            user_id=str(info.user_id) if info.user_id is not None else "",
            scopes=granted,
        )
        audit(s, inst.id, "installed", now, actor=user or "hubspot",
              detail={"hub_id": info.hub_id, "reinstall": not created, "scopes": list(granted)})
        installation_id = inst.id
    log.info("hubspot.installed installation_id=%s hub_id=%s new=%s", installation_id, info.hub_id, created)
    return installation_id, created, user


def _page(status: int, title: str, message: str):  # noqa: ANN202
    return page(CRM, status, title, message)
