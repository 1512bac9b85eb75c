"""One customer's payment story for the embedded CRM cards (HubSpot app card, Salesforce Canvas).

The story is derived afresh from the stored facts at read time (days past due move with the
clock), told in the words support staff use, and shaped the same for both CRMs. Which record a
request may see is decided here too: the tenant named by the *signed* request must own it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from connector.customers import risk_policy
from connector.domain.billing_state import CustomerFacts, derive_state
from connector.domain.failure_reasons import CARD_UPDATE_REASONS, reason_in_words
from connector.domain.fields import FailureReason, PaymentStatus, Segment
from connector.domain.money import format_minor, stripe_exponent
from connector.domain.risk import current_failure_reason, score_risk
from connector.domain.segments import assign_segment
from connector.domain.state import CustomerState
from connector.payment_links import issue_payment_link
from connector.storage import models
from connector.storage.models import BillingEvent, CustomerBilling, Installation

log = logging.getLogger(__name__)

TIMELINE_LIMIT = 50
NOT_SYNCED_MESSAGE = (
    "Not synced yet: the connector has no billing customer for this record. It appears once "
    "the customer's billing events arrive and the record is matched."
)


# ---------------------------------------------------------------------------------------------
# Who may see which record.


def salesforce_id15(record_id: str) -> str:
    """The case-sensitive 15-character form of a Salesforce id (18-character ids add a checksum)."""
    return record_id[:15] if len(record_id) == 18 else record_id


def find_installation(session: Session, crm: str, external_id: str) -> Installation | None:
    """The installation of a CRM account named by a signed request; None if not installed."""
    if not external_id:
        return None
    query = select(Installation).where(Installation.crm == crm, Installation.status != "disconnected")
    if crm == "salesforce":
        # Org ids come as 15 or 18 characters; the first 15 (case-sensitive) are the id.
        short = salesforce_id15(external_id)
        rows = session.exec(query.where(col(Installation.external_id).startswith(short, autoescape=True))).all()
        return next((i for i in rows if salesforce_id15(i.external_id) == short), None)
    return session.exec(query.where(Installation.external_id == external_id)).first()


def find_card_customer(session: Session, installation: Installation, record_id: str) -> CustomerBilling | None:
    """The billing customer synced to `record_id` *within this installation*, or None.

    A record of another tenant is simply not found here: the answer is the same "not synced yet"
    as for an unsynced record, so a card never tells whether another tenant has the id.
    """
    if not record_id:
        return None
    query = select(CustomerBilling).where(
        CustomerBilling.installation_id == installation.id,
        CustomerBilling.deleted == False,  # noqa: E712 - SQL expression
    )
    if installation.crm == "salesforce":
        short = salesforce_id15(record_id)
        query = query.where(col(CustomerBilling.crm_record_id).startswith(short, autoescape=True))
        rows = [r for r in session.exec(query) if salesforce_id15(r.crm_record_id) == short]
    else:
        rows = list(session.exec(query.where(CustomerBilling.crm_record_id == record_id)))
    # A second billing customer matched to the same record is a conflict (PRODUCT.md §3): show
    # the matched one.
    rows.sort(key=lambda r: (r.match_status != "matched", r.id))
    return rows[0] if rows else None


@dataclass(frozen=True)
class CardViewer:
    """Who is looking at the card, as the signed request says (for the audit log)."""

    crm: str
    user_id: str
    email: str = ""

    @property
    def actor(self) -> str:
        return self.email or f"{self.crm} user {self.user_id or 'unknown'}"


# ---------------------------------------------------------------------------------------------
# The story.


def not_synced_story(crm: str, record_id: str) -> dict[str, Any]:
    return {"synced": False, "crm": crm, "record_id": record_id, "message": NOT_SYNCED_MESSAGE}


def customer_state(installation: Installation, row: CustomerBilling, now: datetime) -> CustomerState:
    return derive_state(CustomerFacts.from_json(row.facts), now=now, tz=ZoneInfo(installation.timezone))


def build_story(
    session: Session, installation: Installation, row: CustomerBilling, *, now: datetime, base_url: str
) -> dict[str, Any]:
    """Everything the card shows for one customer, as JSON-ready values."""
    facts = CustomerFacts.from_json(row.facts)
    state = customer_state(installation, row, now)
    policy = risk_policy(installation)
    risk = score_risk(state, policy)
    segment = assign_segment(state, risk, policy)
    reason = current_failure_reason(state) or (state.last_failure_reason if state.in_episode else None)
    link = (
        issue_payment_link(session, installation.id, row.id, now=now, base_url=base_url)
        if state.in_episode and not row.deleted
        else None
    )
    amount = format_minor(state.outstanding_minor, state.currency_exponent)
    paused = row.playbook_paused_until
    if paused is not None and paused.tzinfo is None:
        paused = paused.replace(tzinfo=UTC)  # SQLite hands datetimes back naive
    return {
        "synced": True,
        "crm": installation.crm,
        "record_id": row.crm_record_id,
        "as_of": now.isoformat(timespec="seconds"),
        "customer": {
            "id": row.customer_id,
            "provider": facts.provider,
            "name": state.name or "",
            "email": state.email or "",
        },
        "status": state.payment_status.value,
        "status_label": _label(state.payment_status.value),
        "amount": amount,
        "amount_display": f"{_grouped(amount)} {state.currency}".strip() if state.currency else _grouped(amount),
        "currency": state.currency,
        "other_currencies_owed": list(state.other_currencies_owed),
        "notes": list(state.notes),
        "days_past_due": state.days_past_due,
        "failure_reason": reason.value if reason else None,
        "failure_reason_words": reason_in_words(reason) if reason else None,
        "attempts": state.failed_payment_attempts,
        "next_retry": _day(state.next_payment_retry_date),
        "retry_scheduled": state.retry_scheduled,
        "first_failed_payment_date": _day(state.first_failed_payment_date),
        "last_successful_payment_date": _day(state.last_successful_payment_date),
        "late_payments_12m": state.late_payments_12m,
        "open_disputes": state.open_disputes,
        "risk": {
            "score": risk.score,
            "segment": segment.value,
            "segment_label": _label(segment.value),
            "reasons": [{"points": _points(p.points), "reason": p.reason} for p in risk.points],
        },
        "timeline": timeline(session, row),
        "playbook": playbook_ledger(session, row, state),
        "playbook_paused_until": paused.isoformat(timespec="seconds") if paused and paused > now else None,
        "payment_link": link,
        "card_update": reason in CARD_UPDATE_REASONS if reason else False,
        "next_step": next_step(state, segment, reason),
        "sync": {
            "match_status": row.match_status,
            "in_sync": row.desired == row.crm_values,
            "preview": installation.preview,
        },
    }


def next_step(state: CustomerState, segment: Segment, reason: FailureReason | None) -> str:
    """A suggested next step for whoever reads the card, in one sentence."""
    if state.payment_status is PaymentStatus.UNCOLLECTIBLE:
        return "The billing provider gave up collecting: talk to finance before promising anything."
    if state.payment_status is PaymentStatus.CANCELED:
        return "The subscription was canceled for non-payment: offer to reactivate once the balance is paid."
    if not state.in_episode:
        if state.open_disputes:
            return "A payment is disputed: leave it to finance and do not ask the customer to pay again."
        return "Nothing to chase: the account is paid up."
    lead = "Call the customer today. " if segment is Segment.HIGH_RISK else ""
    if reason in CARD_UPDATE_REASONS:
        return lead + "Send the card-update link: the card on file cannot be charged until it is updated."
    if reason in (FailureReason.LOST_OR_STOLEN_CARD, FailureReason.DO_NOT_RETRY, FailureReason.FRAUD_SUSPECTED):
        return lead + "Ask for a different card or payment method through the payment link."
    if reason is FailureReason.AUTHENTICATION_REQUIRED:
        return lead + "Send the payment link: the bank needs the customer to confirm the payment."
    if reason is FailureReason.INSUFFICIENT_FUNDS and state.next_payment_retry_date:
        return lead + (
            f"Agree when funds will be there; the next automatic retry is on "
            f"{state.next_payment_retry_date.isoformat()}."
        )
    return lead + "Send the payment link and ask when the customer can pay."


# ---------------------------------------------------------------------------------------------
# Timeline of billing events.

_EVENT_TITLES = {
    "invoice.payment_failed": ("Payment failed", "failure"),
    "invoice.payment_action_required": ("Payment needs the customer's confirmation", "failure"),
    "charge.failed": ("Charge failed", "failure"),
    "payment_intent.payment_failed": ("Payment attempt failed", "failure"),
    "invoice.paid": ("Invoice paid", "payment"),
    "invoice.payment_succeeded": ("Payment succeeded", "payment"),
    "invoice.overdue": ("Invoice overdue", "failure"),
    "invoice.finalized": ("Invoice issued", "invoice"),
    "invoice.created": ("Invoice created", "invoice"),
    "invoice.updated": ("Invoice updated", "invoice"),
    "invoice.voided": ("Invoice voided", "invoice"),
    "invoice.marked_uncollectible": ("Invoice marked uncollectible", "failure"),
    "charge.refunded": ("Payment refunded", "refund"),
    "charge.dispute.created": ("Dispute opened", "dispute"),
    "charge.dispute.updated": ("Dispute updated", "dispute"),
    "charge.dispute.closed": ("Dispute closed", "dispute"),
    "charge.dispute.funds_withdrawn": ("Dispute: funds withdrawn", "dispute"),
    "charge.dispute.funds_reinstated": ("Dispute: funds reinstated", "dispute"),
    "customer.subscription.deleted": ("Subscription canceled", "subscription"),
    "customer.subscription.updated": ("Subscription changed", "subscription"),
    "customer.subscription.paused": ("Subscription paused", "subscription"),
    "customer.subscription.resumed": ("Subscription resumed", "subscription"),
    "customer.created": ("Customer created", "customer"),
    "customer.updated": ("Customer updated", "customer"),
    "customer.deleted": ("Customer deleted", "customer"),
}


def timeline(session: Session, row: CustomerBilling) -> list[dict[str, Any]]:
    """The customer's billing events, newest first, each with a title in words."""
    events = list(session.exec(
        select(BillingEvent)
        .where(BillingEvent.connection_id == row.connection_id, BillingEvent.customer_id == row.customer_id)
        .order_by(col(BillingEvent.created).desc(), col(BillingEvent.id).desc())
        .limit(TIMELINE_LIMIT)
    ))
    events += _dispute_events(session, row)
    events.sort(key=lambda e: (e.created, e.id), reverse=True)
    return [_event_entry(e) for e in events[:TIMELINE_LIMIT]]


def _dispute_events(session: Session, row: CustomerBilling) -> list[BillingEvent]:
    """Dispute events of this customer's disputes.

    A Stripe dispute names a charge, not a customer, so its stored event has no customer id; the
    customer's facts know the dispute once it was attributed, and that joins them.
    """
    dispute_ids = set(CustomerFacts.from_json(row.facts).disputes)
    if not dispute_ids:
        return []
    candidates = session.exec(
        select(BillingEvent)
        .where(
            BillingEvent.connection_id == row.connection_id,
            col(BillingEvent.customer_id).is_(None),
            col(BillingEvent.type).startswith("charge.dispute."),
        )
        .order_by(col(BillingEvent.created).desc())
        .limit(10 * TIMELINE_LIMIT)
    )
    return [e for e in candidates if _event_object(e.payload).get("id") in dispute_ids]


def _event_entry(event: BillingEvent) -> dict[str, Any]:
    title, kind = _EVENT_TITLES.get(event.type, (event.type.replace(".", " ").replace("_", " "), "other"))
    obj = _event_object(event.payload)
    return {
        "at": datetime.fromtimestamp(event.created, UTC).isoformat(timespec="seconds"),
        "type": event.type,
        "kind": kind,
        "title": title,
        "detail": _event_detail(event.type, obj),
    }


def _event_object(payload: str) -> dict[str, Any]:
    try:
        data = json.loads(payload)
    except ValueError:
        return {}
    obj = (data.get("data") or {}).get("object") if isinstance(data, dict) else None
    return obj if isinstance(obj, dict) else {}


def _event_detail(event_type: str, obj: dict[str, Any]) -> str:
    """Amount and the one fact that matters for this kind of event; no personal data."""
    currency = str(obj.get("currency") or "").upper()
    minor = next(
        (obj[k] for k in ("amount_remaining", "amount_due", "amount") if isinstance(obj.get(k), int)),
        None,
    )
    if event_type in ("invoice.paid", "invoice.payment_succeeded") and isinstance(obj.get("amount_paid"), int):
        minor = obj["amount_paid"]
    if event_type == "charge.refunded" and isinstance(obj.get("amount_refunded"), int):
        minor = obj["amount_refunded"]
    parts = []
    if minor is not None and currency:
        parts.append(f"{_grouped(_format_event_amount(minor, currency))} {currency}")
    if event_type.startswith("invoice.") and isinstance(obj.get("attempt_count"), int) and "fail" in event_type:
        parts.append(f"attempt {obj['attempt_count']}")
    if event_type.startswith("charge.dispute.") and obj.get("reason"):
        parts.append(f"reason: {str(obj['reason']).replace('_', ' ')}")
    if event_type.startswith("charge.dispute.") and obj.get("status"):
        parts.append(f"status: {str(obj['status']).replace('_', ' ')}")
    return ", ".join(parts)


def _format_event_amount(minor: int, currency: str) -> str:
    try:
        return format_minor(minor, stripe_exponent(currency))
    except ValueError:
        return str(minor)


# ---------------------------------------------------------------------------------------------
# What the playbook did (the ledger of issue 3, when present).


def playbook_ledger(session: Session, row: CustomerBilling, state: CustomerState) -> list[dict[str, Any]]:
    """The connector's tasks and enrollments for this customer in the current episode, latest first.

    Reads the playbook's decision ledger when that table exists; without it the card shows none.
    """
    decision = getattr(models, "PlaybookDecision", None)
    if decision is None:
        return []
    query = select(decision).where(decision.customer_row_id == row.id)
    if state.current_episode is not None:
        query = query.where(decision.episode_start == state.current_episode.start)
    rows = session.exec(query.order_by(col(decision.created_at).desc(), col(decision.id).desc()).limit(20)).all()
    latest: dict[str, Any] = {}
    for d in rows:
        latest.setdefault(d.kind, d)  # newest decision of each kind
    return [_decision_entry(d) for d in latest.values() if d.kind not in ("complete_task", "unenroll")]


_DECISION_WORDS = {
    "call_task": "CALL task for the owner",
    "todo_task": "TODO task for the owner",
    "enroll": "Sequence enrollment",
}


def _decision_entry(d: Any) -> dict[str, Any]:
    state = d.status
    if d.kind in ("call_task", "todo_task") and d.status == "applied":
        state = "completed" if d.completed_at else "open"
    elif d.kind == "enroll" and d.status == "applied":
        state = "enrolled"
    return {
        "kind": d.kind,
        "what": _DECISION_WORDS.get(d.kind, d.kind.replace("_", " ")),
        "state": state,
        "why": d.why or "",
        "result": d.result or "",
        "touch_point": d.touch_point,
        "at": _iso(d.applied_at or d.created_at),
    }


# ---------------------------------------------------------------------------------------------
# Small formatting helpers.


def _label(value: str) -> str:
    return value.replace("_", " ").capitalize()


def _grouped(amount: str) -> str:
    """"12345.50" -> "12,345.50" (the minor digits kept as the provider's exponent gives them)."""
    sign, digits = ("-", amount[1:]) if amount.startswith("-") else ("", amount)
    whole, dot, frac = digits.partition(".")
    return f"{sign}{int(whole):,}{dot}{frac}" if whole.isdigit() else amount


def _points(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 2)


def _day(value: Any) -> str | None:
    return value.isoformat() if value else None


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat(timespec="seconds")
