"""What support staff can do from the card: each action confirmed in the UI and audited with who.

- send the payment link: records that it was sent and hands back the link and an email draft
  (`mailto:`) for the viewer's own mail client — the connector sends no email itself;
- pause the playbook for this customer for N days (`CustomerBilling.playbook_paused_until`; the
  playbook skips new tasks and enrollments until then, see `playbook_paused`);
- re-sync now: re-derive the values and queue a full write of the CRM fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqlmodel import Session

from connector.cards import CardViewer, customer_state
from connector.customers import refresh_customer
from connector.errors import BadInput
from connector.outbox import enqueue_field_sync
from connector.payment_links import issue_payment_link
from connector.storage.models import AuditLog, CustomerBilling, Installation

MAX_PAUSE_DAYS = 90
ACTIONS = ("send_payment_link", "pause_playbook", "resync")


@dataclass(frozen=True)
class ActionRequest:
    name: str
    confirmed: bool
    days: Any = None  # pause_playbook only


def run_action(
    session: Session,
    installation: Installation,
    row: CustomerBilling,
    request: ActionRequest,
    *,
    viewer: CardViewer,
    now: datetime,
    base_url: str,
) -> dict[str, Any]:
    """Run one confirmed card action and audit it; BadInput for anything malformed."""
    if request.name not in ACTIONS:
        raise BadInput(f"Unknown action; use one of {', '.join(ACTIONS)}.", status=404)
    # The UI asks "are you sure?"; the server insists on the answer too, so a stray request
    # (or a replayed click) cannot act unconfirmed.
    if request.confirmed is not True:
        raise BadInput('Confirm the action: send {"confirm": true}.')
    if request.name == "send_payment_link":
        result = _send_payment_link(session, installation, row, now=now, base_url=base_url)
    elif request.name == "pause_playbook":
        result = _pause_playbook(session, row, request.days, now=now)
    else:
        result = _resync(session, installation, row, now=now, base_url=base_url)
    session.add(
        AuditLog(
            installation_id=installation.id,
            at=now,
            actor=viewer.actor,
            action=f"card.{request.name}",
            detail={
                "customer_row_id": row.id,
                "crm_record_id": row.crm_record_id,
                "crm_user_id": viewer.user_id,
                **{k: v for k, v in result.items() if k in ("days", "until", "queued")},
            },
        )
    )
    return {"action": request.name, "done": True, **result}


def _send_payment_link(
    session: Session, installation: Installation, row: CustomerBilling, *, now: datetime, base_url: str
) -> dict[str, Any]:
    state = customer_state(installation, row, now)
    if not state.in_episode:
        raise BadInput("Nothing is owed in a dunning episode, so there is no payment link to send.", status=409)
    link = issue_payment_link(session, installation.id, row.id, now=now, base_url=base_url)
    subject = "Your payment link"
    body = (
        "Hello,\n\nyour last payment did not go through. You can pay or update your card here:\n"
        f"{link}\n\nThank you."
    )
    mailto = f"mailto:{quote(state.email or '')}?subject={quote(subject)}&body={quote(body)}"
    return {"payment_link": link, "email": state.email or "", "mailto": mailto}


def _pause_playbook(session: Session, row: CustomerBilling, days: Any, *, now: datetime) -> dict[str, Any]:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_PAUSE_DAYS:
        raise BadInput(f"Pause for a whole number of days from 1 to {MAX_PAUSE_DAYS}.")
    until = now + timedelta(days=days)
    row.playbook_paused_until = until
    session.add(row)
    return {"days": days, "until": until.isoformat(timespec="seconds")}


def _resync(
    session: Session, installation: Installation, row: CustomerBilling, *, now: datetime, base_url: str
) -> dict[str, Any]:
    refresh_customer(session, installation, row, now=now, base_url=base_url)
    # Forget what we believe the CRM holds, so the drain writes every field again: a re-sync
    # from the card is how support overwrites a hand-edited value.
    row.crm_values = {}
    session.add(row)
    session.flush()
    enqueue_field_sync(session, installation.id, row.id, now)
    return {"queued": True}
