"""Drain the outbox into the CRM: match, write only what changed, in batches.

In preview the same path runs up to the write, and records what would be written instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, select

from connector import outbox
from connector.context import Services
from connector.domain.billing_state import CustomerFacts
from connector.domain.diff import changed_fields, with_updated_at
from connector.domain.free_mail import normalize_domain
from connector.errors import FatalProviderError, ReauthRequired, TransientProviderError
from connector.playbook_apply import apply_playbook_items
from connector.playbook_runner import PLAYBOOK_ACTION
from connector.ports import CrmAdapter, CrmRef, CustomerKeys, FieldUpdate, MatchStatus, WriteReport
from connector.storage.db import session_scope
from connector.storage.models import CustomerBilling, Installation, OutboxItem, SyncRun

log = logging.getLogger(__name__)


@dataclass
class DrainCounts:
    items: int = 0
    written: int = 0
    previewed: int = 0
    unchanged: int = 0
    unmatched: int = 0
    failed: int = 0
    retried: int = 0
    calls: int = 0
    actions: int = 0  # playbook tasks / enrollments / completions applied
    skipped_actions: int = 0  # playbook decisions that turned out to have nothing to do
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "errors"} | {"errors": self.errors[:20]}


def drain_installation(services: Services, installation_id: int, adapter: CrmAdapter,
                       *, max_batches: int = 1000) -> DrainCounts:
    """Work off the installation's due outbox items, one batch at a time, and record the run."""
    counts = DrainCounts()
    started = services.clock()
    for _ in range(max_batches):
        if not _drain_one_batch(services, installation_id, adapter, counts):
            break
    if counts.items:
        _record_run(services, installation_id, started, counts)
    return counts


def _drain_one_batch(services: Services, installation_id: int, adapter: CrmAdapter, counts: DrainCounts) -> bool:
    now = services.clock()
    with session_scope(services.engine) as session:
        installation = session.get(Installation, installation_id)
        if installation is None or installation.status != "active":
            return False
        items = outbox.claim(session, installation_id, adapter.max_batch_size, now)
        if not items:
            return False
        counts.items += len(items)
        try:
            _process(session, services, installation, adapter, items, counts, now)
        except ReauthRequired as exc:
            installation.status, installation.status_reason = "needs_reauth", str(exc)
            session.add(installation)
            for item in items:
                outbox.retry_later(session, item, now, "waiting for the admin to reconnect", count_attempt=False)
            counts.errors.append(f"reauth: {exc}")
            return False
        except TransientProviderError as exc:
            for item in items:
                outbox.retry_later(session, item, now, str(exc), retry_after=exc.retry_after)
            counts.retried += len(items)
            counts.errors.append(f"transient: {exc}")
            return False
        except FatalProviderError as exc:
            # The whole call was refused (a missing scope, say): keep the work, slow down,
            # and give up on an item only after several tries so the dashboard shows why.
            _hold_after_fatal(session, items, now, str(exc), counts)
            return False
    return True


MAX_FATAL_ATTEMPTS = 5


def _hold_after_fatal(session: Session, items: Sequence[OutboxItem], now: datetime, error: str,
                      counts: DrainCounts) -> None:
    for item in items:
        if item.attempts + 1 >= MAX_FATAL_ATTEMPTS:
            item.attempts += 1
            item.last_error = error[:500]
            outbox.complete(session, [item], "failed", now, error=error)
            counts.failed += 1
        else:
            outbox.retry_later(session, item, now, error)
            counts.retried += 1
    counts.errors.append(f"refused: {error}")


def _process(session: Session, services: Services, installation: Installation, adapter: CrmAdapter,
             items: Sequence[OutboxItem], counts: DrainCounts, now: datetime) -> None:
    # Fields first: that matches the records the playbook's tasks and enrollments act on.
    field_items = [i for i in items if i.kind != PLAYBOOK_ACTION]
    if field_items:
        _process_fields(session, services, installation, adapter, field_items, counts, now)
    playbook_items = [i for i in items if i.kind == PLAYBOOK_ACTION]
    if playbook_items:
        apply_playbook_items(session, installation, adapter, playbook_items, counts, now)


def _process_fields(session: Session, services: Services, installation: Installation,
                    adapter: CrmAdapter, items: Sequence[OutboxItem], counts: DrainCounts,
                    now: datetime) -> None:
    rows = {r.id: r for r in session.exec(select(CustomerBilling).where(
        CustomerBilling.id.in_([i.customer_row_id for i in items])))}
    _match(session, adapter, [rows[i.customer_row_id] for i in items if _needs_match(rows[i.customer_row_id])],
           counts)
    updates: dict[int, FieldUpdate] = {}
    for item in items:
        row = rows[item.customer_row_id]
        if row.deleted or (not row.crm_record_id and not _may_create(installation, row)):
            counts.unmatched += not row.crm_record_id
            outbox.complete(session, [item], "done", now, outcome=f"not written: {row.match_status}")
            continue
        changes = changed_fields(row.desired, row.crm_values)
        if not changes:
            counts.unchanged += 1
            outbox.complete(session, [item], "done", now, outcome="unchanged")
            continue
        values = with_updated_at(changes, now.isoformat(timespec="seconds").replace("+00:00", "Z"))
        updates[item.id] = FieldUpdate(CrmRef(row.crm_object_type, row.crm_record_id), values, key=str(item.id))
    if not updates:
        return
    by_id = {i.id: i for i in items}
    if installation.preview:
        for item_id, update in updates.items():
            outbox.complete(session, [by_id[item_id]], "previewed", now, would_write=dict(update.values),
                            record_id=update.ref.record_id or "(new company)")
        counts.previewed += len(updates)
        return
    creates = {k: u for k, u in updates.items() if not u.ref.record_id}
    writes = {k: u for k, u in updates.items() if u.ref.record_id}
    if writes:
        _write(session, adapter.write_fields, writes, by_id, rows, counts, now)
    if creates:
        # Upsert on billing_customer_id: a retry after a crash finds the record it made.
        _write(session, adapter.create_accounts, creates, by_id, rows, counts, now)
        for item_id in creates:
            row = rows[by_id[item_id].customer_row_id]
            if by_id[item_id].status == "done":
                row.match_status, row.match_detail = "pending", "created; linked on the next drain"
                session.add(row)
                outbox.enqueue_field_sync(session, row.installation_id, row.id, now)


# match_detail of a customer whose linked record was merged or deleted in the CRM and could not
# be found again (connector.reconcile): someone removed it on purpose, so it is not recreated.
RECORD_GONE = "record gone from the CRM"


def _may_create(installation: Installation, row: CustomerBilling) -> bool:
    """Creating companies is off by default; never for ambiguous or conflicting customers, nor
    for one whose record was merged or deleted in the CRM."""
    return (bool(installation.settings.get("create_companies")) and row.match_status == "unmatched"
            and not row.match_detail.startswith(RECORD_GONE))


def _write(session: Session, send: Callable[[list[FieldUpdate]], WriteReport],
           updates: dict[int, FieldUpdate], by_id: dict[int, OutboxItem], rows: dict[int, CustomerBilling],
           counts: DrainCounts, now: datetime) -> None:
    report = send(list(updates.values()))
    counts.calls += report.calls
    for key, ref in report.moved.items():
        # The record was merged into another (Salesforce MasterRecordId): follow it, never recreate.
        row = rows[by_id[int(key)].customer_row_id]
        row.crm_object_type, row.crm_record_id = ref.object_type, ref.record_id
        row.match_detail = "re-resolved after a merge"
    for key in report.ok:
        item = by_id[int(key)]
        row = rows[item.customer_row_id]
        row.crm_values = {**row.crm_values, **updates[item.id].values}
        session.add(row)
        outbox.complete(session, [item], "done", now, written=dict(updates[item.id].values))
        counts.written += 1
    for err in report.failed:
        item = by_id[int(err.key)]
        if err.retriable:
            outbox.retry_later(session, item, now, err.reason)
            counts.retried += 1
        else:
            outbox.complete(session, [item], "failed", now, error=err.reason, category=err.category)
            item.last_error = err.reason[:500]
            counts.failed += 1
            counts.errors.append(f"record {updates[item.id].ref.record_id}: {err.reason}")


def match_customers(session: Session, adapter: CrmAdapter, rows: Sequence[CustomerBilling]) -> None:
    """Link customers to CRM records (the drain's matching; the reconciler re-resolves with it)."""
    _match(session, adapter, rows, DrainCounts())


def _needs_match(row: CustomerBilling) -> bool:
    return not row.deleted and not row.crm_record_id


def _match(session: Session, adapter: CrmAdapter, rows: Sequence[CustomerBilling], counts: DrainCounts) -> None:
    """Find CRM records for customers not yet linked; a record linked to another customer is a conflict."""
    if not rows:
        return
    keys = [_keys(r) for r in rows]
    results = {m.customer_id: m for m in adapter.match_accounts(keys)}
    for row in rows:
        m = results.get(row.customer_id)
        if m is None:
            continue
        if m.status is MatchStatus.MATCHED and m.ref is not None:
            taken = session.exec(select(CustomerBilling.customer_id).where(
                CustomerBilling.installation_id == row.installation_id,
                CustomerBilling.crm_record_id == m.ref.record_id,
                CustomerBilling.id != row.id)).first()
            if taken:
                row.match_status, row.match_detail = "conflict", f"record {m.ref.record_id} is linked to {taken}"
            else:
                row.match_status, row.match_detail = "matched", f"by {m.matched_by}"
                row.crm_object_type, row.crm_record_id = m.ref.object_type, m.ref.record_id
                if m.matched_by != "billing_customer_id":
                    row.crm_values = {}  # nothing of ours is on that record yet
        else:
            # A record removed in the CRM stays marked, so a later drain never recreates it.
            gone = row.match_detail.startswith(RECORD_GONE)
            row.match_status = m.status.value
            row.match_detail = f"{RECORD_GONE}; {m.detail}" if gone else m.detail
        session.add(row)


def _keys(row: CustomerBilling) -> CustomerKeys:
    profile = CustomerFacts.from_json(row.facts).profile
    return CustomerKeys(row.customer_id, normalize_domain(profile.email), profile.name)


def _record_run(services: Services, installation_id: int, started: datetime, counts: DrainCounts) -> None:
    outcome = "failed" if counts.errors and not (counts.written or counts.previewed) else (
        "partial" if counts.errors else "ok")
    with session_scope(services.engine) as session:
        session.add(SyncRun(installation_id=installation_id, kind="drain", started_at=started,
                            finished_at=services.clock(), outcome=outcome, counts=counts.as_dict(),
                            error="; ".join(counts.errors[:3])[:500]))

