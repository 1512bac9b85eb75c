"""Install → HubSpot consent → callback, end to end with HubSpot's token endpoints mocked."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

import responses
from oauth_testkit import INTROSPECT_URL, TOKEN_URL, form, payload, query
from sqlalchemy import text
from sqlmodel import Session, select

from connector.storage.models import AuditLog, CrmCredential, Installation
from oauth.hubspot import load_app_config
from oauth.state import issue_state

CODE = "f3b1c2d4-9e8a-4b7c-a6d5-1e2f3a4b5c6d"


def start_install(client) -> str:
    """Follow /install; return the state HubSpot would hand back."""
    resp = client.get("/oauth/hubspot/install")
    assert resp.status_code == 302
    return query(resp.headers["Location"])["state"]


def mock_hubspot(http, token_body=None, introspect_body=None) -> None:
    http.add(responses.POST, TOKEN_URL, json=token_body or payload("token_authorization_code"))
    http.add(responses.POST, INTROSPECT_URL, json=introspect_body or payload("introspect_access_token"))


def test_install_redirects_to_hubspot_consent_with_app_scopes(client):
    resp = client.get("/oauth/hubspot/install")
    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert location.startswith("https://app.hubspot.com/oauth/authorize?")
    params = query(location)
    config = load_app_config()
    assert params["client_id"] == "test-client-id"
    assert params["redirect_uri"] == "https://connector.example.test/oauth/hubspot/callback"
    assert params["scope"].split(" ") == list(config.required_scopes)
    assert params["optional_scope"].split(" ") == list(config.optional_scopes)
    assert len(params["state"]) > 40


def test_callback_installs_stores_encrypted_tokens_and_logs_the_admin_in(client, http, services, engine, now):
    state = start_install(client)
    mock_hubspot(http)
    seen = []
    services.extras["on_installed"] = lambda **kw: seen.append(kw)

    resp = client.get("/oauth/hubspot/callback", query_string={"code": CODE, "state": state})

    assert resp.status_code == 302
    assert resp.headers["Location"] == "/"
    # The code went to the 2026-03 token endpoint with the client credentials in the form body.
    exchange = form(http.calls[0].request.body)
    assert http.calls[0].request.url == TOKEN_URL
    assert exchange == {
        "grant_type": "authorization_code",
        "code": CODE,
        "redirect_uri": "https://connector.example.test/oauth/hubspot/callback",
        "client_id": "test-client-id",
        "client_secret": "test-client-secret",
    }
    assert "?" not in http.calls[0].request.url
    tokens = payload("token_authorization_code")
    introspect = form(http.calls[1].request.body)
    assert introspect["token"] == tokens["access_token"]
    assert introspect["token_type_hint"] == "access_token"
    assert introspect["client_secret"] == "test-client-secret"

    with Session(engine) as s:
        inst = s.exec(select(Installation)).one()
        cred = s.exec(select(CrmCredential)).one()
        audit = s.exec(select(AuditLog).where(AuditLog.action == "installed")).one()
    assert (inst.crm, inst.external_id, inst.status, inst.preview) == ("hubspot", "62515", "active", True)
    assert inst.installed_by == "ops.admin@acme-billing.com"
    assert inst.name == "acme-billing.com"
    assert cred.installation_id == inst.id
    assert cred.expires_at == now + timedelta(seconds=1800)
    assert cred.user_id == "7204125"
    assert "crm.lists.write" in cred.scopes.split(" ")
    assert audit.installation_id == inst.id and audit.actor == "ops.admin@acme-billing.com"
    assert audit.detail["reinstall"] is False

    # Encrypted at rest: the raw columns hold neither token, and decrypt back to them.
    with engine.connect() as conn:
        raw = conn.execute(text("SELECT access_token_enc, refresh_token_enc FROM crm_credential")).one()
    assert tokens["access_token"] not in raw[0] and tokens["refresh_token"] not in raw[1]
    assert services.box.decrypt(raw[0]) == tokens["access_token"]
    assert services.box.decrypt(raw[1]) == tokens["refresh_token"]

    assert seen == [{"services": services, "installation_id": inst.id, "created": True}]
    with client.session_transaction() as sess:
        assert sess["admin"] == {"installation_id": inst.id, "user": "ops.admin@acme-billing.com"}
        assert sess["csrf"]  # the token connector.csrf checks


def test_reinstall_updates_the_same_installation(client, http, services, engine):
    mock_hubspot(http)
    client.get("/oauth/hubspot/callback", query_string={"code": CODE, "state": start_install(client)})
    with Session(engine) as s:
        first = s.exec(select(Installation)).one()
        first.preview = False  # the admin went live meanwhile
        first.status = "needs_reauth"
        first.status_reason = "HubSpot refused the refresh token"
        s.add(first)
        s.commit()
        first_id = first.id

    rotated = dict(payload("token_authorization_code"), access_token="at-second", refresh_token="rt-second")
    mock_hubspot(http, token_body=rotated)
    resp = client.get("/oauth/hubspot/callback", query_string={"code": "second-code", "state": start_install(client)})

    assert resp.status_code == 302
    with Session(engine) as s:
        inst = s.exec(select(Installation)).one()
        cred = s.exec(select(CrmCredential)).one()
        audits = s.exec(select(AuditLog).where(AuditLog.action == "installed")).all()
    assert inst.id == first_id
    assert (inst.status, inst.status_reason, inst.preview) == ("active", "", False)
    assert services.box.decrypt(cred.refresh_token_enc) == "rt-second"
    assert [a.detail["reinstall"] for a in audits] == [False, True]


def test_reinstall_after_disconnect_cancels_the_purge(client, http, services, engine, now):
    with Session(engine) as s:
        s.add(Installation(crm="hubspot", external_id="62515", status="disconnected",
                           disconnected_at=now, purge_after=now + timedelta(days=30)))
        s.commit()
    mock_hubspot(http)
    client.get("/oauth/hubspot/callback", query_string={"code": CODE, "state": start_install(client)})
    with Session(engine) as s:
        inst = s.exec(select(Installation)).one()
    assert (inst.status, inst.disconnected_at, inst.purge_after) == ("active", None, None)


def test_error_param_gives_a_clear_400_page(client):
    state = start_install(client)
    resp = client.get(
        "/oauth/hubspot/callback",
        query_string={"error": "access_denied", "error_description": "User denied <access>", "state": state},
    )
    assert resp.status_code == 400
    assert resp.mimetype == "text/html"
    body = resp.get_data(as_text=True)
    assert "User denied &lt;access&gt;" in body  # shown, escaped
    assert "/oauth/hubspot/install" in body


def test_tampered_state_is_refused(client):
    state = start_install(client)
    resp = client.get("/oauth/hubspot/callback", query_string={"code": CODE, "state": state[:-2] + "xx"})
    assert resp.status_code == 400
    assert "invalid state" in resp.get_data(as_text=True)


def test_expired_state_is_refused(client, services):
    state = start_install(client)
    later = services.clock() + timedelta(minutes=11)
    services.clock = lambda: later
    resp = client.get("/oauth/hubspot/callback", query_string={"code": CODE, "state": state})
    assert resp.status_code == 400
    assert "expired state" in resp.get_data(as_text=True)


def test_reused_state_is_refused(client, http):
    state = start_install(client)
    mock_hubspot(http)
    assert client.get("/oauth/hubspot/callback", query_string={"code": CODE, "state": state}).status_code == 302
    with client.session_transaction() as sess:  # even from the same browser
        sess["oauth_bind"] = "whatever"
    resp = client.get("/oauth/hubspot/callback", query_string={"code": CODE, "state": state})
    assert resp.status_code == 400
    assert "already used" in resp.get_data(as_text=True)


def test_state_from_another_browser_is_refused(client, app, services):
    # A valid state, but not the one this browser's install started (login CSRF).
    state = issue_state(services.settings.secret_key, {"crm": "hubspot", "bind": "someone-else"}, services.clock())
    start_install(client)
    resp = client.get("/oauth/hubspot/callback", query_string={"code": CODE, "state": state})
    assert resp.status_code == 400
    assert "another browser" in resp.get_data(as_text=True)


def test_a_state_issued_for_salesforce_is_refused_at_the_hubspot_callback(client, services):
    start_install(client)
    with client.session_transaction() as sess:
        bind = sess["oauth_bind"]
    state = issue_state(services.settings.secret_key, {"crm": "salesforce", "bind": bind,
                                                        "login": "https://login.salesforce.com"},
                        services.clock())
    resp = client.get("/oauth/hubspot/callback", query_string={"code": CODE, "state": state})
    assert resp.status_code == 400
    assert "Start the install again" in resp.get_data(as_text=True)


def test_missing_code_is_refused(client, engine):
    resp = client.get("/oauth/hubspot/callback", query_string={"state": start_install(client)})
    assert resp.status_code == 400
    with Session(engine) as s:
        assert s.exec(select(Installation)).all() == []


def test_refused_code_gives_400_and_installs_nothing(client, http, engine):
    http.add(responses.POST, TOKEN_URL, status=400, json=payload("error_bad_auth_code"))
    resp = client.get("/oauth/hubspot/callback", query_string={"code": CODE, "state": start_install(client)})
    assert resp.status_code == 400
    assert "start the install again" in resp.get_data(as_text=True)
    with Session(engine) as s:
        assert s.exec(select(Installation)).all() == []
    with client.session_transaction() as sess:
        assert "admin" not in sess


def test_hubspot_down_gives_502(client, http):
    http.add(responses.POST, TOKEN_URL, status=503, json={"status": "error", "message": "unavailable"})
    resp = client.get("/oauth/hubspot/callback", query_string={"code": CODE, "state": start_install(client)})
    assert resp.status_code == 502


def test_failing_install_hook_does_not_undo_the_install(client, http, services, engine):
    mock_hubspot(http)

    def boom(**_kw):
        raise RuntimeError("schema creation failed")

    services.extras["on_installed"] = boom
    resp = client.get("/oauth/hubspot/callback", query_string={"code": CODE, "state": start_install(client)})
    assert resp.status_code == 302
    with Session(engine) as s:
        assert s.exec(select(Installation)).one().status == "active"
        assert s.exec(select(AuditLog).where(AuditLog.action == "install_hook_failed")).one()


def test_codes_tokens_and_secrets_never_reach_the_logs(client, http, caplog):
    mock_hubspot(http)
    with caplog.at_level(logging.DEBUG):
        client.get("/oauth/hubspot/callback", query_string={"code": CODE, "state": start_install(client)})
    tokens = payload("token_authorization_code")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "hubspot.installed" in logged
    for secret in (CODE, tokens["access_token"], tokens["refresh_token"], "test-client-secret"):
        assert secret not in logged


def test_the_real_app_serves_the_oauth_routes(services):
    from app import create_app

    real = create_app(services=services).test_client()
    assert real.get("/oauth/hubspot/install").status_code == 302
    assert real.post("/oauth/hubspot/disconnect").status_code == 401


def test_install_without_the_apps_client_credentials_says_what_to_set(client, services, caplog):
    # Unconfigured, the redirect carried client_id= empty and HubSpot showed a bare error page.
    services.settings = replace(services.settings, hubspot_client_id="")
    with caplog.at_level(logging.WARNING):
        resp = client.get("/oauth/hubspot/install")
    assert resp.status_code == 503
    assert "HUBSPOT_CLIENT_ID" in resp.get_data(as_text=True)
    assert "hubspot.install.not_configured" in caplog.text
