"""The playbook's decisions (PRODUCT.md §6), table by table."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from connector.domain.fields import FailureReason, PaymentStatus, Segment
from connector.domain.playbook import (
    ActionKind,
    CapCandidate,
    DecisionStatus,
    LedgerEntry,
    TodoReason,
    billing_contact,
    decide,
    decide_episode_end,
    decide_pre_due,
    open_call_task_blocking,
    open_todo_blocking,
    sequence_sender,
    split_by_cap,
)
from connector.domain.playbook_settings import PlaybookSettings
from connector.domain.state import CollectionMethod, CustomerState, Episode, Outcome
from connector.domain.task_content import call_task, completion_note, todo_task
from connector.ports import Contact, OpenTask, Owner, TaskKind

NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
SETTINGS = PlaybookSettings(gentle_sequence_id="seq-gentle", firm_sequence_id="seq-firm")
LINK = "https://connector.example.test/pay/tok123"


def in_episode(reason=FailureReason.INSUFFICIENT_FUNDS, **changes) -> CustomerState:
    base = CustomerState(
        customer_id="cus_1", payment_status=PaymentStatus.PAST_DUE, days_past_due=3,
        outstanding_minor=12050, currency="GBP", failed_payment_attempts=2,
        last_failure_reason=reason, episode_failure_reason=reason,
        current_episode=Episode(date(2026, 11, 30), CollectionMethod.CHARGE_AUTOMATICALLY),
        late_payments_12m=1, name="Bright Smile Dental", email="accounts@brightsmile.example")
    return replace(base, **changes)


def entry(kind, point="day_0", status=DecisionStatus.APPLIED, task_id=None, applied_at=None,
          completed=False) -> LedgerEntry:
    return LedgerEntry(ActionKind(kind), point, DecisionStatus(status), task_id, applied_at, completed)


def run(segment, ledger=(), *, state=None, point="day_3", settings=SETTINGS, granted=True):
    return decide(state=state or in_episode(), segment=segment, risk_score=75, touch_point=point,
                  ledger=list(ledger), settings=settings, payment_link=LINK,
                  sequences_granted=granted)


def summary(decisions):
    return [(d.kind.value, d.sequence, d.todo_reason.value if d.todo_reason else None, d.task_id)
            for d in decisions]


@pytest.mark.parametrize(("segment", "ledger", "expected"), [
    (Segment.HIGH_RISK, [], [("call_task", None, None, None)]),
    (Segment.HIGH_RISK, [entry("call_task", "day_0", "proposed")], []),  # queued: never a second
    (Segment.HIGH_RISK, [entry("call_task", "day_0", "deferred")], []),
    (Segment.HIGH_RISK, [entry("call_task", "day_0", "previewed")], []),  # preview: one per episode
    (Segment.HIGH_RISK, [entry("call_task", "day_3", "applied", "t1")], []),  # this touch point ran
    # An applied task from an earlier touch point: a new one, applied only if that one was closed.
    (Segment.HIGH_RISK, [entry("call_task", "day_0", "applied", "t1")],
     [("call_task", None, None, "t1")]),
    (Segment.HIGH_RISK, [entry("call_task", "day_0", "applied", "t1", completed=True)],
     [("call_task", None, None, None)]),
    (Segment.HIGH_RISK, [entry("call_task", "day_0", "failed")], [("call_task", None, None, None)]),
    (Segment.HIGH_RISK, [entry("enroll", "day_0")], [("call_task", None, None, None)]),
    (Segment.FIRST_TIME_LATE, [], [("enroll", "gentle", None, None)]),
    (Segment.LOW_RISK, [], [("enroll", "gentle", None, None)]),
    (Segment.HABITUAL_LATE, [], [("enroll", "firm", None, None)]),
    (Segment.FIRST_TIME_LATE, [entry("enroll", "day_0")], []),  # once per episode
    (Segment.HABITUAL_LATE, [entry("enroll", "day_0", "proposed")], []),
    (Segment.FIRST_TIME_LATE, [entry("todo_task", "day_0")], []),  # the TODO was the enrollment
    (Segment.FIRST_TIME_LATE, [entry("enroll", "day_0", "failed")], [("enroll", "gentle", None, None)]),
    (Segment.FIRST_TIME_LATE, [entry("enroll", "day_0", "skipped")], [("enroll", "gentle", None, None)]),
    (Segment.FIRST_TIME_LATE, [entry("call_task", "day_0")], [("enroll", "gentle", None, None)]),
], ids=["call", "call-queued", "call-deferred", "call-previewed", "call-same-point",
        "call-after-applied", "call-after-completed", "call-after-failed", "call-after-enrollment",
        "gentle", "low-risk-gentle", "firm", "enrolled", "enroll-queued", "todo-counts",
        "enroll-failed-retries", "enroll-skipped-retries", "enroll-after-call"])
def test_decide(segment, ledger, expected):
    assert summary(run(segment, ledger)) == expected


@pytest.mark.parametrize(("segment", "settings", "granted", "reason"), [
    (Segment.FIRST_TIME_LATE, PlaybookSettings(firm_sequence_id="f"), True, TodoReason.NO_SEQUENCE),
    (Segment.HABITUAL_LATE, PlaybookSettings(gentle_sequence_id="g"), True, TodoReason.NO_SEQUENCE),
    (Segment.FIRST_TIME_LATE, SETTINGS, False, TodoReason.NO_SEQUENCE_SCOPES),
], ids=["no-gentle", "no-firm", "no-scopes"])
def test_enrollment_that_cannot_work_is_a_todo_task_saying_why(segment, settings, granted, reason):
    (decision,) = run(segment, settings=settings, granted=granted)
    assert decision.kind is ActionKind.TODO_TASK and decision.todo_reason is reason
    assert decision.content.subject.startswith("Follow up on the late payment of Bright Smile Dental")
    assert "TODO instead" in decision.why


def test_outside_an_episode_nothing_is_decided():
    state = in_episode(current_episode=None, payment_status=PaymentStatus.UNCOLLECTIBLE)
    assert run(Segment.HIGH_RISK, state=state) == []


@pytest.mark.parametrize(("reason", "card"), [
    (FailureReason.EXPIRED_CARD, True), (FailureReason.INCORRECT_CARD_DETAILS, True),
    (FailureReason.LOST_OR_STOLEN_CARD, False), (FailureReason.INSUFFICIENT_FUNDS, False),
])
def test_card_problems_take_the_card_update_path(reason, card):
    (call,) = run(Segment.HIGH_RISK, state=in_episode(reason))
    (enroll,) = run(Segment.FIRST_TIME_LATE, state=in_episode(reason))
    assert call.card_update is card and enroll.card_update is card
    assert call.content.body.startswith("Card update link (send this first)") is card


def test_call_task_content_names_everything_for_the_call():
    state = in_episode(FailureReason.INSUFFICIENT_FUNDS, days_past_due=16,
                       next_payment_retry_date=date(2026, 12, 5))
    content = call_task(state, FailureReason.INSUFFICIENT_FUNDS, LINK)
    assert content.subject == "Call Bright Smile Dental: GBP 120.50 overdue for 16 days"
    for line in ("Amount owed: GBP 120.50", "Days past due: 16",
                 "Why the payment failed: the card had insufficient funds",
                 "Failed payment attempts: 2", "Next automatic retry: 2026-12-05",
                 f"Payment link: {LINK}", "Suggested opening: Hi, I'm calling about your GBP 120.50"):
        assert line in content.body


def test_card_update_task_leads_with_the_link_and_says_the_card_expired():
    state = in_episode(FailureReason.EXPIRED_CARD, outstanding_minor=5000, currency="JPY",
                       currency_exponent=0)
    content = call_task(state, FailureReason.EXPIRED_CARD, LINK)
    assert content.subject == "Call Bright Smile Dental: card needs updating, JPY 5000 overdue"
    first, *rest = content.body.splitlines()
    assert first == f"Card update link (send this first): {LINK}"
    assert "Payment link:" not in content.body  # said once, first
    assert "the card we have on file for your account has expired" in content.body


def test_todo_task_for_a_missing_billing_contact():
    content = todo_task("no_billing_contact", "no contact has the billing email", in_episode(),
                        FailureReason.INSUFFICIENT_FUNDS, LINK)
    assert content.subject == "Pick the billing contact for Bright Smile Dental"
    assert content.body.startswith("Why this task: no contact has the billing email")


@pytest.mark.parametrize(("outcome", "words"), [
    (Outcome.RECOVERED, "payment recovered"), (Outcome.WRITTEN_OFF, "written off"),
    (Outcome.CANCELED, "subscription canceled for non-payment"),
    (Outcome.UNCOLLECTIBLE, "marked uncollectible by the billing provider"),
])
def test_episode_end_closes_our_open_call_task_naming_the_outcome(outcome, words):
    ledger = [entry("call_task", "day_0", "applied", "t1"),
              entry("call_task", "day_7", "applied", "t2", completed=True),
              entry("call_task", "day_14", "proposed"), entry("enroll", "day_0", "applied")]
    (decision,) = decide_episode_end(outcome, ledger)
    assert (decision.kind, decision.task_id) == (ActionKind.COMPLETE_TASK, "t1")
    assert decision.note == completion_note(outcome) == f"Closed by dunning-connector: {words}."
    assert not decision.counts_toward_cap


def test_episode_end_decides_a_completion_once():
    ledger = [entry("call_task", "day_0", "applied", "t1"),
              entry("complete_task", "end:t1", "proposed", "t1")]
    assert decide_episode_end(Outcome.RECOVERED, ledger) == []


def test_episode_end_on_salesforce_takes_our_enrolled_contacts_out_of_their_cadence():
    enrolled = LedgerEntry(ActionKind.ENROLL, "day_0", DecisionStatus.APPLIED, contact_id="003A")
    fell_back = LedgerEntry(ActionKind.ENROLL, "day_3", DecisionStatus.APPLIED)  # a TODO: nobody
    (decision,) = decide_episode_end(Outcome.RECOVERED, [enrolled, fell_back], can_unenroll=True)
    assert (decision.kind, decision.contact_id) == (ActionKind.UNENROLL, "003A")
    assert not decision.counts_toward_cap
    # HubSpot has no unenroll API; and a removal already decided is not decided again.
    assert decide_episode_end(Outcome.RECOVERED, [enrolled]) == []
    leaving = LedgerEntry(ActionKind.UNENROLL, "end:003A", DecisionStatus.PROPOSED, contact_id="003A")
    assert decide_episode_end(Outcome.RECOVERED, [enrolled, leaving], can_unenroll=True) == []


EMAIL = "accounts@brightsmile.example"


@pytest.mark.parametrize(("contacts", "email", "expected"), [
    ([Contact("1", "a@x.example"), Contact("2", "ACCOUNTS@BrightSmile.example")], EMAIL, "2"),
    ([Contact("1", "a@x.example")], EMAIL, "1"),  # the only associated contact
    ([Contact("1", "a@x.example"), Contact("2", None)], EMAIL, None),  # several, none matches
    ([], EMAIL, None),
    ([Contact("1", "a@x.example")], None, "1"),
    ([Contact("1", "a@x.example"), Contact("2", "b@x.example")], None, None),
], ids=["email-match", "only-contact", "several-no-match", "none", "no-billing-email", "ambiguous"])
def test_billing_contact(contacts, email, expected):
    found = billing_contact(contacts, email)
    assert (found.contact_id if found else None) == expected


FALLBACK = PlaybookSettings(fallback_sender_user_id="u9", fallback_sender_email="ops@vendor.example")


@pytest.mark.parametrize(("owner", "settings", "expected"), [
    (Owner("o1", "u1", "rep@vendor.example"), FALLBACK, ("u1", "rep@vendor.example")),
    (Owner("o1", "u1", "rep@vendor.example", active=False), FALLBACK, ("u9", "ops@vendor.example")),
    (Owner("o1", None, "rep@vendor.example"), FALLBACK, ("u9", "ops@vendor.example")),
    (None, FALLBACK, ("u9", "ops@vendor.example")),
    (None, PlaybookSettings(), None),
], ids=["owner", "inactive-owner", "owner-without-user", "unowned", "nobody"])
def test_sequence_sender(owner, settings, expected):
    assert sequence_sender(owner, settings) == expected


@pytest.mark.parametrize(("open_tasks", "ledger", "blocked"), [
    ([OpenTask("t1", TaskKind.CALL, "Call", ours=True)], [], "our CALL task t1 is still open"),
    ([OpenTask("h1", TaskKind.CALL, "Call them", ours=False)], [], None),  # a human's task
    ([OpenTask("t2", TaskKind.TODO, "Pick", ours=True)], [], None),
    # HubSpot search lags: a task made minutes ago is not listed yet but is still open.
    ([], [entry("call_task", "day_0", "applied", "t1", NOW - timedelta(minutes=2))],
     "our CALL task t1 was created moments ago"),
    ([], [entry("call_task", "day_0", "applied", "t1", NOW - timedelta(days=3))], None),
    ([], [entry("call_task", "day_0", "applied", "t1", NOW - timedelta(minutes=2), completed=True)],
     None),
], ids=["ours-open", "humans-dont-count", "todo-doesnt-block", "search-lag", "completed-or-deleted",
        "closed-by-us"])
def test_open_call_task_blocking(open_tasks, ledger, blocked):
    assert open_call_task_blocking(open_tasks, ledger, NOW) == blocked


def test_one_open_todo_per_reason():
    open_tasks = [OpenTask("t5", TaskKind.TODO, "Pick the billing contact for X", ours=True),
                  OpenTask("h5", TaskKind.TODO, "Follow up X", ours=False)]
    assert open_todo_blocking(open_tasks, "Pick the billing contact for X")
    assert open_todo_blocking(open_tasks, "Follow up X") is None  # a human's
    assert open_todo_blocking(open_tasks, "Follow up on the late payment of X") is None


@pytest.mark.parametrize(("scores", "used", "cap", "released", "deferred"), [
    ([10, 90, 50], 0, 200, [2, 3, 1], []),
    ([10, 90, 50], 1, 3, [2, 3], [1]),  # highest risk first
    ([10, 90, 50], 3, 3, [], [2, 3, 1]),
    ([50, 50], 0, 1, [1], [2]),  # ties: the earlier decision first
    ([50], 5, 3, [], [1]),  # over already (cap lowered today)
    ([50], 0, 0, [], [1]),
])
def test_daily_cap_defers_the_excess_highest_risk_first(scores, used, cap, released, deferred):
    candidates = [CapCandidate(i + 1, s) for i, s in enumerate(scores)]
    assert split_by_cap(candidates, used, cap) == (released, deferred)


@pytest.mark.parametrize(("settings", "late", "ledger", "expected"), [
    (PlaybookSettings(pre_due_reminder=True, pre_due_sequence_id="p"), 1, [], ["pre_due"]),
    (PlaybookSettings(pre_due_reminder=False, pre_due_sequence_id="p"), 1, [], []),  # off by default
    (PlaybookSettings(pre_due_reminder=True, pre_due_sequence_id="p"), 0, [], []),  # never late
    (PlaybookSettings(pre_due_reminder=True, pre_due_sequence_id="p"), 2,
     [entry("enroll", "pre_due:in_1")], []),  # once per invoice
])
def test_pre_due_reminder(settings, late, ledger, expected):
    state = in_episode(current_episode=None, late_payments_12m=late)
    decisions = decide_pre_due(state=state, invoice_id="in_1", ledger=ledger, settings=settings)
    assert [d.sequence for d in decisions] == expected
