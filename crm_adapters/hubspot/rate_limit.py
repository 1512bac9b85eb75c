"""Client-side rate limiting for HubSpot, one budget per portal.

HubSpot counts OAuth (public/marketplace app) calls per installing account: 110 requests per
rolling 10 s, CRM search excluded; CRM search has its own 5 requests per second per account and
answers without rate-limit headers.
https://developers.hubspot.com/docs/developer-tooling/platform/usage-guidelines
https://developers.hubspot.com/docs/api-reference/search/guide  (reference/hubspot.md §8.1)

Every piece of work for one portal must draw from the same limiter, so limiters live in a
registry keyed by portal id. The budget is per process: several worker processes for one portal
share HubSpot's budget but not this one; the client then falls back on HubSpot's 429 and
X-HubSpot-RateLimit-* headers (see client.py).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

# Marketplace/public OAuth apps: 110 requests / 10 s per installing HubSpot account.
PORTAL_MAX_REQUESTS = 110
PORTAL_WINDOW_SECONDS = 10.0
# CRM search: five requests per second per account.
SEARCH_MAX_REQUESTS = 5
SEARCH_WINDOW_SECONDS = 1.0


class SlidingWindowLimiter:
    """At most `max_requests` acquisitions in any `window_seconds`; thread-safe.

    Clock and sleep are injectable so tests run on a fake clock and never sleep.
    """

    def __init__(
        self,
        max_requests: int,
        window_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_requests < 1 or window_seconds <= 0:
            raise ValueError("a limiter needs at least one request per positive window")
        self.max_requests = max_requests
        self.window_seconds = window_seconds
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._stamps: deque[float] = deque()
        self._blocked_until = 0.0

    def acquire(self) -> float:
        """Take one slot, waiting as long as needed; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                wait = self._wait_needed(self._clock())
                if wait <= 0:
                    self._stamps.append(self._clock())
                    return waited
            self._sleep(wait)
            waited += wait

    def block_for(self, seconds: float) -> None:
        """Hold every caller back for `seconds` (HubSpot said slow down: 429, Retry-After)."""
        if seconds <= 0:
            return
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)

    def note_exhausted(self, window_seconds: float | None = None) -> None:
        """The vendor reports no budget left (other processes share it): wait until our oldest
        call in the window expires, or a whole window when we made none."""
        window = window_seconds or self.window_seconds
        with self._lock:
            now = self._clock()
            self._wait_needed(now)  # drop expired stamps
            until = self._stamps[0] + window if self._stamps else now + window
            self._blocked_until = max(self._blocked_until, until)

    def _wait_needed(self, now: float) -> float:
        while self._stamps and self._stamps[0] <= now - self.window_seconds:
            self._stamps.popleft()
        wait = self._blocked_until - now
        if len(self._stamps) >= self.max_requests:
            wait = max(wait, self._stamps[0] + self.window_seconds - now)
        return wait


class LimiterRegistry:
    """Limiters by portal id, created on first use and shared afterwards."""

    def __init__(
        self,
        *,
        max_requests: int = PORTAL_MAX_REQUESTS,
        window_seconds: float = PORTAL_WINDOW_SECONDS,
        search_max_requests: int = SEARCH_MAX_REQUESTS,
        search_window_seconds: float = SEARCH_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._general = (max_requests, window_seconds)
        self._search = (search_max_requests, search_window_seconds)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._limiters: dict[tuple[str, str], SlidingWindowLimiter] = {}

    def limiter_for(self, portal_id: str | int) -> SlidingWindowLimiter:
        return self._get("general", str(portal_id), *self._general)

    def search_limiter_for(self, portal_id: str | int) -> SlidingWindowLimiter:
        return self._get("search", str(portal_id), *self._search)

    def _get(self, kind: str, portal_id: str, max_requests: int, window: float) -> SlidingWindowLimiter:
        with self._lock:
            key = (kind, portal_id)
            limiter = self._limiters.get(key)
            if limiter is None:
                limiter = SlidingWindowLimiter(max_requests, window, clock=self._clock, sleep=self._sleep)
                self._limiters[key] = limiter
            return limiter


_REGISTRY = LimiterRegistry()


def limiter_for(portal_id: str | int) -> SlidingWindowLimiter:
    """The process-wide limiter of a portal's general budget (110 / 10 s)."""
    return _REGISTRY.limiter_for(portal_id)


def search_limiter_for(portal_id: str | int) -> SlidingWindowLimiter:
    """The process-wide limiter of a portal's CRM search budget (5 / s)."""
    return _REGISTRY.search_limiter_for(portal_id)
