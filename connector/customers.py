"""Per-customer state in the store: fold billing facts in, derive §3 values, queue CRM work."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from connector.domain.billing_state import (
    CustomerFacts,
    derive_state,
    erase_personal_data,
    merge_facts,
)
from connector.domain.mapping import desired_fields
from connector.domain.policy import DEFAULT_POLICY, PolicyError, RiskPolicy, parse_risk_policy
from connector.domain.risk import score_risk
from connector.domain.segments import assign_segment
from connector.domain.state import CustomerState
from connector.outbox import enqueue_field_sync
from connector.payment_links import issue_payment_link, revoke_payment_links
from connector.playbook_runner import card_touch_point_due, on_customer_refreshed
from connector.storage.models import BillingConnection, CustomerBilling, Installation

log = logging.getLogger(__name__)


def get_or_create_customer(
    session: Session, conn: BillingConnection, customer_id: str, now: datetime
) -> CustomerBilling:
    stmt = select(CustomerBilling).where(
        CustomerBilling.connection_id == conn.id, CustomerBilling.customer_id == customer_id
    )
    if session.get_bind().dialect.name == "postgresql":
        # Two events of one customer applied at once (charge.failed beside invoice.payment_failed)
        # would each merge into the facts they read, and the later commit would drop the other's.
        # The row lock makes the second wait and merge into the first's result. (SQLite allows one
        # writer: the second fails, stays pending, and is applied again by the drain job.)
        stmt = stmt.with_for_update()
    row = session.exec(stmt).first()
    if row is None:
        row = CustomerBilling(
            installation_id=conn.installation_id,
            connection_id=conn.id,
            customer_id=customer_id,
            facts=CustomerFacts(provider=conn.provider, customer_id=customer_id).to_json(),
            updated_at=now,
        )
        session.add(row)
        session.flush()
    return row


def apply_facts(session: Session, row: CustomerBilling, facts: Sequence, *, erase: bool = False) -> None:
    """Merge new facts into the customer's store (order-independent); erase PII when asked."""
    merged = merge_facts(CustomerFacts.from_json(row.facts), facts)
    if erase:
        merged = erase_personal_data(merged)
        row.deleted = True
    row.facts = merged.to_json()
    session.add(row)


def risk_policy(installation: Installation) -> RiskPolicy:
    """The installation's risk policy. Settings are validated when saved; one stored before a rule
    was tightened falls back to the defaults (as the dashboard shows) instead of failing every
    event of the installation."""
    try:
        return parse_risk_policy(installation.settings.get("risk", {}))
    except PolicyError as exc:
        log.warning("risk settings of installation %s no longer valid (%s); defaults apply",
                    installation.id, exc.message)
        return DEFAULT_POLICY


def refresh_customer(
    session: Session, installation: Installation, row: CustomerBilling, *, now: datetime, base_url: str,
    at_tick: bool = False,
) -> CustomerState:
    """Derive the customer's state and §3 values; queue a CRM write when they changed; run the
    playbook's touch points (day 0 at once; later ones only `at_tick`)."""
    facts = CustomerFacts.from_json(row.facts)
    state = derive_state(facts, now=now, tz=ZoneInfo(installation.timezone))
    policy = risk_policy(installation)
    risk = score_risk(state, policy)
    segment = assign_segment(state, risk, policy)
    link = None
    card_link = None
    if state.in_episode and not row.deleted:
        link = issue_payment_link(session, installation.id, row.id, now=now, base_url=base_url)
    elif card_touch_point_due(installation, row, state, now) is not None:
        # Card-expiry pre-dunning: the owner's task carries the link (the CRM field does not:
        # outside an episode it stays empty, §3).
        card_link = issue_payment_link(session, installation.id, row.id, now=now, base_url=base_url)
    else:
        revoke_payment_links(session, row.id, now)
    desired = desired_fields(state, risk, segment, provider=facts.provider, payment_link=link)
    row.payment_status = state.payment_status.value
    row.risk_score = risk.score
    row.risk_segment = segment.value
    if desired != row.desired:
        row.desired = desired
        row.updated_at = now
        session.add(row)
        session.flush()
        enqueue_field_sync(session, installation.id, row.id, now)
    session.add(row)
    on_customer_refreshed(session, installation, row, state, risk, segment, now=now,
                          payment_link=link or card_link, at_tick=at_tick)
    return state
