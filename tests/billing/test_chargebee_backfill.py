"""Chargebee history and reconcile through the real `chargebee` package, its httpx calls mocked
with respx: 12 months of subscriptions, customers, invoices, transactions and cards at connect
(resumable, with progress), missed events through the list events API, the daily dunning sweep."""

from __future__ import annotations

import ast
import copy
import json
from datetime import datetime

import httpx
import pytest
import respx
from sqlmodel import select

from connector.backfill import backfill_connection, backfill_status, connections_needing_backfill
from connector.billing.chargebee_bulk import facts_from_chargebee_object
from connector.domain.billing_facts import CardSnapshot
from connector.reconcile import reconcile_installation
from connector.storage.db import session_scope
from connector.storage.models import BillingCursor, BillingEvent, CustomerBilling
from crm_adapters.fake import FakeCrmAdapter

from factories import chargebee_event, make_chargebee_connection, make_installation, post_chargebee
from tests_clock import FIXED_NOW

API = "https://brightsmile-test.chargebee.com/api/v2"
CUS = "AzZTZgUYnOq8D1Eh"


def ts(*args: int) -> int:
    return int(datetime(*args, tzinfo=FIXED_NOW.tzinfo).timestamp())


class ChargebeeStandIn:
    """List endpoints of one site: objects per resource, served `page_size` at a time."""

    def __init__(self, mock: respx.MockRouter, page_size: int = 100) -> None:
        self.objects: dict[str, list[dict]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.page_size = page_size
        self.related: dict[tuple[str, str], dict] = {}
        for resource, key in (("subscriptions", "subscription"), ("customers", "customer"),
                              ("invoices", "invoice"), ("transactions", "transaction"),
                              ("payment_sources", "payment_source"), ("events", "event")):
            mock.get(f"{API}/{resource}").mock(side_effect=self._lister(resource, key))

    def add(self, resource: str, *objects: dict) -> None:
        self.objects.setdefault(resource, []).extend(copy.deepcopy(o) for o in objects)

    def _lister(self, resource: str, key: str):
        def handle(request: httpx.Request) -> httpx.Response:
            params = dict(request.url.params)
            self.requests.append((resource, params))
            start = int(json.loads(params["offset"])[0]) if "offset" in params else 0
            items = self.objects.get(resource, [])[start:start + self.page_size]
            # As Chargebee lists them: a subscription comes with its customer (and card).
            body: dict = {"list": [{key: o, **self.related.get((resource, o["id"]), {})}
                                   for o in items]}
            if start + self.page_size < len(self.objects.get(resource, [])):
                body["next_offset"] = json.dumps([str(start + self.page_size)])
            return httpx.Response(200, json=body)
        return handle

    def params(self, resource: str) -> list[dict[str, str]]:
        return [p for r, p in self.requests if r == resource]


@pytest.fixture
def site():
    with respx.mock(assert_all_called=False) as mock:
        yield ChargebeeStandIn(mock)


@pytest.fixture
def installation(services):
    return make_installation(services)


@pytest.fixture
def conn_id(services, installation):
    return make_chargebee_connection(services, installation)


def content(name: str, key: str) -> dict:
    return chargebee_event(name)["content"][key]


def seed(site: ChargebeeStandIn) -> None:
    """One customer: a March failure recovered, and the current failing renewal."""
    sub = content("payment_failed", "subscription")
    site.add("subscriptions", sub)
    site.related[("subscriptions", sub["id"])] = {"customer": content("payment_failed", "customer"),
                                                  "card": content("payment_failed", "card")}
    site.add("customers", content("payment_failed", "customer"))
    march = {**content("payment_succeeded", "invoice"), "id": "1001", "date": ts(2026, 3, 1, 10),
             "paid_at": ts(2026, 3, 4, 10), "resource_version": ts(2026, 3, 4, 10) * 1000}
    site.add("invoices", march, content("payment_failed", "invoice"))
    march_fail = {**content("payment_failed", "transaction"), "id": "txn_march",
                  "date": ts(2026, 3, 1, 10),
                  "linked_invoices": [{"invoice_id": "1001", "applied_amount": 0}]}
    site.add("transactions", march_fail, content("payment_failed", "transaction"),
             content("payment_succeeded", "transaction"))
    site.add("payment_sources", content("payment_source_expiring", "payment_source"))


def statuses(raw: str) -> list[str]:
    """An `[in]` filter as the chargebee package writes it (a Python-style list repr)."""
    return ast.literal_eval(raw)


def customer_row(services) -> CustomerBilling:
    with session_scope(services.engine) as s:
        return s.exec(select(CustomerBilling).where(CustomerBilling.customer_id == CUS)).one()


def test_backfill_reads_a_year_and_derives_the_state(services, site, conn_id):
    seed(site)
    seen = []
    report = backfill_connection(services, conn_id, progress=lambda *a: seen.append(a))
    assert report.complete
    row = customer_row(services)
    assert row.desired["payment_status"] == "past_due"
    assert row.desired["late_payments_12m"] == "2"  # March and now
    assert row.desired["last_failure_reason"] == "insufficient_funds"
    assert row.facts["profile"]["email"] == "billing@brightsmile-dental.example"
    assert "pm_AzZTZgUYnOq5Y1Eg" in row.facts["cards"]
    # The window is Chargebee's own filter, a year back; owed invoices of any age are read too.
    since = int(FIXED_NOW.timestamp()) - 365 * 86400
    invoice_params = site.params("invoices")
    assert invoice_params[0]["date[after]"] == str(since - 1)
    assert statuses(invoice_params[1]["status[in]"]) == ["posted", "payment_due", "not_paid"]
    assert site.params("transactions")[0]["date[after]"] == str(since - 1)
    assert ("refresh", 1, True) in seen and any(s[0] == "invoices" for s in seen)


def test_backfill_resumes_from_its_offset(services, site, conn_id):
    seed(site)
    site.page_size = 1
    first = backfill_connection(services, conn_id, max_pages=3)
    assert not first.complete
    with session_scope(services.engine) as s:
        status = backfill_status(s, conn_id)
        assert status["streams"]["subscriptions"]["done"] and status["streams"]["customers"]["done"]
        assert not status["streams"]["invoices"]["done"]
    assert conn_id in connections_needing_backfill(services)
    second = backfill_connection(services, conn_id)
    assert second.complete
    # The resumed walk asked for the second invoice page, not the first again.
    assert [p.get("offset") for p in site.params("invoices")][:2] == [None, '["1"]']
    assert second.objects["invoices"] == 1
    assert customer_row(services).desired["payment_status"] == "past_due"
    assert conn_id not in connections_needing_backfill(services)


def test_reconcile_recovers_missed_events_through_the_webhook_path(client, services, site,
                                                                   installation, conn_id):
    delivered = chargebee_event("invoice_generated")
    assert post_chargebee(client, delivered).status_code == 200
    missed = chargebee_event("payment_failed")
    unused = {**chargebee_event("invoice_generated"), "id": "ev_quote", "event_type": "quote_created"}
    site.add("events", delivered, missed, unused)
    report = reconcile_installation(services, installation, adapter=FakeCrmAdapter(), drain=False)
    assert (report.events_recovered, report.events_known) == (1, 1)
    assert customer_row(services).desired["payment_status"] == "past_due"
    with session_scope(services.engine) as s:
        assert {e.event_id for e in s.exec(select(BillingEvent))} == {delivered["id"], missed["id"]}
        cursor = s.exec(select(BillingCursor).where(BillingCursor.stream == "events")).one()
        assert cursor.since == int(FIXED_NOW.timestamp())
    first = site.params("events")[0]
    assert first["occurred_at[after]"] == str(int(FIXED_NOW.timestamp()) - 30 * 86400 - 1)
    assert first["sort_by[asc]"] == "occurred_at"
    # The next run reads from its cursor, less a small overlap; known events are not re-stored.
    reconcile_installation(services, installation, adapter=FakeCrmAdapter(), drain=False)
    assert site.params("events")[-1]["occurred_at[after]"] == str(int(FIXED_NOW.timestamp()) - 600 - 1)
    with session_scope(services.engine) as s:
        assert len(s.exec(select(BillingEvent)).all()) == 2


def test_daily_sweep_rereads_invoices_in_dunning_and_expiring_cards(services, site, installation,
                                                                    conn_id):
    exhausted = content("payment_failed_exhausted", "invoice")
    site.add("invoices", exhausted)
    site.add("payment_sources", content("payment_source_expiring", "payment_source"))
    incremental = reconcile_installation(services, installation, adapter=FakeCrmAdapter(), drain=False)
    assert incremental.invoices_swept == 0 and site.params("invoices") == []
    report = reconcile_installation(services, installation, full=True, adapter=FakeCrmAdapter(),
                                    drain=False)
    assert report.invoices_swept == 1
    assert statuses(site.params("invoices")[0]["status[in]"]) == ["payment_due", "not_paid"]
    assert statuses(site.params("payment_sources")[0]["status[in]"]) == ["expiring", "expired"]
    row = customer_row(services)
    assert row.desired["payment_status"] == "uncollectible"
    assert row.facts["cards"]["pm_AzZTZgUYnOq5Y1Eg"]["status"] == "expiring"


def test_api_objects_give_the_same_facts_as_webhook_content():
    from connector.billing.chargebee_events import facts_from_chargebee_event

    event = chargebee_event("payment_failed")
    from_webhook = facts_from_chargebee_event(event).facts
    at = event["occurred_at"]
    for key in ("invoice", "subscription", "transaction"):
        _, facts = facts_from_chargebee_object(event["content"][key], observed_at=at)
        (fact,) = facts
        assert any(type(f) is type(fact) and getattr(f, "resource_version", None)
                   == getattr(fact, "resource_version", None) for f in from_webhook)
    _, (card,) = facts_from_chargebee_object(content("payment_source_expiring", "payment_source"),
                                             observed_at=at)
    assert isinstance(card, CardSnapshot) and (card.exp_month, card.exp_year) == (12, 2026)
