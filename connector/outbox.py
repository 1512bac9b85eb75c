"""The durable queue of CRM work.

An item is taken with a lease, not deleted: a process that dies mid-way leaves the item to be
taken again when the lease runs out. Field writes are idempotent (the same values twice change
nothing), so taking an item twice duplicates nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import or_
from sqlmodel import Session, select

from connector.storage.models import OutboxItem

WRITE_FIELDS = "write_fields"
LEASE = timedelta(minutes=5)
MAX_BACKOFF = timedelta(hours=1)


def enqueue_field_sync(session: Session, installation_id: int, customer_row_id: int, now: datetime) -> None:
    """Ask for the customer's record to be brought up to date.

    The item carries no values: the drain reads the newest desired values when it runs, so one
    pending item per customer is enough and bursts of events coalesce into one write.
    """
    pending = session.exec(
        select(OutboxItem.id).where(
            OutboxItem.installation_id == installation_id,
            OutboxItem.customer_row_id == customer_row_id,
            OutboxItem.kind == WRITE_FIELDS,
            OutboxItem.status == "pending",
        )
    ).first()
    if pending is None:
        session.add(
            OutboxItem(
                installation_id=installation_id,
                kind=WRITE_FIELDS,
                customer_row_id=customer_row_id,
                available_at=now,
                created_at=now,
            )
        )


def claim(session: Session, installation_id: int, limit: int, now: datetime) -> list[OutboxItem]:
    """Lease up to `limit` due items of one installation, oldest first."""
    stmt = (
        select(OutboxItem)
        .where(
            OutboxItem.installation_id == installation_id,
            OutboxItem.status == "pending",
            OutboxItem.available_at <= now,
            or_(OutboxItem.leased_until.is_(None), OutboxItem.leased_until <= now),
        )
        .order_by(OutboxItem.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        # Two drains of one installation never take the same rows.
        stmt = stmt.with_for_update(skip_locked=True)
    items = list(session.exec(stmt))
    for item in items:
        item.leased_until = now + LEASE
        session.add(item)
    return items


def complete(session: Session, items: Sequence[OutboxItem], status: str, now: datetime, **payload) -> None:
    """Finish items: done, previewed, failed (recorded, not retried) or superseded."""
    for item in items:
        item.status = status
        item.leased_until = None
        item.done_at = now
        if payload:
            item.payload = {**item.payload, **payload}
        session.add(item)


def retry_later(session: Session, item: OutboxItem, now: datetime, error: str, *,
                retry_after: float | None = None, count_attempt: bool = True) -> None:
    """Put an item back with exponential backoff (or the vendor's Retry-After)."""
    if count_attempt:
        item.attempts += 1
    delay = timedelta(seconds=retry_after) if retry_after else timedelta(seconds=30 * 2 ** min(item.attempts, 7))
    item.available_at = now + min(delay, MAX_BACKOFF)
    item.leased_until = None
    item.last_error = error[:500]
    session.add(item)
