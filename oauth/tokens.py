"""OAuth tokens: the value HubSpot hands back, and their encrypted storage (CrmCredential).

Tokens are only ever stored through SecretBox; the plaintext never reaches a log or a column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, select

from connector.crypto import SecretBox
from connector.storage.models import CrmCredential


@dataclass(frozen=True)
class TokenSet:
    """One token endpoint answer (spec schema `AccessTokenResponse`)."""

    access_token: str
    refresh_token: str | None  # None when the endpoint did not send a new one
    expires_in: int
    hub_id: int | None = None
    user_id: int | None = None
    scopes: tuple[str, ...] = ()

    def __repr__(self) -> str:  # keep tokens out of tracebacks and debug output
        return f"TokenSet(expires_in={self.expires_in}, hub_id={self.hub_id}, scopes={len(self.scopes)})"

    def expires_at(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.expires_in)


@dataclass(frozen=True)
class StoredTokens:
    """Decrypted view of a CrmCredential row."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: datetime | None
    version: int


def get_credential(session: Session, installation_id: int) -> CrmCredential | None:
    return session.exec(
        select(CrmCredential).where(CrmCredential.installation_id == installation_id)
    ).one_or_none()


def store_tokens(
    session: Session,
    box: SecretBox,
    installation_id: int,
    tokens: TokenSet,
    now: datetime,
    *,
    user_id: str = "",
    scopes: tuple[str, ...] | None = None,
) -> CrmCredential:
    """Create or replace the installation's credential; bumps `version`.

    A refresh answer without `refresh_token` keeps the stored one (HubSpot does not say whether
    refresh rotates the token, reference/hubspot.md §1.3, so we save whatever comes back).
    """
    cred = get_credential(session, installation_id)
    if cred is None:
        if not tokens.refresh_token:
            raise ValueError("a new credential needs a refresh token")
        cred = CrmCredential(
            installation_id=installation_id,
            access_token_enc="",
            refresh_token_enc="",
            version=0,
        )
    cred.access_token_enc = box.encrypt(tokens.access_token)
    if tokens.refresh_token:
        cred.refresh_token_enc = box.encrypt(tokens.refresh_token)
    cred.expires_at = tokens.expires_at(now)
    granted = scopes if scopes is not None else tokens.scopes
    if granted:
        cred.scopes = " ".join(granted)
    if user_id:
        cred.user_id = user_id
    cred.version = (cred.version or 0) + 1
    cred.updated_at = now
    session.add(cred)
    session.flush()
    return cred


def decrypt_credential(box: SecretBox, cred: CrmCredential) -> StoredTokens:
    return StoredTokens(
        access_token=box.decrypt(cred.access_token_enc),
        refresh_token=box.decrypt(cred.refresh_token_enc),
        expires_at=cred.expires_at,
        version=cred.version,
    )


def delete_credential(session: Session, installation_id: int) -> None:
    cred = get_credential(session, installation_id)
    if cred is not None:
        session.delete(cred)
        session.flush()
