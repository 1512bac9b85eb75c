"""The tick applies what time alone changes: days past due, send_invoice invoices passing due."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from connector import jobs
from connector.storage.db import session_scope
from connector.storage.models import CustomerBilling, Installation, OutboxItem

from factories import make_installation, make_stripe_connection, post_stripe, stripe_event
from tests_clock import FIXED_NOW


def _row(services, customer_id):
    with session_scope(services.engine) as s:
        return s.exec(select(CustomerBilling).where(CustomerBilling.customer_id == customer_id)).one()


def test_days_past_due_grows_with_the_calendar(client, services):
    inst = make_installation(services, timezone="UTC")
    make_stripe_connection(services, inst)
    created = int(FIXED_NOW.timestamp()) - 3600
    post_stripe(client, stripe_event("invoice.payment_failed", created=created))
    assert _row(services, "cus_Rk4hJ2x9WcN7Qa").desired["days_past_due"] == "0"
    services.clock = lambda: FIXED_NOW + timedelta(days=2)
    assert jobs.tick(services) == 1
    assert _row(services, "cus_Rk4hJ2x9WcN7Qa").desired["days_past_due"] == "2"
    assert jobs.tick(services) == 0  # nothing changed since: no new CRM work


def test_send_invoice_passing_its_due_date_starts_an_episode(client, services):
    inst = make_installation(services, timezone="UTC")
    make_stripe_connection(services, inst)
    due = int((FIXED_NOW + timedelta(days=1)).timestamp())
    event = stripe_event("invoice.finalized", created=int(FIXED_NOW.timestamp()) - 86400,
                         object__collection_method="send_invoice", object__due_date=due,
                         object__attempt_count=0, object__attempted=False)
    assert post_stripe(client, event).status_code == 200
    row = _row(services, event["data"]["object"]["customer"])
    assert row.desired["payment_status"] == "current"
    services.clock = lambda: FIXED_NOW + timedelta(days=3)
    jobs.tick(services)
    row = _row(services, event["data"]["object"]["customer"])
    assert row.desired["payment_status"] == "past_due"
    assert row.desired["days_past_due"] == "2"  # 1 on the day after the due date (PRODUCT.md §4)
    with session_scope(services.engine) as s:
        assert s.exec(select(OutboxItem).where(OutboxItem.status == "pending")).first() is not None


def _two_installations_with_a_past_due_customer(client, services):
    created = int(FIXED_NOW.timestamp()) - 3600
    first = make_installation(services, timezone="UTC")
    make_stripe_connection(services, first)
    post_stripe(client, stripe_event("invoice.payment_failed", created=created))
    second = make_installation(services, timezone="UTC", external_id="5151")
    make_stripe_connection(services, second, token="tok_conn_second")
    post_stripe(client, stripe_event("invoice.payment_failed", id="evt_second", created=created,
                                     object__customer="cus_Second"), token="tok_conn_second")
    return first, second


def test_one_installation_failing_does_not_stop_the_others_tick(client, services, monkeypatch, caplog):
    first, _second = _two_installations_with_a_past_due_customer(client, services)
    real = jobs.refresh_customer

    def broken_for_first(session, installation, row, **kw):
        if installation.id == first:
            raise RuntimeError("bad data in the first installation")
        return real(session, installation, row, **kw)

    monkeypatch.setattr(jobs, "refresh_customer", broken_for_first)
    services.clock = lambda: FIXED_NOW + timedelta(days=2)

    assert jobs.tick(services) == 1
    assert _row(services, "cus_Second").desired["days_past_due"] == "2"
    assert _row(services, "cus_Rk4hJ2x9WcN7Qa").desired["days_past_due"] == "0"
    assert f"tick.failed installation={first}" in caplog.text


def test_stored_risk_settings_that_no_longer_validate_fall_back_to_the_defaults(client, services, caplog):
    # Saved before the upper bounds existed: a 1e30 overflowed every re-score of the installation.
    first, _second = _two_installations_with_a_past_due_customer(client, services)
    with session_scope(services.engine) as s:
        inst = s.get(Installation, first)
        inst.settings = {**inst.settings, "risk": {"earlier_episode_points": [1e30]}}
        s.add(inst)
    services.clock = lambda: FIXED_NOW + timedelta(days=2)

    assert jobs.tick(services) == 2
    assert _row(services, "cus_Rk4hJ2x9WcN7Qa").desired["days_past_due"] == "2"
    assert "no longer valid" in caplog.text
