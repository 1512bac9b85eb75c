"""Outbox → CRM: preview, live writes, per-record failures, retries, crash safety, matching."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from connector import outbox
from connector.errors import ReauthRequired, TransientProviderError
from connector.modes import set_preview
from connector.storage.db import session_scope
from connector.storage.models import CustomerBilling, Installation, OutboxItem, SyncRun
from connector.sync import drain_installation
from crm_adapters.fake import FakeCrmAdapter

from factories import make_installation, make_stripe_connection, post_stripe, stripe_event
from tests_clock import FIXED_NOW


def failed_invoice(n: int, domain: str) -> dict:
    return stripe_event(
        "invoice.payment_failed", id=f"evt_fail_{n}", object__id=f"in_{n}",
        object__customer=f"cus_{n:05d}", object__customer_email=f"billing@{domain}",
        object__customer_name=f"Practice {n}")


@pytest.fixture
def crm():
    return FakeCrmAdapter()


@pytest.fixture
def installation(services):
    inst = make_installation(services, preview=False)
    make_stripe_connection(services, inst)
    return inst


def _items(services, status=None):
    with session_scope(services.engine) as s:
        stmt = select(OutboxItem)
        if status:
            stmt = stmt.where(OutboxItem.status == status)
        return list(s.exec(stmt.order_by(OutboxItem.id)))


def _rows(services):
    with session_scope(services.engine) as s:
        return {r.customer_id: r for r in s.exec(select(CustomerBilling))}


def _set_preview(services, installation, preview):
    with session_scope(services.engine) as s:
        return set_preview(s, s.get(Installation, installation), preview, now=FIXED_NOW)


def test_live_drain_writes_changed_fields_once(client, services, installation, crm):
    ref = crm.add_record(domain="brightsmile.example", name="Bright Smile")
    post_stripe(client, failed_invoice(1, "brightsmile.example"))
    counts = drain_installation(services, installation, crm)
    assert counts.written == 1
    values = crm.records[ref.record_id].values
    assert values["payment_status"] == "past_due"
    assert values["billing_customer_id"] == "cus_00001"
    assert values["billing_updated_at"].startswith("2026-12-03T15:00")
    assert _rows(services)["cus_00001"].match_status == "matched"
    # Nothing new: the next drain has nothing to do, and re-deriving changes nothing.
    writes_before = len([c for c in crm.calls if c[0] == "write_fields"])
    assert drain_installation(services, installation, crm).items == 0
    assert len([c for c in crm.calls if c[0] == "write_fields"]) == writes_before


def test_preview_records_would_be_writes_and_sends_nothing(client, services, installation, crm):
    _set_preview(services, installation, True)
    ref = crm.add_record(domain="brightsmile.example")
    post_stripe(client, failed_invoice(1, "brightsmile.example"))
    counts = drain_installation(services, installation, crm)
    assert counts.previewed == 1 and counts.written == 0
    assert crm.records[ref.record_id].values == {}
    (item,) = _items(services, "previewed")
    assert item.payload["would_write"]["payment_status"] == "past_due"
    assert not [c for c in crm.calls if c[0] == "write_fields"]


def test_going_live_pushes_current_values(client, services, installation, crm):
    _set_preview(services, installation, True)
    ref = crm.add_record(domain="brightsmile.example")
    post_stripe(client, failed_invoice(1, "brightsmile.example"))
    drain_installation(services, installation, crm)
    assert _set_preview(services, installation, False) == 1
    counts = drain_installation(services, installation, crm)
    assert counts.written == 1
    assert crm.records[ref.record_id].values["payment_status"] == "past_due"


def test_one_refused_record_is_recorded_and_the_rest_written(client, services, installation, crm):
    refs = [crm.add_record(domain=f"p{n}.example") for n in range(3)]
    for n in range(3):
        post_stripe(client, failed_invoice(n, f"p{n}.example"))
    second = _items(services, "pending")[1]
    crm.refuse(str(second.id), "Property value failed the portal's validation rule",
               category="VALIDATION_ERROR", retriable=False)
    counts = drain_installation(services, installation, crm)
    assert (counts.written, counts.failed) == (2, 1)
    failed = _items(services, "failed")
    assert [i.id for i in failed] == [second.id]
    assert "validation rule" in failed[0].last_error
    assert crm.records[refs[1].record_id].values == {}
    with session_scope(services.engine) as s:
        (run,) = s.exec(select(SyncRun))
        assert run.outcome == "partial" and run.counts["failed"] == 1


def test_transient_outage_keeps_work_and_backs_off(client, services, installation, crm):
    crm.add_record(domain="brightsmile.example")
    post_stripe(client, failed_invoice(1, "brightsmile.example"))
    drain_installation(services, installation, FakeCrmAdapter())  # matching: nothing found yet
    post_stripe(client, failed_invoice(2, "brightsmile.example") | {"id": "evt_again"})
    crm.fail_next(TransientProviderError("HubSpot answered 503", retry_after=120))
    counts = drain_installation(services, installation, crm)
    assert counts.retried >= 1 and counts.written == 0
    (item,) = _items(services, "pending")
    assert item.available_at.replace(tzinfo=None) >= (FIXED_NOW + timedelta(seconds=120)).replace(tzinfo=None)
    assert item.attempts == 1


def test_refused_refresh_pauses_installation_and_keeps_work(client, services, installation, crm):
    crm.add_record(domain="brightsmile.example")
    post_stripe(client, failed_invoice(1, "brightsmile.example"))
    crm.fail_next(ReauthRequired("refresh token refused"))
    drain_installation(services, installation, crm)
    with session_scope(services.engine) as s:
        inst = s.get(Installation, installation)
        assert inst.status == "needs_reauth"
    (item,) = _items(services, "pending")
    assert item.attempts == 0


def test_crash_after_claim_loses_nothing_and_writes_once(client, services, installation, crm):
    ref = crm.add_record(domain="brightsmile.example")
    post_stripe(client, failed_invoice(1, "brightsmile.example"))
    with session_scope(services.engine) as s:  # a worker takes the item, then dies
        assert len(outbox.claim(s, installation, 100, FIXED_NOW)) == 1
    assert drain_installation(services, installation, crm).items == 0  # still leased
    services.clock = lambda: FIXED_NOW + outbox.LEASE + timedelta(seconds=1)
    counts = drain_installation(services, installation, crm)
    assert counts.written == 1
    assert crm.records[ref.record_id].values["payment_status"] == "past_due"
    assert len(_items(services, "done")) == 1


def test_unmatched_and_conflicting_customers_are_listed_not_guessed(client, services, installation, crm):
    crm.add_record(domain="shared.example")
    post_stripe(client, failed_invoice(1, "gmail.com"))
    post_stripe(client, failed_invoice(2, "nowhere.example"))
    drain_installation(services, installation, crm)
    rows = _rows(services)
    assert rows["cus_00001"].match_status == "unmatched"
    assert rows["cus_00002"].match_status == "unmatched"
    post_stripe(client, failed_invoice(3, "shared.example"))
    drain_installation(services, installation, crm)
    post_stripe(client, failed_invoice(4, "shared.example"))
    drain_installation(services, installation, crm)
    rows = _rows(services)
    assert rows["cus_00003"].match_status == "matched"
    assert rows["cus_00004"].match_status in ("conflict", "ambiguous")
    assert rows["cus_00004"].crm_record_id == ""


def test_creating_companies_when_the_setting_is_on(client, services, crm):
    inst = make_installation(services, preview=False, settings={"create_companies": True})
    make_stripe_connection(services, inst)
    post_stripe(client, failed_invoice(1, "newco.example"))
    drain_installation(services, inst, crm)
    (record,) = crm.records.values()
    assert record.values["billing_customer_id"] == "cus_00001"
    drain_installation(services, inst, crm)
    assert _rows(services)["cus_00001"].crm_record_id == record.ref.record_id


def test_disconnected_installation_is_not_drained(client, services, installation, crm):
    crm.add_record(domain="brightsmile.example")
    post_stripe(client, failed_invoice(1, "brightsmile.example"))
    with session_scope(services.engine) as s:
        s.get(Installation, installation).status = "disconnected"
    assert drain_installation(services, installation, crm).items == 0
    assert len(_items(services, "pending")) == 1


def test_a_merged_record_is_followed_to_its_survivor(client, services, installation, crm, monkeypatch):
    from connector.ports import CrmRef, WriteReport

    crm.add_record(domain="brightsmile.example")
    post_stripe(client, failed_invoice(1, "brightsmile.example"))
    survivor = crm.add_record(domain="other.example")
    write = crm.write_fields

    def merged(updates):
        report = write(updates)
        return WriteReport(ok=report.ok, failed=report.failed, calls=report.calls,
                           moved={u.key: survivor for u in updates})

    monkeypatch.setattr(crm, "write_fields", merged)
    drain_installation(services, installation, crm)
    row = _rows(services)["cus_00001"]
    assert CrmRef(row.crm_object_type, row.crm_record_id) == survivor
