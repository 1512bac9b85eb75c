"""The payment link of a Chargebee customer: a "collect now" hosted page when an invoice is
unpaid, else a "manage payment sources" page for the card; only with a key that may write;
an outage is the friendly 503 page; the hosted page's URL is never stored. The real `chargebee`
package makes the calls, its httpx traffic mocked with respx."""

from __future__ import annotations

from urllib.parse import parse_qs

import httpx
import pytest
import respx
from sqlmodel import SQLModel, select

from connector.payment_links import issue_payment_link
from connector.storage.db import session_scope
from connector.storage.models import AuditLog, CustomerBilling, Installation

from factories import make_chargebee_connection, make_installation

BASE = "https://connector.example.test"
API = "https://brightsmile-test.chargebee.com/api/v2"
CUS = "AzZTZgUYnOq8D1Eh"
COLLECT_URL = "https://brightsmile-test.chargebee.com/pages/v3/Dc1Z1Yq9cdDGcuXFhQcu2ulVjl4SISYQP/"
CARD_URL = "https://brightsmile-test.chargebee.com/pages/v3/8lKhJ2cuQG6lWlcd5sYNVRsGa2k2JH3q/"


def hosted_page(kind: str, url: str) -> dict:
    """A hosted page as Chargebee answers its creation (state `created`, an expiring URL)."""
    return {"hosted_page": {
        "id": url.rstrip("/").rsplit("/", 1)[-1], "type": kind, "url": url, "state": "created",
        "embed": False, "created_at": 1796310000, "expires_at": 1796313600,
        "object": "hosted_page", "updated_at": 1796310000, "resource_version": 1796310000000}}


def unpaid_invoice() -> dict:
    return {"invoice": {
        "id": "INV-1042", "customer_id": CUS, "subscription_id": "AzZTZgUYnOq8E2Fj",
        "recurring": True, "status": "payment_due", "dunning_status": "in_progress",
        "price_type": "tax_exclusive", "date": 1795700000, "due_date": 1795700000,
        "net_term_days": 0, "currency_code": "USD", "total": 12050, "amount_paid": 0,
        "amount_adjusted": 0, "write_off_amount": 0, "credits_applied": 0, "amount_due": 12050,
        "resource_version": 1795700000123, "object": "invoice", "first_invoice": False,
        "has_advance_charges": False, "term_finalized": True, "is_gifted": False,
        "deleted": False}}


@pytest.fixture
def cb():
    with respx.mock(assert_all_called=False) as mock:
        yield mock


def connect(services, *, can_write: bool = True, name: str = "Vendor Co") -> tuple[int, int]:
    """A Chargebee installation and one customer; returns (installation id, customer row id)."""
    inst = make_installation(services, settings={"chargebee": {"key_can_write": can_write}})
    conn = make_chargebee_connection(services, inst)
    with session_scope(services.engine) as s:
        installation = s.get(Installation, inst)
        installation.name = name
        s.add(installation)
        row = CustomerBilling(installation_id=inst, connection_id=conn, customer_id=CUS)
        s.add(row)
        s.flush()
        return inst, row.id


def click(client, services, now, *, can_write: bool = True, name: str = "Vendor Co"):
    inst, row = connect(services, can_write=can_write, name=name)
    with session_scope(services.engine) as s:
        url = issue_payment_link(s, inst, row, now=now, base_url=BASE)
    return client.get(url[len(BASE):])


def outcomes(services) -> list[str]:
    with session_scope(services.engine) as s:
        return [a.detail["outcome"] for a in s.exec(
            select(AuditLog).where(AuditLog.action == "payment_link.clicked"))]


def test_unpaid_invoice_opens_a_collect_now_page_fetched_at_click_time(client, services, now, cb):
    invoices = cb.get(f"{API}/invoices").respond(200, json={"list": [unpaid_invoice()]})
    collect = cb.post(f"{API}/hosted_pages/collect_now").respond(
        200, json=hosted_page("collect_now", COLLECT_URL))

    resp = click(client, services, now)

    assert resp.status_code == 302 and resp.headers["Location"] == COLLECT_URL
    assert resp.headers["Cache-Control"] == "no-store"
    asked = dict(invoices.calls.last.request.url.params)
    assert asked["customer_id[is]"] == CUS and asked["limit"] == "1"
    assert "payment_due" in asked["status[in]"] and "not_paid" in asked["status[in]"]
    form = parse_qs(collect.calls.last.request.content.decode())
    assert form["customer[id]"] == [CUS]
    assert form["redirect_url"] == [f"{BASE}/pay/done"]
    assert outcomes(services) == ["invoice"]


def test_nothing_owed_opens_a_page_to_update_the_card(client, services, now, cb):
    cb.get(f"{API}/invoices").respond(200, json={"list": []})
    collect = cb.post(f"{API}/hosted_pages/collect_now")
    manage = cb.post(f"{API}/hosted_pages/manage_payment_sources").respond(
        200, json=hosted_page("manage_payment_sources", CARD_URL))

    resp = click(client, services, now)

    assert resp.status_code == 302 and resp.headers["Location"] == CARD_URL
    assert not collect.called
    assert parse_qs(manage.calls.last.request.content.decode())["customer[id]"] == [CUS]
    assert outcomes(services) == ["card_update"]


def test_read_only_key_gets_a_page_saying_whom_to_contact_and_calls_nothing(client, services,
                                                                           now, cb):
    resp = click(client, services, now, can_write=False, name="Acme Billing Ltd")

    assert resp.status_code == 403 and resp.mimetype == "text/html"
    text = resp.get_data(as_text=True)
    assert "not available" in text and "Acme Billing Ltd" in text
    assert not cb.calls
    assert outcomes(services) == ["key_read_only"]


@pytest.mark.parametrize("failure", [
    httpx.Response(503, json={"message": "Sorry, we are unable to process the request right now",
                              "api_error_code": "site_not_ready", "type": "temporary_error",
                              "error_code": "site_not_ready", "http_status_code": 503}),
    httpx.ConnectTimeout("timed out"),
])
def test_chargebee_outage_is_the_503_page(client, services, now, cb, failure):
    route = cb.get(f"{API}/invoices")
    if isinstance(failure, Exception):
        route.mock(side_effect=failure)
    else:
        route.mock(return_value=failure)

    resp = click(client, services, now)

    assert resp.status_code == 503 and resp.headers["Retry-After"]
    assert "try again in a few minutes" in resp.get_data(as_text=True)
    assert outcomes(services) == ["provider_unavailable"]


def test_chargebee_refusing_the_hosted_page_is_a_friendly_page(client, services, now, cb):
    # The admin said the key may write, but Chargebee says otherwise.
    cb.get(f"{API}/invoices").respond(200, json={"list": [unpaid_invoice()]})
    cb.post(f"{API}/hosted_pages/collect_now").respond(401, json={
        "message": "Sorry, authentication failed. Invalid api key", "type": "invalid_request",
        "api_error_code": "api_authentication_failed", "error_code": "api_authentication_invalid_key",
        "http_status_code": 401})

    resp = click(client, services, now)

    assert resp.status_code == 502 and "contact us" in resp.get_data(as_text=True)
    assert outcomes(services) == ["provider_refused"]


def test_hosted_page_urls_are_never_stored(client, services, now, cb):
    cb.get(f"{API}/invoices").respond(200, json={"list": [unpaid_invoice()]})
    cb.post(f"{API}/hosted_pages/collect_now").respond(200, json=hosted_page("collect_now",
                                                                             COLLECT_URL))
    assert click(client, services, now).status_code == 302
    with services.engine.connect() as conn:
        stored = [str(row) for table in SQLModel.metadata.sorted_tables
                  for row in conn.execute(table.select())]
    assert stored and not [row for row in stored if "/pages/v3/" in row]
