"""Who is looking at the admin pages, and which installations they may see.

Three ways in: the CRM user who installed (session set by the OAuth callback), an admin token
for automation (`Authorization: Bearer …`), and in demo mode the local user.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from flask import abort, request, session

from connector.context import get_services

MAX_ID = 2**31 - 1  # the largest id an INTEGER primary key holds on PostgreSQL


@dataclass(frozen=True)
class Admin:
    name: str
    installation_ids: frozenset[int] | None  # None = every installation (admin token, demo)
    how: str

    def may_see(self, installation_id: int) -> bool:
        return self.installation_ids is None or installation_id in self.installation_ids


def bearer_is(token: str) -> bool:
    """Whether the request's `Authorization: Bearer …` is `token` (compared in constant time)."""
    header = request.headers.get("Authorization", "")
    return bool(token) and header.startswith("Bearer ") and hmac.compare_digest(
        header[7:].encode(), token.encode())


def current_admin() -> Admin | None:
    settings = get_services().settings
    if settings.admin_token and request.headers.get("Authorization", "").startswith("Bearer "):
        return Admin("admin token", None, "token") if bearer_is(settings.admin_token) else None
    who = session.get("admin")
    if who and who.get("installation_id"):
        return Admin(who.get("user") or "CRM admin", frozenset({int(who["installation_id"])}), "crm")
    if settings.is_demo:
        return Admin("local demo user", None, "demo")
    return None


def require_admin(installation_id: int | None = None) -> Admin:
    admin = current_admin()
    if admin is None:
        abort(401, "Sign in by installing or reconnecting the app from your CRM, or use the admin token.")
    if installation_id is not None and (not 0 < installation_id <= MAX_ID or not admin.may_see(installation_id)):
        # 404, not 403: do not confirm that another tenant's installation exists. Ids past the
        # database's integer range cannot exist (and would fail the query rather than miss).
        abort(404, "No such installation.")
    return admin
