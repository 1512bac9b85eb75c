"""The playbook shell with the fake CRM: preview and going live, the daily cap, TODO fallbacks,
the one-open-CALL-task rule, retries, unmatched records and the segment lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playbook_story import Customer, decisions, deliver, drain, failed_attempt, paid, tick_and_drain
from sqlmodel import select

from connector.errors import TransientProviderError
from connector.modes import set_preview
from connector.playbook_runner import LIST_NAMES, PLAYBOOK_ACTION, ensure_lists
from connector.ports import TaskKind
from connector.storage.db import session_scope
from connector.storage.models import (
    AuditLog,
    CrmCredential,
    CustomerBilling,
    Installation,
    OutboxItem,
)

from playbook_world import GENTLE, api_get, install, set_settings

# Thursday 3 December 2026, 10:00 New York.
DAY0 = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
HIGH = {"high_risk_threshold": 1}  # every account in an episode is high risk


def customer(n: int) -> Customer:
    return Customer(f"cus_Practice{n:03d}", f"practice{n}.example", f"Practice {n}")


def setup_crm(world, c: Customer, *, contact: bool = True, owner: bool = True):
    ref = world.company(c.domain)
    if owner:
        world.set_owner(ref, world.owner(5500, "rep@vendor.example"))
    if contact:
        world.contact(ref, c.email)
    return ref


def summary(services):
    return [(d.touch_point, d.kind, d.status) for d in decisions(services)]


def at(days: float) -> datetime:
    return DAY0 + timedelta(days=days)


# --- preview and live ------------------------------------------------------------------------


def test_preview_records_decisions_and_sends_nothing(client, services, clock, fake_world):
    inst = install(services, fake_world.adapter, preview=True)
    setup_crm(fake_world, customer(1))
    deliver(client, failed_attempt(customer(1), "in_1", 1, DAY0))
    drain(services)
    assert summary(services) == [("day_0", "enroll", "previewed")]
    (d,) = decisions(services)
    assert d.result == "preview: shown, not sent"
    assert fake_world.enrollments() == [] and fake_world.tasks() == []
    with session_scope(services.engine) as s:
        assert s.exec(select(OutboxItem).where(OutboxItem.kind == PLAYBOOK_ACTION)).first() is None
    # Day 3 in preview: the previewed enrollment stands for the episode.
    clock.set(at(4))
    tick_and_drain(services)
    assert summary(services) == [("day_0", "enroll", "previewed")]
    # Going live applies only decisions made from then on: day 0 is not replayed, day 7 enrolls.
    with session_scope(services.engine) as s:
        set_preview(s, s.get(Installation, inst), False, now=clock())
    drain(services)
    assert fake_world.enrollments() == []
    clock.set(at(7))
    tick_and_drain(services)
    assert summary(services) == [("day_0", "enroll", "previewed"), ("day_7", "enroll", "applied")]
    assert [e.sequence_id for e in fake_world.enrollments()] == [GENTLE]


# --- the daily cap ---------------------------------------------------------------------------


def test_daily_cap_defers_the_excess_to_the_next_day_highest_risk_first(client, services, clock,
                                                                        fake_world):
    install(services, fake_world.adapter, playbook={"daily_cap": 1})
    saturday = datetime(2026, 12, 5, 15, 0, tzinfo=UTC)
    clock.set(saturday)
    declines = {1: "generic_decline", 2: "expired_card", 3: "insufficient_funds"}  # 5, 20, 10 points
    for n, decline in declines.items():
        setup_crm(fake_world, customer(n))
        deliver(client, failed_attempt(customer(n), f"in_{n}", 1, saturday, decline=decline))
    drain(services)
    assert summary(services) == []  # day 0 falls on Monday the 7th
    clock.set(datetime(2026, 12, 7, 15, 0, tzinfo=UTC))
    tick_and_drain(services)
    by_customer = {d.customer_row_id: d for d in decisions(services)}
    scores = sorted(by_customer.values(), key=lambda d: -d.risk_score)
    assert [d.customer_row_id for d in scores] == [2, 3, 1]
    assert [d.status for d in scores] == ["applied", "deferred", "deferred"]
    assert scores[1].result.startswith("deferred: the daily cap of 1 new tasks and enrollments was "
                                       "reached on 2026-12-07; runs on 2026-12-08")
    assert len(fake_world.enrollments()) == 1
    feed = api_get(client, services, "/api/installations/1/decisions")
    assert feed["daily_cap"] == {"limit": 1, "day": "2026-12-07", "used": 1, "deferred": 2,
                                 "reached": True}
    assert [d["deferred_by_cap"] for d in feed["decisions"]].count(True) == 2
    clock.set(datetime(2026, 12, 8, 15, 0, tzinfo=UTC))
    tick_and_drain(services)
    statuses = [d.status for d in sorted(decisions(services), key=lambda d: -d.risk_score)]
    assert statuses == ["applied", "applied", "deferred"]
    clock.set(datetime(2026, 12, 9, 15, 0, tzinfo=UTC))
    tick_and_drain(services)
    assert [d.status for d in decisions(services)] == ["applied"] * 3
    assert len(fake_world.enrollments()) == 3


def test_deferred_decision_of_an_ended_episode_is_skipped(client, services, clock, fake_world):
    install(services, fake_world.adapter, playbook={"daily_cap": 0})
    setup_crm(fake_world, customer(1))
    deliver(client, failed_attempt(customer(1), "in_1", 1, DAY0))
    drain(services)
    assert summary(services) == [("day_0", "enroll", "deferred")]
    deliver(client, [paid(customer(1), "in_1", DAY0 + timedelta(hours=2))])
    set_settings(services, 1, daily_cap=10)
    clock.set(at(1))
    tick_and_drain(services)
    assert summary(services) == [("day_0", "enroll", "skipped")]
    assert fake_world.enrollments() == []


# --- TODO fallbacks --------------------------------------------------------------------------


def _only_task(world):
    (task,) = world.tasks()
    return task


def test_no_billing_contact_makes_a_todo_task_that_counts_as_the_enrollment(client, services, clock,
                                                                             fake_world):
    install(services, fake_world.adapter)
    ref = setup_crm(fake_world, customer(1), contact=False)
    fake_world.contact(ref, "reception@practice1.example")
    fake_world.contact(ref, "dentist@practice1.example")
    deliver(client, failed_attempt(customer(1), "in_1", 1, DAY0))
    drain(services)
    task = _only_task(fake_world)
    assert (task.kind, task.subject) == ("TODO", "Pick the billing contact for Practice 1")
    assert fake_world.enrollments() == []
    (d,) = decisions(services)
    assert d.status == "applied" and d.detail["todo_reason"] == "no_billing_contact"
    assert d.result.startswith("not enrolled: no contact has the billing email")
    clock.set(at(4))
    tick_and_drain(services)
    assert len(fake_world.tasks()) == 1 and fake_world.enrollments() == []


def test_crm_refusal_makes_a_todo_task_saying_why(client, services, clock, fake_world):
    install(services, fake_world.adapter)
    ref = setup_crm(fake_world, customer(1), contact=False)
    fake_world.refuse(fake_world.contact(ref, customer(1).email), "unsubscribed")
    deliver(client, failed_attempt(customer(1), "in_1", 1, DAY0))
    drain(services)
    task = _only_task(fake_world)
    assert task.subject == "Follow up on the late payment of Practice 1 (sequence enrollment refused)"
    assert "the contact unsubscribed from sales emails" in task.body
    (d,) = decisions(services)
    assert d.detail["refusal"] == "unsubscribed" and d.status == "applied"
    feed = api_get(client, services, "/api/installations/1/decisions")["decisions"]
    assert feed[0]["fell_back_to_todo"] is True and "unsubscribed" in feed[0]["result"]


def test_no_sequence_set_makes_a_todo_task(client, services, clock, fake_world):
    install(services, fake_world.adapter, playbook={"gentle_sequence_id": None})
    setup_crm(fake_world, customer(1))
    deliver(client, failed_attempt(customer(1), "in_1", 1, DAY0))
    drain(services)
    task = _only_task(fake_world)
    assert task.subject == "Follow up on the late payment of Practice 1 (no sequence set)"
    assert "no gentle sequence is set" in task.body
    assert summary(services) == [("day_0", "todo_task", "applied")]


def test_missing_sequence_scope_makes_a_todo_task(client, services, clock, fake_world):
    inst = install(services, fake_world.adapter)
    with session_scope(services.engine) as s:
        s.add(CrmCredential(installation_id=inst, access_token_enc="x", refresh_token_enc="y",
                            scopes="oauth crm.objects.companies.write automation.sequences.read"))
    setup_crm(fake_world, customer(1))
    deliver(client, failed_attempt(customer(1), "in_1", 1, DAY0))
    drain(services)
    assert _only_task(fake_world).subject.endswith("(sequences not connected)")
    assert fake_world.enrollments() == []


def test_no_sender_makes_a_todo_task(client, services, clock, fake_world):
    install(services, fake_world.adapter)
    setup_crm(fake_world, customer(1), owner=False)
    deliver(client, failed_attempt(customer(1), "in_1", 1, DAY0))
    drain(services)
    assert _only_task(fake_world).subject.endswith("(no sequence sender)")


def test_fallback_sender_and_owner_are_used_for_unowned_companies(client, services, clock,
                                                                  fake_world):
    install(services, fake_world.adapter, playbook={
        "fallback_sender_user_id": "9001", "fallback_sender_email": "ar@vendor.example",
        "fallback_owner_id": "777"})
    setup_crm(fake_world, customer(1), owner=False)
    deliver(client, failed_attempt(customer(1), "in_1", 1, DAY0))
    drain(services)
    (enrollment,) = fake_world.enrollments()
    assert (enrollment.sender_user_id, enrollment.sender_email) == ("9001", "ar@vendor.example")


# --- CALL tasks ------------------------------------------------------------------------------


def test_at_most_one_open_call_task_and_a_new_one_after_completion(client, services, clock,
                                                                   fake_world):
    install(services, fake_world.adapter, risk=HIGH)
    ref = setup_crm(fake_world, customer(1))
    human = fake_world.adapter.add_task(ref, TaskKind.CALL, "Renewal call")  # never counts
    deliver(client, failed_attempt(customer(1), "in_1", 1, DAY0))
    drain(services)
    ours = [t for t in fake_world.tasks() if t.task_id != human]
    assert [(t.kind, t.priority) for t in ours] == [("CALL", "HIGH")]
    clock.set(at(4))  # day 3 (Monday): ours is still open
    tick_and_drain(services)
    assert len(fake_world.tasks()) == 2
    assert summary(services)[-1] == ("day_3", "call_task", "skipped")
    assert decisions(services)[-1].result == f"our CALL task {ours[0].task_id} is still open"
    fake_world.complete(ours[0].task_id)  # the owner called
    clock.set(at(7))  # day 7: completed and still high risk: a new one
    tick_and_drain(services)
    open_calls = [t for t in fake_world.tasks() if not t.completed and t.task_id != human]
    assert len(open_calls) == 1 and open_calls[0].task_id != ours[0].task_id
    fake_world.delete(open_calls[0].task_id)  # deleted in the CRM: may be replaced
    clock.set(at(14))
    tick_and_drain(services)
    assert [s for s in summary(services) if s[1] == "call_task"] == [
        ("day_0", "call_task", "applied"), ("day_3", "call_task", "skipped"),
        ("day_7", "call_task", "applied"), ("day_14", "call_task", "applied")]
    assert len([t for t in fake_world.tasks() if not t.completed and t.task_id != human]) == 1


def test_episode_end_completes_our_open_call_task_naming_the_outcome(client, services, clock,
                                                                    fake_world):
    install(services, fake_world.adapter, risk=HIGH)
    setup_crm(fake_world, customer(1))
    deliver(client, failed_attempt(customer(1), "in_1", 1, DAY0))
    drain(services)
    clock.set(at(2))
    deliver(client, [paid(customer(1), "in_1", at(2))])
    drain(services)
    task = _only_task(fake_world)
    assert task.completed and task.body.endswith("Closed by dunning-connector: payment recovered.")
    assert summary(services) == [("day_0", "call_task", "applied"),
                                 (f"end:{task.task_id}", "complete_task", "applied")]
    deliver(client, [paid(customer(1), "in_1", at(2)) | {"id": "evt_paid_again"}])
    tick_and_drain(services)
    assert len(summary(services)) == 2


def test_an_episode_end_arriving_after_the_next_failure_still_completes_its_task(client, services, clock,
                                                                              fake_world):
    install(services, fake_world.adapter, risk=HIGH)
    setup_crm(fake_world, customer(1))
    deliver(client, failed_attempt(customer(1), "in_1", 1, DAY0))
    drain(services)
    first = _only_task(fake_world)
    # Day 40: in_2 fails; the payment of in_1 (day 39) is delivered only after it.
    clock.set(at(40))
    deliver(client, failed_attempt(customer(1), "in_2", 1, at(40)))
    deliver(client, [paid(customer(1), "in_1", at(39))])
    drain(services)
    assert next(t for t in fake_world.tasks() if t.task_id == first.task_id).completed
    # The new episode's next touch point may call again: the old task no longer blocks it.
    clock.set(at(44))
    tick_and_drain(services)
    open_calls = [t for t in fake_world.tasks() if not t.completed]
    assert len(open_calls) == 1 and open_calls[0].task_id != first.task_id


def test_an_episode_ending_during_a_pause_completes_its_task_at_once(client, services, clock, fake_world):
    install(services, fake_world.adapter, risk=HIGH)
    setup_crm(fake_world, customer(1))
    deliver(client, failed_attempt(customer(1), "in_1", 1, DAY0))
    drain(services)
    with session_scope(services.engine) as s:
        row = s.exec(select(CustomerBilling)).one()
        row.playbook_paused_until = at(10)
        s.add(row)
    clock.set(at(2))
    deliver(client, [paid(customer(1), "in_1", at(2))])
    drain(services)
    assert _only_task(fake_world).completed


def test_actions_run_at_touch_points_only_not_on_the_days_between(client, services, clock, fake_world):
    # Insufficient funds, no retry left: the score passes 70 on day 30 (a Saturday), long after
    # the last touch point (day 14). Every tick re-ran day 14 and called on that Saturday.
    install(services, fake_world.adapter)
    setup_crm(fake_world, customer(1))
    deliver(client, failed_attempt(customer(1), "in_1", 1, DAY0))
    drain(services)
    for day in range(1, 36):
        clock.set(at(day))
        tick_and_drain(services)
    with session_scope(services.engine) as s:
        row = s.exec(select(CustomerBilling)).one()
        assert row.risk_segment == "high_risk" and int(row.desired["days_past_due"]) >= 30
    assert summary(services) == [("day_0", "enroll", "applied")]
    assert fake_world.tasks() == []


def test_a_transient_outage_retries_and_creates_once(client, services, clock, fake_world):
    install(services, fake_world.adapter, risk=HIGH)
    setup_crm(fake_world, customer(1))
    deliver(client, failed_attempt(customer(1), "in_1", 1, DAY0))
    original = fake_world.adapter.create_tasks

    def flaky(tasks):
        fake_world.adapter.create_tasks = original
        raise TransientProviderError("HubSpot answered 502")

    fake_world.adapter.create_tasks = flaky
    drain(services)
    assert fake_world.tasks() == [] and summary(services) == [("day_0", "call_task", "proposed")]
    clock.set(at(0.1))
    drain(services)
    assert len(fake_world.tasks()) == 1
    assert summary(services) == [("day_0", "call_task", "applied")]


def test_a_task_made_by_a_lost_attempt_is_found_by_its_key(client, services, clock, fake_world):
    install(services, fake_world.adapter, risk=HIGH)
    setup_crm(fake_world, customer(1))
    deliver(client, failed_attempt(customer(1), "in_1", 1, DAY0))
    original = fake_world.adapter.create_tasks

    def created_then_timed_out(tasks):
        original(tasks)
        raise TransientProviderError("read timed out")

    fake_world.adapter.create_tasks = created_then_timed_out
    drain(services)
    fake_world.adapter.create_tasks = original
    clock.set(at(0.1))
    drain(services)
    assert len(fake_world.tasks()) == 1
    (d,) = decisions(services)
    assert d.status == "applied" and "made by an earlier attempt" in d.result


def test_unmatched_customer_skips_with_the_reason(client, services, clock, fake_world):
    install(services, fake_world.adapter)
    deliver(client, failed_attempt(customer(1), "in_1", 1, DAY0))  # no company in the CRM
    drain(services)
    (d,) = decisions(services)
    assert d.status == "skipped" and d.result.startswith("no CRM record to act on (unmatched")


# --- lists and settings ----------------------------------------------------------------------


def test_segment_lists_are_ensured_once_and_remembered(services, fake_world):
    inst = install(services, fake_world.adapter, preview=True)
    first = ensure_lists(services, inst)
    second = ensure_lists(services, inst)
    assert sorted(first["created"]) == sorted(LIST_NAMES.values())
    assert "Billing risk: High risk" in first["created"]
    assert second["created"] == [] and sorted(second["unchanged"]) == sorted(LIST_NAMES.values())
    with session_scope(services.engine) as s:
        assert s.get(Installation, inst).settings["segment_lists"] == first["list_ids"]
        assert len(list(s.exec(select(AuditLog).where(AuditLog.action == "segment_lists.ensured")))) == 2


def test_a_touch_point_that_already_acted_does_not_act_again_the_same_day(client, services, clock,
                                                                          fake_world):
    install(services, fake_world.adapter, risk={"high_risk_threshold": 30})
    setup_crm(fake_world, customer(1))
    invoice_event, charge_event = failed_attempt(customer(1), "in_1", 1, DAY0, decline="expired_card")
    deliver(client, [invoice_event])  # no decline known yet: first time late
    drain(services)  # the gentle enrollment is sent
    clock.set(at(0.01))
    deliver(client, [charge_event])  # now high risk (expired card), still day 0
    drain(services)
    assert summary(services) == [("day_0", "enroll", "applied")]
    assert fake_world.tasks() == [] and len(fake_world.enrollments()) == 1
    clock.set(at(4))  # day 3: the CALL task comes at the next touch point
    tick_and_drain(services)
    assert summary(services)[-1] == ("day_3", "call_task", "applied")




def test_a_paused_account_gets_no_new_actions_until_the_pause_ends(client, services, clock, fake_world):
    """Support paused the account from the card: touch points during the pause do nothing."""
    install(services, fake_world.adapter)
    setup_crm(fake_world, customer(1))
    deliver(client, [paid(customer(1), "in_0", at(-30))])  # a customer in good standing
    with session_scope(services.engine) as s:
        row = s.exec(select(CustomerBilling)).one()
        row.playbook_paused_until = at(5)
        s.add(row)
    deliver(client, failed_attempt(customer(1), "in_1", 1, DAY0))
    clock.set(at(3))
    tick_and_drain(services)
    assert summary(services) == []  # day 0 and day 3 fell inside the pause
    clock.set(at(7))
    tick_and_drain(services)
    assert summary(services) == [("day_7", "enroll", "applied")]


def test_recovered_account_shows_still_in_sequence(client, services, clock, fake_world):
    inst = install(services, fake_world.adapter)
    setup_crm(fake_world, customer(1))
    deliver(client, failed_attempt(customer(1), "in_1", 1, DAY0))
    drain(services)
    notes = {a["customer_id"]: a["sequence"]
             for a in api_get(client, services, f"/api/installations/{inst}/accounts")["accounts"]}
    assert notes == {"cus_Practice001": "in sequence"}
    clock.set(at(2))
    deliver(client, [paid(customer(1), "in_1", at(2))])
    accounts = api_get(client, services, f"/api/installations/{inst}/accounts")["accounts"]
    assert accounts[0]["fields"]["first_failed_payment_date"] == ""
    assert accounts[0]["sequence"].startswith("still in sequence")


def test_task_due_time_carries_the_installations_day_for_date_only_crms():
    """09:00 in Sydney is 22:00 UTC the day before: Salesforce's ActivityDate must be the local day."""
    from types import SimpleNamespace

    from connector.domain.playbook_settings import parse_playbook_settings
    from connector.playbook_apply import _due_at
    from crm_adapters.hubspot.tasks import hubspot_timestamp
    from crm_adapters.salesforce.activities import activity_date

    sydney = Installation(crm="salesforce", external_id="00D1", timezone="Australia/Sydney", country="AU")
    work = SimpleNamespace(decision=SimpleNamespace(detail={"due_at": "2026-12-17T22:00:00Z"}))
    due = _due_at(sydney, work, parse_playbook_settings({}), DAY0)
    assert due == "2026-12-18T09:00:00+11:00"
    assert activity_date(due) == "2026-12-18"
    assert hubspot_timestamp(due) == "2026-12-17T22:00:00.000Z"  # the same moment for HubSpot
