"""OAuth test helpers: HubSpot payloads, form/query parsing, seeded installations."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from connector.storage.db import session_scope
from connector.storage.models import CrmCredential, Installation

PAYLOADS = Path(__file__).resolve().parent.parent / "payloads" / "oauth"
API = "https://api.hubapi.com"
TOKEN_URL = f"{API}/oauth/2026-03/token"
INTROSPECT_URL = f"{API}/oauth/2026-03/token/introspect"
REVOKE_URL = f"{API}/oauth/2026-03/token/revoke"


def payload(name: str) -> dict[str, Any]:
    return json.loads((PAYLOADS / f"{name}.json").read_text())


def form(body: str | bytes | None) -> dict[str, str]:
    text = body.decode() if isinstance(body, bytes) else (body or "")
    return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def seed_installation(
    services,
    *,
    access_token: str = "at-old",
    refresh_token: str = "rt-old",
    expires_at: datetime | None = None,
    status: str = "active",
    external_id: str = "62515",
) -> int:
    """An installation with stored (encrypted) tokens; returns its id."""
    now = services.clock()
    with session_scope(services.engine) as s:
        inst = Installation(crm="hubspot", external_id=external_id, name="acme-billing.com", status=status)
        s.add(inst)
        s.flush()
        s.add(
            CrmCredential(
                installation_id=inst.id,
                access_token_enc=services.box.encrypt(access_token),
                refresh_token_enc=services.box.encrypt(refresh_token),
                expires_at=expires_at or now + timedelta(minutes=30),
                version=1,
            )
        )
        return inst.id
