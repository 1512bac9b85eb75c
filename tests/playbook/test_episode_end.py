"""Episode end tidies only the ended episode's own work: its CALL task, and on Salesforce the
contacts it enrolled — never the next episode's, nor card-expiry or pre-due work."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import responses
from playbook_story import deliver, drain, failed_attempt, paid, tick_and_drain
from sqlmodel import select
from test_runner import HIGH, at, customer, setup_crm
from test_scenarios import ACME, DAY0, at_day

import connector.playbook_runner as runner
from connector.domain.fields import Segment
from connector.domain.risk import RiskScore
from connector.domain.state import CollectionMethod, CustomerState, Episode, Outcome
from connector.storage.db import session_scope
from connector.storage.models import CustomerBilling, Installation, PlaybookDecision

from factories import make_installation, make_stripe_connection
from playbook_world import GENTLE, SalesforceWorld, install
from salesforce_standin import SalesforceStandIn


def test_an_episode_ending_the_day_the_next_starts_leaves_the_new_call_task_open(client, services, clock,
                                                                                fake_world):
    install(services, fake_world.adapter, risk=HIGH)
    setup_crm(fake_world, customer(1))
    deliver(client, failed_attempt(customer(1), "in_1", 1, at(0)))
    drain(services)
    # Day 40: in_1 is paid in the morning, in_2 fails in the afternoon — the same local day.
    clock.set(at(40))
    deliver(client, [paid(customer(1), "in_1", at(40))])
    drain(services)
    clock.set(at(40) + timedelta(hours=5))
    deliver(client, failed_attempt(customer(1), "in_2", 1, at(40) + timedelta(hours=5)))
    drain(services)
    clock.set(at(41))
    tick_and_drain(services)
    open_calls = [t for t in fake_world.tasks() if not t.completed]
    assert len(open_calls) == 1, "the open episode's CALL task was closed as 'payment recovered'"


def test_an_earlier_episodes_tidy_up_never_removes_a_contact_a_later_episode_enrolled(
        client, services, clock, monkeypatch):
    real = runner.decide_episode_end
    # Episode 1 ends while its removal is not decided (as before cadence removal existed)…
    monkeypatch.setattr(runner, "decide_episode_end",
                        lambda outcome, ledger, **_kw: real(outcome, ledger))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        world = SalesforceWorld(SalesforceStandIn(mock))
        ref = world.company(ACME.domain)
        world.set_owner(ref, world.owner(4401, "dana@vendor.example"))
        contact = world.contact(ref, ACME.email)
        install(services, world.adapter)
        deliver(client, failed_attempt(ACME, "in_A1", 1, DAY0))
        drain(services)
        clock.set(at_day(5))
        deliver(client, [paid(ACME, "in_A1", at_day(5))])
        drain(services)
        world.standin.enrolled.clear()  # that cadence ran its course
        clock.set(at_day(40))
        deliver(client, failed_attempt(ACME, "in_A2", 1, at_day(40)))
        drain(services)
        assert world.standin.enrolled == {contact: GENTLE}
        # …then removal is decided: Salesforce removes a target from whatever cadence it is in.
        monkeypatch.undo()
        clock.set(at_day(41))
        tick_and_drain(services)
        assert world.standin.enrolled == {contact: GENTLE}


def test_card_expiry_work_dated_inside_an_episode_is_not_that_episodes_to_tidy(services):
    inst_id = make_installation(services, crm="salesforce", external_id="00D000000000001AAA")
    conn = make_stripe_connection(services, inst_id)
    with session_scope(services.engine) as s:
        row = CustomerBilling(installation_id=inst_id, connection_id=conn, customer_id="cus_1",
                              crm_record_id="001000000000001AAA", match_status="matched")
        s.add(row)
        s.flush()
        # Card-expiry pre-dunning, keyed by the card's last valid day (no episode).
        s.add(PlaybookDecision(installation_id=inst_id, customer_row_id=row.id, episode_start=date(2027, 3, 31),
                               touch_point="card_expiry:card_1:2027-03", kind="enroll", status="applied",
                               detail={"contact_id": "003000000000001AAA"}, crm_enrollment_id="0pT1",
                               day=date(2027, 3, 1), counts_toward_cap=True))
        # An episode from 20 March to 2 April with one CALL task.
        s.add(PlaybookDecision(installation_id=inst_id, customer_row_id=row.id, episode_start=date(2027, 3, 20),
                               touch_point="day_0", kind="call_task", status="applied", crm_task_id="00T1",
                               day=date(2027, 3, 20)))
        s.flush()
        episode = Episode(start=date(2027, 3, 20), collection_method=CollectionMethod.CHARGE_AUTOMATICALLY,
                          end=date(2027, 4, 2), outcome=Outcome.RECOVERED)
        runner._close_ended_episodes(s, s.get(Installation, inst_id), row,  # noqa: SLF001
                                     CustomerState(customer_id="cus_1", episodes=(episode,)),
                                     RiskScore(0, ()), Segment.LOW_RISK, date(2027, 4, 3),
                                     datetime(2027, 4, 3, 15, tzinfo=UTC))
        made = [(d.touch_point, d.kind) for d in s.exec(
            select(PlaybookDecision).where(PlaybookDecision.touch_point.startswith("end:")))]
    assert made == [("end:00T1", "complete_task")]
