"""End to end: install through OAuth, fields created, a Stripe event becomes company properties.

Everything real but the vendors: the app factory, the OAuth callback, the token manager, the
HubSpot client and adapter (HubSpot played by the stand-in behind `responses`), the webhook view,
the outbox and the drain.
"""

from __future__ import annotations

import dataclasses

import pytest
import responses
from sqlmodel import select

from app import create_app
from connector import jobs
from connector.storage.db import session_scope
from connector.storage.models import BillingConnection, Installation, OutboxItem
from crm_adapters.hubspot.properties import GROUP_NAME

from factories import WEBHOOK_SECRET, load_payload, post_stripe, stripe_event
from hubspot_standin import BASE_URL, HubSpotStandIn


@pytest.fixture
def hubspot():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        standin = HubSpotStandIn(mock)
        mock.add(responses.POST, f"{BASE_URL}/oauth/2026-03/token",
                 json=load_payload("oauth/token_authorization_code.json"))
        mock.add(responses.POST, f"{BASE_URL}/oauth/2026-03/token/introspect",
                 json=load_payload("oauth/introspect_access_token.json"))
        yield standin


@pytest.fixture
def e2e_client(services):
    services.settings = dataclasses.replace(services.settings, hubspot_api_base=BASE_URL)
    return create_app(services=services).test_client()


def _install(client) -> int:
    location = client.get("/oauth/hubspot/install").headers["Location"]
    state = dict(p.split("=", 1) for p in location.split("?", 1)[1].split("&"))["state"]
    resp = client.get("/oauth/hubspot/callback", query_string={"code": "code-123", "state": state})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return int(client.get("/api/installations").get_json()[0]["id"])


def test_install_creates_fields_and_events_reach_the_company(e2e_client, services, hubspot):
    company = hubspot.add_company(name="Bright Smile Dental", domain="brightsmile-dental.co.uk")
    installation_id = _install(e2e_client)

    # The install hook created the property group and every §3 property, billing id unique.
    assert GROUP_NAME in hubspot.groups
    assert hubspot.properties["dunning_billing_customer_id"]["hasUniqueValue"] is True
    assert "dunning_risk_segment" in hubspot.properties

    with session_scope(services.engine) as s:
        s.add(BillingConnection(installation_id=installation_id, provider="stripe", mode="test",
                                webhook_token="tok_conn_abc",
                                webhook_secret_enc=services.box.encrypt(WEBHOOK_SECRET)))
    assert post_stripe(e2e_client, stripe_event("invoice.payment_failed")).status_code == 200

    jobs.drain_all(services)  # a new installation starts in preview: nothing is written
    assert "dunning_payment_status" not in hubspot.companies[company]
    with session_scope(services.engine) as s:
        assert s.exec(select(OutboxItem.status)).all() == ["previewed"]

    csrf = e2e_client.get("/api/session").get_json()["csrf"]
    resp = e2e_client.post(f"/api/installations/{installation_id}/mode", json={"preview": False},
                           headers={"X-CSRF-Token": csrf})
    assert resp.status_code == 200 and resp.get_json()["queued"] == 1
    jobs.drain_all(services)
    props = hubspot.companies[company]
    assert props["dunning_payment_status"] == "past_due"
    assert props["dunning_billing_customer_id"] == "cus_Rk4hJ2x9WcN7Qa"
    assert props["dunning_outstanding_currency"] == "GBP"
    with session_scope(services.engine) as s:
        assert s.get(Installation, installation_id).status == "active"


def test_mode_change_needs_csrf_token(e2e_client, services, hubspot):
    installation_id = _install(e2e_client)
    resp = e2e_client.post(f"/api/installations/{installation_id}/mode", json={"preview": False})
    assert resp.status_code == 403


def test_admin_of_one_portal_cannot_see_another(e2e_client, services, hubspot):
    _install(e2e_client)
    with session_scope(services.engine) as s:
        other = Installation(crm="hubspot", external_id="999999", name="someone else")
        s.add(other)
        s.flush()
        other_id = other.id
    assert e2e_client.get(f"/api/installations/{other_id}/accounts").status_code == 404
    assert [i["external_id"] for i in e2e_client.get("/api/installations").get_json()] != ["999999"]
    assert len(e2e_client.get("/api/installations").get_json()) == 1
