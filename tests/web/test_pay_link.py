"""The customer's payment link: issuing, stability, expiry, revocation, and what a click does."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs

import pytest
import requests
import responses
from responses import matchers
from sqlmodel import SQLModel, select

from connector.errors import BadInput
from connector.payment_links import (
    LINK_LIFETIME,
    issue_payment_link,
    resolve_payment_link,
    revoke_payment_links,
)
from connector.storage.db import session_scope
from connector.storage.models import (
    AuditLog,
    BillingConnection,
    CustomerBilling,
    Installation,
    PaymentLink,
)

BASE = "https://connector.example.test"
STRIPE = "https://api.stripe.com"
KEY = "sk_test_51Nv0FGQ9RKHgCVdKpaykey"
CUS = "cus_NffrFeUfNV2Hib"
PORTAL_URL = "https://billing.stripe.com/p/session/test_YWNjdF8xTnYwRkdRO"


def invoice(inv_id: str, created: int, **over) -> dict:
    body = {
        "id": inv_id,
        "object": "invoice",
        "amount_due": 12050,
        "amount_paid": 0,
        "amount_remaining": 12050,
        "collection_method": "charge_automatically",
        "created": created,
        "currency": "usd",
        "customer": CUS,
        "hosted_invoice_url": f"https://invoice.stripe.com/i/acct_1Nv0FGQ9RKHgCVdK/test_{inv_id}",
        "livemode": False,
        "status": "open",
    }
    body.update(over)
    return body


def add_open_invoices(http, invoices) -> None:
    http.add(
        responses.GET,
        f"{STRIPE}/v1/invoices",
        match=[matchers.query_param_matcher({"customer": CUS, "status": "open", "limit": "100"})],
        json={"object": "list", "url": "/v1/invoices", "has_more": False, "data": invoices},
    )


def add_portal(http) -> None:
    http.add(
        responses.POST,
        f"{STRIPE}/v1/billing_portal/sessions",
        json={
            "id": "bps_1MrSjzLkdIwHu7ixex0IvU9b",
            "object": "billing_portal.session",
            "configuration": "bpc_1MAhNDLkdIwHu7ixckACO1Jq",
            "created": 1680210639,
            "customer": CUS,
            "flow": None,
            "livemode": False,
            "locale": None,
            "on_behalf_of": None,
            "return_url": f"{BASE}/pay/done",
            "url": PORTAL_URL,
        },
    )


@pytest.fixture
def world(services, engine):
    """One installation with a Stripe connection and one billing customer."""
    with session_scope(engine) as s:
        inst = Installation(crm="hubspot", external_id="4455667", name="Dental Co")
        s.add(inst)
        s.flush()
        conn = BillingConnection(
            installation_id=inst.id,
            provider="stripe",
            mode="test",
            webhook_token="tok-connection",
            api_key_enc=services.box.encrypt(KEY),
            webhook_secret_enc=services.box.encrypt("whsec_x1"),
        )
        s.add(conn)
        s.flush()
        cust = CustomerBilling(installation_id=inst.id, connection_id=conn.id, customer_id=CUS)
        other = CustomerBilling(
            installation_id=inst.id, connection_id=conn.id, customer_id="cus_Other"
        )
        s.add(cust)
        s.add(other)
        s.flush()
        return {"inst": inst.id, "conn": conn.id, "cust": cust.id, "other": other.id}


def issue(engine, world, now, customer_key="cust") -> str:
    with session_scope(engine) as s:
        return issue_payment_link(
            s, world["inst"], world[customer_key], now=now, base_url=BASE + "/"
        )


def path_of(url: str) -> str:
    assert url.startswith(f"{BASE}/pay/")
    return url[len(BASE) :]


def audits(engine) -> list[AuditLog]:
    with session_scope(engine) as s:
        return s.exec(select(AuditLog).where(AuditLog.action == "payment_link.clicked")).all()


# -- issuing --------------------------------------------------------------------------------


def test_link_is_stable_per_customer_and_unguessable(engine, world, now):
    first = issue(engine, world, now)
    again = issue(engine, world, now + timedelta(days=10))
    other = issue(engine, world, now, "other")

    assert first == again
    assert other != first
    token = first.rsplit("/", 1)[1]
    assert len(token) >= 32  # token_urlsafe(24)


def test_link_expires_sixty_days_after_creation(engine, world, now):
    url = issue(engine, world, now)
    with session_scope(engine) as s:
        link = s.exec(select(PaymentLink)).one()
        assert link.expires_at == now + LINK_LIFETIME == now + timedelta(days=60)
        token = url.rsplit("/", 1)[1]
        assert resolve_payment_link(s, token, now + timedelta(days=59, hours=23)).status == "live"
        assert resolve_payment_link(s, token, now + timedelta(days=60)).status == "expired"


def test_link_near_its_end_is_superseded_and_the_old_one_still_works(engine, world, now):
    first = issue(engine, world, now)
    later = now + timedelta(days=50)
    second = issue(engine, world, later)

    assert second != first
    with session_scope(engine) as s:
        assert resolve_payment_link(s, first.rsplit("/", 1)[1], later).status == "live"
        new = s.exec(select(PaymentLink).where(PaymentLink.token == second.rsplit("/", 1)[1])).one()
        assert new.expires_at == later + timedelta(days=60)


def test_revoked_links_die_and_the_next_episode_gets_a_new_one(engine, world, now):
    first = issue(engine, world, now)
    issue(engine, world, now, "other")
    with session_scope(engine) as s:
        assert revoke_payment_links(s, world["cust"], now) == 1
        assert revoke_payment_links(s, world["cust"], now) == 0
        assert resolve_payment_link(s, first.rsplit("/", 1)[1], now).status == "revoked"
    with session_scope(engine) as s:
        other_links = s.exec(
            select(PaymentLink).where(PaymentLink.customer_row_id == world["other"])
        ).all()
        assert [link.revoked_at for link in other_links] == [None]

    assert issue(engine, world, now + timedelta(days=3)) != first


def test_no_link_for_a_customer_of_another_installation(engine, world, now):
    with session_scope(engine) as s:
        stranger = Installation(crm="hubspot", external_id="999", name="Other")
        s.add(stranger)
        s.flush()
        stranger_id = stranger.id
    with session_scope(engine) as s, pytest.raises(BadInput):
        issue_payment_link(s, stranger_id, world["cust"], now=now, base_url=BASE)


def test_unknown_token_resolves_unknown(engine, now):
    with session_scope(engine) as s:
        assert resolve_payment_link(s, "nope", now).status == "unknown"
        assert resolve_payment_link(s, "", now).status == "unknown"


# -- clicking -------------------------------------------------------------------------------


def test_click_redirects_to_the_oldest_open_invoice_fetched_at_click_time(
    client, http, engine, world, now
):
    add_open_invoices(http, [invoice("in_new", 1764000000), invoice("in_old", 1762000000)])
    add_open_invoices(http, [invoice("in_new", 1764000000)])  # the old one got paid meanwhile
    path = path_of(issue(engine, world, now))

    first = client.get(path)
    second = client.get(path)

    assert first.status_code == 302
    assert (
        first.headers["Location"]
        == "https://invoice.stripe.com/i/acct_1Nv0FGQ9RKHgCVdK/test_in_old"
    )
    assert first.headers["Cache-Control"] == "no-store"
    assert second.headers["Location"].endswith("/test_in_new")
    assert http.calls[0].request.headers["Authorization"] == f"Bearer {KEY}"


def test_click_is_audited_without_token_or_provider_url(client, http, engine, world, now):
    add_open_invoices(http, [invoice("in_old", 1762000000)])
    path = path_of(issue(engine, world, now))
    token = path.rsplit("/", 1)[1]

    client.get(path)

    [row] = audits(engine)
    assert row.installation_id == world["inst"]
    assert row.actor == "customer"
    assert row.detail["outcome"] == "invoice"
    assert row.detail["customer_row_id"] == world["cust"]
    assert (
        token not in str(row.detail)
        and "stripe.com" not in str(row.detail)
        and CUS not in str(row.detail)
    )


def test_no_open_invoice_opens_the_portal_on_card_update(client, http, engine, world, now):
    add_open_invoices(http, [])
    add_portal(http)

    resp = client.get(path_of(issue(engine, world, now)))

    assert resp.status_code == 302
    assert resp.headers["Location"] == PORTAL_URL
    sent = parse_qs(http.calls[1].request.body)
    assert sent["customer"] == [CUS]
    assert sent["return_url"] == [f"{BASE}/pay/done"]
    assert sent["flow_data[type]"] == ["payment_method_update"]
    assert audits(engine)[0].detail["outcome"] == "portal"


def test_invoice_without_hosted_page_falls_back_to_portal(client, http, engine, world, now):
    add_open_invoices(
        http,
        [
            invoice("in_nopage", 1762000000, hosted_invoice_url=None),
            invoice("in_zero", 1762500000, amount_remaining=0),
        ],
    )
    add_portal(http)

    resp = client.get(path_of(issue(engine, world, now)))

    assert resp.headers["Location"] == PORTAL_URL


def test_portal_returns_to_the_vendors_page_when_configured(client, http, engine, world, now):
    with session_scope(engine) as s:
        inst = s.get(Installation, world["inst"])
        inst.settings = {"payment_return_url": "https://dental.example/account"}
        s.add(inst)
    add_open_invoices(http, [])
    add_portal(http)

    client.get(path_of(issue(engine, world, now)))

    assert parse_qs(http.calls[1].request.body)["return_url"] == ["https://dental.example/account"]


def test_provider_urls_are_never_stored(client, http, engine, world, now):
    add_open_invoices(http, [invoice("in_old", 1762000000)])
    assert client.get(path_of(issue(engine, world, now))).status_code == 302
    with engine.connect() as conn:
        stored = [
            str(row)
            for table in SQLModel.metadata.sorted_tables
            for row in conn.execute(table.select())
        ]
    assert stored  # the tables were read
    assert not [row for row in stored if "invoice.stripe.com" in row]


def test_unknown_token_is_a_friendly_404_page(client):
    resp = client.get("/pay/this-token-does-not-exist")
    assert resp.status_code == 404
    assert resp.mimetype == "text/html"
    assert "does not exist" in resp.get_data(as_text=True)


def test_revoked_link_is_a_friendly_410_page(client, engine, world, now):
    path = path_of(issue(engine, world, now))
    with session_scope(engine) as s:
        revoke_payment_links(s, world["cust"], now)

    resp = client.get(path)

    assert resp.status_code == 410
    assert resp.mimetype == "text/html"
    assert "no longer active" in resp.get_data(as_text=True)
    assert audits(engine)[0].detail["outcome"] == "revoked"


def test_expired_link_is_a_friendly_410_page(client, services, engine, world, now):
    path = path_of(issue(engine, world, now))
    services.clock = lambda: now + timedelta(days=61)

    resp = client.get(path)

    assert resp.status_code == 410
    assert audits(engine)[0].detail["outcome"] == "expired"


def test_link_of_a_deleted_customer_is_gone(client, engine, world, now):
    path = path_of(issue(engine, world, now))
    with session_scope(engine) as s:
        cust = s.get(CustomerBilling, world["cust"])
        cust.deleted = True
        s.add(cust)
    assert client.get(path).status_code == 410


def test_link_of_an_uninstalled_installation_is_gone(client, engine, world, now):
    path = path_of(issue(engine, world, now))
    with session_scope(engine) as s:
        inst = s.get(Installation, world["inst"])
        inst.status = "disconnected"
        s.add(inst)
    assert client.get(path).status_code == 410


def test_stripe_outage_is_a_503_page_asking_to_try_again(client, http, engine, world, now):
    http.add(
        responses.GET,
        f"{STRIPE}/v1/invoices",
        status=500,
        json={"error": {"message": "An unknown error occurred", "type": "api_error"}},
    )

    resp = client.get(path_of(issue(engine, world, now)))

    assert resp.status_code == 503
    assert resp.mimetype == "text/html"
    assert "try again in a few minutes" in resp.get_data(as_text=True)
    assert resp.headers["Retry-After"]
    assert audits(engine)[0].detail["outcome"] == "provider_unavailable"


def test_stripe_unreachable_is_a_503_page(client, http, engine, world, now):
    http.add(
        responses.GET, f"{STRIPE}/v1/invoices", body=requests.exceptions.ConnectTimeout("timed out")
    )
    assert client.get(path_of(issue(engine, world, now))).status_code == 503


def test_stripe_refusing_the_key_is_a_friendly_page_not_a_500(client, http, engine, world, now):
    http.add(
        responses.GET,
        f"{STRIPE}/v1/invoices",
        status=401,
        json={
            "error": {
                "message": "Invalid API Key provided: sk_test_****ykey",
                "type": "invalid_request_error",
            }
        },
    )

    resp = client.get(path_of(issue(engine, world, now)))

    assert resp.status_code == 502
    assert resp.mimetype == "text/html"
    assert "contact us" in resp.get_data(as_text=True)
    assert audits(engine)[0].detail["outcome"] == "provider_refused"


def test_connection_without_api_key_says_whom_to_contact_and_calls_nothing(
    client, http, engine, world, now
):
    # A connection made with only a webhook secret (and the demo's) cannot open a Stripe page.
    with session_scope(engine) as s:
        conn = s.get(BillingConnection, world["conn"])
        conn.api_key_enc = ""
        s.add(conn)

    resp = client.get(path_of(issue(engine, world, now)))

    assert resp.status_code == 403
    assert "Dental Co" in resp.get_data(as_text=True)
    assert len(http.calls) == 0
    assert audits(engine)[0].detail["outcome"] == "no_api_key"


def test_done_page(client):
    resp = client.get("/pay/done")
    assert resp.status_code == 200
    assert "Thank you" in resp.get_data(as_text=True)
