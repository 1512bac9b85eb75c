"""Disconnect (admin + CSRF, revoke at HubSpot) and the purge after the grace period."""

from __future__ import annotations

from datetime import timedelta

import responses
from oauth_testkit import REVOKE_URL, form, seed_installation
from sqlmodel import Session, select

from connector.storage.models import (
    AuditLog,
    BillingConnection,
    BillingEvent,
    CrmCredential,
    CustomerBilling,
    Installation,
    OutboxItem,
    PaymentLink,
    SyncRun,
)
from oauth.installations import purge_disconnected


def log_in(client, installation_id: int, csrf: str = "csrf-123") -> str:
    with client.session_transaction() as sess:
        sess["admin"] = {"installation_id": installation_id, "user": "ops.admin@acme-billing.com"}
        sess["csrf"] = csrf  # connector.csrf keeps it here
    return csrf


def test_disconnect_needs_an_admin_session(client, services, http):
    seed_installation(services)
    resp = client.post("/oauth/hubspot/disconnect", data={"csrf_token": "x"})
    assert resp.status_code == 401
    assert len(http.calls) == 0


def test_disconnect_needs_the_csrf_token(client, services, http, engine):
    iid = seed_installation(services)
    log_in(client, iid)
    assert client.post("/oauth/hubspot/disconnect").status_code == 403
    assert client.post("/oauth/hubspot/disconnect", data={"csrf_token": "wrong"}).status_code == 403
    with Session(engine) as s:
        assert s.get(Installation, iid).status == "active"
    assert len(http.calls) == 0


def test_disconnect_revokes_stops_and_schedules_the_purge(client, services, http, engine, now):
    iid = seed_installation(services, refresh_token="rt-to-revoke")
    csrf = log_in(client, iid)
    http.add(responses.POST, REVOKE_URL, status=204)

    resp = client.post("/oauth/hubspot/disconnect", data={"csrf_token": csrf})

    assert resp.status_code == 303 and resp.headers["Location"] == "/"
    assert form(http.calls[0].request.body) == {
        "client_id": "test-client-id",
        "client_secret": "test-client-secret",
        "token": "rt-to-revoke",
        "token_type_hint": "refresh_token",
    }
    with Session(engine) as s:
        inst = s.get(Installation, iid)
        creds = s.exec(select(CrmCredential)).all()
        audit = s.exec(select(AuditLog).where(AuditLog.action == "disconnected")).one()
    assert inst.status == "disconnected"
    assert inst.disconnected_at == now
    assert inst.purge_after == now + timedelta(days=30)
    assert creds == []  # no token survives a disconnect
    assert audit.detail["revoked"] is True and audit.actor == "ops.admin@acme-billing.com"
    with client.session_transaction() as sess:
        assert "admin" not in sess


def test_disconnect_by_header_token_answers_json(client, services, http):
    iid = seed_installation(services)
    csrf = log_in(client, iid)
    http.add(responses.POST, REVOKE_URL, status=200, body="")
    resp = client.post("/oauth/hubspot/disconnect", headers={"X-CSRF-Token": csrf})
    assert resp.status_code == 200
    assert resp.get_json()["status"] == "disconnected"


def test_failed_revoke_still_disconnects(client, services, http, engine):
    iid = seed_installation(services)
    csrf = log_in(client, iid)
    http.add(responses.POST, REVOKE_URL, status=500, json={"status": "error", "message": "internal error"})
    resp = client.post("/oauth/hubspot/disconnect", data={"csrf_token": csrf})
    assert resp.status_code == 303
    with Session(engine) as s:
        assert s.get(Installation, iid).status == "disconnected"
        assert s.exec(select(AuditLog).where(AuditLog.action == "disconnected")).one().detail["revoked"] is False


def test_admin_token_disconnects_a_named_installation_without_csrf(client, services, http, engine):
    from dataclasses import replace

    services.settings = replace(services.settings, admin_token="ops-token-123")
    iid = seed_installation(services)
    http.add(responses.POST, REVOKE_URL, status=204)
    auth = {"Authorization": "Bearer ops-token-123"}
    assert client.post("/oauth/hubspot/disconnect", headers=auth).status_code == 400  # which one?
    resp = client.post("/oauth/hubspot/disconnect", headers=auth, json={"installation_id": iid})
    assert resp.status_code == 200
    with Session(engine) as s:
        assert s.get(Installation, iid).status == "disconnected"


def _fill(engine, iid: int, tag: str) -> None:
    """One row in every table that hangs off an installation."""
    with Session(engine) as s:
        conn = BillingConnection(installation_id=iid, provider="stripe", webhook_token=f"wh-{tag}")
        s.add(conn)
        s.flush()
        s.add(BillingEvent(connection_id=conn.id, event_id=f"evt_{tag}", type="invoice.payment_failed", payload="{}"))
        cust = CustomerBilling(installation_id=iid, connection_id=conn.id, customer_id=f"cus_{tag}")
        s.add(cust)
        s.flush()
        s.add(OutboxItem(installation_id=iid, kind="write_fields", customer_row_id=cust.id))
        s.add(PaymentLink(token=f"pl-{tag}", installation_id=iid, customer_row_id=cust.id,
                          expires_at=cust.updated_at + timedelta(days=60)))
        s.add(SyncRun(installation_id=iid, kind="drain"))
        s.add(AuditLog(installation_id=iid, action="settings_changed"))
        s.commit()


def _count(engine, model, **where) -> int:
    with Session(engine) as s:
        stmt = select(model)
        for key, value in where.items():
            stmt = stmt.where(getattr(model, key) == value)
        return len(s.exec(stmt).all())


def test_purge_deletes_expired_disconnected_installations_and_all_their_rows(services, engine, now):
    gone = seed_installation(services, external_id="111", status="disconnected")
    kept = seed_installation(services, external_id="222")
    waiting = seed_installation(services, external_id="333", status="disconnected")
    for iid, tag in ((gone, "a"), (kept, "b"), (waiting, "c")):
        _fill(engine, iid, tag)
    with Session(engine) as s:
        for iid, after in ((gone, now - timedelta(seconds=1)), (waiting, now + timedelta(days=1))):
            inst = s.get(Installation, iid)
            inst.purge_after = after
            s.add(inst)
        s.commit()

    assert purge_disconnected(engine, now) == [gone]

    with Session(engine) as s:
        assert s.get(Installation, gone) is None
        assert s.get(Installation, kept) is not None and s.get(Installation, waiting) is not None
    for model in (CrmCredential, CustomerBilling, OutboxItem, PaymentLink, SyncRun, BillingConnection):
        assert _count(engine, model, installation_id=gone) == 0
        assert _count(engine, model, installation_id=kept) == 1
        assert _count(engine, model, installation_id=waiting) == 1
    assert _count(engine, BillingEvent, event_id="evt_a") == 0
    assert _count(engine, BillingEvent, event_id="evt_b") == 1
    assert _count(engine, AuditLog, installation_id=gone) == 0
    with Session(engine) as s:
        purged = s.exec(select(AuditLog).where(AuditLog.action == "purged")).one()
    assert purged.installation_id is None
    assert purged.detail == {"crm": "hubspot", "external_id": "111", "installation_id": gone}
    assert purge_disconnected(engine, now) == []  # nothing left to do
