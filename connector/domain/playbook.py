"""The playbook of PRODUCT.md §6 as pure decisions.

Two steps, because the CRM's own data is only known where the CRM is called:
- `decide` runs at a touch point with what the connector knows (state, segment, the ledger of this
  episode, settings): *what* to do — a CALL task, an enrollment in the gentle or firm sequence,
  or a TODO task when enrolling cannot work (no sequence set, scopes not granted).
- the `resolve_*` helpers run when a decision is applied, with the CRM's answers: the billing
  contact, the sender, the open tasks. They may turn an enrollment into a TODO task (no billing
  contact, no sender, CRM refusal) or skip a CALL task (one of ours is still open).

The ledger holds only the connector's own decisions; a human's tasks never count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from connector.domain.card_expiry import ExpiringCard
from connector.domain.fields import FailureReason, Segment
from connector.domain.playbook_settings import PlaybookSettings
from connector.domain.risk import current_failure_reason
from connector.domain.state import CustomerState, Outcome
from connector.domain.task_content import (
    TaskContent,
    call_task,
    card_expiring_task,
    completion_note,
    is_card_update,
    todo_task,
)
from connector.ports import Contact, OpenTask, Owner, TaskKind

EPISODE_END = "end"
# HubSpot's search index lags behind writes (seconds, sometimes minutes): a task we created this
# recently may be missing from an open-tasks search and must still count as open.
SEARCH_LAG = timedelta(minutes=15)


class ActionKind(StrEnum):
    CALL_TASK = "call_task"
    ENROLL = "enroll"
    TODO_TASK = "todo_task"
    COMPLETE_TASK = "complete_task"
    UNENROLL = "unenroll"  # episode end, Salesforce: the target leaves its cadence


class DecisionStatus(StrEnum):
    PROPOSED = "proposed"  # queued for the CRM
    PREVIEWED = "previewed"  # preview mode: shown, never sent
    APPLIED = "applied"
    FAILED = "failed"
    DEFERRED = "deferred"  # over the daily cap: runs the next day
    SKIPPED = "skipped"  # nothing to do after all (e.g. our CALL task still open)


class TodoReason(StrEnum):
    NO_SEQUENCE = "no_sequence"
    NO_SEQUENCE_SCOPES = "no_sequence_scopes"
    NO_BILLING_CONTACT = "no_billing_contact"
    NO_SENDER = "no_sender"
    CRM_REFUSED = "crm_refused"


TODO_REASON_WORDS: dict[TodoReason, str] = {
    TodoReason.NO_SEQUENCE: "no {sequence} sequence is set in the playbook settings",
    TodoReason.NO_SEQUENCE_SCOPES: "the app was installed without the sequence scopes",
    TodoReason.NO_BILLING_CONTACT: "no contact has the billing email and the company has no "
                                   "single associated contact",
    TodoReason.NO_SENDER: "neither the company owner nor the fallback sender can send sequences",
    TodoReason.CRM_REFUSED: "the CRM refused the enrollment: {detail}",
}

# What still holds a place in the ledger: queued, shown, done or waiting for tomorrow.
_STANDING = frozenset({DecisionStatus.PROPOSED, DecisionStatus.PREVIEWED, DecisionStatus.APPLIED,
                       DecisionStatus.DEFERRED})
_NOT_YET_SENT = frozenset({DecisionStatus.PROPOSED, DecisionStatus.PREVIEWED,
                           DecisionStatus.DEFERRED})


@dataclass(frozen=True)
class LedgerEntry:
    """One earlier decision of this episode, as the ledger knows it."""

    kind: ActionKind
    touch_point: str
    status: DecisionStatus
    crm_task_id: str | None = None
    applied_at: datetime | None = None
    completed: bool = False  # a CALL task we closed (or a completion decision made for it)
    contact_id: str | None = None  # ENROLL / UNENROLL: the contact (Salesforce: cadence target)


@dataclass(frozen=True)
class Decision:
    kind: ActionKind
    why: str
    content: TaskContent | None = None
    sequence: str | None = None  # "gentle" | "firm" | "pre_due"
    sequence_id: str | None = None
    todo_reason: TodoReason | None = None
    task_id: str | None = None  # COMPLETE_TASK: the task to close; CALL: the one it follows
    note: str = ""
    card_update: bool = False
    contact_id: str | None = None  # UNENROLL: the cadence target to remove

    @property
    def counts_toward_cap(self) -> bool:
        """New tasks and enrollments count (TODO fallbacks too); tidying up after an episode
        (closing our task, leaving the cadence) does not."""
        return self.kind not in (ActionKind.COMPLETE_TASK, ActionKind.UNENROLL)


def sequence_for(segment: Segment) -> str | None:
    """§6: gentle for first-time-late and low-risk accounts in an episode, firm for habitual."""
    if segment in (Segment.FIRST_TIME_LATE, Segment.LOW_RISK):
        return "gentle"
    if segment is Segment.HABITUAL_LATE:
        return "firm"
    return None


def decide(*, state: CustomerState, segment: Segment, risk_score: int, touch_point: str,
           ledger: Sequence[LedgerEntry], settings: PlaybookSettings,
           payment_link: str | None = None, sequences_granted: bool = True) -> list[Decision]:
    """The actions of one touch point of the open episode (none outside an episode)."""
    if not state.in_episode:
        return []
    if segment is Segment.HIGH_RISK:
        call = _decide_call(state, risk_score, touch_point, ledger, payment_link)
        return [call] if call else []
    sequence = sequence_for(segment)
    if sequence is None or _enrolled_this_episode(ledger):
        return []
    return [_decide_enrollment(state, segment, sequence, settings, payment_link, sequences_granted)]


def _decide_call(state: CustomerState, risk_score: int, touch_point: str,
                 ledger: Sequence[LedgerEntry], payment_link: str | None) -> Decision | None:
    calls = [e for e in ledger if e.kind is ActionKind.CALL_TASK and e.status in _STANDING]
    if any(e.touch_point == touch_point or e.status in _NOT_YET_SENT for e in calls):
        return None  # decided already, or waiting to be sent: never a second one
    reason = current_failure_reason(state)
    previous = next((e for e in reversed(calls) if not e.completed and e.crm_task_id), None)
    why = f"high risk (score {risk_score}) at {touch_point.replace('_', ' ')}"
    if previous is not None:
        why += "; only if the previous CALL task was completed and the account is still high risk"
    return Decision(ActionKind.CALL_TASK, why, call_task(state, reason, payment_link),
                    task_id=previous.crm_task_id if previous else None,
                    card_update=is_card_update(reason))


def _enrolled_this_episode(ledger: Sequence[LedgerEntry]) -> bool:
    # A TODO task made instead of an enrollment counts as the episode's enrollment (§6).
    return any(e.kind in (ActionKind.ENROLL, ActionKind.TODO_TASK) and e.status in _STANDING
               for e in ledger)


def _decide_enrollment(state: CustomerState, segment: Segment, sequence: str,
                       settings: PlaybookSettings, payment_link: str | None,
                       sequences_granted: bool) -> Decision:
    reason = current_failure_reason(state)
    card = is_card_update(reason)
    sequence_id = settings.gentle_sequence_id if sequence == "gentle" else settings.firm_sequence_id
    why = f"{segment.value.replace('_', ' ')} in an episode: {sequence} sequence, once per episode"
    if card:
        why += " (card update path: the payment link leads)"
    if not sequence_id:
        return todo_decision(TodoReason.NO_SEQUENCE, state, reason, payment_link, why,
                             sequence=sequence)
    if not sequences_granted:
        return todo_decision(TodoReason.NO_SEQUENCE_SCOPES, state, reason, payment_link, why,
                             sequence=sequence)
    return Decision(ActionKind.ENROLL, why, sequence=sequence, sequence_id=sequence_id,
                    card_update=card)


def decide_pre_due(*, state: CustomerState, invoice_id: str, ledger: Sequence[LedgerEntry],
                   settings: PlaybookSettings, sequences_granted: bool = True) -> list[Decision]:
    """§6 pre-due reminder (off by default): once per send_invoice invoice, for accounts with an
    episode in the last 365 days, enroll the billing contact in the pre-due sequence."""
    if not settings.pre_due_reminder or not settings.pre_due_sequence_id:
        return []
    if state.late_payments_12m < 1 or not sequences_granted:
        return []  # a reminder is a courtesy: no TODO task when it can't be sent
    if any(e.status in _STANDING for e in ledger):
        return []
    why = (f"invoice {invoice_id} falls due in {settings.pre_due_days} days and the account was "
           f"late in the last 12 months: pre-due reminder, once per invoice")
    return [Decision(ActionKind.ENROLL, why, sequence="pre_due",
                     sequence_id=settings.pre_due_sequence_id)]


def decide_card_expiring(*, state: CustomerState, card: ExpiringCard,
                         ledger: Sequence[LedgerEntry], settings: PlaybookSettings,
                         payment_link: str | None = None,
                         sequences_granted: bool = True) -> list[Decision]:
    """Card-expiry pre-dunning (off by default): once per card and expiry, enroll the billing
    contact in the card-update sequence, or — without one, or without the sequence scopes — a
    TODO task for the owner with the payment link. `ledger`: this card's earlier decisions."""
    if not settings.card_expiry_reminder:
        return []
    if any(e.status in _STANDING for e in ledger):
        return []
    why = f"the {card.words()}: card-expiry reminder, once per card"
    if settings.card_update_sequence_id and sequences_granted:
        return [Decision(ActionKind.ENROLL, why, sequence="card_update",
                         sequence_id=settings.card_update_sequence_id, card_update=True)]
    return [Decision(ActionKind.TODO_TASK, why,
                     card_expiring_task(card.words(), state, payment_link, why),
                     sequence="card_update", card_update=True)]


def todo_reason_words(reason: TodoReason, *, sequence: str = "", detail: str = "") -> str:
    return TODO_REASON_WORDS[reason].format(sequence=sequence, detail=detail or "no reason given")


def todo_decision(reason: TodoReason, state: CustomerState, failure: FailureReason | None,
                  payment_link: str | None, why: str, *, sequence: str | None = None,
                  detail: str = "") -> Decision:
    """A TODO task in place of an enrollment, saying why it could not be made."""
    words = todo_reason_words(reason, sequence=sequence or "", detail=detail)
    return Decision(ActionKind.TODO_TASK, f"{why}; TODO instead: {words}",
                    todo_task(reason.value, words, state, failure, payment_link),
                    sequence=sequence, todo_reason=reason, card_update=is_card_update(failure))


def decide_episode_end(outcome: Outcome | None, ledger: Sequence[LedgerEntry], *,
                       can_unenroll: bool = False, keep_enrolled: frozenset[str] = frozenset()
                       ) -> list[Decision]:
    """Close our CALL tasks of the ended episode, with a note naming the outcome; where the CRM
    can (Salesforce), take the contacts we enrolled out of their cadence (§6). HubSpot has no
    unenroll API: the install guide's workflow does it there. `keep_enrolled`: contacts a later
    episode enrolled, which a removal (by contact, from whatever cadence) would take out."""
    note = completion_note(outcome)
    why = f"episode ended ({outcome.value if outcome else 'ended'})"
    closing = {e.crm_task_id for e in ledger if e.kind is ActionKind.COMPLETE_TASK
               and e.status in _STANDING}
    decisions = [Decision(ActionKind.COMPLETE_TASK, why, task_id=e.crm_task_id, note=note)
                 for e in ledger
                 if e.kind is ActionKind.CALL_TASK and e.status is DecisionStatus.APPLIED
                 and e.crm_task_id and not e.completed and e.crm_task_id not in closing]
    if can_unenroll:
        leaving = {e.contact_id for e in ledger if e.kind is ActionKind.UNENROLL and e.status in _STANDING}
        enrolled = dict.fromkeys(e.contact_id for e in ledger if e.kind is ActionKind.ENROLL
                                 and e.status is DecisionStatus.APPLIED and e.contact_id)
        decisions += [Decision(ActionKind.UNENROLL, why, contact_id=c)
                      for c in enrolled if c not in leaving and c not in keep_enrolled]
    return decisions


# --- when applying: the CRM's answers -------------------------------------------------------


def billing_contact(contacts: Sequence[Contact], billing_email: str | None) -> Contact | None:
    """§6: the contact whose email is the billing email; else the only associated contact."""
    if billing_email:
        wanted = billing_email.strip().casefold()
        same = [c for c in contacts if c.email and c.email.strip().casefold() == wanted]
        if same:
            return same[0]
    return contacts[0] if len(contacts) == 1 else None


def sequence_sender(owner: Owner | None, settings: PlaybookSettings) -> tuple[str, str] | None:
    """(user id, email) of the sender: the company owner, else the fallback sender setting."""
    if owner is not None and owner.active and owner.user_id and owner.email:
        return owner.user_id, owner.email
    if settings.fallback_sender_user_id and settings.fallback_sender_email:
        return settings.fallback_sender_user_id, settings.fallback_sender_email
    return None


def open_call_task_blocking(open_tasks: Sequence[OpenTask], ledger: Sequence[LedgerEntry],
                            now: datetime) -> str | None:
    """Why a new CALL task must not be created (None: it may).

    Both sources are needed: the CRM's open tasks (ours may have been completed or deleted there)
    and our ledger (a task created moments ago may not be searchable yet).
    """
    ours = [t for t in open_tasks if t.ours and t.kind is TaskKind.CALL]
    if ours:
        return f"our CALL task {ours[0].task_id} is still open"
    for e in ledger:
        if (e.kind is ActionKind.CALL_TASK and e.status is DecisionStatus.APPLIED and e.applied_at
                and not e.completed and now - e.applied_at < SEARCH_LAG):
            return f"our CALL task {e.crm_task_id} was created moments ago"
    return None


def open_todo_blocking(open_tasks: Sequence[OpenTask], subject: str) -> str | None:
    """At most one open connector TODO task per account and reason (the subject names the reason)."""
    same = [t for t in open_tasks if t.ours and t.kind is TaskKind.TODO and t.subject == subject]
    return f"our TODO task {same[0].task_id} for the same reason is still open" if same else None


@dataclass(frozen=True)
class CapCandidate:
    key: int  # the caller's id of the decision
    risk_score: int


def split_by_cap(candidates: Sequence[CapCandidate], used_today: int, cap: int
                 ) -> tuple[list[int], list[int]]:
    """(released, deferred) keys: what fits under today's cap, highest risk score first."""
    room = max(cap - used_today, 0)
    ranked = sorted(candidates, key=lambda c: (-c.risk_score, c.key))
    return [c.key for c in ranked[:room]], [c.key for c in ranked[room:]]
