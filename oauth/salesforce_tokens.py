"""Salesforce access tokens through the shared TokenManager machinery (oauth/manager.py).

Same single flight as HubSpot (a lock per installation, a second look inside it, the row's
`version` as the cross-process guard, a rotated refresh token saved before use, a refusal only
believed when no other worker refreshed meanwhile). Two differences: Salesforce announces no
lifetime, so a stored token counts as fresh until the API answers 401 INVALID_SESSION_ID and the
client calls `force_refresh`; and the refresh goes to the login host the installer chose.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import select

from connector.context import Services
from connector.storage.db import session_scope
from connector.storage.models import CrmCredential, Installation
from oauth.manager import TokenManager, TokenProvider
from oauth.salesforce import SalesforceOAuth, SalesforceTokens

LOGIN_URL_SETTING = "salesforce_login_url"


class SalesforceTokenProvider(TokenProvider):
    provider_label = "Salesforce"

    def __init__(self, manager: TokenManager, installation_id: int, oauth: SalesforceOAuth) -> None:
        super().__init__(manager, installation_id)
        self._oauth = oauth

    def _is_fresh(self, cred: CrmCredential) -> bool:
        return True  # no expiry to check: refreshed on a 401 only (force_refresh)

    def _call_refresh(self, refresh_token: str) -> SalesforceTokens:  # type: ignore[override]
        return self._oauth.refresh(refresh_token)


@dataclass(frozen=True)
class OrgAccess:
    tokens: SalesforceTokenProvider
    instance_url: str
    user_id: str
    login_url: str
    org_id: str


def login_url_of(inst: Installation, default: str) -> str:
    return str((inst.settings or {}).get(LOGIN_URL_SETTING) or default).rstrip("/")


def org_access(services: Services, installation_id: int, manager: TokenManager | None = None) -> OrgAccess:
    """What an adapter needs to reach the installation's org."""
    with session_scope(services.engine) as s:
        inst = s.get(Installation, installation_id)
        if inst is None:
            raise LookupError(f"installation {installation_id} does not exist")
        cred = s.exec(select(CrmCredential).where(CrmCredential.installation_id == installation_id)).one_or_none()
        login_url = login_url_of(inst, services.settings.salesforce_login_url)
        instance_url = cred.instance_url if cred else ""
        user_id = cred.user_id if cred else ""
        org_id = inst.external_id
    manager = manager or TokenManager(services.engine, services.box, services.http, services.settings,
                                      services.clock)
    oauth = SalesforceOAuth(services.http, services.settings, login_url)
    return OrgAccess(SalesforceTokenProvider(manager, installation_id, oauth), instance_url, user_id,
                     login_url, org_id)
