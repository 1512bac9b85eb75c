"""Running the playbook (PRODUCT.md §6): touch points → decisions in the ledger → the outbox.

Where it hooks in: `customers.refresh_customer` calls `on_customer_refreshed` after deriving the
state. That is the one place both paths meet — a webhook (day 0 runs as soon as the episode
starts) and the daily tick (later touch points, deferred decisions). Decisions need no CRM data:
what depends on the CRM record (owner, billing contact, open tasks) is resolved when the outbox
drains (`playbook_apply`), after the record was matched — so an episode that starts before its
company is matched still gets its day-0 decision, applied once the match is made.

Preview: decisions are recorded as `previewed`, never queued, and count toward no limit. Live:
cap-counting decisions are born `deferred` and released under the daily cap in the same
transaction (highest risk score first), so a flood waits for tomorrow instead of being dropped.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from connector.context import Services
from connector.crm import adapter_for
from connector.domain.billing_facts import CustomerFacts
from connector.domain.calendar import (
    BusinessCalendar,
    due_touch_point,
    pre_due_day,
    task_due_at,
    touch_points,
)
from connector.domain.card_expiry import TOUCH_POINT_PREFIX as CARD_EXPIRY
from connector.domain.card_expiry import ExpiringCard, expiring_card
from connector.domain.fields import Segment
from connector.domain.playbook import (
    EPISODE_END,
    ActionKind,
    CapCandidate,
    Decision,
    DecisionStatus,
    LedgerEntry,
    decide,
    decide_card_expiring,
    decide_episode_end,
    decide_pre_due,
    split_by_cap,
)
from connector.domain.playbook_settings import (
    DEFAULT_PLAYBOOK,
    PlaybookSettings,
    parse_playbook_settings,
)
from connector.domain.policy import PolicyError
from connector.domain.risk import RiskScore
from connector.domain.state import CustomerState, Episode
from connector.ports import SegmentList
from connector.storage.db import session_scope
from connector.storage.models import (
    AuditLog,
    CrmCredential,
    CustomerBilling,
    Installation,
    OutboxItem,
    PlaybookDecision,
)

log = logging.getLogger(__name__)

PLAYBOOK_ACTION = "playbook_action"  # outbox kind: one item per decision
SEQUENCE_SCOPE = "automation.sequences.enrollments.write"
_TASK_KINDS = (ActionKind.CALL_TASK, ActionKind.TODO_TASK, ActionKind.ENROLL)  # ENROLL may fall back
LIST_NAMES: dict[Segment, str] = {
    Segment.HIGH_RISK: "Billing risk: High risk",
    Segment.HABITUAL_LATE: "Billing risk: Habitual late",
    Segment.FIRST_TIME_LATE: "Billing risk: First-time late",
    Segment.LOW_RISK: "Billing risk: Low risk",
}


# --- settings --------------------------------------------------------------------------------


def playbook_settings(installation: Installation) -> PlaybookSettings:
    """The installation's playbook settings (validated when saved; defaults when missing, or when
    stored ones no longer pass a tightened rule)."""
    try:
        return parse_playbook_settings(installation.settings.get("playbook", {}))
    except PolicyError as exc:
        log.warning("playbook settings of installation %s no longer valid (%s); defaults apply",
                    installation.id, exc.message)
        return DEFAULT_PLAYBOOK


def save_playbook_settings(session: Session, installation: Installation, raw: dict, *,
                           actor: str, now: datetime) -> PlaybookSettings:
    """Validate and store new playbook settings; on PolicyError nothing changes."""
    parsed = parse_playbook_settings(raw, country=installation.country)
    installation.settings = {**installation.settings, "playbook": dict(raw)}
    installation.updated_at = now
    session.add(installation)
    session.add(AuditLog(installation_id=installation.id, at=now, actor=actor,
                         action="playbook_settings.saved", detail={"keys": sorted(raw)}))
    return parsed


def business_calendar(installation: Installation, settings: PlaybookSettings) -> BusinessCalendar:
    return BusinessCalendar(installation.country or "US", settings.region, installation.timezone)


# --- the hook --------------------------------------------------------------------------------


def playbook_paused(row: CustomerBilling, now: datetime) -> bool:
    """Whether the playbook should leave this customer alone at `now` (a card set a pause)."""
    until = row.playbook_paused_until
    if until is None:
        return False
    if until.tzinfo is None:
        until = until.replace(tzinfo=UTC)  # SQLite returns naive datetimes
    return until > now



def on_customer_refreshed(session: Session, installation: Installation, row: CustomerBilling,
                          state: CustomerState, risk: RiskScore, segment: Segment, *,
                          now: datetime, payment_link: str | None, at_tick: bool = False) -> None:
    """Run what the playbook owes this customer now (see the module docstring)."""
    if row.deleted or row.id is None:
        return
    settings = playbook_settings(installation)
    cal = business_calendar(installation, settings)
    today = cal.today(now)
    # Ended episodes close their tasks first, even while paused (that tidies up rather than
    # reaches out) and even when a newer episode is open: the end may arrive after the next
    # failure, and its task must not stay open for good nor block the new episode's.
    _close_ended_episodes(session, installation, row, state, risk, segment, today, now)
    if playbook_paused(row, now):
        # Support paused this account from the card: no new actions.
        log.info("playbook.paused customer_row=%s", row.id)
    elif state.current_episode is not None:
        _run_touch_point(session, installation, row, state, risk, segment, settings, cal,
                         today=today, now=now, link=payment_link, at_tick=at_tick)
    _run_card_expiry(session, installation, row, state, risk, segment, settings, today, now,
                     link=payment_link)
    if at_tick:
        _run_pre_due(session, installation, row, state, risk, segment, settings, cal, today, now)
    else:
        release_decisions(session, installation, now)


def _run_touch_point(session: Session, installation: Installation, row: CustomerBilling,
                     state: CustomerState, risk: RiskScore, segment: Segment,
                     settings: PlaybookSettings, cal: BusinessCalendar, *, today: date,
                     now: datetime, link: str | None, at_tick: bool) -> None:
    episode = state.current_episode
    assert episode is not None
    point = due_touch_point(episode.start, today, cal, settings.touch_point_days)
    if point is None:
        return  # day 0 fell on a weekend or holiday: the tick runs it on the next business day
    first = touch_points(episode.start, cal, settings.touch_point_days)[0]
    if not at_tick and point != first:
        return  # §6: later touch points run at the daily tick
    ran = f"{episode.start.isoformat()}:{point.name}"
    if at_tick and row.touch_point_run == ran:
        # §6: actions run at touch points. The latest one stays "due" until the next: without
        # this, every tick in between (weekends too) would act on whatever the segment became.
        return
    row.touch_point_run = ran
    session.add(row)
    ledger = ledger_for(session, installation, row.id, episode.start, today)
    decisions = decide(state=state, segment=segment, risk_score=risk.score,
                       touch_point=point.name, ledger=ledger, settings=settings,
                       payment_link=link, sequences_granted=sequences_granted(session, installation))
    for decision in _once_per_touch_point(session, row, episode.start, today, point.name,
                                          decisions, segment):
        record_decision(session, installation, row, episode.start, point.name, decision,
                        risk=risk.score, segment=segment, today=today, now=now)


_UNSENT = (DecisionStatus.PROPOSED.value, DecisionStatus.DEFERRED.value,
           DecisionStatus.PREVIEWED.value)


def _once_per_touch_point(session: Session, row: CustomerBilling, start: date, today: date,
                          point: str, decisions: list[Decision], segment: Segment
                          ) -> list[Decision]:
    """A touch point acts once. Day 0 is decided on each event of the attempt that starts the
    episode, and the decline often arrives a moment after the invoice event: when the segment
    changes before anything was sent, the new action replaces the old one; once something was
    sent, the touch point has acted."""
    if not decisions:
        return []
    kinds = {d.kind.value for d in decisions}
    earlier = session.exec(select(PlaybookDecision).where(
        PlaybookDecision.customer_row_id == row.id, PlaybookDecision.touch_point == point,
        PlaybookDecision.episode_start >= start, PlaybookDecision.episode_start <= today,
        PlaybookDecision.kind.not_in([*kinds, ActionKind.COMPLETE_TASK.value]))).all()
    if any(e.status == DecisionStatus.APPLIED.value for e in earlier):
        return []
    for e in earlier:
        if e.status in _UNSENT:
            e.status = DecisionStatus.SKIPPED.value
            e.result = (f"superseded before it was sent: the account became "
                        f"{segment.value.replace('_', ' ')} at the same touch point")
            session.add(e)
    return decisions


def _close_ended_episodes(session: Session, installation: Installation, row: CustomerBilling,
                          state: CustomerState, risk: RiskScore, segment: Segment, today: date,
                          now: datetime) -> None:
    episodes = sorted(state.episodes, key=lambda e: e.start)
    if not any(e.end is not None for e in episodes):
        return
    # What we did at episode touch points (card-expiry and pre-due work is keyed by other dates
    # and belongs to no episode): (decision's episode start, kind, enrolled contact).
    acted = [(d.episode_start, d.kind, _contact_of(d)) for d in session.exec(select(PlaybookDecision).where(
        PlaybookDecision.customer_row_id == row.id,
        PlaybookDecision.kind.in_((ActionKind.CALL_TASK.value, ActionKind.ENROLL.value)),
        PlaybookDecision.status == DecisionStatus.APPLIED.value,
        PlaybookDecision.touch_point.startswith("day_")))]
    for i, episode in enumerate(episodes):
        last = _last_day_of(episode, episodes[i + 1] if i + 1 < len(episodes) else None)
        if last is None or not any(episode.start <= start <= last for start, _, _ in acted):
            continue
        # A contact a later episode enrolled stays where it is: Salesforce removes a target from
        # whatever cadence it is in now.
        later = frozenset(c for start, kind, c in acted if start > last and kind == ActionKind.ENROLL.value and c)
        _close_episode(session, installation, row, episode, last, later, risk, segment, today, now)


def _last_day_of(episode: Episode, following: Episode | None) -> date | None:
    """The last `episode_start` date an ended episode's decisions can carry (None: not ended).

    By date range, as ledger_for (a late event can move an episode's start before its
    decisions'); but when the next episode starts on the day this one ended, that day's decisions
    are the next one's.
    """
    if episode.end is None:
        return None
    last = episode.end
    if following is not None and following.start <= last:
        last = following.start - timedelta(days=1)
    return last if last >= episode.start else None


def _close_episode(session: Session, installation: Installation, row: CustomerBilling,
                   episode: Episode, last: date, keep_enrolled: frozenset[str], risk: RiskScore,
                   segment: Segment, today: date, now: datetime) -> None:
    ledger = [e for e in ledger_for(session, installation, row.id, episode.start, last)
              if e.touch_point.startswith(("day_", f"{EPISODE_END}:"))]
    for decision in decide_episode_end(episode.outcome, ledger,
                                       can_unenroll=installation.crm == "salesforce",
                                       keep_enrolled=keep_enrolled):
        what = decision.task_id if decision.kind is ActionKind.COMPLETE_TASK else decision.contact_id
        record_decision(session, installation, row, episode.start, f"{EPISODE_END}:{what}", decision,
                        risk=risk.score, segment=segment, today=today, now=now)


def _run_pre_due(session: Session, installation: Installation, row: CustomerBilling,
                 state: CustomerState, risk: RiskScore, segment: Segment,
                 settings: PlaybookSettings, cal: BusinessCalendar, today: date,
                 now: datetime) -> None:
    if not settings.pre_due_reminder:
        return
    tz = ZoneInfo(installation.timezone)
    for invoice_id, due in _open_send_invoice_due_dates(row, tz):
        if not pre_due_day(due, cal, settings.pre_due_days) <= today < due:
            continue
        point = f"pre_due:{invoice_id}"
        ledger = [e for e in ledger_for(session, installation, row.id, None, today)
                  if e.touch_point == point]
        for decision in decide_pre_due(state=state, invoice_id=invoice_id, ledger=ledger,
                                       settings=settings,
                                       sequences_granted=sequences_granted(session, installation)):
            # Keyed by the due date (no episode): once per invoice.
            record_decision(session, installation, row, due, point, decision, risk=risk.score,
                            segment=segment, today=today, now=now)


def card_touch_point_due(installation: Installation, row: CustomerBilling, state: CustomerState,
                         now: datetime) -> ExpiringCard | None:
    """The card a card-expiry touch point is (or may be) about, when the setting is on."""
    if not playbook_settings(installation).card_expiry_reminder or row.deleted:
        return None
    return expiring_card(CustomerFacts.from_json(row.facts), now=now, in_episode=state.in_episode)


def _run_card_expiry(session: Session, installation: Installation, row: CustomerBilling,
                     state: CustomerState, risk: RiskScore, segment: Segment,
                     settings: PlaybookSettings, today: date, now: datetime, *,
                     link: str | None) -> None:
    """Card-expiry pre-dunning: once per card; a card updated in time cancels what is unsent."""
    facts = CustomerFacts.from_json(row.facts)
    card = expiring_card(facts, now=now, in_episode=state.in_episode)
    _cancel_card_touch_points(session, row, facts, keep=card.key if card else None)
    if card is None or not settings.card_expiry_reminder:
        return
    earlier = session.exec(select(PlaybookDecision).where(
        PlaybookDecision.customer_row_id == row.id, PlaybookDecision.touch_point == card.key))
    ledger = [LedgerEntry(ActionKind(d.kind), d.touch_point, DecisionStatus(d.status))
              for d in earlier
              if installation.preview or d.status != DecisionStatus.PREVIEWED]
    for decision in decide_card_expiring(state=state, card=card, ledger=ledger, settings=settings,
                                         payment_link=link,
                                         sequences_granted=sequences_granted(session, installation)):
        # Keyed by the card's last valid day (no episode): once per card and expiry.
        record_decision(session, installation, row, card.expires_on, card.key, decision,
                        risk=risk.score, segment=segment, today=today, now=now)


def _cancel_card_touch_points(session: Session, row: CustomerBilling, facts: CustomerFacts, *,
                              keep: str | None) -> None:
    """Unsent card-expiry decisions whose card no longer lapses before the renewal are skipped:
    the card updater (or the customer) fixed it first. Sent ones stay; they are the catches."""
    waiting = session.exec(select(PlaybookDecision).where(
        PlaybookDecision.customer_row_id == row.id,
        PlaybookDecision.touch_point.startswith(CARD_EXPIRY),
        PlaybookDecision.status.in_([DecisionStatus.DEFERRED.value, DecisionStatus.PROPOSED.value,
                                     DecisionStatus.PREVIEWED.value])))
    for entry in waiting:
        if entry.touch_point == keep:
            continue
        card_id = entry.touch_point.removeprefix(CARD_EXPIRY).rsplit(":", 1)[0]
        card = facts.cards.get(card_id)
        auto = card is not None and card.auto_updated_at is not None
        entry.status = DecisionStatus.SKIPPED.value
        entry.result = ("the card updater refreshed the card before it expired" if auto
                        else "the card was updated or replaced before it expired")
        session.add(entry)
        log.info("playbook.card_expiry_canceled customer_row=%s decision=%s auto=%s",
                 row.id, entry.id, auto)


def _open_send_invoice_due_dates(row: CustomerBilling, tz: ZoneInfo) -> list[tuple[str, date]]:
    out = []
    for invoice_id, record in CustomerFacts.from_json(row.facts).invoices.items():
        inv = record.snapshot
        if inv.collection_method == "send_invoice" and inv.status == "open" and inv.due_date:
            out.append((invoice_id, datetime.fromtimestamp(inv.due_date, tz).date()))
    return out


# --- the ledger ------------------------------------------------------------------------------


def ledger_for(session: Session, installation: Installation, customer_row_id: int,
               start: date | None, end: date) -> list[LedgerEntry]:
    """The customer's decisions of one episode (start..end dates), as the current mode counts them.

    By date range, not by exact start: a late event can move the episode's start earlier, and the
    decisions made under the later start still belong to the same episode. In live mode the
    preview backlog does not count (§6: going live applies decisions made from then on).
    """
    stmt = select(PlaybookDecision).where(PlaybookDecision.customer_row_id == customer_row_id,
                                          PlaybookDecision.episode_start <= end)
    if start is not None:
        stmt = stmt.where(PlaybookDecision.episode_start >= start)
    rows = session.exec(stmt.order_by(PlaybookDecision.id))
    out = []
    for d in rows:
        if not installation.preview and d.status == DecisionStatus.PREVIEWED:
            continue
        out.append(LedgerEntry(ActionKind(d.kind), d.touch_point, DecisionStatus(d.status),
                               d.crm_task_id or None, d.applied_at, d.completed_at is not None,
                               _contact_of(d)))
    return out


def _contact_of(d: PlaybookDecision) -> str | None:
    # An enrollment that fell back to a TODO task (the CRM refused) enrolled nobody.
    if d.kind == ActionKind.ENROLL.value and not d.crm_enrollment_id:
        return None
    return (d.detail or {}).get("contact_id")


def sequences_granted(session: Session, installation: Installation) -> bool:
    """False only when we know the token lacks the sequence scope (tests and demo have none)."""
    cred = session.exec(select(CrmCredential).where(
        CrmCredential.installation_id == installation.id)).first()
    if cred is None or not cred.scopes.strip():
        return True
    return SEQUENCE_SCOPE in cred.scopes.split()


def record_decision(session: Session, installation: Installation, row: CustomerBilling,
                    episode_start: date, touch_point: str, decision: Decision, *, risk: int,
                    segment: Segment, today: date, now: datetime) -> PlaybookDecision | None:
    """Store one decision unless this touch point already decided this kind (then None)."""
    exists = session.exec(select(PlaybookDecision.id).where(
        PlaybookDecision.customer_row_id == row.id, PlaybookDecision.episode_start == episode_start,
        PlaybookDecision.touch_point == touch_point, PlaybookDecision.kind == decision.kind.value)
    ).first()
    if exists is not None:
        return None
    detail = _detail(decision)
    if decision.kind in _TASK_KINDS:
        settings = playbook_settings(installation)
        detail["due_at"] = _iso(task_due_at(today, business_calendar(installation, settings),
                                            settings.working_hour))
    status = (DecisionStatus.PREVIEWED if installation.preview
              else DecisionStatus.DEFERRED if decision.counts_toward_cap
              else DecisionStatus.PROPOSED)
    entry = PlaybookDecision(
        installation_id=installation.id, customer_row_id=row.id, episode_start=episode_start,
        touch_point=touch_point, kind=decision.kind.value, why=decision.why, status=status.value,
        risk_score=risk, segment=segment.value, detail=detail,
        crm_task_id=decision.task_id or "" if decision.kind is ActionKind.COMPLETE_TASK else "",
        counts_toward_cap=decision.counts_toward_cap, day=today, created_at=now)
    try:
        with session.begin_nested():  # a concurrent worker may have stored the same key
            session.add(entry)
    except IntegrityError:
        return None
    if status is DecisionStatus.PREVIEWED:
        entry.result = "preview: shown, not sent"
    elif status is DecisionStatus.PROPOSED:
        _enqueue(session, entry, now)
    log.info("playbook.decided installation=%s customer_row=%s kind=%s point=%s status=%s",
             installation.id, row.id, entry.kind, touch_point, entry.status)
    return entry


def _detail(decision: Decision) -> dict:
    detail: dict = {"card_update": decision.card_update}
    if decision.content:
        detail |= {"subject": decision.content.subject, "body": decision.content.body}
    for name in ("sequence", "sequence_id", "note"):
        if getattr(decision, name):
            detail[name] = getattr(decision, name)
    if decision.todo_reason:
        detail["todo_reason"] = decision.todo_reason.value
    if decision.kind is ActionKind.CALL_TASK and decision.task_id:
        detail["follows_task_id"] = decision.task_id
    if decision.contact_id:
        detail["contact_id"] = decision.contact_id
    return detail


def _enqueue(session: Session, entry: PlaybookDecision, now: datetime) -> None:
    session.add(OutboxItem(installation_id=entry.installation_id, kind=PLAYBOOK_ACTION,
                           customer_row_id=entry.customer_row_id,
                           payload={"decision_id": entry.id}, available_at=now, created_at=now))


# --- the daily cap ---------------------------------------------------------------------------


def release_decisions(session: Session, installation: Installation, now: datetime) -> int:
    """Queue waiting decisions under today's cap, highest risk score first; the rest wait a day.

    Returns how many were queued. Today is the installation's calendar day.
    """
    if installation.preview:
        return 0
    settings = playbook_settings(installation)
    cal = business_calendar(installation, settings)
    today = cal.today(now)
    waiting = list(session.exec(select(PlaybookDecision).where(
        PlaybookDecision.installation_id == installation.id,
        PlaybookDecision.status == DecisionStatus.DEFERRED.value)))
    if not waiting:
        return 0
    used = used_today(session, installation.id, today)
    released, deferred = split_by_cap([CapCandidate(d.id, d.risk_score) for d in waiting],
                                      used, settings.daily_cap)
    by_id = {d.id: d for d in waiting}
    for decision_id in released:
        entry = by_id[decision_id]
        entry.status, entry.day = DecisionStatus.PROPOSED.value, today
        if entry.kind in _TASK_KINDS:
            # A deferred task is due the business day after the day it is finally sent.
            entry.detail = {**entry.detail, "due_at": _iso(task_due_at(today, cal,
                                                                       settings.working_hour))}
        if entry.result.startswith("deferred"):
            entry.result = ""
        session.add(entry)
        _enqueue(session, entry, now)
    for decision_id in deferred:
        entry = by_id[decision_id]
        entry.result = (f"deferred: the daily cap of {settings.daily_cap} new tasks and "
                        f"enrollments was reached on {today.isoformat()}; runs on "
                        f"{(today + timedelta(days=1)).isoformat()}")
        session.add(entry)
    if deferred:
        log.info("playbook.cap_reached installation=%s deferred=%s", installation.id, len(deferred))
    return len(released)


def used_today(session: Session, installation_id: int, today: date) -> int:
    """New tasks and enrollments queued or made on the installation's calendar day."""
    rows = session.exec(select(PlaybookDecision.id).where(
        PlaybookDecision.installation_id == installation_id, PlaybookDecision.day == today,
        PlaybookDecision.counts_toward_cap.is_(True),
        PlaybookDecision.status.in_([DecisionStatus.PROPOSED.value, DecisionStatus.APPLIED.value,
                                     DecisionStatus.FAILED.value])))
    return len(list(rows))


def _iso(at: datetime) -> str:
    # Keeps the installation's offset (not timestamps.iso_utc): Salesforce's ActivityDate is the
    # local calendar day of the due time, which UTC would move east of Greenwich.
    return at.isoformat(timespec="seconds").replace("+00:00", "Z")


def drop_stale_deferred(session: Session, installation_id: int, now: datetime) -> int:
    """Deferred decisions of customers no longer in an episode are skipped, not sent late."""
    rows = session.exec(select(PlaybookDecision, CustomerBilling.payment_status).join(
        CustomerBilling, CustomerBilling.id == PlaybookDecision.customer_row_id).where(
        PlaybookDecision.installation_id == installation_id,
        PlaybookDecision.status == DecisionStatus.DEFERRED.value,
        ~PlaybookDecision.touch_point.startswith("pre_due:"),
        ~PlaybookDecision.touch_point.startswith(CARD_EXPIRY)))
    count = 0
    for entry, payment_status in rows:
        if payment_status != "past_due":
            entry.status, entry.result = DecisionStatus.SKIPPED.value, "the episode ended first"
            session.add(entry)
            count += 1
    return count


def run_tick(session: Session, installation: Installation, now: datetime) -> int:
    """After the tick refreshed every customer: drop stale waiting decisions, release the rest."""
    drop_stale_deferred(session, installation.id, now)
    return release_decisions(session, installation, now)


# --- segment lists ---------------------------------------------------------------------------


def segment_lists() -> list[SegmentList]:
    return [SegmentList(segment.value, name) for segment, name in LIST_NAMES.items()]


def ensure_lists(services: Services, installation_id: int) -> dict:
    """Create (or find again by name) the four risk-segment lists; remember their ids.

    Lists change no customer data, so they are made in preview too (§6). Called by the install
    hook and the demo; safe to call again.
    """
    report = adapter_for(services, installation_id).ensure_segment_lists(segment_lists())
    with session_scope(services.engine) as session:
        inst = session.get(Installation, installation_id)
        inst.settings = {**inst.settings, "segment_lists": dict(report.list_ids)}
        session.add(inst)
        session.add(AuditLog(installation_id=installation_id, at=services.clock(),
                             action="segment_lists.ensured",
                             detail={"created": report.created, "updated": report.updated,
                                     "unchanged": report.unchanged, "problems": report.problems}))
    if report.problems:
        log.warning("segment_lists.problems installation=%s count=%s", installation_id,
                    len(report.problems))
    return {"created": report.created, "updated": report.updated, "unchanged": report.unchanged,
            "problems": report.problems, "list_ids": report.list_ids}
