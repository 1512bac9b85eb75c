"""Card-expiry pre-dunning figures for the dashboard: how many cards were caught before they failed.

A catch: a card-expiry touch point was sent (task or enrollment applied), and since then the
card stopped lapsing before the renewal (updated or replaced) with no failed payment in between.
Cards the provider's card updater refreshed before anything was sent are counted apart: nobody
had to act on those.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from connector.domain.billing_facts import CustomerFacts
from connector.domain.card_expiry import TOUCH_POINT_PREFIX, expiring_card
from connector.domain.playbook import DecisionStatus
from connector.storage.models import CustomerBilling, PlaybookDecision


def card_expiry_figures(session: Session, installation_id: int, now: datetime) -> dict[str, Any]:
    rows = session.exec(select(PlaybookDecision, CustomerBilling).join(
        CustomerBilling, CustomerBilling.id == PlaybookDecision.customer_row_id).where(
        PlaybookDecision.installation_id == installation_id,
        PlaybookDecision.touch_point.startswith(TOUCH_POINT_PREFIX)))
    sent = caught = failed_anyway = waiting = previewed = canceled_by_updater = 0
    for decision, customer in rows:
        status = decision.status
        if status == DecisionStatus.SKIPPED.value:
            canceled_by_updater += "card updater" in decision.result
            continue
        if status == DecisionStatus.PREVIEWED.value:
            previewed += 1
            continue
        if status != DecisionStatus.APPLIED.value:
            waiting += 1
            continue
        sent += 1
        facts = CustomerFacts.from_json(customer.facts)
        since = int((decision.applied_at or decision.created_at).timestamp())
        if any(f.at >= since for f in facts.failures.values()):
            failed_anyway += 1
            continue
        card_id = decision.touch_point.removeprefix(TOUCH_POINT_PREFIX).rsplit(":", 1)[0]
        old = facts.cards.get(card_id)
        if old is not None and old.auto_updated_at is not None and old.auto_updated_at >= since:
            canceled_by_updater += 1  # the updater fixed it, not the customer
            continue
        card = expiring_card(facts, now=now, in_episode=False)
        if card is None or card.key != decision.touch_point:
            caught += 1
    return {"touch_points_sent": sent, "cards_caught_before_failing": caught,
            "failed_anyway": failed_anyway, "waiting": waiting, "previewed": previewed,
            "refreshed_by_card_updater": canceled_by_updater}
