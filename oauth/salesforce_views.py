"""Salesforce install (login host choice), OAuth callback (the admin login) and disconnect.

Since September 2025 a user cannot authorize an app that is not installed in their org; the
redirect then carries `error=invalid_client&error_description=app must be installed into org`
(reference/salesforce.md §1.1). The callback turns that into the install-then-connect steps.
Codes, tokens, verifiers and state values are never logged.
"""

from __future__ import annotations

import logging
import secrets
from urllib.parse import urlsplit

from flask import Blueprint, abort, jsonify, redirect, request, session
from markupsafe import escape

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
from oauth.installations import audit, disconnect_installation, upsert_installation
from oauth.salesforce import (
    APP_NOT_INSTALLED,
    CRM,
    BadLoginHost,
    SalesforceOAuth,
    SalesforceTokens,
    ids_from_identity_url,
    login_url_for,
)
from oauth.salesforce_tokens import LOGIN_URL_SETTING, login_url_of
from oauth.state import issue_state
from oauth.tokens import get_credential, store_tokens

log = logging.getLogger(__name__)

bp = Blueprint("oauth_salesforce", __name__)

_BIND_KEY = "sf_oauth_bind"
_VERIFIER_KEY = "sf_pkce_verifier"  # the PKCE verifier stays server-side (signed session), not in `state`

INSTALL_STEPS = (
    "Install the dunning-connector package into your org first: open the package install link "
    "(from your dunning-connector contact or the README), choose “Install for Admins Only”, then in "
    "Setup → External Client App Manager → dunning-connector → Policies set “Permitted Users” to "
    "“Admin approved users are pre-authorized” and add the Dunning_Connector_Integration permission "
    "set (or your own profile). Then come back here and connect again."
)


@bp.get("/oauth/salesforce/install")
def install():  # noqa: ANN201
    svc = get_services()
    if not (svc.settings.salesforce_client_id and svc.settings.salesforce_client_secret):
        log.warning("salesforce.install.not_configured")
        abort(503, "The Salesforce app is not configured on this server: set SALESFORCE_CLIENT_ID "
                   "and SALESFORCE_CLIENT_SECRET from the external client app (see the README).")
    choice = request.args.get("login")
    if not choice:
        return _chooser()
    try:
        login_url = login_url_for(choice if choice != "mydomain" else request.args.get("domain", ""),
                                  svc.settings)
    except BadLoginHost as exc:
        return _chooser(str(exc), status=400)
    bind = secrets.token_urlsafe(16)
    state = issue_state(svc.settings.secret_key, {"crm": CRM, "bind": bind, "login": login_url}, svc.clock())
    authorization = SalesforceOAuth(svc.http, svc.settings, login_url).authorization(state)
    session[_BIND_KEY] = bind
    session[_VERIFIER_KEY] = authorization.code_verifier
    log.info("salesforce.install.redirect login_host=%s", urlsplit(login_url).hostname)
    return redirect(authorization.url, code=302)


@bp.get("/oauth/salesforce/callback")
def callback():  # noqa: ANN201
    svc = get_services()
    now = svc.clock()
    bind = session.pop(_BIND_KEY, None)
    verifier = session.pop(_VERIFIER_KEY, None)

    error = request.args.get("error")
    if error:
        description = request.args.get("error_description") or error
        log.warning("salesforce.callback.denied error=%r", error[:64])  # %r: no forged log lines
        if APP_NOT_INSTALLED.search(description):
            return _page(403, "Install the app in your Salesforce org first",
                         f"Salesforce answered: {description[:200]}. {INSTALL_STEPS}")
        return _page(400, "Salesforce did not connect",
                     f"Salesforce answered: {description[:200]}. Nothing was installed; you can start again.")

    try:
        payload = checked_state(svc, CRM, bind, now)
    except CallbackRefused as refused:
        return refused.response
    if not verifier:
        log.warning("salesforce.callback.bad_state reason=no PKCE verifier")
        return _page(400, "This install link is no longer valid",
                     "The install was started in another browser or session. Please start it again here.")
    code = request.args.get("code")
    if not code:
        return _page(400, "Salesforce did not send an authorization code", "Please start the install again.")

    login_url = str(payload["login"])
    try:
        tokens = SalesforceOAuth(svc.http, svc.settings, login_url).exchange_code(code, verifier)
        org_id, user_id = ids_from_identity_url(tokens.identity_url)
    except TransientProviderError:
        return _page(502, "Salesforce could not be reached",
                     "Salesforce did not answer in time. Please start the install again in a moment.")
    except FatalProviderError as exc:
        if exc.category and APP_NOT_INSTALLED.search(str(exc)):
            return _page(403, "Install the app in your Salesforce org first", INSTALL_STEPS)
        return _page(400, "Salesforce refused the authorization",
                     "The authorization code was refused or has expired. Please start the install again.")

    installation_id, created = _record_install(svc, tokens, org_id, user_id, login_url)
    run_install_hook(svc, installation_id, created)
    log_in(installation_id, user_id)
    return redirect("/", code=302)


@bp.post("/oauth/salesforce/disconnect")
def disconnect():  # noqa: ANN201
    admin = require_admin()
    check_csrf(admin.how)
    installation_id = target_installation(admin.installation_ids)
    require_admin(installation_id)
    svc = get_services()
    with session_scope(svc.engine) as s:
        inst = s.get(Installation, installation_id)
        if inst is None or inst.crm != CRM:
            abort(404, description="No such Salesforce installation.")
        login_url = login_url_of(inst, svc.settings.salesforce_login_url)
    inst = disconnect_installation(
        svc.engine, svc.box, SalesforceOAuth(svc.http, svc.settings, login_url).revoke,
        installation_id, svc.clock(), grace_days=svc.settings.purge_grace_days, actor=admin.name,
    )
    if admin.how == "crm":
        session.pop("admin", None)
    if request.headers.get("X-CSRF-Token") or request.is_json or request.accept_mimetypes.best == "application/json":
        return jsonify(status=inst.status, purge_after=inst.purge_after.isoformat())
    return redirect("/", code=303)


# -- helpers ---------------------------------------------------------------------------------


def _record_install(svc: Services, tokens: SalesforceTokens, org_id: str, user_id: str,
                    login_url: str) -> tuple[int, bool]:
    """Upsert on (salesforce, org id); tokens encrypted; instance URL and login host kept."""
    now = svc.clock()
    host = urlsplit(tokens.instance_url).hostname or ""
    with session_scope(svc.engine) as s:
        inst, created = upsert_installation(s, external_id=org_id, name=host or f"Salesforce {org_id}",
                                            installed_by=user_id, now=now, crm=CRM)
        inst.settings = {**(inst.settings or {}), LOGIN_URL_SETTING: login_url}
        s.add(inst)
        store_tokens(s, svc.box, inst.id, tokens, now, user_id=user_id, scopes=tokens.scopes)  # type: ignore[arg-type]
        cred = get_credential(s, inst.id)
        cred.instance_url = tokens.instance_url
        s.add(cred)
        audit(s, inst.id, "installed", now, actor=user_id or "salesforce",
              detail={"org_id": org_id, "reinstall": not created, "instance": host,
                      "login_host": urlsplit(login_url).hostname, "scopes": list(tokens.scopes)})
        installation_id = inst.id
    log.info("salesforce.installed installation_id=%s org_id=%s new=%s", installation_id, org_id, created)
    return installation_id, created


_CHOOSER = """<!doctype html><html lang=en><meta charset=utf-8><title>Connect Salesforce</title>
<body style='font-family:system-ui,sans-serif;max-width:40em;margin:4em auto'>
<h1>Connect Salesforce</h1>{error}
<p>The dunning-connector package must be installed in your org before you connect (see the README).</p>
<form method=get action=/oauth/salesforce/install>
<p><label><input type=radio name=login value=production checked> Production or Developer Edition</label><br>
<label><input type=radio name=login value=sandbox> Sandbox</label><br>
<label><input type=radio name=login value=mydomain> My Domain:</label>
<input name=domain placeholder="acme.my.salesforce.com" size=36></p>
<p><button type=submit>Continue to Salesforce</button></p></form></body></html>"""


def _chooser(error: str = "", status: int = 200):  # noqa: ANN202
    message = f"<p role=alert style='color:#a00'>{escape(error)}</p>" if error else ""
    return _CHOOSER.format(error=message), status, {"Content-Type": "text/html; charset=utf-8"}


def _page(status: int, title: str, message: str):  # noqa: ANN202
    return page(CRM, status, title, message)
