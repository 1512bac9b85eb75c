"""Installation lifecycle on the OAuth side: install (upsert), disconnect, purge."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import MetaData, Table, delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from sqlmodel import select as sm_select

from connector.crypto import SecretBox
from connector.storage.db import session_scope
from connector.storage.models import AuditLog, Installation
from oauth.tokens import decrypt_credential, delete_credential, get_credential

log = logging.getLogger(__name__)

CRM = "hubspot"


def audit(
    session: Session,
    installation_id: int | None,
    action: str,
    now: datetime,
    *,
    actor: str = "system",
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(AuditLog(installation_id=installation_id, at=now, actor=actor, action=action, detail=detail or {}))


def find_installation(session: Session, external_id: str, crm: str = CRM) -> Installation | None:
    return session.exec(
        sm_select(Installation).where(Installation.crm == crm, Installation.external_id == external_id)
    ).one_or_none()


def upsert_installation(
    session: Session,
    *,
    external_id: str,
    name: str,
    installed_by: str,
    now: datetime,
    crm: str = CRM,
) -> tuple[Installation, bool]:
    """The installation of (crm, external_id), active again; returns (row, created).

    A re-install reuses the row (unique on crm + external_id) and keeps its settings and preview
    flag; a new one starts in preview. Two racing callbacks for one portal: the loser of the
    insert reads the winner's row.
    """
    inst = find_installation(session, external_id, crm)
    created = False
    if inst is None:
        try:
            with session.begin_nested():
                inst = Installation(
                    crm=crm, external_id=external_id, name=name, preview=True,
                    created_at=now, updated_at=now,
                )
                session.add(inst)
            created = True
        except IntegrityError:
            inst = find_installation(session, external_id, crm)
            if inst is None:
                raise
    inst.status = "active"
    inst.status_reason = ""
    inst.disconnected_at = None
    inst.purge_after = None
    inst.installed_by = installed_by or inst.installed_by
    if name:
        inst.name = name
    inst.updated_at = now
    session.add(inst)
    session.flush()
    return inst, created


def mark_needs_reauth(session: Session, installation_id: int, reason: str, now: datetime) -> None:
    inst = session.get(Installation, installation_id)
    if inst is None or inst.status == "disconnected":
        return
    inst.status = "needs_reauth"
    inst.status_reason = reason
    inst.updated_at = now
    session.add(inst)
    audit(session, installation_id, "needs_reauth", now, detail={"reason": reason})


def disconnect_installation(
    engine: Engine,
    box: SecretBox,
    revoke: Callable[[str], None],  # e.g. HubSpotOAuth.revoke
    installation_id: int,
    now: datetime,
    *,
    grace_days: int,
    actor: str = "system",
) -> Installation:
    """Stop the installation now, revoke its refresh token, schedule the purge.

    The encrypted tokens are deleted at once: nothing may use them after a disconnect
    (PRODUCT.md §8). A failed revoke is logged, not fatal: the user asked to leave and the
    tokens are gone on our side either way.
    """
    with session_scope(engine) as session:
        inst = session.get(Installation, installation_id)
        if inst is None:
            raise LookupError(f"installation {installation_id} not found")
        cred = get_credential(session, installation_id)
        refresh_token = decrypt_credential(box, cred).refresh_token if cred else ""
        inst.status = "disconnected"
        inst.status_reason = "disconnected by an admin"
        inst.disconnected_at = now
        inst.purge_after = now + timedelta(days=grace_days)
        inst.updated_at = now
        session.add(inst)
        delete_credential(session, installation_id)
    # Revoke after the commit: processing has stopped whatever HubSpot answers, and no database
    # lock is held across the HTTP call.
    revoked = False
    if refresh_token:
        try:
            revoke(refresh_token)
            revoked = True
        except Exception as exc:  # noqa: BLE001 - any failure here must not block leaving
            log.warning(
                "hubspot.disconnect.revoke_failed installation_id=%s error=%s",
                installation_id, type(exc).__name__,
            )
    with session_scope(engine) as session:
        audit(
            session, installation_id, "disconnected", now, actor=actor,
            detail={"revoked": revoked, "purge_after": inst.purge_after.isoformat()},
        )
    log.info("hubspot.disconnected installation_id=%s revoked=%s", installation_id, revoked)
    return inst


# -- purge -----------------------------------------------------------------------------------


def purge_disconnected(engine: Engine, now: datetime) -> list[int]:
    """Delete every disconnected installation whose grace period is over; returns their ids."""
    with session_scope(engine) as session:
        due = list(
            session.exec(
                sm_select(Installation.id).where(
                    Installation.status == "disconnected",
                    Installation.purge_after.is_not(None),  # type: ignore[union-attr]
                    Installation.purge_after <= now,  # type: ignore[operator]
                )
            )
        )
    for installation_id in due:
        purge_installation(engine, installation_id, now)
    return due


def purge_installation(engine: Engine, installation_id: int, now: datetime) -> None:
    """Delete the installation and every row that hangs off it, children first.

    The tables are reflected from the database, so tables added later are purged too: any
    table with an `installation_id` column, and tables reaching one through a foreign key
    (billing_event → billing_connection).
    """
    meta = MetaData()
    meta.reflect(bind=engine)
    with session_scope(engine) as session:
        inst = session.get(Installation, installation_id)
        if inst is None:
            return
        crm, external_id = inst.crm, inst.external_id
        for table in reversed(meta.sorted_tables):
            stmt = _purge_statement(table, installation_id)
            if stmt is not None:
                session.execute(stmt)
        audit(session, None, "purged", now, detail={"crm": crm, "external_id": external_id,
                                                     "installation_id": installation_id})
    log.info("installation.purged installation_id=%s", installation_id)


def _purge_statement(table: Table, installation_id: int):  # noqa: ANN202 - a Delete or None
    if table.name == Installation.__tablename__:
        return delete(table).where(table.c.id == installation_id)
    if "installation_id" in table.c:
        return delete(table).where(table.c.installation_id == installation_id)
    for fk in table.foreign_keys:
        parent = fk.column.table
        if "installation_id" in parent.c:
            owned = select(fk.column).where(parent.c.installation_id == installation_id)
            return delete(table).where(fk.parent.in_(owned))
    return None
