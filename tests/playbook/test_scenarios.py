"""Playbook scenarios: Stripe events through the webhook endpoint, the daily tick and the outbox
drain, against the fake CRM and HubSpot (stand-in) alike; each asserts exactly which tasks and
enrollments exist afterwards (PRODUCT.md §6, §8 "no duplicate side effects")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playbook_story import (
    Customer,
    decisions,
    deliver,
    drain,
    failed_attempt,
    paid,
    tick_and_drain,
)

from playbook_world import FIRM, GENTLE, install

ACME = Customer("cus_AcmeDental01", "acme-dental.example", "Acme Dental")
# Thursday 3 December 2026, 10:00 in New York.
DAY0 = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)


def at_day(n: int, hour_utc: int = 15) -> datetime:
    return DAY0.replace(hour=hour_utc) + timedelta(days=n)


@pytest.fixture
def crm(world, services, clock):
    ref = world.company(ACME.domain)
    owner = world.owner(4401, "dana@vendor.example")
    world.set_owner(ref, owner)
    contact = world.contact(ref, ACME.email)
    world.contact(ref, "dr.smith@acme-dental.example")  # a second contact: the email decides
    world.ref, world.owner_id, world.billing_contact = ref, owner, contact
    return world


def _live_days(services, clock, days) -> None:
    for n in days:
        clock.set(at_day(n))
        tick_and_drain(services)


def test_first_time_late_then_recovery(client, services, clock, crm):
    install(services, crm.adapter)
    deliver(client, failed_attempt(ACME, "in_A1", 1, DAY0, next_attempt=at_day(3)))
    drain(services)
    # Day 0 ran as soon as the episode started: the gentle sequence, sent by the owner.
    assert crm.enrollments() == [_enrolled(crm, GENTLE)]
    _live_days(services, clock, [1, 2, 3, 4])  # day 3 touch point (Monday 7th): already enrolled
    clock.set(at_day(5))
    deliver(client, [paid(ACME, "in_A1", at_day(5))])
    drain(services)
    _live_days(services, clock, [6, 7, 8, 14, 15])
    assert crm.enrollments() == [_enrolled(crm, GENTLE)]
    assert crm.tasks() == []
    # §6 episode end: Salesforce takes the contact out of the cadence (HubSpot has no unenroll
    # API; the install guide's workflow does it there).
    left_cadence = [(f"end:{crm.enrollments()[0].contact_id}", "unenroll", "applied")]
    assert [(d.touch_point, d.kind, d.status) for d in decisions(services)] == [
        ("day_0", "enroll", "applied"), *(left_cadence if crm.name == "salesforce" else [])]
    if crm.name == "salesforce":
        crm.end_sequences()  # asserts no target is left in a cadence


def test_expired_card_at_16_days(client, services, clock, crm):
    install(services, crm.adapter)
    deliver(client, failed_attempt(ACME, "in_E1", 1, DAY0, decline="expired_card"))
    drain(services)
    _live_days(services, clock, range(1, 17))
    # Day 0: first time late, gentle sequence (card-update path). Day 14 (Thursday 17th): 14 days
    # with a hard decline is high risk: one CALL task, and no second one on days 15 and 16.
    assert crm.enrollments() == [_enrolled(crm, GENTLE)]
    (call,) = crm.tasks()
    assert (call.kind, call.priority, call.owner_id, call.completed) == ("CALL", "HIGH", crm.owner_id, False)
    assert call.record_id == crm.ref.record_id
    assert call.subject == "Call Acme Dental: card needs updating, GBP 120.50 overdue"
    assert call.body.startswith("Card update link (send this first): https://connector.example.test/pay/")
    assert "Days past due: 14" in call.body and "the card has expired" in call.body
    # Due the next business day (Friday 18th) at 09:00 New York time.
    assert _utc(call.due_at) == datetime(2026, 12, 18, 14, 0, tzinfo=UTC)
    by_kind = {(d.touch_point, d.kind): d for d in decisions(services)}
    assert by_kind[("day_0", "enroll")].detail["card_update"] is True
    assert by_kind[("day_14", "call_task")].status == "applied"

    clock.set(at_day(17))
    deliver(client, [paid(ACME, "in_E1", at_day(17))])
    drain(services)
    (call,) = crm.tasks()
    assert call.completed and "Closed by dunning-connector: payment recovered." in call.body
    # A late redelivery of the first failure undoes nothing: no new episode, no new task.
    deliver(client, failed_attempt(ACME, "in_E1", 1, DAY0, decline="expired_card"))
    _live_days(services, clock, [18, 21])
    assert len(crm.tasks()) == 1 and crm.enrollments() == [_enrolled(crm, GENTLE)]


def test_three_episodes_in_a_year(client, services, clock, crm):
    install(services, crm.adapter)
    starts = [datetime(2027, 1, 5, 15, tzinfo=UTC), datetime(2027, 3, 2, 15, tzinfo=UTC),
              datetime(2027, 5, 4, 15, tzinfo=UTC)]
    for n, start in enumerate(starts, 1):
        clock.set(start)
        deliver(client, failed_attempt(ACME, f"in_T{n}", 1, start))
        drain(services)
        for day in (3, 7):
            clock.set(start + timedelta(days=day))
            tick_and_drain(services)
        clock.set(start + timedelta(days=8))
        deliver(client, [paid(ACME, f"in_T{n}", start + timedelta(days=8))])
        drain(services)
        crm.end_sequences()
    # Once per episode: gentle, gentle, then firm — the third episode in 365 days is habitual.
    assert [e.sequence_id for e in crm.enrollments()] == [GENTLE, GENTLE, FIRM]
    assert crm.tasks() == []


ORDERS = {
    "in-order": lambda d0, d3: [d0, d3],
    # Every event delivered twice, the copies interleaved.
    "redelivered": lambda d0, d3: [d0 + d0[::-1], d3 + d3 + d0],
    # Charge before invoice on day 0; on day 3 the retry's events arrive reversed, then day 0's again.
    "reordered": lambda d0, d3: [d0[::-1], d3[::-1] + d0],
    # Day 0's events are lost until day 3 and arrive after the retry's: the tick still acts once.
    "late-first-attempt": lambda d0, d3: [[], d3 + d0],
}


@pytest.mark.parametrize("order", list(ORDERS))
def test_redelivered_and_reordered_events_change_nothing(client, services, clock, crm, order):
    install(services, crm.adapter)
    day0 = failed_attempt(ACME, "in_R1", 1, DAY0, next_attempt=at_day(4))
    day4 = failed_attempt(ACME, "in_R1", 2, at_day(4), attempt=2, next_attempt=at_day(8))
    on_day0, on_day4 = ORDERS[order](day0, day4)
    deliver(client, on_day0)
    drain(services)
    clock.set(at_day(4))  # Monday 7th, day 3's business day
    deliver(client, on_day4)
    drain(services)
    tick_and_drain(services)
    drain(services)
    _live_days(services, clock, [5, 7])
    assert crm.enrollments() == [_enrolled(crm, GENTLE)]
    assert crm.tasks() == []
    enrolls = [d for d in decisions(services) if d.kind == "enroll"]
    assert [d.status for d in enrolls] == ["applied"]


def _enrolled(crm, sequence_id):
    from playbook_world import EnrollmentView

    return EnrollmentView(crm.billing_contact, sequence_id, "4401", "dana@vendor.example")


def _utc(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
