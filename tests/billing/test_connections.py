"""Connecting Stripe: endpoint creation, encrypted storage, reconnect, hand-entered secrets."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest
import responses
from sqlmodel import select

from connector.billing.connections import connect_stripe, connection_by_token, webhook_secrets
from connector.billing.stripe_api import STRIPE_API_VERSION, StripeKeyRefused
from connector.errors import BadInput
from connector.storage.db import session_scope
from connector.storage.models import AuditLog, BillingConnection, Installation

STRIPE = "https://api.stripe.com"
TEST_KEY = "sk_test_51Nv0FGQ9RKHgCVdKfirstkey"
LIVE_KEY = "rk_live_51Nv0FGQ9RKHgCVdKlivekey"


def endpoint_body(endpoint_id: str, secret: str, url: str) -> dict:
    return {
        "id": endpoint_id,
        "object": "webhook_endpoint",
        "api_version": STRIPE_API_VERSION,
        "application": None,
        "created": 1680122196,
        "description": "dunning-connector: payment failures to your CRM",
        "enabled_events": ["invoice.payment_failed"],
        "livemode": False,
        "metadata": {},
        "secret": secret,
        "status": "enabled",
        "url": url,
    }


def add_endpoint(http, endpoint_id: str, secret: str) -> None:
    def reply(request):
        url = parse_qs(request.body)["url"][0]
        return 200, {}, json.dumps(endpoint_body(endpoint_id, secret, url))

    http.add_callback(responses.POST, f"{STRIPE}/v1/webhook_endpoints", callback=reply)


@pytest.fixture
def installation_id(engine) -> int:
    with session_scope(engine) as s:
        inst = Installation(crm="hubspot", external_id="4455667", name="Dental Co")
        s.add(inst)
        s.flush()
        return inst.id


def connect(services, installation_id, **kw) -> BillingConnection:
    with session_scope(services.engine) as s:
        return connect_stripe(s, services, installation_id, **kw)


def rows(engine, model):
    with session_scope(engine) as s:
        return s.exec(select(model)).all()


def test_connect_creates_endpoint_at_the_token_url_and_stores_secrets_encrypted(
    services, http, installation_id
):
    add_endpoint(http, "we_1", "whsec_first")

    conn = connect(services, installation_id, api_key=TEST_KEY)

    assert conn.provider == "stripe" and conn.mode == "test"
    assert len(conn.webhook_token) >= 43  # token_urlsafe(32)
    sent = parse_qs(http.calls[0].request.body)
    assert sent["url"] == [f"https://connector.example.test/webhooks/stripe/{conn.webhook_token}"]
    assert http.calls[0].request.headers["Authorization"] == f"Bearer {TEST_KEY}"
    stored = rows(services.engine, BillingConnection)[0]
    assert stored.provider_endpoint_id == "we_1"
    assert TEST_KEY not in stored.api_key_enc and "whsec_first" not in stored.webhook_secret_enc
    assert services.box.decrypt(stored.api_key_enc) == TEST_KEY
    assert webhook_secrets(stored, services.box) == ["whsec_first"]
    audit = rows(services.engine, AuditLog)
    assert [a.action for a in audit] == ["billing.connected"]
    assert "whsec_first" not in str(audit[0].detail) and TEST_KEY not in str(audit[0].detail)


def test_tokens_differ_between_installations(services, http, engine, installation_id):
    with session_scope(engine) as s:
        other = Installation(crm="hubspot", external_id="999", name="Other")
        s.add(other)
        s.flush()
        other_id = other.id
    add_endpoint(http, "we_1", "whsec_a")
    add_endpoint(http, "we_2", "whsec_b")
    a = connect(services, installation_id, api_key=TEST_KEY)
    b = connect(services, other_id, api_key=TEST_KEY)
    assert a.webhook_token != b.webhook_token


def test_live_key_gives_live_mode(services, http, installation_id):
    add_endpoint(http, "we_1", "whsec_live")
    assert connect(services, installation_id, api_key=LIVE_KEY).mode == "live"


def test_reconnect_replaces_key_and_secret_keeps_token_and_removes_old_endpoint(
    services, http, installation_id
):
    add_endpoint(http, "we_1", "whsec_first")
    first = connect(services, installation_id, api_key=TEST_KEY)
    add_endpoint(http, "we_2", "whsec_second")
    http.add(
        responses.DELETE,
        f"{STRIPE}/v1/webhook_endpoints/we_1",
        json={"id": "we_1", "object": "webhook_endpoint", "deleted": True},
    )

    second = connect(services, installation_id, api_key=LIVE_KEY)

    assert second.id == first.id
    assert second.webhook_token == first.webhook_token
    stored = rows(services.engine, BillingConnection)
    assert len(stored) == 1
    assert stored[0].mode == "live"
    assert stored[0].provider_endpoint_id == "we_2"
    assert services.box.decrypt(stored[0].api_key_enc) == LIVE_KEY
    assert webhook_secrets(stored[0], services.box) == ["whsec_second"]
    delete = [c for c in http.calls if c.request.method == "DELETE"]
    assert len(delete) == 1
    audit = rows(services.engine, AuditLog)
    assert audit[-1].action == "billing.reconnected"
    assert audit[-1].detail["previous_mode"] == "test"
    assert audit[-1].detail["old_endpoint_removed"] is True


def test_old_endpoint_removed_with_old_key_when_new_key_cannot_see_it(
    services, http, installation_id
):
    add_endpoint(http, "we_1", "whsec_first")
    connect(services, installation_id, api_key=TEST_KEY)
    add_endpoint(http, "we_2", "whsec_second")
    missing = {
        "error": {
            "code": "resource_missing",
            "message": "No such webhook endpoint: 'we_1'",
            "param": "id",
            "type": "invalid_request_error",
        }
    }
    http.add(responses.DELETE, f"{STRIPE}/v1/webhook_endpoints/we_1", status=404, json=missing)
    http.add(
        responses.DELETE,
        f"{STRIPE}/v1/webhook_endpoints/we_1",
        json={"id": "we_1", "object": "webhook_endpoint", "deleted": True},
    )

    connect(services, installation_id, api_key="sk_test_51OtherAccountKey")

    deletes = [
        c.request.headers["Authorization"] for c in http.calls if c.request.method == "DELETE"
    ]
    assert deletes == ["Bearer sk_test_51OtherAccountKey", f"Bearer {TEST_KEY}"]


def test_reconnect_succeeds_even_if_old_endpoint_cannot_be_removed(services, http, installation_id):
    add_endpoint(http, "we_1", "whsec_first")
    connect(services, installation_id, api_key=TEST_KEY)
    add_endpoint(http, "we_2", "whsec_second")
    http.add(
        responses.DELETE,
        f"{STRIPE}/v1/webhook_endpoints/we_1",
        status=500,
        json={"error": {"message": "An unknown error occurred", "type": "api_error"}},
    )

    conn = connect(services, installation_id, api_key="sk_test_51NewKey")

    assert webhook_secrets(conn, services.box) == ["whsec_second"]
    assert rows(services.engine, AuditLog)[-1].detail["old_endpoint_removed"] is False


def test_hand_entered_secret_makes_no_api_call(services, http, installation_id):
    conn = connect(
        services, installation_id, api_key=TEST_KEY, endpoint_secret=" whsec_handmade123 "
    )

    assert len(http.calls) == 0  # any call would have raised: nothing is registered
    assert conn.provider_endpoint_id == ""
    assert webhook_secrets(conn, services.box) == ["whsec_handmade123"]
    assert rows(services.engine, AuditLog)[0].detail["endpoint"] == "hand_entered"


def test_hand_entered_secrets_during_rotation(services, installation_id):
    conn = connect(
        services, installation_id, api_key=TEST_KEY, endpoint_secret="whsec_new,whsec_old"
    )
    assert webhook_secrets(conn, services.box) == ["whsec_new", "whsec_old"]


def test_switching_to_hand_entered_secret_removes_our_endpoint(services, http, installation_id):
    add_endpoint(http, "we_1", "whsec_first")
    first = connect(services, installation_id, api_key=TEST_KEY)
    http.add(
        responses.DELETE,
        f"{STRIPE}/v1/webhook_endpoints/we_1",
        json={"id": "we_1", "object": "webhook_endpoint", "deleted": True},
    )

    conn = connect(services, installation_id, api_key=TEST_KEY, endpoint_secret="whsec_mine")

    assert conn.webhook_token == first.webhook_token
    assert conn.provider_endpoint_id == ""
    assert webhook_secrets(conn, services.box) == ["whsec_mine"]


@pytest.mark.parametrize("secret", ["sk_test_oops", "whsec_", "whsec_ok,nope"])
def test_hand_entered_secret_must_be_whsec(services, installation_id, secret):
    with pytest.raises(BadInput, match="whsec_"):
        connect(services, installation_id, api_key=TEST_KEY, endpoint_secret=secret)
    assert rows(services.engine, BillingConnection) == []


@pytest.mark.parametrize("key", ["pk_live_51Abc", "", "whsec_abc"])
def test_unusable_key_is_bad_input_before_any_call(services, installation_id, key):
    with pytest.raises(BadInput, match="Stripe secret key"):
        connect(services, installation_id, api_key=key)
    assert rows(services.engine, BillingConnection) == []


def test_refused_key_stores_nothing(services, http, installation_id):
    http.add(
        responses.POST,
        f"{STRIPE}/v1/webhook_endpoints",
        status=401,
        json={
            "error": {
                "message": "Invalid API Key provided: sk_test_****tkey",
                "type": "invalid_request_error",
            }
        },
    )
    with pytest.raises(StripeKeyRefused):
        connect(services, installation_id, api_key=TEST_KEY)
    assert rows(services.engine, BillingConnection) == []


def test_unknown_installation(services):
    with pytest.raises(BadInput) as info:
        connect(services, 4242, api_key=TEST_KEY, endpoint_secret="whsec_x1")
    assert info.value.status == 404


def test_chargebee_connection_must_be_removed_first(services, engine, installation_id):
    with session_scope(engine) as s:
        s.add(
            BillingConnection(
                installation_id=installation_id, provider="chargebee", webhook_token="cbtok"
            )
        )
    with pytest.raises(BadInput) as info:
        connect(services, installation_id, api_key=TEST_KEY, endpoint_secret="whsec_x1")
    assert info.value.status == 409


def test_connection_by_token(services, installation_id):
    conn = connect(services, installation_id, api_key=TEST_KEY, endpoint_secret="whsec_x1")
    with session_scope(services.engine) as s:
        assert connection_by_token(s, conn.webhook_token).id == conn.id
        assert connection_by_token(s, "not-a-token") is None
        assert connection_by_token(s, "") is None
