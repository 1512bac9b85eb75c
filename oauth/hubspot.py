"""HubSpot as an OAuth provider: the app config (scopes), the install URL and the token endpoints.

The scope list lives only in `hubspot-app/src/app/app-hsmeta.json`; this module reads it.
Token calls use the date-based 2026-03 endpoints; the v1 ones are removed 2027-02-16
(https://developers.hubspot.com/changelog/v1-oauth-api-deprecation). Every parameter goes in the
form body, never the query string (https://developers.hubspot.com/docs/api-reference/auth-oauth-v3/guide).

Request bodies are built and token answers validated by oauthlib's WebApplicationClient, the
engine under requests-oauthlib, over the shared `requests` session. OAuth2Session.fetch_token is
not used directly: it refuses plain-http token URLs (a local stand-in, PRODUCT.md §7), cannot take
an injected session, and logs request bodies (the client secret) at DEBUG.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import requests
from oauthlib.oauth2 import OAuth2Error, WebApplicationClient

from connector.config import Settings
from connector.errors import (
    FatalProviderError,
    RateLimited,
    ReauthRequired,
    TransientProviderError,
)
from oauth.tokens import TokenSet

log = logging.getLogger(__name__)

APP_CONFIG_PATH = Path(__file__).resolve().parent.parent / "hubspot-app" / "src" / "app" / "app-hsmeta.json"
CALLBACK_PATH = "/oauth/hubspot/callback"

OAUTH_VERSION = "2026-03"
TOKEN_PATH = f"/oauth/{OAUTH_VERSION}/token"
INTROSPECT_PATH = f"/oauth/{OAUTH_VERSION}/token/introspect"
REVOKE_PATH = f"/oauth/{OAUTH_VERSION}/token/revoke"

TIMEOUT = (5.0, 20.0)  # connect, read (seconds)

# A refused refresh: uninstall or revocation gives 400 {"status":"BAD_REFRESH_TOKEN",...}
# (https://nango.dev/blog/hubspot-oauth-bad-refresh-token); RFC 6749 §5.2 says `invalid_grant`.
_REAUTH_MARKERS = frozenset({"BAD_REFRESH_TOKEN", "invalid_grant"})


# -- app config ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppConfig:
    uid: str
    name: str
    distribution: str
    auth_type: str
    redirect_urls: tuple[str, ...]
    required_scopes: tuple[str, ...]
    optional_scopes: tuple[str, ...]
    conditionally_required_scopes: tuple[str, ...]


def load_app_config(path: Path | None = None) -> AppConfig:
    """Read the app's `app-hsmeta.json` (cached for the default path)."""
    return _load_app_config(str(path or APP_CONFIG_PATH))


@lru_cache(maxsize=4)
def _load_app_config(path: str) -> AppConfig:
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    config = raw["config"]
    auth = config["auth"]
    return AppConfig(
        uid=raw["uid"],
        name=config["name"],
        distribution=config["distribution"],
        auth_type=auth["type"],
        redirect_urls=tuple(auth.get("redirectUrls", ())),
        required_scopes=tuple(auth.get("requiredScopes", ())),
        optional_scopes=tuple(auth.get("optionalScopes", ())),
        conditionally_required_scopes=tuple(auth.get("conditionallyRequiredScopes", ())),
    )


def callback_url(settings: Settings) -> str:
    return settings.public_base_url.rstrip("/") + CALLBACK_PATH


def authorize_url(settings: Settings, state: str, config: AppConfig | None = None) -> str:
    """The consent URL: required scopes in `scope`, optional ones in `optional_scope`.

    Scopes are space separated and encoded as %20, like the official client's `get_auth_url`.
    """
    config = config or load_app_config()
    params = {
        "client_id": settings.hubspot_client_id,
        "redirect_uri": callback_url(settings),
        "scope": " ".join(config.required_scopes),
    }
    if config.optional_scopes:
        params["optional_scope"] = " ".join(config.optional_scopes)
    params["state"] = state
    return f"{settings.hubspot_authorize_url}?{urlencode(params, quote_via=quote)}"


# -- token endpoints -------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenInfo:
    """Introspection of an access token (spec schema `PublicAccessTokenInfoResponse`)."""

    active: bool
    hub_id: int
    user_id: int | None
    user: str  # the installing user's email
    hub_domain: str
    app_id: int | None
    scopes: tuple[str, ...]


class HubSpotOAuth:
    """Calls HubSpot's 2026-03 token, introspection and revocation endpoints."""

    def __init__(self, http: requests.Session, settings: Settings) -> None:
        self._http = http
        self._settings = settings
        self._base = settings.hubspot_api_base.rstrip("/")

    def _client(self) -> WebApplicationClient:
        # A fresh client per call: parsing stores the token on the client object, so a shared
        # one could hand one installation's token to another thread.
        return WebApplicationClient(self._settings.hubspot_client_id)

    def exchange_code(self, code: str, redirect_uri: str) -> TokenSet:
        body = self._client().prepare_request_body(
            code=code,
            redirect_uri=redirect_uri,
            include_client_id=True,
            client_secret=self._settings.hubspot_client_secret,
        )
        resp = self._post(TOKEN_PATH, body, what="code_exchange")
        return self._token_set(resp, what="code_exchange")

    def refresh(self, refresh_token: str) -> TokenSet:
        body = self._client().prepare_refresh_body(
            refresh_token=refresh_token,
            client_id=self._settings.hubspot_client_id,
            client_secret=self._settings.hubspot_client_secret,
        )
        resp = self._post(TOKEN_PATH, body, what="refresh", reauth_on_refusal=True)
        return self._token_set(resp, what="refresh")

    def introspect(self, access_token: str) -> TokenInfo:
        resp = self._post(
            INTROSPECT_PATH,
            self._client_form(token=access_token, token_type_hint="access_token"),
            what="introspect",
        )
        data = _json(resp)
        if not isinstance(data, dict) or "hub_id" not in data:
            raise FatalProviderError("HubSpot introspection answer has no hub_id", status=resp.status_code)
        if not data.get("active", False):
            raise FatalProviderError("HubSpot says the new access token is not active", status=resp.status_code)
        return TokenInfo(
            active=True,
            hub_id=int(data["hub_id"]),
            user_id=_int_or_none(data.get("user_id")),
            user=str(data.get("user") or ""),
            hub_domain=str(data.get("hub_domain") or ""),
            app_id=_int_or_none(data.get("app_id")),
            scopes=tuple(data.get("scopes") or ()),
        )

    def revoke(self, refresh_token: str) -> None:
        """Delete the refresh token at HubSpot (does not end already-issued access tokens)."""
        self._post(
            REVOKE_PATH,
            self._client_form(token=refresh_token, token_type_hint="refresh_token"),
            what="revoke",
        )

    # -- helpers -----------------------------------------------------------------------------

    def _client_form(self, **fields: str) -> str:
        return urlencode(
            {
                "client_id": self._settings.hubspot_client_id,
                "client_secret": self._settings.hubspot_client_secret,
                **fields,
            }
        )

    def _post(
        self, path: str, body: str, *, what: str, reauth_on_refusal: bool = False
    ) -> requests.Response:
        try:
            resp = self._http.post(
                self._base + path,
                data=body,
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Accept": "application/json",
                },
                timeout=TIMEOUT,
            )
        except (requests.Timeout, requests.ConnectionError) as exc:
            log.warning("hubspot.oauth.call_failed call=%s error=%s", what, type(exc).__name__)
            raise TransientProviderError(f"HubSpot OAuth {what}: {type(exc).__name__}") from None
        if 200 <= resp.status_code < 300:
            return resp
        raise _refusal(resp, what=what, reauth_on_refusal=reauth_on_refusal)

    def _token_set(self, resp: requests.Response, *, what: str) -> TokenSet:
        try:
            token = self._client().parse_request_body_response(resp.text)
        except (OAuth2Error, ValueError) as exc:
            log.warning("hubspot.oauth.bad_token_answer call=%s error=%s", what, type(exc).__name__)
            raise FatalProviderError(f"HubSpot OAuth {what}: unusable token answer") from None
        return TokenSet(
            access_token=token["access_token"],
            refresh_token=token.get("refresh_token") or None,
            expires_in=int(token.get("expires_in") or 0),
            hub_id=_int_or_none(token.get("hub_id")),
            user_id=_int_or_none(token.get("user_id")),
            scopes=tuple(token.get("scopes") or ()),
        )


def _refusal(resp: requests.Response, *, what: str, reauth_on_refusal: bool) -> Exception:
    data = _json(resp)
    code = ""
    if isinstance(data, dict):
        code = str(data.get("status") or data.get("error") or data.get("category") or "")
    status = resp.status_code
    log.warning("hubspot.oauth.refused call=%s status=%s code=%s", what, status, code)
    message = f"HubSpot OAuth {what}: {status} {code}".rstrip()
    if status == 429:
        return RateLimited(message, retry_after=_retry_after(resp))
    if status >= 500:
        return TransientProviderError(message)
    if reauth_on_refusal and status in (400, 401) and code in _REAUTH_MARKERS:
        return ReauthRequired(message, status=status, category=code)
    return FatalProviderError(message, status=status, category=code or None)


def _json(resp: requests.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


def _retry_after(resp: requests.Response) -> float | None:
    try:
        return float(resp.headers.get("Retry-After", ""))
    except ValueError:
        return None


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None
