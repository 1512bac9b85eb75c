"""CSRF protection for the admin's state-changing requests.

A random token lives in the signed session; forms send it as `csrf_token`, scripts as the
`X-CSRF-Token` header. Requests authenticated by the admin bearer token carry no cookie, so a
browser cannot forge them and they need no CSRF token.
"""

from __future__ import annotations

import hmac
import secrets

from flask import abort, request, session


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf(how: str) -> None:
    if how == "token":
        return
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
    expected = session.get("csrf") or ""
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(403, "Missing or wrong CSRF token; reload the page and try again.")
