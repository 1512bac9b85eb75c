"""Test data: installations, connections and signed Stripe deliveries."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from connector.billing.stripe_signature import sign_stripe_payload
from connector.context import Services
from connector.storage.db import session_scope
from connector.storage.models import BillingConnection, Installation

from tests_clock import now_ts

PAYLOADS = Path(__file__).parent / "payloads"
WEBHOOK_SECRET = "whsec_test_0123456789abcdef"


def load_payload(name: str) -> dict[str, Any]:
    return json.loads((PAYLOADS / name).read_text())


def stripe_event(name: str, **changes: Any) -> dict[str, Any]:
    """A recorded Stripe event with top-level `changes` and `object__field` changes to data.object."""
    event = copy.deepcopy(load_payload(f"stripe/{name}.json"))
    for key, value in changes.items():
        if key.startswith("object__"):
            event["data"]["object"][key.removeprefix("object__")] = value
        else:
            event[key] = value
    return event


def make_installation(services: Services, **fields: Any) -> int:
    defaults = {"crm": "hubspot", "external_id": "4242", "name": "Acme portal", "preview": False,
                "timezone": "Europe/London", "country": "GB"}
    with session_scope(services.engine) as s:
        inst = Installation(**{**defaults, **fields})
        s.add(inst)
        s.flush()
        return inst.id


def make_stripe_connection(services: Services, installation_id: int, *, mode: str = "test",
                           token: str = "tok_conn_abc", secret: str = WEBHOOK_SECRET) -> int:
    with session_scope(services.engine) as s:
        conn = BillingConnection(installation_id=installation_id, provider="stripe", mode=mode,
                                 webhook_token=token, webhook_secret_enc=services.box.encrypt(secret),
                                 api_key_enc=services.box.encrypt(f"rk_{mode}_123"))
        s.add(conn)
        s.flush()
        return conn.id


def post_stripe(client, event: dict | bytes, *, token: str = "tok_conn_abc", secret: str = WEBHOOK_SECRET,
                timestamp: int | None = None, header: str | None = None):
    payload = event if isinstance(event, bytes) else json.dumps(event).encode()
    ts = now_ts() if timestamp is None else timestamp
    sig = sign_stripe_payload(payload, secret, ts) if header is None else header
    return client.post(f"/webhooks/stripe/{token}", data=payload,
                       headers={"Stripe-Signature": sig, "Content-Type": "application/json"})


# --- Chargebee --------------------------------------------------------------------------------

CHARGEBEE_USER = "dunning-3f9a1c2e"
CHARGEBEE_PASSWORD = "p4ss-Zr8kqW1mN0vYt7Xe"


def chargebee_event(name: str) -> dict[str, Any]:
    """A Chargebee v2 event from tests/payloads/chargebee (a fresh copy)."""
    return copy.deepcopy(load_payload(f"chargebee/{name}.json"))


def make_chargebee_connection(services: Services, installation_id: int, *, mode: str = "test",
                              token: str = "tok_cb_abc", site: str = "brightsmile-test") -> int:
    with session_scope(services.engine) as s:
        conn = BillingConnection(
            installation_id=installation_id, provider="chargebee", mode=mode, webhook_token=token,
            webhook_secret_enc=services.box.encrypt(f"{CHARGEBEE_USER}:{CHARGEBEE_PASSWORD}"),
            api_key_enc=services.box.encrypt(f"{mode}_cbkey123"), account_ref=site)
        s.add(conn)
        s.flush()
        return conn.id


def chargebee_auth(user: str = CHARGEBEE_USER, password: str = CHARGEBEE_PASSWORD) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def post_chargebee(client, event: dict | bytes, *, token: str = "tok_cb_abc",
                   authorization: str | None = None):
    payload = event if isinstance(event, bytes) else json.dumps(event).encode()
    headers = {"Content-Type": "application/json",
               "Authorization": chargebee_auth() if authorization is None else authorization}
    return client.post(f"/webhooks/chargebee/{token}", data=payload, headers=headers)
