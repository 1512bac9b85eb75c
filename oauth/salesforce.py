"""Salesforce as an OAuth provider: login hosts, the web-server flow with PKCE, refresh, revoke.

Facts (reference/salesforce.md §1): authorize/token/revoke live on the login host the installer
picks — production `login.salesforce.com`, sandbox `test.salesforce.com`, or the org's My Domain
(some orgs block the generic hosts). PKCE S256 is required for ISV apps and a confidential client
sends `code_verifier` AND `client_secret`. The token answer has `instance_url` (every API call
goes there), `id` (`…/id/<org id>/<user id>`), `issued_at`, `signature` and no `expires_in`: the
access token is refreshed when the API says 401 INVALID_SESSION_ID (crm_adapters/salesforce/
client.py), never on a clock. No `scope` on refresh (Salesforce answers 400 "scope parameter not
supported"). A refresh usually returns no new refresh token; with rotation on it does.

Request bodies are built and answers parsed by oauthlib's WebApplicationClient (the engine of
requests-oauthlib) over the shared `requests` session, as in oauth/hubspot.py: OAuth2Session
cannot take an injected session, refuses a plain-http stand-in, and logs bodies at DEBUG.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlencode, urlsplit

import requests
from oauthlib.oauth2 import OAuth2Error, WebApplicationClient

from connector.config import Settings
from connector.errors import FatalProviderError, RateLimited, ReauthRequired, TransientProviderError

log = logging.getLogger(__name__)

CRM = "salesforce"
CALLBACK_PATH = "/oauth/salesforce/callback"
SCOPES = ("api", "refresh_token")  # `refresh_token` = offline_access (reference §1.3)
SANDBOX_LOGIN_URL = "https://test.salesforce.com"
TIMEOUT = (5.0, 20.0)
VERIFIER_LENGTH = 64  # 43–128 characters (packaging guide, reference §1.3)

# `<name>.my.salesforce.com`, `<name>--<sandbox>.sandbox.my.salesforce.com` (enhanced domains),
# and the same on the government and other Salesforce clouds' `my.salesforce.*` / `my.site.com`
# are not accepted: only what the reference names.
_MY_DOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,60}[a-z0-9])?(?:--[a-z0-9]+)?(?:\.sandbox)?\.my\.salesforce\.com$")
# Refusals of a refresh token that only an admin can fix (reference §1.4).
_REAUTH_CODES = frozenset({"invalid_grant", "inactive_user", "inactive_org", "invalid_client_id",
                           "unauthorized_client"})
APP_NOT_INSTALLED = re.compile(r"must be installed", re.I)


class BadLoginHost(ValueError):
    """The installer's login host choice is not a Salesforce login host."""


def login_url_for(choice: str, settings: Settings) -> str:
    """`production`, `sandbox`, or a My Domain host (with or without https://) → login URL."""
    raw = (choice or "production").strip().lower()
    if raw == "production":
        return settings.salesforce_login_url.rstrip("/")
    if raw == "sandbox":
        return SANDBOX_LOGIN_URL
    host = urlsplit(raw if "://" in raw else f"https://{raw}").hostname or ""
    if not _MY_DOMAIN.match(host):
        raise BadLoginHost("Enter your My Domain, like acme.my.salesforce.com or "
                           "acme--uat.sandbox.my.salesforce.com")
    return f"https://{host}"


def callback_url(settings: Settings) -> str:
    return settings.public_base_url.rstrip("/") + CALLBACK_PATH


def ids_from_identity_url(identity_url: str) -> tuple[str, str]:
    """(org id, user id) from the token's `id`: https://login.salesforce.com/id/<org>/<user>."""
    parts = [p for p in urlsplit(identity_url).path.split("/") if p]
    if len(parts) < 3 or parts[-3] != "id":
        raise FatalProviderError("Salesforce token answer has no usable identity URL")
    return parts[-2], parts[-1]


@dataclass(frozen=True)
class SalesforceTokens:
    """One token endpoint answer. Quacks like oauth.tokens.TokenSet for storage and refresh."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    instance_url: str
    identity_url: str = ""
    issued_at: str = ""
    scopes: tuple[str, ...] = ()

    def expires_at(self, now: datetime) -> None:
        """Unknown: Salesforce announces no lifetime (refresh on 401 instead)."""
        return None


@dataclass(frozen=True)
class Authorization:
    url: str
    code_verifier: str = field(repr=False)


class SalesforceOAuth:
    """The token endpoints of one login host."""

    def __init__(self, http: requests.Session, settings: Settings, login_url: str) -> None:
        self._http = http
        self._settings = settings
        self.login_url = login_url.rstrip("/")

    def _client(self) -> WebApplicationClient:
        return WebApplicationClient(self._settings.salesforce_client_id)

    def authorization(self, state: str) -> Authorization:
        """The consent URL with a fresh PKCE verifier (S256) the caller keeps for the callback."""
        client = self._client()
        verifier = client.create_code_verifier(VERIFIER_LENGTH)
        url = client.prepare_request_uri(
            f"{self.login_url}/services/oauth2/authorize",
            redirect_uri=callback_url(self._settings),
            scope=list(SCOPES),
            state=state,
            code_challenge=client.create_code_challenge(verifier, "S256"),
            code_challenge_method="S256",
            prompt="login consent",
        )
        return Authorization(url, verifier)

    def exchange_code(self, code: str, code_verifier: str) -> SalesforceTokens:
        body = self._client().prepare_request_body(
            code=code,
            redirect_uri=callback_url(self._settings),
            code_verifier=code_verifier,
            include_client_id=True,
            client_secret=self._settings.salesforce_client_secret,
        )
        tokens = self._token_set(self._post("token", body, what="code_exchange"), what="code_exchange")
        if not tokens.refresh_token:
            # The app lacks the refresh_token scope: without it nothing works after ~2 hours.
            raise FatalProviderError("Salesforce sent no refresh token (is the refresh_token "
                                     "scope enabled on the app?)")
        return tokens

    def refresh(self, refresh_token: str) -> SalesforceTokens:
        # prepare_refresh_body adds `scope` only when given one: none is sent (reference §1.5).
        body = self._client().prepare_refresh_body(
            refresh_token=refresh_token,
            client_id=self._settings.salesforce_client_id,
            client_secret=self._settings.salesforce_client_secret,
        )
        return self._token_set(self._post("token", body, what="refresh", reauth_on_refusal=True),
                               what="refresh")

    def revoke(self, token: str) -> None:
        """Revoke a refresh token (and its access tokens) at Salesforce."""
        self._post("revoke", urlencode({"token": token}), what="revoke")

    # -- helpers ---------------------------------------------------------------------------------

    def _post(self, endpoint: str, body: str, *, what: str,
              reauth_on_refusal: bool = False) -> requests.Response:
        try:
            resp = self._http.post(
                f"{self.login_url}/services/oauth2/{endpoint}",
                data=body,
                headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
                timeout=TIMEOUT,
            )
        except (requests.Timeout, requests.ConnectionError) as exc:
            log.warning("salesforce.oauth.call_failed call=%s error=%s", what, type(exc).__name__)
            raise TransientProviderError(f"Salesforce OAuth {what}: {type(exc).__name__}") from None
        if 200 <= resp.status_code < 300:
            return resp
        raise _refusal(resp, what=what, reauth_on_refusal=reauth_on_refusal)

    def _token_set(self, resp: requests.Response, *, what: str) -> SalesforceTokens:
        try:
            # Salesforce's granted scope may differ in order/content from the request; nothing is
            # compared here (the client has no scope), so oauthlib raises no "Scope has changed".
            token = self._client().parse_request_body_response(resp.text)
        except (OAuth2Error, ValueError) as exc:
            log.warning("salesforce.oauth.bad_token_answer call=%s error=%s", what, type(exc).__name__)
            raise FatalProviderError(f"Salesforce OAuth {what}: unusable token answer") from None
        if not token.get("instance_url"):
            raise FatalProviderError(f"Salesforce OAuth {what}: no instance_url")
        self._check_signature(token, what=what)
        scope = token.get("scope") or ""
        return SalesforceTokens(
            access_token=token["access_token"],
            refresh_token=token.get("refresh_token") or None,
            instance_url=str(token["instance_url"]).rstrip("/"),
            identity_url=str(token.get("id") or ""),
            issued_at=str(token.get("issued_at") or ""),
            scopes=tuple(scope.split()) if isinstance(scope, str) else tuple(scope),
        )

    def _check_signature(self, token: dict, *, what: str) -> None:
        """`signature` = base64(HMAC-SHA256(client secret, id + issued_at)) (reference §1.4)."""
        signature = token.get("signature")
        if not signature or not token.get("id") or not token.get("issued_at"):
            return
        expected = base64.b64encode(hmac.new(
            self._settings.salesforce_client_secret.encode(),
            (str(token["id"]) + str(token["issued_at"])).encode(), hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(expected, str(signature)):
            log.warning("salesforce.oauth.bad_signature call=%s", what)
            raise FatalProviderError(f"Salesforce OAuth {what}: the token answer's signature does not match")


def _refusal(resp: requests.Response, *, what: str, reauth_on_refusal: bool) -> Exception:
    try:
        data = resp.json()
    except ValueError:
        data = None
    code = str(data.get("error") or "") if isinstance(data, dict) else ""
    status = resp.status_code
    log.warning("salesforce.oauth.refused call=%s status=%s code=%s", what, status, code)
    description = str(data.get("error_description") or "")[:200] if isinstance(data, dict) else ""
    message = f"Salesforce OAuth {what}: {status} {code} {description}".strip()
    if status == 429 or code == "rate_limit_exceeded":
        return RateLimited(message, retry_after=60.0)
    if status >= 500:
        return TransientProviderError(message)
    if reauth_on_refusal and status in (400, 401) and code in _REAUTH_CODES:
        return ReauthRequired(message, status=status, category=code)
    return FatalProviderError(message, status=status, category=code or None)
