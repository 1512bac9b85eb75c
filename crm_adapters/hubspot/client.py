"""A small requests-based HubSpot client: timeouts, rate limits, retries, one token refresh.

Responses are classified with a table (Airbyte-CDK style), not `if` chains:
- 2xx (200, 201, 204, 207 multi-status) → returned; 207 bodies carry per-input errors.
- 401 → ask the token provider to refresh once, then retry; a second 401 → ReauthRequired.
- 429 → wait (Retry-After, else HubSpot's rolling window from X-HubSpot-RateLimit-Interval-
  Milliseconds) and retry; the whole portal's limiter is held back meanwhile. A DAILY policy
  429 is not retried here. Exhausted → RateLimited.
- 423 Locked, 5xx, timeouts and connection errors → exponential backoff; exhausted →
  TransientProviderError.
- any other 4xx → HubSpotApiError (a FatalProviderError with HubSpot's `category`).
https://developers.hubspot.com/docs/api-reference/error-handling
https://developers.hubspot.com/docs/developer-tooling/platform/usage-guidelines

Never logs tokens or bodies (HubSpot's messages can echo property values).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import requests

from connector.errors import (
    FatalProviderError,
    RateLimited,
    ReauthRequired,
    TransientProviderError,
)
from crm_adapters.hubspot import paths
from crm_adapters.hubspot.rate_limit import SlidingWindowLimiter

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = (5.0, 30.0)  # (connect, read) seconds
DEFAULT_MAX_RETRIES = 4
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 30.0
# HubSpot's burst window when a 429 carries no interval header (110 requests / 10 s).
DEFAULT_RATE_WINDOW_SECONDS = 10.0


class Action(Enum):
    OK = "ok"
    RETRY = "retry"
    RATE_LIMITED = "rate_limited"
    REFRESH_THEN_RETRY = "refresh_then_retry"
    FAIL = "fail"


# Statuses that do not follow their class's default.
_STATUS_ACTIONS: dict[int, Action] = {
    401: Action.REFRESH_THEN_RETRY,
    # HubSpot answers 423 Locked when a record is being written concurrently; it asks for a retry.
    423: Action.RETRY,
    429: Action.RATE_LIMITED,
}
_CLASS_ACTIONS: dict[int, Action] = {2: Action.OK, 4: Action.FAIL, 5: Action.RETRY}


def classify(status: int) -> Action:
    return _STATUS_ACTIONS.get(status) or _CLASS_ACTIONS.get(status // 100, Action.FAIL)


class HubSpotApiError(FatalProviderError):
    """A non-retriable HubSpot answer. `body` is the parsed error body for callers that must
    look inside (whole-batch 400/409); it is never logged nor part of str()."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        category: str | None,
        body: Any = None,
        correlation_id: str | None = None,
    ) -> None:
        super().__init__(message, status=status, category=category)
        self.body = body
        self.correlation_id = correlation_id


@dataclass(frozen=True)
class HubSpotResponse:
    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)


class HubSpotClient:
    """One installation's HTTP access to HubSpot."""

    def __init__(
        self,
        session: requests.Session,
        token: Callable[[], str],
        *,
        base_url: str = paths.DEFAULT_BASE_URL,
        limiter: SlidingWindowLimiter,
        search_limiter: SlidingWindowLimiter,
        sleep: Callable[[float], None] = time.sleep,
        max_retries: int = DEFAULT_MAX_RETRIES,
        force_refresh: Callable[[], object] | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        on_headers: Callable[[Mapping[str, str]], None] | None = None,
    ) -> None:
        self._session = session
        # Sees each CRM answer's headers (sync health records the rate-limit budget from them).
        self._on_headers = on_headers
        self._token = token
        self.base_url = base_url.rstrip("/")
        self._limiter = limiter
        self._search_limiter = search_limiter
        self._sleep = sleep
        self._max_retries = max_retries
        self._force_refresh = force_refresh
        self._timeout = timeout

    # -- public ---------------------------------------------------------------------------

    def get(self, path: str, *, params: Mapping[str, Any] | None = None) -> HubSpotResponse:
        return self.request("GET", path, params=params)

    def post(self, path: str, json: Any) -> HubSpotResponse:
        return self.request("POST", path, json=json)

    def patch(self, path: str, json: Any) -> HubSpotResponse:
        return self.request("PATCH", path, json=json)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> HubSpotResponse:
        is_search = paths.is_search_path(path)
        limiter = self._search_limiter if is_search else self._limiter
        retries = 0
        refreshed = False
        while True:
            limiter.acquire()
            try:
                resp = self._session.request(
                    method,
                    self.base_url + path,
                    json=json,
                    params=params,
                    headers=self._headers(),
                    timeout=self._timeout,
                )
            except (requests.Timeout, requests.ConnectionError) as exc:
                log.warning("hubspot.call_failed method=%s path=%s error=%s attempt=%d",
                            method, path, type(exc).__name__, retries)
                if retries >= self._max_retries:
                    raise TransientProviderError(
                        f"HubSpot {method} {path}: {type(exc).__name__} after {retries} retries"
                    ) from None
                self._sleep(_backoff(retries))
                retries += 1
                continue

            if not is_search:
                _note_budget(limiter, resp.headers)
                if self._on_headers is not None:
                    self._on_headers(resp.headers)
            action = classify(resp.status_code)
            log.debug("hubspot.call method=%s path=%s status=%s", method, path, resp.status_code)

            if action is Action.OK:
                return HubSpotResponse(resp.status_code, _json(resp), dict(resp.headers))

            if action is Action.REFRESH_THEN_RETRY:
                if refreshed or self._force_refresh is None:
                    body = _json(resp)
                    raise ReauthRequired(
                        f"HubSpot {method} {path}: 401 {_category(body) or ''}".rstrip(),
                        status=401,
                        category=_category(body),
                    )
                log.info("hubspot.token_refresh_on_401 path=%s", path)
                self._force_refresh()
                refreshed = True
                continue

            if action is Action.FAIL:
                body = _json(resp)
                category = _category(body)
                log.warning("hubspot.call_refused method=%s path=%s status=%s category=%s",
                            method, path, resp.status_code, category)
                raise HubSpotApiError(
                    f"HubSpot {method} {path}: {resp.status_code} {category or ''}".rstrip(),
                    status=resp.status_code,
                    category=category,
                    body=body,
                    correlation_id=body.get("correlationId") if isinstance(body, dict) else None,
                )

            # RETRY or RATE_LIMITED
            delay = self._retry_delay(action, resp, retries, is_search)
            rate_limited = action is Action.RATE_LIMITED
            if rate_limited:
                limiter.block_for(delay)
            log.warning("hubspot.call_retry method=%s path=%s status=%s delay=%.2f attempt=%d",
                        method, path, resp.status_code, delay, retries)
            if retries >= self._max_retries or _is_daily_limit(resp):
                error_cls = RateLimited if rate_limited else TransientProviderError
                raise error_cls(
                    f"HubSpot {method} {path}: {resp.status_code} after {retries} retries",
                    retry_after=delay,
                )
            self._sleep(delay)
            retries += 1

    # -- helpers --------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._token()}",
            "Accept": "application/json",
        }

    @staticmethod
    def _retry_delay(action: Action, resp: requests.Response, retries: int, is_search: bool) -> float:
        after = _retry_after(resp.headers)
        if after is not None:
            return after
        if action is Action.RATE_LIMITED and not is_search:
            # Retry-After is not documented for CRM 429s; the 10 s window is rolling, so after one
            # full interval the budget has surely come back (reference/hubspot.md §8.1).
            return _interval_seconds(resp.headers) or DEFAULT_RATE_WINDOW_SECONDS
        return _backoff(retries)


def _backoff(retries: int) -> float:
    return min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * (2**retries))


def _retry_after(headers: Mapping[str, str]) -> float | None:
    raw = headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None  # an HTTP-date: rare; fall back on our own schedule


def _interval_seconds(headers: Mapping[str, str]) -> float | None:
    raw = headers.get("X-HubSpot-RateLimit-Interval-Milliseconds")
    try:
        return float(raw) / 1000.0 if raw is not None else None
    except ValueError:
        return None


def _note_budget(limiter: SlidingWindowLimiter, headers: Mapping[str, str]) -> None:
    """HubSpot counts every process of this portal; when it says nothing is left, pause."""
    remaining = headers.get("X-HubSpot-RateLimit-Remaining")
    if remaining is None:
        return
    try:
        if int(remaining) <= 0:
            limiter.note_exhausted(_interval_seconds(headers))
    except ValueError:
        return


def _is_daily_limit(resp: requests.Response) -> bool:
    # A DAILY policy will not recover within this call (OAuth apps have no daily limit; private
    # apps do): give the work back to the queue at once.
    if resp.status_code != 429:
        return False
    body = _json(resp)
    return isinstance(body, dict) and body.get("policyName") == "DAILY"


def _json(resp: requests.Response) -> Any:
    if not resp.content:
        return None
    try:
        return resp.json()
    except ValueError:
        return None


def _category(body: Any) -> str | None:
    if isinstance(body, dict):
        category = body.get("category") or body.get("errorType")
        return str(category) if category else None
    return None
