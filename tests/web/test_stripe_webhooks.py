"""The Stripe webhook endpoint: verify, store before 2xx, dedupe, refuse bad input with a 4xx."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlmodel import select

from connector.storage.db import session_scope
from connector.storage.models import BillingConnection, BillingEvent, CustomerBilling, OutboxItem

from admin_testkit import sign_in
from factories import make_installation, make_stripe_connection, post_stripe, stripe_event
from tests_clock import now_ts


@pytest.fixture
def conn(services):
    inst = make_installation(services)
    return make_stripe_connection(services, inst)


def _events(services):
    with session_scope(services.engine) as s:
        return list(s.exec(select(BillingEvent)))


def _customer(services, customer_id):
    with session_scope(services.engine) as s:
        return s.exec(select(CustomerBilling).where(CustomerBilling.customer_id == customer_id)).first()


def test_signed_event_is_stored_applied_and_queued(client, services, conn):
    resp = post_stripe(client, stripe_event("invoice.payment_failed"))
    assert resp.status_code == 200
    (event,) = _events(services)
    assert event.status == "applied" and event.type == "invoice.payment_failed"
    row = _customer(services, "cus_Rk4hJ2x9WcN7Qa")
    assert row.desired["payment_status"] == "past_due"
    assert row.desired["outstanding_amount"] == "120.50"
    assert row.desired["outstanding_currency"] == "GBP"
    with session_scope(services.engine) as s:
        assert len(list(s.exec(select(OutboxItem).where(OutboxItem.status == "pending")))) == 1


def test_duplicate_delivery_is_acknowledged_and_ignored(client, services, conn):
    event = stripe_event("invoice.payment_failed")
    assert post_stripe(client, event).status_code == 200
    resp = post_stripe(client, event)
    assert resp.status_code == 200 and resp.get_json() == {"status": "duplicate"}
    assert len(_events(services)) == 1


def test_unknown_type_is_acknowledged_and_recorded(client, services, conn):
    event = stripe_event("invoice.paid", type="product.created", id="evt_unknown_type_1")
    event["data"]["object"] = {"id": "prod_Q1", "object": "product", "name": "Pro plan", "active": True}
    assert post_stripe(client, event).status_code == 200
    (stored,) = _events(services)
    assert stored.status == "ignored" and stored.type == "product.created"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"header": ""}, "Stripe-Signature"),
        ({"secret": "whsec_wrong"}, "signature"),
        ({"timestamp": now_ts() - 301}, "tolerance"),
        ({"timestamp": now_ts() + 301}, "future"),
    ],
    ids=["missing-header", "wrong-secret", "too-old", "far-future"],
)
def test_bad_signature_is_refused_and_nothing_stored(client, services, conn, kwargs, message, caplog):
    resp = post_stripe(client, stripe_event("invoice.payment_failed"), **kwargs)
    assert resp.status_code == 400
    assert message.lower() in resp.get_json()["error"].lower()
    assert _events(services) == []
    assert "webhook.refused" in caplog.text


def test_malformed_json_is_refused(client, services, conn):
    resp = post_stripe(client, b'{"id": "evt_1", "type": ')
    assert resp.status_code == 400
    assert _events(services) == []


def test_unknown_token_is_404(client, services, conn):
    resp = post_stripe(client, stripe_event("invoice.payment_failed"), token="nope")
    assert resp.status_code == 404
    assert _events(services) == []


def test_live_event_on_test_connection_is_refused(client, services, conn):
    resp = post_stripe(client, stripe_event("invoice.payment_failed", livemode=True))
    assert resp.status_code == 400
    assert "live-mode event" in resp.get_json()["error"]
    assert _events(services) == []


def test_test_event_on_live_connection_is_refused(client, services):
    inst = make_installation(services, external_id="999")
    make_stripe_connection(services, inst, mode="live", token="tok_live")
    resp = post_stripe(client, stripe_event("invoice.payment_failed"), token="tok_live")
    assert resp.status_code == 400
    assert _events(services) == []


def test_event_is_kept_pending_when_applying_fails(client, services, conn, monkeypatch):
    """Stored first: a failure while applying still answers 2xx and leaves the event to retry."""
    import connector.ingest as ingest

    def boom(*_a, **_k):
        raise RuntimeError("bug while applying")

    monkeypatch.setattr(ingest, "refresh_customer", boom)
    assert post_stripe(client, stripe_event("invoice.payment_failed")).status_code == 200
    (event,) = _events(services)
    assert event.status == "pending"
    assert _customer(services, "cus_Rk4hJ2x9WcN7Qa") is None  # no partial write
    monkeypatch.undo()
    assert ingest.apply_pending_events(services) == 1
    assert _events(services)[0].status == "applied"


def test_customer_deleted_erases_personal_data(client, services, conn):
    post_stripe(client, stripe_event("invoice.payment_failed"))
    post_stripe(client, stripe_event("customer.deleted"))
    row = _customer(services, "cus_Rk4hJ2x9WcN7Qa")
    assert row.deleted
    dumped = json.dumps(row.facts)
    assert "brightsmile" not in dumped and "Bright Smile" not in dumped
    for event in _events(services):
        assert "brightsmile" not in event.payload


def test_an_erased_customer_leaves_the_accounts_list(client, services, conn):
    # The accounts tab counted 36 customers while health and segments counted 35.
    post_stripe(client, stripe_event("invoice.payment_failed"))
    post_stripe(client, stripe_event("customer.deleted"))
    sign_in(client, conn_installation(services, conn))
    body = client.get(f"/api/installations/{conn_installation(services, conn)}/accounts").get_json()
    assert body["accounts"] == []
    assert body["erased"] == 1


def conn_installation(services, conn_id: int) -> int:
    with session_scope(services.engine) as s:
        return s.get(BillingConnection, conn_id).installation_id


def test_body_is_verified_byte_for_byte(client, services, conn):
    """Re-serialising JSON would change the bytes; the signature must be checked on what arrived."""
    raw = json.dumps(stripe_event("invoice.payment_failed"), indent=3).encode()
    assert post_stripe(client, raw).status_code == 200


@pytest.mark.parametrize(
    "mangle",
    [
        lambda raw: b"\xef\xbb\xbf" + raw,
        lambda raw: raw.decode().encode("utf-16"),
        lambda raw: re.sub(rb'"created": \d+', b'"created": 100000000000000000000', raw, count=1),
        lambda raw: raw.replace(b'"cus_Rk4hJ2x9WcN7Qa"', b'"cus_\\ud800"'),
        lambda raw: b'{"id": "evt_deep", "data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ],
    ids=["byte-order-mark", "utf-16", "huge-integer", "lone-surrogate", "deep-nesting"],
)
def test_bodies_that_could_not_be_stored_or_applied_are_refused_before_2xx(client, services, conn, mangle):
    """An acknowledged event must be one that can be stored and applied: otherwise it is lost."""
    raw = mangle(json.dumps(stripe_event("invoice.payment_failed")).encode())
    resp = post_stripe(client, raw)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert _events(services) == []


def test_webhook_and_payment_tokens_never_reach_the_log(client, services, conn, caplog):
    caplog.set_level("INFO")
    assert client.post("/webhooks/stripe/tok_conn_abc", data=b"x" * (2 << 20)).status_code == 413
    assert client.post("/pay/secret-pay-token-123").status_code == 405
    assert "tok_conn_abc" not in caplog.text
    assert "secret-pay-token-123" not in caplog.text
    assert "/webhooks/stripe/[redacted]" in caplog.text


def test_an_event_that_keeps_failing_ends_failed_and_never_starves_the_others(client, services, conn,
                                                                               monkeypatch, caplog):
    import connector.ingest as ingest

    real = ingest.refresh_customer

    def broken_for_one(session, installation, row, **kw):
        if row.customer_id == "cus_Broken":
            raise RuntimeError("this customer's data breaks the apply")
        return real(session, installation, row, **kw)

    monkeypatch.setattr(ingest, "refresh_customer", broken_for_one)
    for n in range(3):
        event = stripe_event("invoice.payment_failed", id=f"evt_broken_{n}", object__id=f"in_b{n}",
                             object__customer="cus_Broken")
        assert post_stripe(client, event).status_code == 200
    # A healthy event left pending (say, the process died before applying it).
    monkeypatch.setattr(ingest, "apply_stored_event", lambda *_a: None)
    assert post_stripe(client, stripe_event("invoice.payment_failed")).status_code == 200
    monkeypatch.undo()
    monkeypatch.setattr(ingest, "refresh_customer", broken_for_one)

    # Taking two at a time, the healthy one still comes first: it never failed.
    ingest.apply_pending_events(services, limit=2)
    assert _customer(services, "cus_Rk4hJ2x9WcN7Qa").payment_status == "past_due"

    for _ in range(ingest.MAX_APPLY_ATTEMPTS):
        ingest.apply_pending_events(services)
    broken = [e for e in _events(services) if e.customer_id == "cus_Broken"]
    assert {e.status for e in broken} == {"failed"}
    assert {e.apply_attempts for e in broken} == {ingest.MAX_APPLY_ATTEMPTS}
    assert broken[0].error == "apply failed: RuntimeError"
    assert json.loads(broken[0].payload)["id"].startswith("evt_broken_")  # kept, not lost
    assert "webhook.apply_gave_up" in caplog.text
    assert ingest.apply_pending_events(services) == 0


def test_an_unexpected_error_is_logged_without_the_token(client, services, conn, caplog, monkeypatch):
    import connector.views.webhooks as views

    def boom(*_a, **_k):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(views, "receive_stripe_webhook", boom)
    client.application.testing = False  # let Flask answer 500 and log, as in production
    client.application.config["PROPAGATE_EXCEPTIONS"] = False
    assert post_stripe(client, stripe_event("invoice.payment_failed")).status_code == 500
    assert "Exception on /webhooks/stripe/[redacted]" in caplog.text
    assert "tok_conn_abc" not in caplog.text


def test_two_events_of_one_customer_applied_at_once_both_count(services, conn, monkeypatch):
    """Concurrent applies must not drop one another's facts (a lost update on the facts JSON)."""
    import threading
    import time

    import connector.customers as customers
    from connector.ingest import _store_event, apply_pending_events, apply_stored_event
    from connector.storage.models import Installation

    from tests_clock import FIXED_NOW

    first = stripe_event("invoice.payment_failed")
    with session_scope(services.engine) as s:  # the customer exists already (the race is on its facts)
        from connector.customers import get_or_create_customer
        from connector.storage.models import BillingConnection

        get_or_create_customer(s, s.get(BillingConnection, conn), "cus_Rk4hJ2x9WcN7Qa", FIXED_NOW)
        assert s.get(Installation, 1) is not None
    second = stripe_event("invoice.payment_failed", id="evt_second_invoice",
                          object__id="in_second_invoice_of_the_customer")
    ids = [_store_event(services, conn, ev, json.dumps(ev).encode(), FIXED_NOW) for ev in (first, second)]

    merge = customers.merge_facts

    def slow_merge(*args, **kwargs):
        merged = merge(*args, **kwargs)
        time.sleep(0.3)  # both applies have read the facts before either writes
        return merged

    monkeypatch.setattr(customers, "merge_facts", slow_merge)
    threads = [threading.Thread(target=apply_stored_event, args=(services, i)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    apply_pending_events(services)  # SQLite: the loser of the write lock stays pending until now
    invoices = _customer(services, "cus_Rk4hJ2x9WcN7Qa").facts["invoices"]
    assert {"in_1QyA0bHOQNg4XnOMTq2xYk", "in_second_invoice_of_the_customer"} <= set(invoices)
    assert {e.status for e in _events(services)} == {"applied"}


def test_drain_job_reapplies_events_left_pending(client, services, conn, monkeypatch):
    import connector.ingest as ingest
    from connector import jobs

    from tests_clock import FIXED_NOW

    monkeypatch.setattr(ingest, "refresh_customer", lambda *_a, **_k: (_ for _ in ()).throw(RuntimeError("x")))
    assert post_stripe(client, stripe_event("invoice.payment_failed")).status_code == 200
    monkeypatch.undo()
    jobs.drain_all(services)  # too fresh: a web process may be applying it right now
    assert [e.status for e in _events(services)] == ["pending"]
    services.clock = lambda: FIXED_NOW + timedelta(minutes=2)
    jobs.drain_all(services)
    assert [e.status for e in _events(services)] == ["applied"]


@pytest.mark.parametrize("created", [10**17, -1, 253402300800])
def test_an_event_time_no_calendar_can_hold_is_refused_and_not_stored(client, services, conn, created):
    # Acknowledged before, it then failed to apply for ever (or broke the customer's card).
    resp = post_stripe(client, stripe_event("invoice.payment_failed", created=created))
    assert resp.status_code == 400
    assert "created time" in resp.get_data(as_text=True)
    assert _events(services) == []


def test_an_out_of_range_time_inside_the_object_reads_as_absent(client, services, conn):
    event = stripe_event("invoice.payment_failed", object__next_payment_attempt=10**17,
                         object__due_date=253402300800)
    assert post_stripe(client, event).status_code == 200
    (stored,) = _events(services)
    assert stored.status == "applied"
    row = _customer(services, "cus_Rk4hJ2x9WcN7Qa")
    assert row.desired["payment_status"] == "past_due"
    assert row.desired["next_payment_retry_date"] == ""


def test_a_blank_customer_id_makes_no_customer(client, services, conn):
    assert post_stripe(client, stripe_event("invoice.payment_failed", object__customer="   ")).status_code == 200
    with session_scope(services.engine) as s:
        assert s.exec(select(CustomerBilling)).all() == []

