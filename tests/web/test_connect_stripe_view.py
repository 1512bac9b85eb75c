"""The admin's Stripe connection endpoint: a pasted key makes a connection; bad input is a 4xx."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest
import responses

from factories import make_installation


@pytest.fixture
def admin(client, services):
    """An admin of one installation, signed in the way the OAuth callback signs them in."""
    inst = make_installation(services)
    with client.session_transaction() as sess:
        sess["admin"] = {"installation_id": inst, "user": "ops@acme.example"}
        sess["csrf"] = "csrf-123"
    return inst


def _post(client, inst, body, csrf="csrf-123"):
    return client.post(f"/api/installations/{inst}/stripe", json=body, headers={"X-CSRF-Token": csrf})


def test_pasted_test_key_creates_the_webhook_endpoint(client, admin, http):
    def reply(request):
        url = parse_qs(request.body)["url"][0]
        return 200, {}, json.dumps({"id": "we_123", "object": "webhook_endpoint", "secret": "whsec_abc",
                                    "url": url, "livemode": False, "status": "enabled"})

    http.add_callback(responses.POST, "https://api.stripe.com/v1/webhook_endpoints", callback=reply)
    resp = _post(client, admin, {"api_key": "rk_test_51AbCdEf"})
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["mode"] == "test"
    assert body["webhook_url"].startswith("https://connector.example.test/webhooks/stripe/")
    assert parse_qs(http.calls[0].request.body)["url"] == [body["webhook_url"]]


@pytest.mark.parametrize(
    "body",
    [{}, {"api_key": ""}, {"api_key": "pk_test_123"}, {"api_key": "rk_test_1", "endpoint_secret": "nope"}],
    ids=["no-key", "empty-key", "publishable-key", "bad-secret"],
)
def test_bad_input_is_a_clear_4xx(client, admin, body):
    resp = _post(client, admin, body)
    assert resp.status_code == 400
    assert resp.get_json()["message"]


def test_refused_key_is_a_4xx_not_a_500(client, admin, http):
    http.add(responses.POST, "https://api.stripe.com/v1/webhook_endpoints", status=401,
             json={"error": {"type": "invalid_request_error", "message": "Invalid API Key provided: rk_test_***"}})
    resp = _post(client, admin, {"api_key": "rk_test_51AbCdEf"})
    assert resp.status_code == 400
    assert "rk_test_51AbCdEf" not in resp.get_data(as_text=True)


def test_without_csrf_token_nothing_happens(client, admin):
    assert _post(client, admin, {"api_key": "rk_test_51AbCdEf"}, csrf="wrong").status_code == 403


def test_signed_out_is_401(services):
    from app import create_app

    anonymous = create_app(services=services).test_client()
    resp = anonymous.post("/api/installations/1/stripe", json={"api_key": "rk_test_1"})
    assert resp.status_code == 401


def test_the_connection_is_listed_with_its_webhook_url_and_no_secret(client, admin, http, services):
    http.add(responses.POST, "https://api.stripe.com/v1/webhook_endpoints",
             json={"id": "we_123", "object": "webhook_endpoint", "secret": "whsec_abc",
                   "url": "https://connector.example.test/x", "livemode": False, "status": "enabled"})
    url = f"/api/installations/{admin}/connections"
    assert client.get(url).get_json() == {"connections": []}
    made = _post(client, admin, {"api_key": "rk_test_51AbCdEf"}).get_json()

    (conn,) = client.get(url).get_json()["connections"]

    assert conn["provider"] == "stripe" and conn["mode"] == "test"
    assert conn["webhook_url"] == made["webhook_url"]
    assert conn["webhook_endpoint"] == "created by the connector"
    assert conn["has_api_key"] is True and conn["last_event_at"] is None
    text = client.get(url).get_data(as_text=True)
    assert "whsec_abc" not in text and "rk_test_51AbCdEf" not in text


def test_another_installations_connections_are_not_shown(client, admin, services):
    other = make_installation(services, external_id="9999")
    assert client.get(f"/api/installations/{other}/connections").status_code in (403, 404)
