"""Reconcile: missed events recovered, owed invoices swept, CRM drift found and healed, removed
records re-resolved (never recreated), and every run recorded."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest
import responses
from sqlmodel import select

from connector.reconcile import reconcile_installation
from connector.storage.db import session_scope
from connector.storage.models import (
    BillingConnection,
    BillingEvent,
    CustomerBilling,
    Installation,
    OutboxItem,
    SyncRun,
)
from connector.sync import RECORD_GONE, drain_installation
from connector.sync_health import refresh_health
from crm_adapters.fake import FakeCrmAdapter

from factories import make_installation, make_stripe_connection, post_stripe, stripe_event
from hubspot_standin import FakeClock
from stripe_standin import BASE, StripeStandIn, event, invoice
from tests_clock import FIXED_NOW, now_ts


@pytest.fixture
def stripe(services):
    services.settings = replace(services.settings, stripe_api_base=BASE)
    clock = FakeClock()
    services.extras.update(sleep=clock.sleep, monotonic=clock)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield StripeStandIn(mock)


@pytest.fixture
def crm(services):
    adapter = FakeCrmAdapter()
    services.adapter_factory = lambda _installation_id: adapter
    return adapter


@pytest.fixture
def installation(services):
    inst = make_installation(services, preview=False)
    make_stripe_connection(services, inst)
    return inst


def failed_invoice(n: int, domain: str, **changes) -> dict:
    fields = {"id": f"evt_fail_{n}", "created": now_ts() - 3600, "object__id": f"in_{n}",
              "object__customer": f"cus_{n:05d}", "object__customer_email": f"billing@{domain}",
              "object__customer_name": f"Practice {n}"}
    return stripe_event("invoice.payment_failed", **{**fields, **changes})


def rows(services) -> dict[str, CustomerBilling]:
    with session_scope(services.engine) as s:
        return {r.customer_id: r for r in s.exec(select(CustomerBilling))}


def runs(services) -> list[SyncRun]:
    with session_scope(services.engine) as s:
        return list(s.exec(select(SyncRun).where(SyncRun.kind == "reconcile").order_by(SyncRun.id)))


def synced(client, services, installation, crm, n: int = 3):
    refs = [crm.add_record(domain=f"p{i}.example", name=f"Practice {i}") for i in range(n)]
    for i in range(n):
        post_stripe(client, failed_invoice(i, f"p{i}.example"))
    assert drain_installation(services, installation, crm).written == n
    return refs


# -- missed events --------------------------------------------------------------------------


def test_missed_events_are_recovered_through_the_webhook_path_once(client, services, stripe,
                                                                   installation, crm):
    delivered = failed_invoice(1, "p1.example")
    post_stripe(client, delivered)
    missed = failed_invoice(2, "p2.example", id="evt_missed_2")
    stripe.add("events", delivered, missed, event("charge.failed", "evt_missed_ch", created=now_ts() - 3000,
                                                  customer="cus_00002"))

    report = reconcile_installation(services, installation)

    assert (report.events_recovered, report.events_known) == (2, 1)
    assert rows(services)["cus_00002"].payment_status == "past_due"
    with session_scope(services.engine) as s:
        stored = {e.event_id: e for e in s.exec(select(BillingEvent))}
    assert set(stored) == {"evt_fail_1", "evt_missed_2", "evt_missed_ch"}
    assert {e.status for e in stored.values()} == {"applied"}
    assert json.loads(stored["evt_missed_2"].payload)["id"] == "evt_missed_2"
    # Stripe takes at most 20 types per list call, and every subscribed type is asked for.
    calls = stripe.calls_to("events")
    asked = [v for q in calls for k, vs in q.items() if k.startswith("types[") for v in vs]
    assert all(sum(k.startswith("types[") for k in q) <= 20 for q in calls)
    assert "invoice.payment_failed" in asked and "customer.deleted" in asked
    # The first run looks back as far as Stripe keeps events (30 days).
    first_since = int(calls[0]["created[gte]"][0])
    assert now_ts() - 30 * 86400 < first_since <= now_ts() - 29 * 86400


def test_next_reconcile_reads_events_from_its_cursor(client, services, stripe, installation, crm):
    reconcile_installation(services, installation)
    services.clock = lambda: FIXED_NOW + timedelta(hours=1)
    before = len(stripe.calls_to("events"))

    reconcile_installation(services, installation)

    since = int(stripe.calls_to("events")[before]["created[gte]"][0])
    assert since == now_ts() - 600  # the last run's start, less the overlap


def test_cursor_older_than_stripes_event_retention_reports_a_gap(client, services, stripe, installation, crm):
    reconcile_installation(services, installation)
    services.clock = lambda: FIXED_NOW + timedelta(days=40)

    report = reconcile_installation(services, installation)

    assert report.events_gap


# -- full sweep ------------------------------------------------------------------------------


def test_full_sweep_rereads_owed_invoices_and_ones_no_longer_owed(client, services, stripe, installation, crm):
    post_stripe(client, failed_invoice(1, "p1.example"))
    assert rows(services)["cus_00001"].payment_status == "past_due"
    # Stripe lists no owed invoice now: in_1 was paid while the app was away (beyond 30 days of
    # events); another customer's uncollectible invoice is new to us.
    stripe.add("invoices",
               invoice("in_1", "cus_00001", created=now_ts() - 7200, status="paid", paid_at=now_ts() - 60),
               invoice("in_9", "cus_00009", created=now_ts() - 86400 * 50, status="uncollectible",
                       attempt_count=4))

    report = reconcile_installation(services, installation, full=True)

    assert report.invoices_swept == 1 and report.invoices_reread == 1
    assert [q.get("status") for q in stripe.calls_to("invoices")] == [["open"], ["uncollectible"]]
    current = rows(services)
    assert current["cus_00001"].payment_status == "current"
    assert current["cus_00009"].payment_status == "uncollectible"


def test_incremental_reconcile_does_not_sweep_invoices(client, services, stripe, installation, crm):
    reconcile_installation(services, installation, full=False)
    assert stripe.calls_to("invoices") == []


# -- CRM drift --------------------------------------------------------------------------------


def test_drift_an_account_manager_made_is_found_field_by_field_and_healed(client, services, stripe,
                                                                           installation, crm):
    refs = synced(client, services, installation, crm)
    crm.records[refs[0].record_id].values["payment_status"] = "current"  # overwritten by hand
    crm.records[refs[1].record_id].values["risk_segment"] = "low_risk"
    crm.records[refs[1].record_id].values["payment_status"] = ""
    crm.records[refs[2].record_id].values["days_past_due"] = "0.0"  # "0" echoed: not drift
    crm.records[refs[2].record_id].values["days_past_due"] = "0"
    crm.calls.clear()

    report = reconcile_installation(services, installation)

    assert report.records_read == 3 and report.records_drifted == 2
    assert report.drift_found == {"payment_status": 2, "risk_segment": 1}
    assert report.drift_healed == {"payment_status": 2, "risk_segment": 1}
    assert crm.records[refs[0].record_id].values["payment_status"] == "past_due"
    assert crm.records[refs[1].record_id].values["risk_segment"] != "low_risk"
    # Read in one batch; one batched write of only the drifted records.
    assert [c for c in crm.calls if c[0] in ("read_fields", "write_fields")] == [
        ("read_fields", 3), ("write_fields", 2)]
    (run,) = runs(services)
    assert run.outcome == "ok"
    assert run.counts["drift_found"] == {"payment_status": 2, "risk_segment": 1}
    assert run.counts["drift_healed"] == {"payment_status": 2, "risk_segment": 1}


def test_healing_rewrites_only_the_drifted_fields(client, services, stripe, installation, crm):
    refs = synced(client, services, installation, crm, n=1)
    crm.records[refs[0].record_id].values["last_failure_reason"] = "other"
    written = []
    original = crm.write_fields
    crm.write_fields = lambda updates: (written.extend(updates), original(updates))[1]

    reconcile_installation(services, installation)

    (update,) = written
    assert set(update.values) == {"last_failure_reason", "billing_updated_at"}


def test_no_drift_means_no_writes_and_a_recorded_clean_run(client, services, stripe, installation, crm):
    synced(client, services, installation, crm)
    crm.calls.clear()

    report = reconcile_installation(services, installation)

    assert report.drift_found == {} and report.records_read == 3
    assert [c[0] for c in crm.calls] == ["read_fields"]
    assert runs(services)[0].counts["records_drifted"] == 0


def test_drift_in_preview_is_found_but_not_written(client, services, stripe, installation, crm):
    refs = synced(client, services, installation, crm, n=1)
    with session_scope(services.engine) as s:
        s.get(Installation, installation).preview = True
    crm.records[refs[0].record_id].values["payment_status"] = "current"

    report = reconcile_installation(services, installation)

    assert report.drift_found == {"payment_status": 1} and report.drift_healed == {}
    assert report.drain == {}  # nothing can be written in preview: nothing queued
    assert crm.records[refs[0].record_id].values["payment_status"] == "current"
    # Still drift on the next run (it was reported once, then taken for a withheld value).
    again = reconcile_installation(services, installation)
    assert again.drift_found == {"payment_status": 1} and again.preview_differs == {}


def test_in_preview_values_never_sent_are_not_drift(client, services, stripe, crm):
    # A fresh installation in preview: the CRM never held our values, so they differ from billing
    # without anyone having changed them. Calling that drift marked every sandbox degraded and
    # queued the same records again on every hourly run.
    inst = make_installation(services, preview=True)
    make_stripe_connection(services, inst)
    refs = [crm.add_record(domain=f"p{i}.example", name=f"Practice {i}") for i in range(2)]
    for i in range(2):
        post_stripe(client, failed_invoice(i, f"p{i}.example"))
    assert drain_installation(services, inst, crm).previewed == 2
    crm.records[refs[0].record_id].values["payment_status"] = "current"  # set by someone, not us

    report = reconcile_installation(services, inst)

    assert report.drift_found == {} and report.records_drifted == 0
    assert report.records_differing == 2
    assert report.preview_differs["payment_status"] == 2
    assert report.drain == {}  # nothing queued
    with session_scope(services.engine) as s:
        assert not s.exec(select(OutboxItem).where(OutboxItem.status == "pending")).all()
    health = refresh_health(services, inst)
    assert "drift_unhealed" not in {f["code"] for f in health["findings"]}
    # The next run finds the same, and still queues nothing.
    assert reconcile_installation(services, inst).records_differing == 2
    with session_scope(services.engine) as s:
        assert not s.exec(select(OutboxItem).where(OutboxItem.status == "pending")).all()


def test_a_connection_without_api_key_is_a_notice_not_a_failed_run(client, services, stripe, crm):
    inst = make_installation(services)
    conn = make_stripe_connection(services, inst)
    with session_scope(services.engine) as s:
        s.get(BillingConnection, conn).api_key_enc = ""

    report = reconcile_installation(services, inst)

    assert report.outcome == "ok" and report.errors == []
    assert "no Stripe API key" in report.notices[0]
    assert stripe.calls_to("events") == []


def test_reads_are_batched_by_the_adapters_batch_size(client, services, stripe, installation):
    crm = FakeCrmAdapter(max_batch_size=2)
    services.adapter_factory = lambda _i: crm
    synced(client, services, installation, crm, n=5)
    crm.calls.clear()

    report = reconcile_installation(services, installation)

    assert [c for c in crm.calls if c[0] == "read_fields"] == [("read_fields", 2)] * 2 + [("read_fields", 1)]
    assert report.crm_read_calls == 3


# -- merged / deleted records ----------------------------------------------------------------


def test_merged_record_is_re_resolved_not_recreated(client, services, stripe, installation, crm):
    refs = synced(client, services, installation, crm, n=1)
    # HubSpot merged the company into another of the same domain: the old id answers nothing.
    survivor = crm.add_record(domain="p0.example", name="Practice 0 (merged)")
    del crm.records[refs[0].record_id]

    report = reconcile_installation(services, installation)

    assert (report.records_gone, report.re_resolved) == (1, 1)
    row = rows(services)["cus_00000"]
    assert row.crm_record_id == survivor.record_id and row.match_status == "matched"
    assert crm.records[survivor.record_id].values["payment_status"] == "past_due"
    assert crm.records[survivor.record_id].values["billing_customer_id"] == "cus_00000"
    assert not [c for c in crm.calls if c[0] == "create_accounts"]


def test_deleted_record_is_not_recreated_even_when_creating_is_on(client, services, stripe, installation, crm):
    refs = synced(client, services, installation, crm, n=1)
    with session_scope(services.engine) as s:
        s.get(Installation, installation).settings = {"create_companies": True}
    del crm.records[refs[0].record_id]

    report = reconcile_installation(services, installation)
    # A later event for the customer drains again: still not recreated.
    post_stripe(client, failed_invoice(0, "p0.example", id="evt_later", created=now_ts() - 60))
    drain_installation(services, installation, crm)

    assert (report.records_gone, report.re_resolved) == (1, 0)
    row = rows(services)["cus_00000"]
    assert row.crm_record_id == "" and row.match_status == "unmatched"
    assert row.match_detail.startswith(RECORD_GONE)
    assert crm.records == {}
    assert not [c for c in crm.calls if c[0] == "create_accounts"]


# -- failures and scope ---------------------------------------------------------------------


def test_stripe_outage_still_checks_the_crm_and_records_a_partial_run(client, services, stripe,
                                                                      installation, crm):
    refs = synced(client, services, installation, crm, n=1)
    crm.records[refs[0].record_id].values["payment_status"] = "current"
    stripe.fail_call(1, status=500)

    report = reconcile_installation(services, installation)

    assert report.drift_healed == {"payment_status": 1}
    assert report.outcome == "partial" and report.errors[0].startswith("stripe:")
    assert runs(services)[0].outcome == "partial"


def test_other_installations_records_are_not_read(client, services, stripe, installation, crm):
    synced(client, services, installation, crm, n=2)
    other = make_installation(services, external_id="9999", preview=False)
    crm.calls.clear()

    report = reconcile_installation(services, other)

    assert report.records_read == 0
    assert not [c for c in crm.calls if c[0] == "read_fields"]
