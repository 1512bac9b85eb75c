"""What the HubSpot and Salesforce install flows share around their OAuth callbacks: the state
check, the pages a refused callback shows, the admin login, the install hook."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask import abort, request, session
from markupsafe import escape

from connector.context import Services
from connector.csrf import csrf_token
from connector.storage.db import session_scope
from oauth.installations import audit
from oauth.state import InvalidState, consume_state

log = logging.getLogger(__name__)


class CallbackRefused(Exception):  # noqa: N818 - a refusal with its page, not an error
    """The callback cannot go on; `response` is the page saying why."""

    def __init__(self, response: tuple[str, int, dict[str, str]]) -> None:
        super().__init__(response[1])
        self.response = response


def page(crm: str, status: int, title: str, message: str) -> tuple[str, int, dict[str, str]]:
    html = (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        f"<title>{escape(title)}</title>"
        "<body style='font-family:system-ui,sans-serif;max-width:40em;margin:4em auto'>"
        f"<h1>{escape(title)}</h1><p>{escape(message)}</p>"
        f"<p><a href='/oauth/{escape(crm)}/install'>Start the install again</a></p></body></html>"
    )
    return html, status, {"Content-Type": "text/html; charset=utf-8"}


def checked_state(svc: Services, crm: str, bind: str | None, now: datetime) -> dict[str, Any]:
    """The callback's `state`: ours, unused, unexpired, for this CRM, and started in this browser
    (`bind`, popped from its session). Raises CallbackRefused otherwise."""
    try:
        payload = consume_state(svc.settings.secret_key, request.args.get("state", ""), svc.engine, now)
    except InvalidState as exc:
        log.warning("%s.callback.bad_state reason=%s", crm, exc.reason)
        raise CallbackRefused(page(crm, 400, "This install link is no longer valid",
                                   f"The sign-in could not be checked ({exc.reason}). "
                                   "Please start the install again.")) from None
    if not bind or payload.get("bind") != bind or payload.get("crm") != crm:
        log.warning("%s.callback.bad_state reason=other browser", crm)
        raise CallbackRefused(page(crm, 400, "This install link is no longer valid",
                                   "The install was started in another browser or session. "
                                   "Please start it again here."))
    return payload


def log_in(installation_id: int, user: str) -> None:
    """The admin login (read by connector.auth): a fresh session, so nothing from before the
    login (another portal's admin, an old CSRF token) survives."""
    session.clear()
    session["admin"] = {"installation_id": installation_id, "user": user}
    csrf_token()


def target_installation(own: frozenset[int] | None) -> int:
    """The installation a disconnect is for: the admin's own, else the one the request names."""
    if own is not None and len(own) == 1:
        return next(iter(own))
    body = request.get_json(silent=True)
    raw = request.form.get("installation_id") or (body.get("installation_id") if isinstance(body, dict) else None)
    try:
        return int(raw)
    except (TypeError, ValueError):
        abort(400, description="Say which installation to disconnect (installation_id).")


def run_install_hook(svc: Services, installation_id: int, created: bool) -> None:
    """`services.extras["on_installed"](services=, installation_id=, created=)`, e.g. schema setup.

    The installation is saved whatever the hook does; a failure is logged and audited so the
    dashboard can offer a retry.
    """
    hook: Any = svc.extras.get("on_installed")
    if hook is None:
        return
    try:
        hook(services=svc, installation_id=installation_id, created=created)
    except Exception as exc:  # noqa: BLE001 - the install itself succeeded
        log.error("install.hook_failed installation_id=%s error=%s", installation_id, type(exc).__name__)
        with session_scope(svc.engine) as s:
            audit(s, installation_id, "install_hook_failed", svc.clock(),
                  detail={"error": type(exc).__name__})
