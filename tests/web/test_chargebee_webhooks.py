"""Chargebee: connecting a site, and the webhook endpoint (Basic auth, store before 2xx, dedupe,
4xx with nothing stored)."""

from __future__ import annotations

import json

import httpx
import pytest
import respx
from sqlmodel import select

from connector.billing.connections import (
    chargebee_webhook_credentials,
    connect_chargebee,
    connection_by_token,
)
from connector.errors import BadInput, FatalProviderError
from connector.storage.db import session_scope
from connector.storage.models import (
    AuditLog,
    BillingConnection,
    BillingEvent,
    CustomerBilling,
    Installation,
)

from factories import (
    chargebee_auth,
    chargebee_event,
    make_chargebee_connection,
    make_installation,
    make_stripe_connection,
    post_chargebee,
)

CUS = "AzZTZgUYnOq8D1Eh"
SITE = "https://brightsmile-test.chargebee.com/api/v2"
CUSTOMER_LIST = {"list": [{"customer": {"id": CUS, "object": "customer", "auto_collection": "on",
                                         "resource_version": 1, "deleted": False}}]}


@pytest.fixture
def cb_api():
    with respx.mock(assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def conn(services):
    inst = make_installation(services)
    return make_chargebee_connection(services, inst)


def _events(services):
    with session_scope(services.engine) as s:
        return list(s.exec(select(BillingEvent)))


def _customer(services, customer_id=CUS):
    with session_scope(services.engine) as s:
        return s.exec(select(CustomerBilling).where(CustomerBilling.customer_id == customer_id)).first()


# --- connecting ------------------------------------------------------------------------------


def _connect(services, inst, **kw):
    with session_scope(services.engine) as s:
        conn, hook = connect_chargebee(s, services, inst, **kw)
        return conn.id, conn.webhook_token, conn.mode, conn.webhook_secret_enc, conn.api_key_enc, hook


def test_connect_checks_the_key_and_stores_generated_credentials_encrypted(services, cb_api):
    route = cb_api.get(f"{SITE}/customers").respond(200, json=CUSTOMER_LIST)
    inst = make_installation(services)
    _, token, mode, secret_enc, key_enc, hook = _connect(
        services, inst, site="brightsmile-test", api_key="test_cbKey0123456789")
    assert route.called
    sent = route.calls[0].request.headers["Authorization"]
    assert sent.startswith("Basic ")  # the chargebee client authenticates with the key
    assert mode == "test"
    assert hook["url"] == f"https://connector.example.test/webhooks/chargebee/{token}"
    assert hook["username"].startswith("dunning-") and len(hook["password"]) >= 24
    # Encrypted at rest: neither the password nor the key appear in the stored columns.
    assert hook["password"] not in secret_enc and "test_cbKey" not in key_enc
    assert services.box.decrypt(key_enc) == "test_cbKey0123456789"
    with session_scope(services.engine) as s:
        assert s.get(Installation, inst).settings["chargebee"] == {"key_can_write": False}
        (audit,) = s.exec(select(AuditLog)).all()
        assert audit.detail["provider"] == "chargebee" and "password" not in json.dumps(audit.detail)


def test_reconnect_keeps_token_and_webhook_credentials(services, cb_api):
    cb_api.get(f"{SITE}/customers").respond(200, json=CUSTOMER_LIST)
    cb_api.get("https://brightsmile.chargebee.com/api/v2/customers").respond(200, json=CUSTOMER_LIST)
    inst = make_installation(services)
    first = _connect(services, inst, site="brightsmile-test", api_key="test_one")
    second = _connect(services, inst, site="brightsmile", api_key="live_two", key_can_write=True)
    assert second[0] == first[0] and second[1] == first[1]
    assert second[5]["username"] == first[5]["username"]
    assert second[5]["password"] == first[5]["password"]
    assert second[2] == "live"


@pytest.mark.parametrize(("site", "key", "mode", "expected"), [
    ("acme-test", "abc", None, "test"),
    ("acme", "abc", None, "live"),
    ("acme", "test_abc", None, "test"),
    ("acme-test", "abc", "live", "live"),
])
def test_mode_of_a_site(services, cb_api, site, key, mode, expected):
    cb_api.get(f"https://{site}.chargebee.com/api/v2/customers").respond(200, json=CUSTOMER_LIST)
    inst = make_installation(services)
    assert _connect(services, inst, site=site, api_key=key, mode=mode)[2] == expected


def test_refused_key_stores_nothing(services, cb_api, engine):
    cb_api.get(f"{SITE}/customers").respond(401, json={
        "message": "Sorry, authentication failed. Invalid api key", "type": "invalid_request",
        "api_error_code": "api_authentication_failed", "error_code": "api_authentication_invalid_key",
        "error_msg": "Sorry, authentication failed. Invalid api key", "http_status_code": 401})
    inst = make_installation(services)
    with pytest.raises(FatalProviderError, match="refused the API key"):
        _connect(services, inst, site="brightsmile-test", api_key="test_wrong")
    with session_scope(engine) as s:
        assert s.exec(select(BillingConnection)).all() == []


@pytest.mark.parametrize("site", ["", "Acme Inc", "acme.example.com/x", "-acme"])
def test_bad_site_name_is_bad_input_before_any_call(services, site):
    inst = make_installation(services)
    with pytest.raises(BadInput):
        _connect(services, inst, site=site, api_key="test_abc")


def test_stripe_connection_must_be_removed_first(services):
    inst = make_installation(services)
    make_stripe_connection(services, inst)
    with pytest.raises(BadInput) as info:
        _connect(services, inst, site="brightsmile-test", api_key="test_abc")
    assert info.value.status == 409


def test_admin_endpoint_connects_and_shows_the_login(client, services, cb_api):
    cb_api.get(f"{SITE}/customers").respond(200, json=CUSTOMER_LIST)
    inst = make_installation(services)
    with client.session_transaction() as sess:
        sess["admin"] = {"installation_id": inst, "user": "ops@acme.example"}
        sess["csrf"] = "csrf-123"
    resp = client.post(f"/api/installations/{inst}/chargebee", headers={"X-CSRF-Token": "csrf-123"},
                       json={"site": "brightsmile-test", "api_key": "test_abc"})
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["mode"] == "test" and body["site"] == "brightsmile-test"
    assert body["webhook_url"].startswith("https://connector.example.test/webhooks/chargebee/")
    # The login it shows is the one the webhook accepts.
    event = chargebee_event("payment_failed")
    token = body["webhook_url"].rsplit("/", 1)[1]
    auth = chargebee_auth(body["webhook_username"], body["webhook_password"])
    assert post_chargebee(client, event, token=token, authorization=auth).status_code == 200
    resp = client.post(f"/api/installations/{inst}/chargebee", headers={"X-CSRF-Token": "csrf-123"},
                       json={"site": "brightsmile-test"})
    assert resp.status_code == 400
    # The dashboard lists the connection with URL and user, never the password.
    listed = client.get(f"/api/installations/{inst}/connections")
    (conn,) = listed.get_json()["connections"]
    assert (conn["provider"], conn["account"], conn["webhook_username"]) == (
        "chargebee", "brightsmile-test", body["webhook_username"])
    assert conn["webhook_url"] == body["webhook_url"] and conn["last_event_at"]
    assert body["webhook_password"] not in listed.get_data(as_text=True)


# --- the webhook -----------------------------------------------------------------------------


def test_authenticated_event_is_stored_applied_and_queued(client, services, conn):
    resp = post_chargebee(client, chargebee_event("payment_failed"))
    assert resp.status_code == 200 and resp.get_json() == {"status": "received"}
    (event,) = _events(services)
    assert (event.status, event.type, event.customer_id) == ("applied", "payment_failed", CUS)
    row = _customer(services)
    assert row.desired["payment_status"] == "past_due"
    assert row.desired["billing_provider"] == "chargebee"
    assert row.desired["outstanding_amount"] == "249.00"
    assert row.desired["last_failure_reason"] == "insufficient_funds"


def test_duplicate_delivery_is_acknowledged_and_ignored(client, services, conn):
    event = chargebee_event("payment_failed")
    assert post_chargebee(client, event).status_code == 200
    resp = post_chargebee(client, event)
    assert resp.status_code == 200 and resp.get_json() == {"status": "duplicate"}
    assert len(_events(services)) == 1


def test_unknown_type_is_acknowledged_and_recorded(client, services, conn):
    event = chargebee_event("invoice_generated")
    event.update(id="ev_quote_1", event_type="quote_created", content={"quote": {"id": "Q-1"}})
    assert post_chargebee(client, event).status_code == 200
    (stored,) = _events(services)
    assert stored.status == "ignored" and stored.type == "quote_created"


@pytest.mark.parametrize("authorization", [
    "",
    chargebee_auth(password="wrong-password-000000000"),
    chargebee_auth(user="someone-else"),
    "Basic not-base64!!",
    "Bearer abc",
], ids=["missing", "wrong-password", "wrong-user", "garbage", "not-basic"])
def test_bad_auth_is_401_and_nothing_stored(client, services, conn, authorization, caplog):
    resp = post_chargebee(client, chargebee_event("payment_failed"), authorization=authorization)
    assert resp.status_code == 401
    assert _events(services) == [] and _customer(services) is None
    assert "webhook.refused" in caplog.text


@pytest.mark.parametrize("body", [
    b'{"id": "ev_1", "event_type": ',
    json.dumps({"id": "ev_1", "event_type": "payment_failed", "occurred_at": 1, "api_version": "v1",
                "content": {}}).encode(),
    json.dumps({"event_type": "payment_failed", "occurred_at": 1, "content": {}}).encode(),
], ids=["not-json", "api-v1", "no-id"])
def test_malformed_body_is_400_and_nothing_stored(client, services, conn, body):
    resp = post_chargebee(client, body)
    assert resp.status_code == 400
    assert _events(services) == []


def test_unknown_token_is_404(client, services, conn):
    assert post_chargebee(client, chargebee_event("payment_failed"), token="nope").status_code == 404
    assert _events(services) == []


def test_a_stripe_token_is_not_a_chargebee_url(client, services):
    inst = make_installation(services, external_id="777")
    make_stripe_connection(services, inst, token="tok_stripe_1")
    assert post_chargebee(client, chargebee_event("payment_failed"), token="tok_stripe_1").status_code == 404
    assert _events(services) == []


def test_customer_deleted_erases_personal_data_and_payloads(client, services, conn):
    assert post_chargebee(client, chargebee_event("payment_failed")).status_code == 200
    assert post_chargebee(client, chargebee_event("customer_deleted")).status_code == 200
    row = _customer(services)
    assert row.deleted and row.facts["profile"]["email"] is None
    assert all("brightsmile-dental" not in e.payload for e in _events(services))


def test_credentials_helper_reads_back_what_was_stored(services, conn):
    with session_scope(services.engine) as s:
        hook = chargebee_webhook_credentials(services, connection_by_token(s, "tok_cb_abc"))
    assert hook["username"] == "dunning-3f9a1c2e"


def test_network_failure_while_connecting_is_transient(services, cb_api):
    from connector.errors import TransientProviderError

    cb_api.get(f"{SITE}/customers").mock(side_effect=httpx.ConnectError("boom"))
    inst = make_installation(services)
    with pytest.raises(TransientProviderError):
        _connect(services, inst, site="brightsmile-test", api_key="test_abc")


def test_chargebee_deliveries_are_counted_in_metrics(client, services, conn):
    def count(status: str) -> float:
        text = client.get("/metrics").get_data(as_text=True)
        want = f'dunning_webhook_deliveries_total{{provider="chargebee",status="{status}"}} '
        line = next((ln for ln in text.splitlines() if ln.startswith(want)), None)
        return float(line.rsplit(" ", 1)[1]) if line else 0.0

    received, refused = count("received"), count("refused_401")
    assert post_chargebee(client, chargebee_event("payment_failed")).status_code == 200
    assert post_chargebee(client, chargebee_event("payment_failed"), authorization="Basic bm9wZTpub3Bl").status_code == 401
    assert count("received") == received + 1
    assert count("refused_401") == refused + 1


@pytest.mark.parametrize("occurred_at", [10**17, -5])
def test_an_occurred_at_no_calendar_can_hold_is_refused_and_not_stored(client, services, conn, occurred_at):
    event = chargebee_event("payment_failed")
    event["occurred_at"] = occurred_at
    resp = post_chargebee(client, event)
    assert resp.status_code == 400
    assert _events(services) == []

