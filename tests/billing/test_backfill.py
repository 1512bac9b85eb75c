"""Backfill: 12 months of Stripe history read from list endpoints, merged like webhooks, resumable."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
import responses
from sqlmodel import select

from connector import jobs
from connector.backfill import backfill_connection, backfill_status
from connector.errors import RateLimited, TransientProviderError
from connector.storage.db import session_scope
from connector.storage.models import BillingCursor, CustomerBilling, OutboxItem
from crm_adapters.fake import FakeCrmAdapter

from factories import make_installation, make_stripe_connection, stripe_event
from hubspot_standin import FakeClock
from stripe_standin import (
    BASE,
    StripeStandIn,
    card_payment_method,
    customer,
    failed_charge,
    invoice,
    invoice_payment,
    subscription,
    succeeded_charge,
)
from tests_clock import FIXED_NOW


def ts(*args: int) -> int:
    return int(datetime(*args, tzinfo=FIXED_NOW.tzinfo).timestamp())


@pytest.fixture
def stripe(services):
    services.settings = replace(services.settings, stripe_api_base=BASE)
    clock = FakeClock()
    services.extras.update(sleep=clock.sleep, monotonic=clock)
    services.extras["fake_clock"] = clock
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield StripeStandIn(mock)


@pytest.fixture
def conn_id(services):
    return make_stripe_connection(services, make_installation(services, preview=True))


def seed_history(stripe: StripeStandIn) -> None:
    """Three customers' year, in API 2025-03-31.basil shapes (no invoice on charges)."""
    # cus_A: a failed renewal in March, paid three days later; another failure five days ago.
    stripe.add("subscriptions", subscription("sub_A", "cus_A", created=ts(2024, 1, 10)))
    stripe.add("invoices",
               invoice("in_A1", "cus_A", created=ts(2026, 3, 1, 9), status="paid",
                       paid_at=ts(2026, 3, 4, 10), attempt_count=2),
               invoice("in_A2", "cus_A", created=ts(2026, 11, 28, 9), status="open"))
    stripe.add("charges",
               failed_charge("ch_A1", "cus_A", created=ts(2026, 3, 1, 10), payment_intent="pi_A1"),
               succeeded_charge("ch_A1b", "cus_A", created=ts(2026, 3, 4, 10), payment_intent="pi_A1"),
               failed_charge("ch_A2", "cus_A", created=ts(2026, 11, 28, 10), payment_intent="pi_A2",
                             reason="expired_card"))
    stripe.add("invoice_payments",
               invoice_payment("inpay_A1", "in_A1", "pi_A1", created=ts(2026, 3, 1, 9), status="paid"),
               invoice_payment("inpay_A2", "in_A2", "pi_A2", created=ts(2026, 11, 28, 9)))
    # cus_B: a send_invoice invoice from before the window, still unpaid long after its due date.
    stripe.add("invoices", invoice("in_B1", "cus_B", created=ts(2025, 6, 1), status="open",
                                   collection_method="send_invoice", due_date=ts(2025, 7, 1),
                                   attempt_count=0, amount=50000))
    # cus_C: a subscription canceled for non-payment in the window, one canceled long before it.
    stripe.add("subscriptions",
               subscription("sub_C1", "cus_C", created=ts(2025, 1, 5), status="canceled",
                            canceled_at=ts(2026, 5, 2), ended_at=ts(2026, 5, 2),
                            cancellation_details={"comment": None, "feedback": None,
                                                  "reason": "payment_failed"}),
               subscription("sub_C0", "cus_C", created=ts(2023, 1, 5), status="canceled",
                            canceled_at=ts(2024, 2, 2), ended_at=ts(2024, 2, 2)))


def desired(services) -> dict[str, dict]:
    with session_scope(services.engine) as s:
        return {r.customer_id: r.desired for r in s.exec(select(CustomerBilling))}


def test_backfill_gives_episodes_and_late_payments_from_day_one(services, stripe, conn_id):
    seed_history(stripe)

    report = backfill_connection(services, conn_id)

    assert report.complete
    values = desired(services)
    a = values["cus_A"]
    assert a["payment_status"] == "past_due"
    assert a["late_payments_12m"] == "2"  # March's recovered episode and the open one
    assert a["days_past_due"] == "5"
    assert a["first_failed_payment_date"] == "2026-11-28"
    assert a["failed_payment_attempts"] == "1"
    assert a["last_failure_reason"] == "expired_card"
    assert a["outstanding_amount"] == "120.50"
    # An invoice created before the window but still owed is read (the open-invoice stream).
    b = values["cus_B"]
    assert b["payment_status"] == "past_due"
    assert b["outstanding_amount"] == "500.00"
    assert b["late_payments_12m"] == "0"  # its episode began more than 365 days ago
    # Only subscriptions that ended in the window are kept.
    with session_scope(services.engine) as s:
        c = s.exec(select(CustomerBilling).where(CustomerBilling.customer_id == "cus_C")).one()
    assert set(c.facts["subscriptions"]) == {"sub_C1"}


def test_backfill_asks_stripe_for_the_last_twelve_months_and_links_charges_to_invoices(
        services, stripe, conn_id):
    seed_history(stripe)

    backfill_connection(services, conn_id)

    since = str(int((FIXED_NOW - timedelta(days=365)).timestamp()))
    assert stripe.calls_to("invoices")[0]["created[gte]"] == [since]
    assert stripe.calls_to("charges")[0]["created[gte]"] == [since]
    assert stripe.calls_to("subscriptions")[0]["status"] == ["all"]
    assert [q.get("status") for q in stripe.calls_to("invoices")] == [None, ["open"], ["uncollectible"]]
    # One InvoicePayment lookup per failed PaymentIntent (basil charges name no invoice).
    looked_up = sorted(q["payment[payment_intent]"][0] for q in stripe.calls_to("invoice_payments"))
    assert looked_up == ["pi_A1", "pi_A2"]
    with session_scope(services.engine) as s:
        a = s.exec(select(CustomerBilling).where(CustomerBilling.customer_id == "cus_A")).one()
    assert a.facts["failures"]["ch:ch_A2"]["invoice_id"] == "in_A2"


def test_interrupted_backfill_resumes_from_its_cursor_and_shows_no_half_history(
        services, stripe, conn_id):
    seed_history(stripe)
    stripe.page_size = 1
    # Calls 1-3: the three subscriptions; 4: invoices page 1 (in_A2); 5: page 2 fails.
    stripe.fail_call(5, status=503)

    with pytest.raises(TransientProviderError):
        backfill_connection(services, conn_id)

    with session_scope(services.engine) as s:
        cursors = {c.stream: c for c in s.exec(select(BillingCursor))}
        assert s.exec(select(OutboxItem)).first() is None  # nothing derived from a half-read year
    assert cursors["subscriptions"].done
    assert not cursors["invoices"].done
    assert cursors["invoices"].starting_after == "in_A2"  # newest first: in_A2, in_A1
    status = backfill_status_of(services, conn_id)
    assert not status["complete"] and status["streams"]["subscriptions"]["done"]

    resumed = backfill_connection(services, conn_id)

    assert resumed.complete
    invoice_calls = stripe.calls_to("invoices")
    assert invoice_calls[2]["starting_after"] == ["in_A2"]  # resumed, not restarted
    assert len(stripe.calls_to("subscriptions")) == 3  # a finished stream is not read again
    assert desired(services)["cus_A"]["late_payments_12m"] == "2"
    assert desired(services)["cus_B"]["payment_status"] == "past_due"


def test_default_cards_stream_resumes_from_its_cursor(services, stripe, conn_id):
    for n, (month, year) in enumerate(((12, 2026), (3, 2028))):
        stripe.payment_methods[f"pm_{n}"] = card_payment_method(f"pm_{n}", f"cus_{n}",
                                                                exp_month=month, exp_year=year)
        stripe.add("customers", customer(f"cus_{n}", default_payment_method=f"pm_{n}",
                                         created=ts(2024, 1, 1) + n))
    stripe.page_size = 1
    # Calls 1-6: the six history streams, empty; 7: customers page 1 (cus_1); 8 fails.
    stripe.fail_call(8, status=503)

    with pytest.raises(TransientProviderError):
        backfill_connection(services, conn_id)
    assert backfill_status_of(services, conn_id)["streams"]["customer_cards"] == {
        "done": False, "objects": 1}

    assert backfill_connection(services, conn_id).complete

    assert [q.get("starting_after") for q in stripe.calls_to("customers")] == [
        None, ["cus_1"], ["cus_1"]]
    with session_scope(services.engine) as s:
        cards = {r.customer_id: r.facts["cards"] for r in s.exec(select(CustomerBilling))}
    assert cards["cus_0"]["pm_0"]["exp_year"] == 2026 and cards["cus_1"]["pm_1"]["exp_year"] == 2028


def backfill_status_of(services, conn_id):
    with session_scope(services.engine) as s:
        return backfill_status(s, conn_id)


def test_rate_limited_reads_back_off_by_retry_after_without_real_sleep(services, stripe, conn_id):
    seed_history(stripe)
    stripe.fail_call(1, status=429, headers={"Retry-After": "2"})
    stripe.fail_call(2, status=429)

    report = backfill_connection(services, conn_id)

    assert report.complete
    sleeps = services.extras["fake_clock"].sleeps
    assert sleeps[:2] == [2.0, 2.0]  # Stripe's Retry-After, then 2**1 s backoff


def test_rate_limit_that_never_lifts_is_raised_after_bounded_retries(services, stripe, conn_id):
    for n in range(1, 8):
        stripe.fail_call(n, status=429)

    with pytest.raises(RateLimited):
        backfill_connection(services, conn_id)

    assert len(stripe.calls) == 7


def test_bulk_reads_are_throttled_under_stripes_rate_limit(services, stripe, conn_id):
    # 25 subscriptions one per page: 25+ calls in test mode stay under 10 requests a second.
    stripe.add("subscriptions", *[subscription(f"sub_{n:02d}", f"cus_{n:02d}", created=ts(2026, 1, 1) + n)
                                  for n in range(25)])
    stripe.page_size = 1
    stripe.clock = services.extras["fake_clock"]

    backfill_connection(services, conn_id)

    times = stripe.times
    assert len(times) > 25
    # No 11 calls within one second: a 10 req/s budget for a test-mode account.
    assert all(times[i + 10] - times[i] >= 1.0 for i in range(len(times) - 10))


def test_backfill_at_install_runs_once_through_the_scheduled_job(services, stripe, conn_id):
    seed_history(stripe)

    assert jobs.backfill_pending(services) == {conn_id: True}
    calls = len(stripe.calls)
    assert jobs.backfill_pending(services) == {}
    assert len(stripe.calls) == calls


def test_backfill_merges_with_webhook_facts_idempotently(services, stripe, conn_id):
    seed_history(stripe)
    backfill_connection(services, conn_id)
    first = desired(services)

    backfill_connection(services, conn_id, restart=True)

    assert desired(services) == first


def test_objects_read_from_the_api_give_the_same_facts_as_their_webhooks():
    from connector.billing.stripe_events import facts_from_stripe_event, facts_from_stripe_object

    for name in ("charge.failed", "charge.refunded", "customer.subscription.updated", "invoice.updated",
                 "customer.updated"):
        evt = stripe_event(name)
        from_event = facts_from_stripe_event(evt)
        from_object = facts_from_stripe_object(evt["data"]["object"], observed_at=evt["created"])
        assert (from_object.customer_id, from_object.facts) == (from_event.customer_id, from_event.facts), name


def test_cli_backfill_shows_progress_and_cli_reconcile_prints_its_report(services, stripe, conn_id,
                                                                         monkeypatch, capsys):
    from app import create_app
    from connector import cli

    seed_history(stripe)
    monkeypatch.setattr(cli, "_app", lambda config=None: create_app(services=services))
    services.adapter_factory = lambda _i: FakeCrmAdapter()

    assert cli.main(["backfill", str(conn_id)]) == 0
    out, err = capsys.readouterr()
    assert "backfill complete" in out
    assert "invoices" in err and "obj" in err  # tqdm's bars, one per stream

    assert cli.main(["reconcile", "1"]) == 0
    out, _ = capsys.readouterr()
    assert '"outcome": "ok"' in out and '"events_recovered": 0' in out
    assert cli.main(["backfill", "999"]) == 2
