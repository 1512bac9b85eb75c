"""Applying playbook decisions from the outbox: the CRM half of PRODUCT.md §6.

Called by the drain (`sync._process`) with a batch of `playbook_action` items. One pass makes a
few batch calls, in an order that never repeats a side effect on retry: close tasks, look up
(open tasks, owners, contacts), enroll, then create every task in one batch create (CALL tasks,
TODO tasks, and the TODO tasks that replace refused enrollments). Each decision row is updated
as soon as its call answered, in the drain's transaction, so a failure of a later call retries
only what was not done.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from connector import outbox
from connector.domain.billing_facts import CustomerFacts
from connector.domain.billing_state import derive_state
from connector.domain.calendar import task_due_at
from connector.domain.playbook import (
    ActionKind,
    DecisionStatus,
    TodoReason,
    billing_contact,
    open_call_task_blocking,
    open_todo_blocking,
    sequence_sender,
    todo_reason_words,
)
from connector.domain.playbook_settings import PlaybookSettings
from connector.domain.risk import current_failure_reason
from connector.domain.state import CustomerState
from connector.domain.task_content import call_task, is_card_update, todo_task
from connector.playbook_runner import (
    business_calendar,
    ledger_for,
    playbook_settings,
)
from connector.ports import (
    Contact,
    CrmRef,
    CrmTask,
    Enrollment,
    OpenTask,
    Owner,
    TaskCompletion,
    TaskKind,
)
from connector.storage.models import CustomerBilling, Installation, OutboxItem, PlaybookDecision

log = logging.getLogger(__name__)

REFUSAL_WORDS = {
    "no_seat": "the sender has no Sales or Service Hub seat that can send sequences",
    "inbox_not_connected": "the sender's inbox is not connected to HubSpot",
    "already_enrolled": "the contact is already in a sequence",
    "daily_limit": "the sender reached the daily sequence limit",
    "unsubscribed": "the contact unsubscribed from sales emails",
    "missing_scope": "the app was installed without the sequence scopes",
}
MAX_ATTEMPTS = 5


@dataclass
class _Work:
    """One decision being applied, with what the CRM told us about its record."""

    item: OutboxItem
    decision: PlaybookDecision
    row: CustomerBilling
    ref: CrmRef | None = None
    open_tasks: list[OpenTask] = field(default_factory=list)


@dataclass
class _Lookups:
    open_tasks: dict[CrmRef, list[OpenTask]] = field(default_factory=dict)
    owner_of: dict[CrmRef, str | None] = field(default_factory=dict)
    owners: dict[str, Owner] = field(default_factory=dict)
    contacts: dict[CrmRef, list[Contact]] = field(default_factory=dict)


def apply_playbook_items(session: Session, installation: Installation, adapter: Any,
                         items: Sequence[OutboxItem], counts: Any, now: datetime) -> None:
    """Apply the batch's decisions through the PlaybookCrm methods of `adapter`."""
    settings = playbook_settings(installation)
    work = [w for w in (_load(session, installation, item, now, counts) for item in items) if w]
    if not work:
        return
    completions = [w for w in work if w.decision.kind == ActionKind.COMPLETE_TASK]
    leaving = [w for w in work if w.decision.kind == ActionKind.UNENROLL]
    creating = [w for w in work if w.decision.kind not in (ActionKind.COMPLETE_TASK, ActionKind.UNENROLL)]
    if completions:
        _complete(session, adapter, completions, counts, now)
    if leaving:
        _unenroll(session, adapter, leaving, counts, now)
    if not creating:
        return
    look = _look_up(adapter, creating, settings)
    tasks: list[tuple[_Work, CrmTask]] = []
    enrolling: list[tuple[_Work, Enrollment]] = []
    for w in creating:
        w.open_tasks = look.open_tasks.get(w.ref, [])
        if _already_created(session, w, counts, now):
            continue
        if w.decision.kind == ActionKind.ENROLL:
            _plan_enrollment(session, installation, w, look, settings, tasks, enrolling, counts, now)
        else:
            _plan_task(session, installation, w, look, settings, tasks, counts, now)
    if enrolling:
        _enroll(session, installation, adapter, enrolling, look, settings, tasks, counts, now)
    if tasks:
        _create_tasks(session, adapter, tasks, counts, now)


# --- loading and looking up ------------------------------------------------------------------


def _load(session: Session, installation: Installation, item: OutboxItem, now: datetime,
          counts: Any) -> _Work | None:
    decision = session.get(PlaybookDecision, (item.payload or {}).get("decision_id"))
    row = session.get(CustomerBilling, item.customer_row_id)
    if decision is None or row is None:
        outbox.complete(session, [item], "failed", now, error="decision not found")
        return None
    if decision.status != DecisionStatus.PROPOSED:
        outbox.complete(session, [item], "done", now, outcome=f"already {decision.status}")
        return None
    skip = _skip_reason(installation, decision, row)
    if skip:
        _finish(session, item, decision, DecisionStatus.SKIPPED, skip, now, counts)
        return None
    if not row.crm_record_id:
        if row.match_status == "pending":  # the field sync matches it first
            outbox.retry_later(session, item, now, "waiting for the CRM record to be matched",
                               count_attempt=False)
            return None
        _finish(session, item, decision, DecisionStatus.SKIPPED,
                f"no CRM record to act on ({row.match_status}: {row.match_detail})", now, counts)
        return None
    return _Work(item, decision, row, CrmRef(row.crm_object_type, row.crm_record_id))


def _skip_reason(installation: Installation, decision: PlaybookDecision,
                 row: CustomerBilling) -> str | None:
    if installation.preview:
        return "the installation went back to preview before this was sent"
    if row.deleted:
        return "the billing customer was deleted"
    in_episode = row.payment_status == "past_due"
    if decision.touch_point.startswith("card_expiry:"):
        # Card-expiry pre-dunning belongs outside episodes; once one starts, dunning takes over.
        return "a dunning episode started before this was sent" if in_episode else None
    tidying = decision.kind in (ActionKind.COMPLETE_TASK, ActionKind.UNENROLL)  # episode-end work
    if not tidying and not decision.touch_point.startswith("pre_due:") and not in_episode:
        return "the episode ended before this was sent"
    return None


def _look_up(adapter: Any, work: Sequence[_Work], settings: PlaybookSettings) -> _Lookups:
    refs = list(dict.fromkeys(w.ref for w in work if w.ref))
    look = _Lookups(open_tasks=adapter.open_tasks(refs), owner_of=adapter.record_owners(refs))
    enroll_refs = list(dict.fromkeys(w.ref for w in work if w.decision.kind == ActionKind.ENROLL))
    if enroll_refs:
        look.contacts = adapter.record_contacts(enroll_refs)
        ids = sorted({o for r in enroll_refs if (o := look.owner_of.get(r))})
        look.owners = adapter.owners(ids) if ids else {}
    return look


def _already_created(session: Session, w: _Work, counts: Any, now: datetime) -> bool:
    """A task made by an earlier attempt whose answer was lost carries this decision's key."""
    key = str(w.decision.id)
    found = next((t for t in w.open_tasks if t.ours and t.key == key), None)
    if found is None:
        return False
    w.decision.crm_task_id = found.task_id
    _finish(session, w.item, w.decision, DecisionStatus.APPLIED,
            f"task {found.task_id} exists (made by an earlier attempt)", now, counts)
    return True


# --- planning --------------------------------------------------------------------------------


def _owner_for_task(w: _Work, look: _Lookups, settings: PlaybookSettings) -> str | None:
    return look.owner_of.get(w.ref) or settings.fallback_owner_id


def _due_at(installation: Installation, w: _Work, settings: PlaybookSettings,
            now: datetime) -> str:
    """The due time in the installation's own offset: a CRM that keeps only a due *date*
    (Salesforce ActivityDate) then takes the local business day, not the UTC day (east of UTC,
    09:00 local is still the day before in UTC)."""
    due = w.decision.detail.get("due_at")
    if due:
        at = datetime.fromisoformat(due.replace("Z", "+00:00"))
    else:
        cal = business_calendar(installation, settings)
        at = task_due_at(cal.today(now), cal, settings.working_hour)
    return at.astimezone(ZoneInfo(installation.timezone)).isoformat(timespec="seconds")


def _plan_task(session: Session, installation: Installation, w: _Work, look: _Lookups,
               settings: PlaybookSettings, tasks: list, counts: Any, now: datetime) -> None:
    d = w.decision
    if d.kind == ActionKind.CALL_TASK:
        _refresh_call_content(installation, w, now)
        ledger = ledger_for(session, installation, w.row.id, d.episode_start, d.day)
        blocked = open_call_task_blocking(w.open_tasks, ledger, now)
        kind, priority = TaskKind.CALL, "HIGH"
    else:
        blocked = open_todo_blocking(w.open_tasks, d.detail.get("subject", ""))
        kind, priority = TaskKind.TODO, "MEDIUM"
    if blocked:
        _finish(session, w.item, d, DecisionStatus.SKIPPED, blocked, now, counts)
        return
    tasks.append((w, CrmTask(key=str(d.id), ref=w.ref, kind=kind, subject=d.detail["subject"],
                             body=d.detail["body"], due_at=_due_at(installation, w, settings, now),
                             owner_id=_owner_for_task(w, look, settings), priority=priority)))


def _refresh_call_content(installation: Installation, w: _Work, now: datetime) -> None:
    """Say in the task what is known when it is sent: the decline of an attempt often arrives a
    moment after the invoice event that started the episode (and the decision)."""
    state = _state(installation, w.row, now)
    reason = current_failure_reason(state)
    content = call_task(state, reason, w.row.desired.get("payment_link") or None)
    w.decision.detail = {**w.decision.detail, "subject": content.subject, "body": content.body,
                         "card_update": is_card_update(reason)}


def _plan_enrollment(session: Session, installation: Installation, w: _Work, look: _Lookups,
                     settings: PlaybookSettings, tasks: list, enrolling: list, counts: Any,
                     now: datetime) -> None:
    reason = current_failure_reason(_state(installation, w.row, now))
    w.decision.detail = {**w.decision.detail, "card_update": is_card_update(reason)}
    profile = CustomerFacts.from_json(w.row.facts).profile
    contact = billing_contact(look.contacts.get(w.ref, []), profile.email)
    if contact is None:
        _fall_back_to_todo(session, installation, w, TodoReason.NO_BILLING_CONTACT, "", look,
                           settings, tasks, counts, now)
        return
    owner_id = look.owner_of.get(w.ref)
    sender = sequence_sender(look.owners.get(owner_id) if owner_id else None, settings)
    if sender is None:
        _fall_back_to_todo(session, installation, w, TodoReason.NO_SENDER, "", look, settings,
                           tasks, counts, now)
        return
    w.decision.detail = {**w.decision.detail, "contact_id": contact.contact_id,
                         "sender_user_id": sender[0]}
    enrolling.append((w, Enrollment(key=str(w.decision.id), contact_id=contact.contact_id,
                                    sequence_id=w.decision.detail["sequence_id"],
                                    sender_user_id=sender[0], sender_email=sender[1])))


def _state(installation: Installation, row: CustomerBilling, now: datetime) -> CustomerState:
    return derive_state(CustomerFacts.from_json(row.facts), now=now,
                        tz=ZoneInfo(installation.timezone))


def _fall_back_to_todo(session: Session, installation: Installation, w: _Work,
                       reason: TodoReason, detail: str, look: _Lookups,
                       settings: PlaybookSettings, tasks: list, counts: Any, now: datetime) -> None:
    """§6: an enrollment that cannot be made becomes a TODO task, and counts as the enrollment."""
    d = w.decision
    words = todo_reason_words(reason, sequence=d.detail.get("sequence", ""), detail=detail)
    if d.detail.get("sequence") == "pre_due":
        # The pre-due reminder is a courtesy: the owner gets no task for it.
        _finish(session, w.item, d, DecisionStatus.FAILED, f"not enrolled: {words}", now, counts)
        return
    state = _state(installation, w.row, now)
    failure = current_failure_reason(state)
    content = todo_task(reason.value, words, state, failure, w.row.desired.get("payment_link"))
    d.detail = {**d.detail, "todo_reason": reason.value, "fallback": "todo_task",
                "subject": content.subject, "body": content.body}
    d.result = f"not enrolled: {words}; TODO task for the owner instead"
    blocked = open_todo_blocking(w.open_tasks, content.subject)
    if blocked:
        _finish(session, w.item, d, DecisionStatus.SKIPPED, f"{d.result} ({blocked})", now, counts)
        return
    tasks.append((w, CrmTask(key=str(d.id), ref=w.ref, kind=TaskKind.TODO, subject=content.subject,
                             body=content.body, due_at=_due_at(installation, w, settings, now),
                             owner_id=_owner_for_task(w, look, settings), priority="MEDIUM")))


# --- the calls -------------------------------------------------------------------------------


def _complete(session: Session, adapter: Any, work: Sequence[_Work], counts: Any,
              now: datetime) -> None:
    by_key = {str(w.decision.id): w for w in work}
    report = adapter.complete_tasks([TaskCompletion(k, w.decision.crm_task_id,
                                                    w.decision.detail.get("note", ""))
                                     for k, w in by_key.items()])
    counts.calls += report.calls
    for key in report.ok:
        w = by_key[key]
        _mark_call_completed(session, w.decision, now)
        _finish(session, w.item, w.decision, DecisionStatus.APPLIED,
                f"task {w.decision.crm_task_id} completed: {w.decision.detail.get('note', '')}",
                now, counts)
    for err in report.failed:
        w = by_key[err.key]
        if err.retriable:
            _retry(session, w, err.reason, now, counts)
        else:
            _mark_call_completed(session, w.decision, now)  # gone or closed already: nothing open
            _finish(session, w.item, w.decision, DecisionStatus.SKIPPED,
                    f"task {w.decision.crm_task_id} could not be completed: {err.reason}", now,
                    counts)


def _unenroll(session: Session, adapter: Any, work: Sequence[_Work], counts: Any, now: datetime) -> None:
    """Episode end on Salesforce: the contacts we enrolled leave their cadence."""
    if not hasattr(adapter, "unenroll"):  # decided only for CRMs that can; say so if one cannot
        for w in work:
            _finish(session, w.item, w.decision, DecisionStatus.SKIPPED,
                    "this CRM has no unenroll API", now, counts)
        return
    by_key = {str(w.decision.id): w for w in work}
    report = adapter.unenroll([Enrollment(k, w.decision.detail.get("contact_id", ""), "", "", "")
                               for k, w in by_key.items()])
    counts.calls += report.calls
    for key in report.ok:
        w = by_key[key]
        _finish(session, w.item, w.decision, DecisionStatus.APPLIED,
                f"contact {w.decision.detail.get('contact_id')} removed from the cadence", now, counts)
    for err in report.failed:
        _retry_or_fail(session, by_key[err.key], err, "the CRM refused to remove the cadence target",
                       now, counts)


def _mark_call_completed(session: Session, completion: PlaybookDecision, now: datetime) -> None:
    call = session.exec(select(PlaybookDecision).where(
        PlaybookDecision.customer_row_id == completion.customer_row_id,
        PlaybookDecision.kind == ActionKind.CALL_TASK.value,
        PlaybookDecision.crm_task_id == completion.crm_task_id)).first()
    if call is not None and call.completed_at is None:
        call.completed_at = now
        session.add(call)


def _enroll(session: Session, installation: Installation, adapter: Any,
            enrolling: list[tuple[_Work, Enrollment]], look: _Lookups,
            settings: PlaybookSettings, tasks: list, counts: Any, now: datetime) -> None:
    by_key = {e.key: w for w, e in enrolling}
    report = adapter.enroll([e for _, e in enrolling])
    counts.calls += report.calls
    for key, enrollment_id in report.created.items():
        w = by_key[key]
        w.decision.crm_enrollment_id = str(enrollment_id)
        _finish(session, w.item, w.decision, DecisionStatus.APPLIED,
                f"enrolled in the {w.decision.detail.get('sequence')} sequence", now, counts)
    for err in report.failed:
        w = by_key[err.key]
        if err.retriable:
            _retry(session, w, err.reason, now, counts)
            continue
        if err.category == "already_enrolled" and w.item.attempts > 0:
            # An earlier attempt timed out after HubSpot had enrolled the contact: that was us.
            _finish(session, w.item, w.decision, DecisionStatus.APPLIED,
                    "enrolled (confirmed on retry: the contact is in a sequence)", now, counts)
            continue
        reason = (TodoReason.NO_SEQUENCE_SCOPES if err.category == "missing_scope"
                  else TodoReason.CRM_REFUSED)
        detail = REFUSAL_WORDS.get(err.category, err.reason)
        w.decision.detail = {**w.decision.detail, "refusal": err.category, "crm_reason": err.reason}
        _fall_back_to_todo(session, installation, w, reason, detail, look, settings, tasks,
                           counts, now)


def _create_tasks(session: Session, adapter: Any, tasks: list[tuple[_Work, CrmTask]],
                  counts: Any, now: datetime) -> None:
    by_key = {t.key: w for w, t in tasks}
    report = adapter.create_tasks([t for _, t in tasks])
    counts.calls += report.calls
    for key, task_id in report.created.items():
        w = by_key[key]
        w.decision.crm_task_id = str(task_id)
        what = "TODO task" if w.decision.kind != ActionKind.CALL_TASK else "CALL task"
        result = w.decision.result or ""
        done = f"{what} {task_id} created"
        _finish(session, w.item, w.decision, DecisionStatus.APPLIED,
                f"{result}: {done}" if result else done, now, counts)
    for err in report.failed:
        _retry_or_fail(session, by_key[err.key], err, "the CRM refused the task", now, counts)


# --- bookkeeping -----------------------------------------------------------------------------


def _finish(session: Session, item: OutboxItem, decision: PlaybookDecision,
            status: DecisionStatus, result: str, now: datetime, counts: Any) -> None:
    decision.status, decision.result = status.value, result[:1000]
    if status is DecisionStatus.APPLIED:
        decision.applied_at = now
    session.add(decision)
    outbox_status = "failed" if status is DecisionStatus.FAILED else "done"
    outbox.complete(session, [item], outbox_status, now, outcome=result[:300])
    counts.actions += status is DecisionStatus.APPLIED
    counts.skipped_actions += status is DecisionStatus.SKIPPED
    counts.failed += status is DecisionStatus.FAILED
    if status is DecisionStatus.FAILED:
        counts.errors.append(f"decision {decision.id}: {result[:200]}")


def _retry_or_fail(session: Session, w: _Work, err: Any, refused: str, now: datetime, counts: Any) -> None:
    """A per-record error: try again later when it may pass, else record the refusal."""
    if err.retriable:
        _retry(session, w, err.reason, now, counts)
    else:
        _finish(session, w.item, w.decision, DecisionStatus.FAILED, f"{refused}: {err.reason}", now, counts)


def _retry(session: Session, w: _Work, reason: str, now: datetime, counts: Any) -> None:
    if w.item.attempts + 1 >= MAX_ATTEMPTS:
        _finish(session, w.item, w.decision, DecisionStatus.FAILED,
                f"gave up after {MAX_ATTEMPTS} tries: {reason}", now, counts)
        return
    outbox.retry_later(session, w.item, now, reason)
    counts.retried += 1

