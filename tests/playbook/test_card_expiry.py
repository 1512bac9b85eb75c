"""Card-expiry pre-dunning (issue 7, both providers, off by default): a default card that expires
before the next renewal is a "card expiring" touch point — the billing contact enrolled in the
card-update sequence or, without one, a TODO task with the payment link; once per card; a card
the card updater refreshed cancels what was not sent yet; the dashboard counts the catches."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
import responses
from chargebee_story import install_chargebee
from playbook_story import decisions, drain, tick_and_drain
from sqlmodel import select

from connector.backfill import backfill_connection
from connector.domain.billing_facts import (
    CardSnapshot,
    CustomerFacts,
    SubscriptionSnapshot,
    merge_facts,
)
from connector.domain.card_expiry import expiring_card, last_valid_day
from connector.reconcile import reconcile_installation
from connector.storage.db import session_scope
from connector.storage.models import BillingConnection, CustomerBilling

from factories import chargebee_event, post_chargebee, post_stripe, stripe_event
from hubspot_standin import FakeClock
from playbook_world import api_get, install
from stripe_standin import BASE as STRIPE_BASE
from stripe_standin import StripeStandIn, customer, legacy_card
from tests_clock import FIXED_NOW

CARD_SEQ = "seq-card-3"
ON = {"card_expiry_reminder": True, "card_update_sequence_id": CARD_SEQ}
CB_CARD = "card_expiry:pm_AzZTZgUYnOq5Y1Eg:2026-12"


@pytest.fixture
def brightsmile(fake_world):
    ref = fake_world.company("brightsmile-dental.example")
    fake_world.set_owner(ref, fake_world.owner(4401, "dana@vendor.example"))
    fake_world.billing_contact = fake_world.contact(ref, "billing@brightsmile-dental.example")
    return fake_world


def summary(services):
    return [(d.touch_point, d.kind, d.status) for d in decisions(services)]


# --- the domain rule -------------------------------------------------------------------------


def _facts(*facts):
    return merge_facts(CustomerFacts("cus_1", provider="chargebee"), list(facts))


def _ts(*args):
    return int(datetime(*args, tzinfo=UTC).timestamp())


def test_last_valid_day():
    assert last_valid_day(2, 2028) == datetime(2028, 2, 29).date()
    assert last_valid_day(12, 2026) == datetime(2026, 12, 31).date()


@pytest.mark.parametrize(("renews", "exp", "expected"), [
    ((2027, 1, 5), (12, 2026), True),  # lapses on 31 Dec, renewal on 5 Jan: caught
    ((2026, 12, 28), (12, 2026), False),  # still valid on the renewal day
    ((2027, 1, 5), (1, 2027), False),
    ((2027, 1, 5), (6, 2026), True),  # expired already, renewal ahead: it will fail
])
def test_expiring_before_the_next_renewal(renews, exp, expected):
    facts = _facts(
        SubscriptionSnapshot("sub_1", _ts(2026, 12, 1), "active", renews_at=_ts(*renews, 10)),
        CardSnapshot("pm_1", _ts(2026, 12, 1), exp_month=exp[0], exp_year=exp[1]))
    card = expiring_card(facts, now=FIXED_NOW, in_episode=False)
    assert (card is not None) == expected
    if card:
        assert card.key == f"card_expiry:pm_1:{exp[1]:04d}-{exp[0]:02d}"


def test_no_pre_dunning_in_an_episode_or_for_a_removed_or_secondary_card():
    sub = SubscriptionSnapshot("sub_1", _ts(2026, 12, 1), "active", renews_at=_ts(2027, 1, 5))
    card = CardSnapshot("pm_1", _ts(2026, 12, 1), exp_month=12, exp_year=2026)
    assert expiring_card(_facts(sub, card), now=FIXED_NOW, in_episode=True) is None
    removed = CardSnapshot("pm_1", _ts(2026, 12, 2), exp_month=12, exp_year=2026, status="removed")
    assert expiring_card(_facts(sub, card, removed), now=FIXED_NOW, in_episode=False) is None
    other = CardSnapshot("pm_2", _ts(2026, 12, 1), exp_month=12, exp_year=2026, is_default=False)
    assert expiring_card(_facts(sub, other), now=FIXED_NOW, in_episode=False) is None


def test_without_a_known_renewal_the_providers_flag_decides():
    plain = CardSnapshot("pm_1", _ts(2026, 12, 1), exp_month=12, exp_year=2026)
    assert expiring_card(_facts(plain), now=FIXED_NOW, in_episode=False) is None
    flagged = CardSnapshot("pm_1", _ts(2026, 12, 2), exp_month=12, exp_year=2026, status="expiring")
    assert expiring_card(_facts(plain, flagged), now=FIXED_NOW, in_episode=False) is not None
    ended = SubscriptionSnapshot("sub_1", _ts(2026, 11, 1), "canceled")
    assert expiring_card(_facts(flagged, ended), now=FIXED_NOW, in_episode=False) is None


# --- Chargebee, through the webhook, the runner and the fake CRM ------------------------------


def test_expiring_card_enrolls_the_billing_contact_once(client, services, brightsmile):
    install_chargebee(services, brightsmile.adapter, playbook=ON)
    assert post_chargebee(client, chargebee_event("card_expiry_reminder")).status_code == 200
    drain(services)
    (enrolled,) = brightsmile.enrollments()
    assert (enrolled.contact_id, enrolled.sequence_id) == (brightsmile.billing_contact, CARD_SEQ)
    # The same card told again (another event type, a tick): nothing new.
    assert post_chargebee(client, chargebee_event("payment_source_expiring")).status_code == 200
    tick_and_drain(services)
    assert len(brightsmile.enrollments()) == 1 and brightsmile.tasks() == []
    assert summary(services) == [(CB_CARD, "enroll", "applied")]
    # The customer is not in an episode: the CRM's payment link field stays empty (§3).
    with session_scope(services.engine) as s:
        (row,) = s.exec(select(CustomerBilling)).all()
        assert row.desired.get("payment_link") in ("", None)


def test_without_a_card_update_sequence_the_owner_gets_a_todo_with_the_link(client, services,
                                                                            brightsmile):
    install_chargebee(services, brightsmile.adapter, playbook={"card_expiry_reminder": True})
    assert post_chargebee(client, chargebee_event("card_expiry_reminder")).status_code == 200
    drain(services)
    assert brightsmile.enrollments() == []
    (task,) = brightsmile.tasks()
    assert task.kind == "TODO"
    assert task.subject == "Card expiring: ask BrightSmile Dental to update their card"
    assert task.body.startswith("Card update link (send this first): https://connector.example.test/pay/")
    assert "Visa ending 4242 expires 12/2026" in task.body


def test_off_by_default(client, services, brightsmile):
    install_chargebee(services, brightsmile.adapter)
    assert post_chargebee(client, chargebee_event("card_expiry_reminder")).status_code == 200
    tick_and_drain(services)
    assert decisions(services) == [] and brightsmile.enrollments() == []


def test_card_updater_cancels_a_touch_point_not_yet_sent(client, services, brightsmile):
    install_chargebee(services, brightsmile.adapter, playbook=ON)
    assert post_chargebee(client, chargebee_event("card_expiry_reminder")).status_code == 200
    # Before the outbox drains, Chargebee's card updater renews the card (source: system).
    refreshed = chargebee_event("card_updated")
    refreshed["source"] = "system"
    assert post_chargebee(client, refreshed).status_code == 200
    drain(services)
    assert brightsmile.enrollments() == []
    (d,) = decisions(services)
    assert d.status == "skipped" and d.result == "the card updater refreshed the card before it expired"
    figures = api_get(client, services, f"/api/installations/{d.installation_id}/card-expiry")
    assert figures["refreshed_by_card_updater"] == 1 and figures["cards_caught_before_failing"] == 0


def test_dashboard_counts_cards_caught_before_they_failed(client, services, brightsmile):
    inst = install_chargebee(services, brightsmile.adapter, playbook=ON)
    assert post_chargebee(client, chargebee_event("card_expiry_reminder")).status_code == 200
    drain(services)
    before = api_get(client, services, f"/api/installations/{inst}/card-expiry")
    assert before == {"enabled": True, "touch_points_sent": 1, "cards_caught_before_failing": 0,
                      "failed_anyway": 0, "waiting": 0, "previewed": 0,
                      "refreshed_by_card_updater": 0}
    # The customer updates the card (hosted page): caught before it failed.
    updated = chargebee_event("card_updated")
    updated["source"] = "hosted_page"
    assert post_chargebee(client, updated).status_code == 200
    after = api_get(client, services, f"/api/installations/{inst}/card-expiry")
    assert after["cards_caught_before_failing"] == 1


# --- Stripe --------------------------------------------------------------------------------


def _renewing_subscription(renews_at: int) -> dict:
    event = stripe_event("customer.subscription.updated", id="evt_sub_renewal", created=_ts(2026, 12, 1))
    sub = event["data"]["object"]
    sub["status"] = "active"
    for item in sub["items"]["data"]:
        item["current_period_end"] = renews_at
    return event


def test_stripe_default_card_expiring_before_renewal_and_the_card_updater(client, services,
                                                                        fake_world):
    install(services, fake_world.adapter, playbook=ON)
    assert post_stripe(client, _renewing_subscription(_ts(2027, 1, 5, 10))).status_code == 200
    assert post_stripe(client, stripe_event("payment_method.attached")).status_code == 200
    (d,) = decisions(services)
    assert d.touch_point == "card_expiry:pm_1QzK8eHOQNg4XnOMc4rd7Xa2:2026-12"
    assert d.status in ("proposed", "deferred")
    assert post_stripe(client, stripe_event("payment_method.automatically_updated")).status_code == 200
    (d,) = decisions(services)
    assert d.status == "skipped" and "card updater" in d.result
    drain(services)
    assert fake_world.enrollments() == [] and fake_world.tasks() == []


def test_stripe_card_valid_through_the_renewal_is_no_touch_point(client, services, fake_world):
    install(services, fake_world.adapter, playbook=ON)
    assert post_stripe(client, _renewing_subscription(_ts(2026, 12, 28, 10))).status_code == 200
    assert post_stripe(client, stripe_event("payment_method.attached")).status_code == 200
    assert decisions(services) == []


# --- Stripe: the backfill reads the default card the webhooks would have told ------------------

STRIPE_CARD = "card_expiry:pm_1QzK8eHOQNg4XnOMc4rd7Xa2:2026-12"
STRIPE_CUS = "cus_Rk4hJ2x9WcN7Qa"  # the recorded payloads' customer


@pytest.fixture
def stripe_account(services):
    services.settings = replace(services.settings, stripe_api_base=STRIPE_BASE)
    clock = FakeClock()
    services.extras.update(sleep=clock.sleep, monotonic=clock)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield StripeStandIn(mock)


@pytest.fixture
def bright_stripe(fake_world):
    ref = fake_world.company("brightsmile-dental.co.uk")
    fake_world.set_owner(ref, fake_world.owner(4401, "dana@vendor.example"))
    fake_world.billing_contact = fake_world.contact(ref, "accounts@brightsmile-dental.co.uk")
    return fake_world


def _conn(services) -> int:
    with session_scope(services.engine) as s:
        return s.exec(select(BillingConnection.id)).one()


@pytest.mark.parametrize("path", ["webhooks", "backfill"])
def test_stripe_card_expiring_before_renewal_is_caught_by_backfill_as_by_webhooks(
        path, client, services, bright_stripe, stripe_account):
    install(services, bright_stripe.adapter, playbook=ON)
    renewal = _renewing_subscription(_ts(2027, 1, 5, 10))
    if path == "webhooks":
        for event in (renewal, stripe_event("customer.updated"),
                      stripe_event("payment_method.attached")):
            assert post_stripe(client, event).status_code == 200
    else:
        pm = stripe_event("payment_method.attached")["data"]["object"]
        stripe_account.payment_methods[pm["id"]] = pm
        stripe_account.add("subscriptions", renewal["data"]["object"])
        stripe_account.add("customers", stripe_event("customer.updated")["data"]["object"]
                           | {"invoice_settings": {"default_payment_method": pm["id"]}})
        assert backfill_connection(services, _conn(services)).complete
    drain(services)
    (enrolled,) = bright_stripe.enrollments()
    assert (enrolled.contact_id, enrolled.sequence_id) == (bright_stripe.billing_contact, CARD_SEQ)
    assert summary(services) == [(STRIPE_CARD, "enroll", "applied")]


def test_stripe_backfill_reads_legacy_default_source_cards_and_skips_cardless_customers(
        services, fake_world, stripe_account):
    install(services, fake_world.adapter, playbook=ON)
    stripe_account.payment_methods["card_1NvLegacy"] = legacy_card(
        "card_1NvLegacy", "cus_Legacy", exp_month=11, exp_year=2026)
    stripe_account.add("customers",
                       customer("cus_Legacy", default_source="card_1NvLegacy"),
                       customer("cus_NoCard"))

    backfill_connection(services, _conn(services))

    (query,) = stripe_account.calls_to("customers")
    expands = sorted(v for k, vs in query.items() if k.startswith("expand[") for v in vs)
    assert expands == ["data.default_source", "data.invoice_settings.default_payment_method"]
    with session_scope(services.engine) as s:
        rows = {r.customer_id: r for r in s.exec(select(CustomerBilling))}
    assert set(rows) == {"cus_Legacy"}  # a customer without a card gets no row
    card = rows["cus_Legacy"].facts["cards"]["card_1NvLegacy"]
    assert (card["exp_month"], card["exp_year"], card["last4"]) == (11, 2026, "4242")
    # No renewal known and no provider flag: an expiry alone is no touch point.
    assert decisions(services) == []


def test_daily_full_reconcile_rereads_default_cards(services, bright_stripe, stripe_account):
    inst = install(services, bright_stripe.adapter, playbook=ON)
    stripe_account.add("subscriptions", _renewing_subscription(_ts(2027, 1, 5, 10))["data"]["object"])
    backfill_connection(services, _conn(services))
    assert decisions(services) == []  # no card known yet
    # The card was saved while the connector missed its event: the daily sweep finds it.
    pm = stripe_event("payment_method.attached")["data"]["object"]
    stripe_account.payment_methods[pm["id"]] = pm
    stripe_account.add("customers", customer(STRIPE_CUS, default_payment_method=pm["id"]))

    hourly = reconcile_installation(services, inst, adapter=bright_stripe.adapter)
    assert hourly.cards_reread == 0 and stripe_account.calls_to("customers")[1:] == []
    report = reconcile_installation(services, inst, full=True, adapter=bright_stripe.adapter)

    assert report.cards_reread == 1
    assert [d.touch_point for d in decisions(services)] == [STRIPE_CARD]
