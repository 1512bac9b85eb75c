"""The sliding-window limiter and its per-portal registry, on a fake clock."""

from __future__ import annotations

import threading

import pytest

from crm_adapters.hubspot import rate_limit
from crm_adapters.hubspot.rate_limit import LimiterRegistry, SlidingWindowLimiter

from hubspot_standin import FakeClock


def test_defaults_are_hubspots_published_limits():
    assert (rate_limit.PORTAL_MAX_REQUESTS, rate_limit.PORTAL_WINDOW_SECONDS) == (110, 10.0)
    assert (rate_limit.SEARCH_MAX_REQUESTS, rate_limit.SEARCH_WINDOW_SECONDS) == (5, 1.0)


def test_a_full_window_waits_for_the_oldest_call_to_expire(clock):
    limiter = SlidingWindowLimiter(110, 10, clock=clock, sleep=clock.sleep)

    waits = [limiter.acquire() for _ in range(110)]
    assert sum(waits) == 0
    clock.now = 4.0
    assert limiter.acquire() == 6.0  # the first 110 were at t=0; free again at t=10
    assert clock.now == 10.0


def test_the_window_slides(clock):
    limiter = SlidingWindowLimiter(2, 1, clock=clock, sleep=clock.sleep)
    limiter.acquire()  # t=0
    clock.now = 0.6
    limiter.acquire()  # t=0.6

    assert limiter.acquire() == pytest.approx(0.4)  # t=1.0: the one from t=0 left
    assert limiter.acquire() == pytest.approx(0.6)  # t=1.6: the one from t=0.6 left


def test_block_for_holds_every_caller(clock):
    limiter = SlidingWindowLimiter(100, 10, clock=clock, sleep=clock.sleep)
    limiter.block_for(3.0)

    assert limiter.acquire() == 3.0
    assert limiter.acquire() == 0


def test_note_exhausted_waits_for_our_oldest_call_or_a_whole_window(clock):
    limiter = SlidingWindowLimiter(110, 10, clock=clock, sleep=clock.sleep)
    limiter.note_exhausted()
    assert limiter.acquire() == 10.0  # we made no call: somebody else spent the budget

    clock.now = 12.0
    limiter.note_exhausted(10.0)
    assert limiter.acquire() == 8.0  # our call at t=10 leaves HubSpot's window at t=20


def test_registry_shares_one_limiter_per_portal_and_keeps_search_apart(clock):
    registry = LimiterRegistry(clock=clock, sleep=clock.sleep)

    assert registry.limiter_for(123) is registry.limiter_for("123")
    assert registry.limiter_for(123) is not registry.limiter_for(456)
    search = registry.search_limiter_for(123)
    assert search is not registry.limiter_for(123)
    assert (search.max_requests, search.window_seconds) == (5, 1.0)


def test_module_level_registry():
    assert rate_limit.limiter_for("p-1") is rate_limit.limiter_for("p-1")
    assert rate_limit.search_limiter_for("p-1") is not rate_limit.limiter_for("p-1")


def test_threads_never_exceed_the_window():
    lock = threading.Lock()

    class ThreadSafeClock(FakeClock):
        def __call__(self) -> float:
            with lock:
                return self.now

        def sleep(self, seconds: float) -> None:
            with lock:
                self.now += seconds

    clock = ThreadSafeClock()
    limiter = SlidingWindowLimiter(10, 1, clock=clock, sleep=clock.sleep)
    stamps: list[float] = []

    def work() -> None:
        for _ in range(30):
            limiter.acquire()
            with lock:
                stamps.append(limiter._stamps[-1])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    stamps.sort()
    assert len(stamps) == 120
    assert all(stamps[i + 10] - stamps[i] >= 1 for i in range(len(stamps) - 10))
