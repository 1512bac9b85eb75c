"""Salesforce install → consent → callback, token refresh on 401, disconnect — with Salesforce's
OAuth endpoints and REST API mocked by `responses` (bodies in tests/payloads/salesforce/)."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from flask import Flask
from sqlalchemy import text
from sqlmodel import Session, select

from connector.context import init_services
from connector.crm import adapter_for
from connector.errors import ReauthRequired
from connector.storage.db import session_scope
from connector.storage.models import AuditLog, CrmCredential, Installation
from crm_adapters.salesforce.adapter import SalesforceAdapter
from oauth.salesforce_tokens import org_access

PAYLOADS = Path(__file__).resolve().parent.parent / "payloads" / "salesforce"
LOGIN = "https://login.salesforce.com"
SANDBOX = "https://test.salesforce.com"
MY_DOMAIN = "https://acme.my.salesforce.com"
INSTANCE = "https://acme.my.salesforce.test"
ORG_ID = "00D5g00000AbCdEEAR"
USER_ID = "0055g00000AdminAAA"
SECRET = "sf-test-consumer-secret"


def payload(name: str) -> dict:
    return json.loads((PAYLOADS / f"{name}.json").read_text())


def form(body) -> dict[str, str]:
    text_body = body.decode() if isinstance(body, bytes) else body
    return {k: v[0] for k, v in parse_qs(text_body, keep_blank_values=True).items()}


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@pytest.fixture(autouse=True)
def _fresh_budgets():
    """API budgets and readings are per process: keep one test's out of the next."""
    from connector import api_budget
    from crm_adapters.salesforce import budget

    yield
    budget._REGISTRY.clear()  # noqa: SLF001
    api_budget.forget()


@pytest.fixture
def services(services):
    services.settings = replace(services.settings, salesforce_client_id="3MVG9sf-test-client-id",
                                salesforce_client_secret=SECRET)
    return services


@pytest.fixture
def app(services) -> Flask:
    from oauth.salesforce_views import bp

    flask_app = Flask("sf-oauth-tests")
    flask_app.config.update(SECRET_KEY=services.settings.secret_key, TESTING=True)
    init_services(flask_app, services)
    flask_app.register_blueprint(bp)
    flask_app.add_url_rule("/", "home", lambda: "home")
    return flask_app


def start(client, **args) -> tuple[str, dict[str, str]]:
    resp = client.get("/oauth/salesforce/install", query_string=args or {"login": "production"})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return resp.headers["Location"], query(resp.headers["Location"])


def seed(services, *, login_url: str = MY_DOMAIN, access: str = "at-old", refresh: str = "rt-old") -> int:
    with session_scope(services.engine) as s:
        inst = Installation(crm="salesforce", external_id=ORG_ID, name="acme.my.salesforce.test",
                            settings={"salesforce_login_url": login_url})
        s.add(inst)
        s.flush()
        s.add(CrmCredential(installation_id=inst.id, access_token_enc=services.box.encrypt(access),
                            refresh_token_enc=services.box.encrypt(refresh), instance_url=INSTANCE,
                            user_id=USER_ID, version=1))
        return inst.id


# -- install --------------------------------------------------------------------------------------


def test_install_offers_the_login_host_choice(client):
    page = client.get("/oauth/salesforce/install").get_data(as_text=True)
    assert "Sandbox" in page and "My Domain" in page and "installed in your org" in page


@pytest.mark.parametrize(("args", "host"), [
    ({"login": "production"}, LOGIN),
    ({"login": "sandbox"}, SANDBOX),
    ({"login": "mydomain", "domain": "acme.my.salesforce.com"}, MY_DOMAIN),
    ({"login": "mydomain", "domain": "https://acme--uat.sandbox.my.salesforce.com/"},
     "https://acme--uat.sandbox.my.salesforce.com"),
])
def test_install_redirects_to_the_chosen_login_host_with_pkce_s256(client, args, host):
    location, params = start(client, **args)

    assert location.startswith(f"{host}/services/oauth2/authorize?")
    assert params["response_type"] == "code" and params["client_id"] == "3MVG9sf-test-client-id"
    assert params["redirect_uri"] == "https://connector.example.test/oauth/salesforce/callback"
    assert params["scope"] == "api refresh_token"
    assert params["code_challenge_method"] == "S256"
    with client.session_transaction() as sess:
        verifier = sess["sf_pkce_verifier"]
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert params["code_challenge"] == expected and verifier not in location


def test_a_login_host_that_is_not_salesforce_is_refused(client):
    resp = client.get("/oauth/salesforce/install", query_string={"login": "mydomain", "domain": "evil.example.com"})
    assert resp.status_code == 400 and "My Domain" in resp.get_data(as_text=True)


def test_callback_installs_the_org_with_encrypted_tokens(client, services, http, engine):
    http.add(responses.POST, f"{LOGIN}/services/oauth2/token", json=payload("token_authorization_code"))
    _, params = start(client)
    with client.session_transaction() as sess:
        verifier = sess["sf_pkce_verifier"]

    resp = client.get("/oauth/salesforce/callback", query_string={"code": "aPrxFakeCode==", "state": params["state"]})

    assert resp.status_code == 302 and resp.headers["Location"] == "/"
    sent = form(http.calls[0].request.body)
    assert sent == {"grant_type": "authorization_code", "code": "aPrxFakeCode==", "code_verifier": verifier,
                    "client_id": "3MVG9sf-test-client-id", "client_secret": SECRET,
                    "redirect_uri": "https://connector.example.test/oauth/salesforce/callback"}
    with Session(engine) as s:
        inst = s.exec(select(Installation)).one()
        cred = s.exec(select(CrmCredential)).one()
        raw = " ".join(str(v) for v in s.execute(text("SELECT * FROM crm_credential")).one())
    assert (inst.crm, inst.external_id, inst.status, inst.preview) == ("salesforce", ORG_ID, "active", True)
    assert inst.settings["salesforce_login_url"] == LOGIN
    assert cred.instance_url == INSTANCE and cred.user_id == USER_ID and cred.expires_at is None
    assert "FakeAccessToken" not in raw and "FakeRefreshToken" not in raw
    assert services.box.decrypt(cred.refresh_token_enc) == payload("token_authorization_code")["refresh_token"]
    with client.session_transaction() as sess:
        assert sess["admin"] == {"installation_id": inst.id, "user": USER_ID}


def test_reinstalling_the_same_org_reuses_the_installation(client, http, engine):
    http.add(responses.POST, f"{LOGIN}/services/oauth2/token", json=payload("token_authorization_code"))
    http.add(responses.POST, f"{LOGIN}/services/oauth2/token", json=payload("token_authorization_code"))
    for _ in range(2):
        _, params = start(client)
        client.get("/oauth/salesforce/callback", query_string={"code": "c", "state": params["state"]})

    with Session(engine) as s:
        assert len(s.exec(select(Installation)).all()) == 1
        assert [a.detail["reinstall"] for a in s.exec(select(AuditLog).where(AuditLog.action == "installed"))] == [False, True]


def test_an_uninstalled_app_gets_install_then_connect_steps(client, engine):
    _, params = start(client)

    resp = client.get("/oauth/salesforce/callback", query_string={
        "error": "invalid_client", "error_description": "app must be installed into org", "state": params["state"]})

    page = resp.get_data(as_text=True)
    assert resp.status_code == 403
    assert "Install the app in your Salesforce org first" in page and "Permitted Users" in page
    with Session(engine) as s:
        assert s.exec(select(Installation)).all() == []


def test_a_forged_token_answer_is_refused(client, http, engine):
    forged = payload("token_authorization_code") | {"signature": "bm90IGEgc2lnbmF0dXJl"}
    http.add(responses.POST, f"{LOGIN}/services/oauth2/token", json=forged)
    _, params = start(client)

    resp = client.get("/oauth/salesforce/callback", query_string={"code": "c", "state": params["state"]})

    assert resp.status_code == 400
    with Session(engine) as s:
        assert s.exec(select(Installation)).all() == []


def test_a_callback_from_another_browser_is_refused(client, app):
    _, params = start(client)
    other = app.test_client()

    resp = other.get("/oauth/salesforce/callback", query_string={"code": "c", "state": params["state"]})

    assert resp.status_code == 400


# -- tokens ---------------------------------------------------------------------------------------


def test_the_stored_token_is_used_until_salesforce_refuses_it(services, http):
    iid = seed(services)
    provider = org_access(services, iid).tokens

    assert provider.access_token() == "at-old"
    assert len(http.calls) == 0  # no lifetime known: no refresh on a clock


def test_force_refresh_sends_no_scope_and_keeps_the_refresh_token(services, http, engine):
    iid = seed(services)
    http.add(responses.POST, f"{MY_DOMAIN}/services/oauth2/token", json=payload("token_refresh"))

    token = org_access(services, iid).tokens.force_refresh()

    assert token == payload("token_refresh")["access_token"]
    assert form(http.calls[0].request.body) == {"grant_type": "refresh_token", "refresh_token": "rt-old",
                                                "client_id": "3MVG9sf-test-client-id", "client_secret": SECRET}
    with Session(engine) as s:
        cred = s.exec(select(CrmCredential)).one()
    assert services.box.decrypt(cred.refresh_token_enc) == "rt-old" and cred.version == 2


def test_a_refresh_already_done_by_another_worker_is_adopted(services, http):
    iid = seed(services)
    http.add(responses.POST, f"{MY_DOMAIN}/services/oauth2/token", json=payload("token_refresh"))
    late = org_access(services, iid).tokens
    with Session(services.engine) as s:
        seen = s.exec(select(CrmCredential)).one().version

    org_access(services, iid).tokens.force_refresh()  # the other worker wins
    token = late._refresh(seen_version=seen, force=True)  # noqa: SLF001 - the loser's second look

    assert token == payload("token_refresh")["access_token"] and len(http.calls) == 1


def test_a_refused_refresh_needs_reauth_and_keeps_the_credential(services, http, engine):
    iid = seed(services)
    http.add(responses.POST, f"{MY_DOMAIN}/services/oauth2/token", status=400, json=payload("error_invalid_grant"))

    with pytest.raises(ReauthRequired):
        org_access(services, iid).tokens.force_refresh()

    with Session(engine) as s:
        inst = s.get(Installation, iid)
        assert inst.status == "needs_reauth" and "Salesforce refused" in inst.status_reason
        assert s.exec(select(CrmCredential)).one() is not None


def test_adapter_for_refreshes_on_invalid_session_and_retries(services, http):
    iid = seed(services)
    http.add(responses.GET, f"{INSTANCE}/services/data/v67.0/query/", status=401,
             json=[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
    http.add(responses.POST, f"{MY_DOMAIN}/services/oauth2/token", json=payload("token_refresh"))
    http.add(responses.GET, f"{INSTANCE}/services/data/v67.0/query/",
             json={"totalSize": 0, "done": True, "records": []},
             headers={"Sforce-Limit-Info": "api-usage=120/15000"})

    adapter = adapter_for(services, iid)
    assert isinstance(adapter, SalesforceAdapter)
    assert adapter.read_fields([]) == {} and adapter.client.query("SELECT Id FROM Account") == []

    assert http.calls[2].request.headers["Authorization"] == f"Bearer {payload('token_refresh')['access_token']}"
    from connector import api_budget
    assert api_budget.latest(iid).remaining == 15000 - 120


# -- disconnect -----------------------------------------------------------------------------------


def test_disconnect_revokes_at_the_login_host(client, services, http, engine):
    iid = seed(services, refresh="rt-to-revoke")
    http.add(responses.POST, f"{MY_DOMAIN}/services/oauth2/revoke", status=200)
    with client.session_transaction() as sess:
        sess["admin"] = {"installation_id": iid, "user": USER_ID}
        sess["csrf"] = "csrf-1"

    resp = client.post("/oauth/salesforce/disconnect", data={"csrf_token": "csrf-1"})

    assert resp.status_code == 303
    assert form(http.calls[0].request.body) == {"token": "rt-to-revoke"}
    with Session(engine) as s:
        assert s.get(Installation, iid).status == "disconnected"
        assert s.exec(select(CrmCredential)).all() == []


def test_install_without_the_apps_client_credentials_says_what_to_set(client, services):
    services.settings = replace(services.settings, salesforce_client_id="")
    resp = client.get("/oauth/salesforce/install", query_string={"login": "production"})
    assert resp.status_code == 503
    assert "SALESFORCE_CLIENT_ID" in resp.get_data(as_text=True)
