"""Refresh ahead of expiry, rotation, refusal → needs_reauth, and single flight."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
import responses
from oauth_testkit import TOKEN_URL, form, payload, seed_installation
from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlmodel import Session, select

from connector.errors import ReauthRequired, TransientProviderError
from connector.storage.models import AuditLog, CrmCredential, Installation, OutboxItem
from oauth.manager import TokenManager, credential_for_update


@pytest.fixture
def manager(services) -> TokenManager:
    return TokenManager(services.engine, services.box, services.http, services.settings, services.clock)


def stored(services, installation_id: int) -> tuple[CrmCredential, str, str]:
    with Session(services.engine) as s:
        cred = s.exec(select(CrmCredential).where(CrmCredential.installation_id == installation_id)).one()
    return cred, services.box.decrypt(cred.access_token_enc), services.box.decrypt(cred.refresh_token_enc)


def test_fresh_token_is_returned_without_calling_hubspot(manager, services, http, now):
    iid = seed_installation(services, expires_at=now + timedelta(minutes=6))
    assert manager.for_installation(iid).access_token() == "at-old"
    assert len(http.calls) == 0


def test_token_is_refreshed_five_minutes_before_expiry(manager, services, http, now):
    iid = seed_installation(services, expires_at=now + timedelta(minutes=4, seconds=59))
    http.add(responses.POST, TOKEN_URL, json=payload("token_refresh_rotated"))

    token = manager.for_installation(iid).access_token()

    new = payload("token_refresh_rotated")
    assert token == new["access_token"]
    assert form(http.calls[0].request.body) == {
        "grant_type": "refresh_token",
        "refresh_token": "rt-old",
        "client_id": "test-client-id",
        "client_secret": "test-client-secret",
    }
    cred, access, refresh = stored(services, iid)
    assert access == new["access_token"]
    assert refresh == new["refresh_token"]  # the rotated refresh token is saved at once
    assert cred.expires_at == now + timedelta(seconds=1800)
    assert cred.version == 2


def test_next_call_uses_the_refreshed_token_without_refreshing_again(manager, services, http, now):
    iid = seed_installation(services, expires_at=now - timedelta(minutes=1))
    http.add(responses.POST, TOKEN_URL, json=payload("token_refresh_rotated"))
    provider = manager.for_installation(iid)
    first = provider.access_token()
    assert provider.access_token() == first
    assert len(http.calls) == 1


def test_old_refresh_token_is_kept_when_none_comes_back(manager, services, http, now):
    iid = seed_installation(services, expires_at=now - timedelta(seconds=1))
    http.add(responses.POST, TOKEN_URL, json=payload("token_refresh_same_refresh_token"))
    token = manager.for_installation(iid).access_token()
    _, access, refresh = stored(services, iid)
    assert token == access == payload("token_refresh_same_refresh_token")["access_token"]
    assert refresh == "rt-old"


@pytest.mark.parametrize(
    ("status", "body"),
    [(400, "error_bad_refresh_token"), (400, "error_invalid_grant")],
)
def test_refused_refresh_marks_needs_reauth_and_leaves_pending_work(manager, services, http, now, engine, status, body):
    iid = seed_installation(services, expires_at=now - timedelta(minutes=1))
    with Session(engine) as s:
        s.add(OutboxItem(installation_id=iid, kind="write_fields", payload={"x": 1}))
        s.commit()
    http.add(responses.POST, TOKEN_URL, status=status, json=payload(body))

    with pytest.raises(ReauthRequired):
        manager.for_installation(iid).access_token()

    with Session(engine) as s:
        inst = s.get(Installation, iid)
        items = s.exec(select(OutboxItem)).all()
        audit = s.exec(select(AuditLog).where(AuditLog.action == "needs_reauth")).one()
    assert inst.status == "needs_reauth"
    assert "refused the refresh token" in inst.status_reason
    assert [(i.status, i.attempts) for i in items] == [("pending", 0)]
    assert audit.installation_id == iid
    _, access, refresh = stored(services, iid)
    assert (access, refresh) == ("at-old", "rt-old")


def test_needs_reauth_installation_raises_without_calling_hubspot(manager, services, http, now):
    iid = seed_installation(services, status="needs_reauth", expires_at=now + timedelta(hours=1))
    with pytest.raises(ReauthRequired):
        manager.for_installation(iid).access_token()
    assert len(http.calls) == 0


def test_disconnected_installation_raises(manager, services, now):
    iid = seed_installation(services, status="disconnected")
    with pytest.raises(ReauthRequired):
        manager.for_installation(iid).access_token()


def test_hubspot_outage_is_transient_and_keeps_the_installation_active(manager, services, http, now, engine):
    iid = seed_installation(services, expires_at=now - timedelta(minutes=1))
    http.add(responses.POST, TOKEN_URL, status=502, body="Bad Gateway")
    with pytest.raises(TransientProviderError):
        manager.for_installation(iid).access_token()
    with Session(engine) as s:
        assert s.get(Installation, iid).status == "active"


def test_force_refresh_gets_a_new_token_even_when_not_expired(manager, services, http, now):
    iid = seed_installation(services, expires_at=now + timedelta(minutes=20))
    http.add(responses.POST, TOKEN_URL, json=payload("token_refresh_rotated"))
    assert manager.for_installation(iid).force_refresh() == payload("token_refresh_rotated")["access_token"]
    assert len(http.calls) == 1


def test_concurrent_refresh_is_single_flight(manager, services, http, now):
    iid = seed_installation(services, expires_at=now - timedelta(minutes=1))
    second_request = threading.Event()
    calls = []

    def token_endpoint(request):
        calls.append(request)
        if len(calls) == 1:
            # Hold the first refresh open until a second one arrives (which only happens if
            # the lock is broken) or the other thread had ample time to queue behind it.
            second_request.wait(timeout=1.0)
        else:
            second_request.set()
        return 200, {"Content-Type": "application/json"}, json.dumps(payload("token_refresh_rotated"))

    http.add_callback(responses.POST, TOKEN_URL, callback=token_endpoint)
    start = threading.Barrier(2)
    results, errors = [], []

    def worker():
        start.wait()
        try:
            results.append(manager.for_installation(iid).access_token())
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert len(calls) == 1
    assert results == [payload("token_refresh_rotated")["access_token"]] * 2


def test_second_worker_process_adopts_the_winners_tokens(services, http, now, engine):
    """Two managers = two processes. On SQLite (no row locks) the optimistic version check
    stops the loser from overwriting the winner's rotated tokens."""
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL serialises the two refreshes with SELECT ... FOR UPDATE")
    iid = seed_installation(services, expires_at=now - timedelta(minutes=1))
    mine = TokenManager(services.engine, services.box, services.http, services.settings, services.clock)

    def token_endpoint(_request):
        # While our refresh is in flight, the other worker commits its own refresh.
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE crm_credential SET access_token_enc=:a, refresh_token_enc=:r, version=version+1"),
                {"a": services.box.encrypt("at-winner"), "r": services.box.encrypt("rt-winner")},
            )
        return 200, {}, '{"access_token":"at-loser","refresh_token":"rt-loser","expires_in":1800,"token_type":"bearer"}'

    http.add_callback(responses.POST, TOKEN_URL, callback=token_endpoint)
    assert mine.for_installation(iid).access_token() == "at-winner"
    _, access, refresh = stored(services, iid)
    assert (access, refresh) == ("at-winner", "rt-winner")


def test_refusal_after_another_worker_refreshed_is_not_a_reauth(services, http, now, engine):
    """The old refresh token may die when the other worker's refresh rotates it."""
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL serialises the two refreshes with SELECT ... FOR UPDATE")
    iid = seed_installation(services, expires_at=now - timedelta(minutes=1))
    mine = TokenManager(services.engine, services.box, services.http, services.settings, services.clock)

    def token_endpoint(_request):
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE crm_credential SET access_token_enc=:a, version=version+1"),
                {"a": services.box.encrypt("at-winner")},
            )
        return 400, {}, '{"status":"BAD_REFRESH_TOKEN","message":"missing or invalid refresh token"}'

    http.add_callback(responses.POST, TOKEN_URL, callback=token_endpoint)
    assert mine.for_installation(iid).access_token() == "at-winner"
    with Session(engine) as s:
        assert s.get(Installation, iid).status == "active"


def test_credential_row_is_locked_on_postgresql():
    sql = str(credential_for_update(7).compile(dialect=postgresql.dialect()))
    assert "FOR UPDATE" in sql


def test_two_worker_processes_refresh_once_on_postgresql(services, http, now, engine):
    """Two managers (separate in-process locks) = two processes; the row lock serialises them."""
    if engine.dialect.name != "postgresql":
        pytest.skip("needs row locks (TEST_DATABASE_URL=postgresql...)")
    iid = seed_installation(services, expires_at=now - timedelta(minutes=1))
    managers = [
        TokenManager(services.engine, services.box, services.http, services.settings, services.clock)
        for _ in range(2)
    ]
    second_request = threading.Event()
    calls = []

    def token_endpoint(request):
        calls.append(request)
        if len(calls) == 1:
            second_request.wait(timeout=1.0)
        else:
            second_request.set()
        return 200, {"Content-Type": "application/json"}, json.dumps(payload("token_refresh_rotated"))

    http.add_callback(responses.POST, TOKEN_URL, callback=token_endpoint)
    start = threading.Barrier(2)
    results = []

    def worker(manager):
        start.wait()
        results.append(manager.for_installation(iid).access_token())

    threads = [threading.Thread(target=worker, args=(m,)) for m in managers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert results == [payload("token_refresh_rotated")["access_token"]] * 2
