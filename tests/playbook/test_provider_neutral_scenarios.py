"""The playbook scenarios of test_scenarios.py, run once with Stripe events and once with
Chargebee events (issue 7): the same stories must leave the same tasks and enrollments in the
CRM (fake and HubSpot stand-in alike), whichever provider told them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import chargebee_story
import playbook_story
import pytest
from playbook_story import Customer, decisions, drain, tick_and_drain

from playbook_world import GENTLE, EnrollmentView, install

ACME = Customer("cus_AcmeDental01", "acme-dental.example", "Acme Dental")
DAY0 = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)  # Thursday 3 December 2026, 10:00 New York


def at_day(n: int) -> datetime:
    return DAY0 + timedelta(days=n)


@pytest.fixture(params=["stripe", "chargebee"])
def provider(request, services):
    if request.param == "stripe":
        return SimpleNamespace(install=install, story=playbook_story)
    return SimpleNamespace(install=chargebee_story.install_chargebee, story=chargebee_story)


@pytest.fixture
def crm(world, services, clock):
    ref = world.company(ACME.domain)
    owner = world.owner(4401, "dana@vendor.example")
    world.set_owner(ref, owner)
    contact = world.contact(ref, ACME.email)
    world.contact(ref, "dr.smith@acme-dental.example")
    world.ref, world.owner_id, world.billing_contact = ref, owner, contact
    return world


def _enrolled(crm) -> EnrollmentView:
    return EnrollmentView(crm.billing_contact, GENTLE, "4401", "dana@vendor.example")


def _live_days(services, clock, days) -> None:
    for n in days:
        clock.set(at_day(n))
        tick_and_drain(services)


def test_first_time_late_then_recovery(client, services, clock, crm, provider):
    provider.install(services, crm.adapter)
    provider.story.deliver(client, provider.story.failed_attempt(ACME, "in_A1", 1, DAY0,
                                                                 next_attempt=at_day(3)))
    drain(services)
    assert crm.enrollments() == [_enrolled(crm)]
    _live_days(services, clock, [1, 2, 3, 4])
    clock.set(at_day(5))
    provider.story.deliver(client, [provider.story.paid(ACME, "in_A1", at_day(5))])
    drain(services)
    _live_days(services, clock, [6, 7, 8, 14, 15])
    assert crm.enrollments() == [_enrolled(crm)]
    assert crm.tasks() == []
    # §6 episode end: Salesforce takes the contact out of the cadence (HubSpot has no unenroll
    # API; the install guide's workflow does it there).
    left_cadence = [(f"end:{crm.enrollments()[0].contact_id}", "unenroll", "applied")]
    assert [(d.touch_point, d.kind, d.status) for d in decisions(services)] == [
        ("day_0", "enroll", "applied"), *(left_cadence if crm.name == "salesforce" else [])]
    if crm.name == "salesforce":
        crm.end_sequences()  # asserts no target is left in a cadence


def test_expired_card_at_16_days(client, services, clock, crm, provider):
    provider.install(services, crm.adapter)
    story = provider.story
    story.deliver(client, story.failed_attempt(ACME, "in_E1", 1, DAY0, decline="expired_card"))
    drain(services)
    _live_days(services, clock, range(1, 17))
    assert crm.enrollments() == [_enrolled(crm)]
    (call,) = crm.tasks()
    assert (call.kind, call.priority, call.owner_id, call.completed) == ("CALL", "HIGH", crm.owner_id, False)
    assert call.subject == "Call Acme Dental: card needs updating, GBP 120.50 overdue"
    assert "Days past due: 14" in call.body and "the card has expired" in call.body
    clock.set(at_day(17))
    story.deliver(client, [story.paid(ACME, "in_E1", at_day(17))])
    drain(services)
    (call,) = crm.tasks()
    assert call.completed and "Closed by dunning-connector: payment recovered." in call.body
    # A late redelivery of the first failure undoes nothing.
    story.deliver(client, story.failed_attempt(ACME, "in_E1", 1, DAY0, decline="expired_card"))
    _live_days(services, clock, [18, 21])
    assert len(crm.tasks()) == 1 and crm.enrollments() == [_enrolled(crm)]


@pytest.mark.parametrize("order", ["in-order", "redelivered", "late-first-attempt"])
def test_redelivered_and_reordered_events_change_nothing(client, services, clock, crm, provider,
                                                        order):
    provider.install(services, crm.adapter)
    story = provider.story
    day0 = story.failed_attempt(ACME, "in_R1", 1, DAY0, next_attempt=at_day(4))
    day4 = story.failed_attempt(ACME, "in_R1", 2, at_day(4), next_attempt=at_day(8))
    on_day0, on_day4 = {"in-order": (day0, day4),
                        "redelivered": (day0 + day0, day4 + day4 + day0),
                        "late-first-attempt": ([], day4 + day0)}[order]
    story.deliver(client, on_day0)
    drain(services)
    clock.set(at_day(4))
    story.deliver(client, on_day4)
    drain(services)
    tick_and_drain(services)
    _live_days(services, clock, [5, 7])
    assert crm.enrollments() == [_enrolled(crm)]
    assert crm.tasks() == []
    assert [d.status for d in decisions(services) if d.kind == "enroll"] == ["applied"]
