"""The customer's stable payment link, `/pay/<token>` (PRODUCT.md §3 `payment_link`).

The token is what the CRM shows; the provider page behind it is fetched at click time because
Stripe's URLs expire (hosted invoice pages 30 days after the due date, portal sessions within
minutes). A link is per customer, revocable, dies when the episode ends and after 60 days.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlmodel import Session, col, select

from connector.errors import BadInput
from connector.storage.models import CustomerBilling, PaymentLink

LINK_LIFETIME = timedelta(days=60)
# A link handed out now should outlive the next touch points (+7 → +14 is the longest gap,
# PRODUCT.md §6), so one this close to its end is superseded by a fresh one. The old one keeps
# working until it expires, so messages already sent stay valid.
RENEW_BEFORE = timedelta(days=14)

LinkStatus = Literal["live", "unknown", "revoked", "expired"]


@dataclass(frozen=True)
class LinkLookup:
    status: LinkStatus
    link: PaymentLink | None = None


def payment_link_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/pay/{token}"


def issue_payment_link(
    session: Session, installation_id: int, customer_row_id: int, *, now: datetime, base_url: str
) -> str:
    """The customer's link: the live one if it has RENEW_BEFORE left, else a new one."""
    customer = session.get(CustomerBilling, customer_row_id)
    if customer is None or customer.installation_id != installation_id or customer.deleted:
        raise BadInput("unknown customer", status=404)
    current = session.exec(
        select(PaymentLink)
        .where(
            PaymentLink.customer_row_id == customer_row_id,
            col(PaymentLink.revoked_at).is_(None),
            PaymentLink.expires_at > now + RENEW_BEFORE,
        )
        .order_by(col(PaymentLink.expires_at).desc())
    ).first()
    if current is not None:
        return payment_link_url(base_url, current.token)
    link = PaymentLink(
        token=secrets.token_urlsafe(24),
        installation_id=installation_id,
        customer_row_id=customer_row_id,
        created_at=now,
        expires_at=now + LINK_LIFETIME,
    )
    session.add(link)
    session.flush()
    return payment_link_url(base_url, link.token)


def revoke_payment_links(session: Session, customer_row_id: int, now: datetime) -> int:
    """Revoke every live link of the customer (the episode ended); returns how many."""
    links = session.exec(
        select(PaymentLink).where(
            PaymentLink.customer_row_id == customer_row_id, col(PaymentLink.revoked_at).is_(None)
        )
    ).all()
    for link in links:
        link.revoked_at = now
        session.add(link)
    session.flush()
    return len(links)


def resolve_payment_link(session: Session, token: str, now: datetime) -> LinkLookup:
    """What a clicked token stands for right now."""
    link = (
        session.exec(select(PaymentLink).where(PaymentLink.token == token)).first()
        if token
        else None
    )
    if link is None:
        return LinkLookup("unknown")
    if link.revoked_at is not None:
        return LinkLookup("revoked", link)
    if link.expires_at <= now:
        return LinkLookup("expired", link)
    return LinkLookup("live", link)
