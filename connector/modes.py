"""Preview and live (PRODUCT.md §6)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from connector.outbox import enqueue_field_sync
from connector.storage.models import CustomerBilling, Installation


def set_preview(session: Session, inst: Installation, preview: bool, *, now: datetime) -> int:
    """Switch an installation's mode; going live queues a push of every matched record's values.

    Returns how many records were queued. What was previewed before is not replayed: the push
    sends the *current* values, computed from billing truth when the outbox drains.
    """
    if inst.preview == preview:
        return 0
    inst.preview = preview
    inst.updated_at = now
    session.add(inst)
    if preview:
        return 0
    inst.live_since = now
    rows = session.exec(select(CustomerBilling).where(
        CustomerBilling.installation_id == inst.id, CustomerBilling.deleted.is_(False)))
    count = 0
    for row in rows:
        # Nothing was written in preview, so the CRM holds none of our values yet.
        row.crm_values = {}
        session.add(row)
        enqueue_field_sync(session, inst.id, row.id, now)
        count += 1
    return count
