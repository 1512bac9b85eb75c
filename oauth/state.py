"""The OAuth `state` value: signed, expiring after 10 minutes, usable once.

Signing (itsdangerous, shipped with Flask) stops forgery; the issue time inside the signed value
gives expiry against the injected clock; an OAuthState row per nonce (unique index) makes a
second use fail even across processes.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from connector.storage.db import session_scope
from connector.storage.models import OAuthState

STATE_TTL = timedelta(minutes=10)
_SALT = "oauth-state"
_CLOCK_SKEW = timedelta(minutes=1)  # several app servers' clocks may differ a little


class InvalidState(Exception):
    """The state is forged, expired or already used. `reason` is safe to show and log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=_SALT)


def issue_state(secret_key: str, payload: Mapping[str, Any], now: datetime) -> str:
    """A new state carrying `payload` (JSON-able), valid for STATE_TTL from `now`."""
    return _serializer(secret_key).dumps(
        {"n": secrets.token_urlsafe(16), "t": int(now.timestamp()), "p": dict(payload)}
    )


def consume_state(
    secret_key: str,
    state: str,
    engine: Engine,
    now: datetime,
    *,
    max_age: timedelta = STATE_TTL,
) -> dict[str, Any]:
    """Check and burn `state`; return its payload or raise InvalidState."""
    if not state:
        raise InvalidState("missing state")
    try:
        data = _serializer(secret_key).loads(state)
        nonce, issued, payload = str(data["n"]), int(data["t"]), dict(data["p"])
    except (BadSignature, KeyError, TypeError, ValueError):
        raise InvalidState("invalid state") from None
    issued_at = datetime.fromtimestamp(issued, tz=now.tzinfo)
    if now - issued_at > max_age or issued_at - now > _CLOCK_SKEW:
        raise InvalidState("expired state")
    try:
        with session_scope(engine) as session:
            # Rows older than any valid state can go; expiry already refuses their states.
            session.execute(delete(OAuthState).where(OAuthState.used_at < now - 2 * max_age))
            session.add(OAuthState(nonce=nonce, used_at=now))
    except IntegrityError:
        raise InvalidState("state already used") from None
    return payload
