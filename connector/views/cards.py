"""`/cards/…`: the embedded CRM cards (PRODUCT.md §7).

HubSpot: the app card (hubspot-app/src/app/cards) calls `/cards/hubspot/…` through
`hubspot.fetch`; every request carries HubSpot's v3 signature, and HubSpot's proxy appends the
viewer's `portalId`, `userId` and `userEmail` to the query string.

Salesforce: the Canvas app POSTs a `signed_request` to `/cards/salesforce/canvas`; the answer is
the card page (static/card.html) holding a short-lived card token, with which the page reads the
story (`GET /cards/story`) and runs actions (`POST /cards/actions/<name>`). The token travels in
a header, never a cookie (third-party cookies are blocked in the CRM's iframe), so a cross-site
page cannot use it and no CSRF token is needed.

A signature proves only that the CRM vendor sent the request: the tenant it names must own the
record (connector.cards.find_card_customer), or the answer is "not synced yet".
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from markupsafe import escape

from connector.card_actions import ActionRequest, run_action
from connector.card_signatures import (
    SignatureRefused,
    redact_uri,
    verify_canvas_signed_request,
    verify_hubspot_v3,
)
from connector.cards import (
    CardViewer,
    build_story,
    find_card_customer,
    find_installation,
    not_synced_story,
)
from connector.context import get_services
from connector.errors import BadInput
from connector.storage.db import session_scope
from connector.storage.models import CustomerBilling, Installation

log = logging.getLogger(__name__)
bp = Blueprint("cards", __name__, url_prefix="/cards")

CARD_TOKEN_MAX_AGE_S = 4 * 3600  # a record page left open for a working afternoon
_TOKEN_SALT = "dunning-card-token"
_BOOT_PLACEHOLDER = "__CARD_BOOT__"

# The card page is framed by Salesforce (Lightning, Visualforce, the mobile app): allow only those
# hosts to frame it (reference/salesforce.md §7.1: no X-Frame-Options DENY).
_CANVAS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self' https://*.force.com "
    "https://*.salesforce.com https://*.visualforce.com https://*.salesforce-setup.com"
)
_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


# ---------------------------------------------------------------------------------------------
# HubSpot app card (hubspot.fetch)


@bp.post("/hubspot/story")
def hubspot_story():  # noqa: ANN201
    installation, row, record_id, _viewer, _body = _hubspot_request()
    return _story_response(installation, row, record_id)


@bp.post("/hubspot/actions/<name>")
def hubspot_action(name: str):  # noqa: ANN201
    installation, row, record_id, viewer, body = _hubspot_request()
    return _action_response(installation, row, record_id, viewer, name, body)


def _hubspot_request() -> tuple[Installation, CustomerBilling | None, str, CardViewer, dict]:
    services = get_services()
    uris = _received_uris()
    try:
        signed = verify_hubspot_v3(
            secret=services.settings.hubspot_client_secret,
            method=request.method,
            uris=uris,
            body=request.get_data(cache=True),
            signature=request.headers.get("X-HubSpot-Signature-v3"),
            timestamp=request.headers.get("X-HubSpot-Request-Timestamp"),
            now=services.clock(),
        )
    except SignatureRefused as exc:
        # HubSpot does not document which URI it signs for hubspot.fetch: the received one, in
        # the log of a refused request, settles it.
        log.warning("card.hubspot.refused reason=%s uri=%s", exc.reason, redact_uri(uris["with_query"]))
        abort(401, "The request is not signed by HubSpot.")
    log.info("card.hubspot.signed uri_form=%s", signed.uri_form)
    # The portal is what HubSpot's proxy appended; one value only, so nobody can add their own
    # ahead of it.
    portals = request.args.getlist("portalId")
    if len(portals) != 1 or not portals[0].isdigit():
        log.warning("card.hubspot.refused reason=portalId count=%s", len(portals))
        abort(400, "Expected exactly one numeric portalId from HubSpot.")
    body = _json_body()
    record_id = str(body.get("objectId") or "").strip()
    if not record_id.isdigit():
        abort(400, 'Send JSON {"objectId": <the company id>}.')
    if "portalId" in body and str(body["portalId"]) != portals[0]:
        log.warning("card.hubspot.refused reason=portal_mismatch portal=%s", portals[0])
        abort(403, "The portal in the request body is not the portal that signed it.")
    if signed.uri_form == "with_query":
        viewer = CardViewer("hubspot", request.args.get("userId", ""), request.args.get("userEmail", ""))
    else:
        # The signature left the query out, so portalId and the viewer there prove nothing: a
        # captured request could be replayed with another portal's id. Trust the signed body.
        if "portalId" not in body:
            log.warning("card.hubspot.refused reason=portal_not_signed portal=%s", portals[0])
            abort(403, "The request's portal is not covered by its signature.")
        viewer = CardViewer("hubspot", str(body.get("userId") or ""), str(body.get("userEmail") or ""))
        # The body is written by the card in the viewer's browser, the query by HubSpot's proxy:
        # a live request has both agree; a body naming a colleague, or a replay with another
        # viewer in the query, does not.
        for field, signed_value in (("userId", viewer.user_id), ("userEmail", viewer.email)):
            if field in body and field in request.args and request.args[field] != signed_value:
                log.warning("card.hubspot.refused reason=viewer_mismatch portal=%s", portals[0])
                abort(403, "The viewer in the request body is not the one HubSpot named.")
    with session_scope(services.engine) as s:
        installation = find_installation(s, "hubspot", portals[0])
        if installation is None:
            log.info("card.hubspot.refused reason=not_installed portal=%s", portals[0])
            abort(403, "This HubSpot account has not installed the connector.")
        row = find_card_customer(s, installation, record_id)
    return installation, row, record_id, viewer, body


def _received_uris() -> dict[str, str]:
    """The request URI as HubSpot may have signed it: with and without the query string.

    Built on the public base URL (the app's root as HubSpot calls it, as for `/pay/<token>`
    links): behind a proxy the host Flask sees is not the one HubSpot signed.
    """
    without = get_services().settings.public_base_url.rstrip("/") + request.path
    query = request.query_string.decode("latin-1")
    return {"with_query": f"{without}?{query}" if query else without, "without_query": without}


# ---------------------------------------------------------------------------------------------
# Salesforce Canvas


@bp.post("/salesforce/canvas")
def salesforce_canvas():  # noqa: ANN201
    services = get_services()
    secret = getattr(services.settings, "salesforce_client_secret", "") or ""
    try:
        envelope = verify_canvas_signed_request(request.form.get("signed_request", ""), secret)
    except SignatureRefused as exc:
        log.warning("card.canvas.refused reason=%s", exc.reason)
        return _canvas_error(401, "Not signed by Salesforce", "Open this card from Salesforce.")
    context = envelope.get("context") if isinstance(envelope.get("context"), dict) else {}
    org_id = str(_dig(context, "organization", "organizationId") or "")
    record_id = str(
        _dig(context, "environment", "record", "Id")
        or _dig(context, "environment", "parameters", "recordId")
        or ""
    ).strip()
    user = context.get("user") if isinstance(context.get("user"), dict) else {}
    viewer = CardViewer("salesforce", str(user.get("userId") or envelope.get("userId") or ""),
                        str(user.get("email") or ""))
    with session_scope(services.engine) as s:
        installation = find_installation(s, "salesforce", org_id)
        if installation is None:
            log.info("card.canvas.refused reason=not_installed org=%s", org_id)
            return _canvas_error(403, "Not installed", "This Salesforce org has not installed the connector.")
        row = find_card_customer(s, installation, record_id)
        token = _serializer().dumps({
            "i": installation.id, "r": row.id if row else None, "rec": record_id,
            "crm": "salesforce", "u": viewer.user_id, "e": viewer.email,
        })
    return _card_page({"token": token, "recordId": record_id})


@bp.get("/story")
def token_story():  # noqa: ANN201
    installation, row, record_id, _viewer = _token_request()
    return _story_response(installation, row, record_id)


@bp.post("/actions/<name>")
def token_action(name: str):  # noqa: ANN201
    installation, row, record_id, viewer = _token_request()
    return _action_response(installation, row, record_id, viewer, name, _json_body())


def _token_request() -> tuple[Installation, CustomerBilling | None, str, CardViewer]:
    raw = request.headers.get("X-Card-Token", "")
    try:
        claims = _serializer().loads(raw, max_age=CARD_TOKEN_MAX_AGE_S)
    except BadSignature:
        abort(401, "The card has expired; reload the record page.")
    services = get_services()
    with session_scope(services.engine) as s:
        installation = s.get(Installation, claims["i"])
        if installation is None or installation.status == "disconnected":
            abort(403, "The connector is no longer installed.")
        row = s.get(CustomerBilling, claims["r"]) if claims.get("r") else None
        if row is not None and (row.installation_id != installation.id or row.deleted):
            row = None
    return installation, row, claims.get("rec", ""), CardViewer(claims.get("crm", ""), claims.get("u", ""),
                                                                claims.get("e", ""))


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_TOKEN_SALT)


def _card_page(boot: dict[str, Any]) -> Response:
    html = (Path(current_app.static_folder) / "card.html").read_text(encoding="utf-8")
    # JSON inside <script type="application/json">: escape what could close the element.
    data = json.dumps(boot).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    response = Response(html.replace(_BOOT_PLACEHOLDER, data), mimetype="text/html")
    response.headers.update({**_NO_STORE, "Content-Security-Policy": _CANVAS_CSP})
    return response


def _canvas_error(status: int, title: str, message: str) -> Response:
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>'
        f"{escape(title)}</title>"
        '<link rel="stylesheet" href="/static/card.css"></head><body class="card">'
        f'<h1 class="card-title">{escape(title)}</h1><p class="refused" data-test="refused">{escape(message)}</p>'
        "</body></html>"
    )
    response = Response(html, status=status, mimetype="text/html")
    response.headers.update({**_NO_STORE, "Content-Security-Policy": _CANVAS_CSP})
    return response


# ---------------------------------------------------------------------------------------------
# Shared


def _story_response(installation: Installation, row: CustomerBilling | None, record_id: str):  # noqa: ANN202
    if row is None:
        response = jsonify(not_synced_story(installation.crm, record_id))
        response.status_code = 404
        return response
    services = get_services()
    with session_scope(services.engine) as s:
        inst = s.get(Installation, installation.id)
        fresh = s.get(CustomerBilling, row.id)
        story = build_story(s, inst, fresh, now=services.clock(), base_url=services.settings.public_base_url)
    response = jsonify(story)
    response.headers.update(_NO_STORE)
    return response


def _action_response(installation: Installation, row: CustomerBilling | None, record_id: str,
                     viewer: CardViewer, name: str, body: dict):  # noqa: ANN202
    if row is None:
        response = jsonify(not_synced_story(installation.crm, record_id))
        response.status_code = 404
        return response
    services = get_services()
    action = ActionRequest(name=name, confirmed=body.get("confirm") is True, days=body.get("days"))
    try:
        with session_scope(services.engine) as s:
            result = run_action(s, s.get(Installation, installation.id), s.get(CustomerBilling, row.id), action,
                                viewer=viewer, now=services.clock(), base_url=services.settings.public_base_url)
    except BadInput as exc:
        log.info("card.action.refused action=%s installation=%s status=%s", name, installation.id, exc.status)
        abort(exc.status, str(exc))
    log.info("card.action action=%s installation=%s customer_row=%s", name, installation.id, row.id)
    return jsonify(result)


def _json_body() -> dict:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _dig(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data
