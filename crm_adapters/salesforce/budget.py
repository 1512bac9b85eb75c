"""Watching the org's daily API allocation so the connector never eats the customer's budget.

Salesforce counts REST calls against one rolling 24-hour allocation shared by every integration
in the org; over it, calls get 403 REQUEST_LIMIT_EXCEEDED (reference/salesforce.md §3.3). There is
no Retry-After; the signal is `Sforce-Limit-Info: api-usage=used/max` on REST answers (read by
simple-salesforce into `sf.api_usage`) and `GET /limits` (`DailyApiRequests`).

Policy: below SLOW_AT of the allocation, full speed; from SLOW_AT, a pause between calls; from
PAUSE_AT, no calls at all (RateLimited, work stays queued) until usage falls again — well before
the org runs out, leaving the rest to the customer's own integrations.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from connector.errors import RateLimited

log = logging.getLogger(__name__)

SLOW_AT = 0.70
PAUSE_AT = 0.85
SLOW_DELAY_S = 2.0
PAUSE_RETRY_S = 30 * 60.0
LIMITS_RECHECK_S = 15 * 60.0  # while paused, read /limits at most this often


@dataclass(frozen=True)
class BudgetState:
    used: int
    max: int
    level: str  # ok | slow | paused
    observed_at: float  # time.time() of the observation
    source: str  # "header" | "limits"

    @property
    def share(self) -> float:
        return self.used / self.max if self.max else 0.0

    def as_dict(self) -> dict:
        return asdict(self) | {"share": round(self.share, 4)}

    def message(self) -> str:
        pct = f"{self.share:.0%}"
        if self.level == "paused":
            return (f"Salesforce API budget {pct} used ({self.used}/{self.max}): syncing paused "
                    "until the org's daily usage falls")
        if self.level == "slow":
            return f"Salesforce API budget {pct} used ({self.used}/{self.max}): syncing slowed down"
        return f"Salesforce API budget {pct} used"


def level_for(used: int, total: int) -> str:
    if total <= 0:
        return "ok"
    share = used / total
    if share >= PAUSE_AT:
        return "paused"
    if share >= SLOW_AT:
        return "slow"
    return "ok"


class ApiBudget:
    """One org's budget, shared by the threads of a process."""

    def __init__(self, *, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self.state: BudgetState | None = None
        # Called with each observation (adapter_for hands it to sync health, which stores it
        # where every process and the dashboard can read it).
        self.on_observe: Callable[[BudgetState], None] | None = None

    def observe(self, used: int, total: int, source: str = "header") -> BudgetState:
        state = BudgetState(used, total, level_for(used, total), self._clock(), source)
        with self._lock:
            before = self.state.level if self.state else "ok"
            self.state = state
        if state.level != before:
            log.warning("salesforce.budget level=%s used=%s max=%s", state.level, used, total)
        if self.on_observe is not None:
            self.on_observe(state)
        return state

    def needs_limits_check(self) -> bool:
        state = self.state
        return state is not None and state.level == "paused" and (
            self._clock() - state.observed_at >= LIMITS_RECHECK_S)

    def before_call(self) -> None:
        """Wait or refuse according to the last observation."""
        state = self.state
        if state is None or state.level == "ok":
            return
        if state.level == "paused":
            raise RateLimited(state.message(), retry_after=PAUSE_RETRY_S)
        self._sleep(SLOW_DELAY_S)


_REGISTRY: dict[str, ApiBudget] = {}
_REGISTRY_LOCK = threading.Lock()


def budget_for(org_id: str) -> ApiBudget:
    """The process-wide budget of one org (every adapter of that org shares it)."""
    with _REGISTRY_LOCK:
        return _REGISTRY.setdefault(org_id, ApiBudget())
