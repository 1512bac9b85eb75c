"""Access tokens for CRM calls: refreshed ahead of expiry, once, even with many workers.

HubSpot access tokens live 30 minutes and a 401 is "not a valid indicator that a new access token
must be retrieved" (https://developers.hubspot.com/docs/developer-tooling/platform/usage-guidelines),
so we refresh from `expires_at` with a 5-minute margin.

Single flight, two layers:
- in one process, a lock per installation, and a second look at the row once inside it;
- across processes, the row itself: `SELECT ... FOR UPDATE` on PostgreSQL holds other workers
  until the new tokens are committed; SQLite has no row locks, so the save is an optimistic
  `UPDATE ... WHERE version = <read version>` and a lost race adopts the winner's tokens.
A refresh token may be rotated on use (HubSpot does not say; reference/hubspot.md §1.3), so the
new one is committed before the access token is handed out, and a refusal is only believed after
checking that no other worker refreshed in the meantime.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import requests
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connector.config import Settings
from connector.crypto import SecretBox
from connector.errors import ReauthRequired
from connector.storage.models import CrmCredential, Installation
from oauth.hubspot import HubSpotOAuth
from oauth.installations import mark_needs_reauth
from oauth.tokens import TokenSet, decrypt_credential

log = logging.getLogger(__name__)

REFRESH_SKEW = timedelta(minutes=5)


def credential_for_update(installation_id: int):  # noqa: ANN201 - a SQLModel Select
    """The credential row, locked for the transaction where the database supports it."""
    return (
        select(CrmCredential)
        .where(CrmCredential.installation_id == installation_id)
        .with_for_update()
    )


class TokenManager:
    """Hands out TokenProviders; one per worker process, shared by its threads."""

    def __init__(
        self,
        engine: Engine,
        box: SecretBox,
        http: requests.Session,
        settings: Settings,
        clock: Callable[[], datetime],
        *,
        skew: timedelta = REFRESH_SKEW,
    ) -> None:
        self.engine = engine
        self.box = box
        self.oauth = HubSpotOAuth(http, settings)
        self.clock = clock
        self.skew = skew
        self._locks: dict[int, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def for_installation(self, installation_id: int) -> TokenProvider:
        return TokenProvider(self, installation_id)

    def lock_for(self, installation_id: int) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(installation_id, threading.Lock())


class TokenProvider:
    """Access token of one installation. Raises ReauthRequired when an admin must reconnect."""

    provider_label = "HubSpot"  # named in the needs_reauth reason an admin reads

    def __init__(self, manager: TokenManager, installation_id: int) -> None:
        self._m = manager
        self.installation_id = installation_id

    def access_token(self) -> str:
        """A token valid for at least the skew; refreshes first when needed."""
        with Session(self._m.engine) as session:
            cred = self._usable_credential(session)
            if self._is_fresh(cred):
                return self._m.box.decrypt(cred.access_token_enc)
            seen = cred.version
        return self._refresh(seen_version=seen, force=False)

    def force_refresh(self) -> str:
        """A new token now (after HubSpot refused the current one), unless another caller
        already replaced the token this caller had."""
        with Session(self._m.engine) as session:
            seen = self._usable_credential(session).version
        return self._refresh(seen_version=seen, force=True)

    # -- internals ---------------------------------------------------------------------------

    def _is_fresh(self, cred: CrmCredential) -> bool:
        return cred.expires_at is not None and cred.expires_at - self._m.skew > self._m.clock()

    def _usable_credential(self, session: Session, *, lock: bool = False) -> CrmCredential:
        inst = session.get(Installation, self.installation_id)
        if inst is None or inst.status == "disconnected":
            raise ReauthRequired(f"installation {self.installation_id} is not connected")
        if inst.status == "needs_reauth":
            raise ReauthRequired(f"installation {self.installation_id} needs to be reconnected")
        stmt = credential_for_update(self.installation_id)
        if not lock:
            stmt = select(CrmCredential).where(CrmCredential.installation_id == self.installation_id)
        cred = session.exec(stmt).one_or_none()
        if cred is None:
            raise ReauthRequired(f"installation {self.installation_id} has no credentials")
        return cred

    def _refresh(self, *, seen_version: int, force: bool) -> str:
        m = self._m
        with m.lock_for(self.installation_id), Session(m.engine, expire_on_commit=False) as session:
            cred = self._usable_credential(session, lock=True)
            # Second look, inside the lock: someone may have refreshed while we waited.
            if cred.version != seen_version or (not force and self._is_fresh(cred)):
                token = m.box.decrypt(cred.access_token_enc)
                session.rollback()
                return token
            read_version = cred.version
            refresh_token = decrypt_credential(m.box, cred).refresh_token
            try:
                tokens = self._call_refresh(refresh_token)
            except ReauthRequired as exc:
                return self._refused(session, exc, read_version=read_version)
            token = self._save(session, cred, tokens)
            session.commit()
            return token

    def _call_refresh(self, refresh_token: str) -> TokenSet:
        """The provider's refresh call (a subclass may send it elsewhere, e.g. per org)."""
        return self._m.oauth.refresh(refresh_token)

    def _save(self, session: Session, cred: CrmCredential, tokens: TokenSet) -> str:
        m = self._m
        now = m.clock()
        values = {
            "access_token_enc": m.box.encrypt(tokens.access_token),
            "expires_at": tokens.expires_at(now),
            "version": cred.version + 1,
            "updated_at": now,
        }
        if tokens.refresh_token:  # keep the old refresh token when none comes back
            values["refresh_token_enc"] = m.box.encrypt(tokens.refresh_token)
        if tokens.scopes:
            values["scopes"] = " ".join(tokens.scopes)
        if getattr(tokens, "instance_url", ""):  # Salesforce: API calls go to this host
            values["instance_url"] = tokens.instance_url
        result = session.execute(
            update(CrmCredential)
            .where(CrmCredential.id == cred.id, CrmCredential.version == cred.version)
            .values(**values)
        )
        if result.rowcount == 1:
            log.info("hubspot.token_refreshed installation_id=%s version=%s",
                     self.installation_id, cred.version + 1)
            return tokens.access_token
        # Lost an optimistic race (no row locks, i.e. SQLite with several processes): the
        # other worker's tokens are in the row; use them rather than overwrite them.
        log.warning("hubspot.token_refresh_race_lost installation_id=%s", self.installation_id)
        session.rollback()
        winner = session.exec(
            select(CrmCredential).where(CrmCredential.id == cred.id).execution_options(populate_existing=True)
        ).one()
        return m.box.decrypt(winner.access_token_enc)

    def _refused(self, session: Session, exc: ReauthRequired, *, read_version: int) -> str:
        m = self._m
        current = session.exec(
            select(CrmCredential)
            .where(CrmCredential.installation_id == self.installation_id)
            .execution_options(populate_existing=True)
        ).one_or_none()
        if current is not None and current.version != read_version:
            # Without row locks another worker may have refreshed (and rotated the refresh
            # token) meanwhile: its tokens are good, the refusal was about the old one.
            token = m.box.decrypt(current.access_token_enc)
            session.rollback()
            return token
        reason = f"{self.provider_label} refused the refresh token ({exc.category or exc.status}); reconnect the app"
        mark_needs_reauth(session, self.installation_id, reason, m.clock())
        session.commit()
        log.warning("hubspot.needs_reauth installation_id=%s category=%s",
                    self.installation_id, exc.category)
        raise exc
