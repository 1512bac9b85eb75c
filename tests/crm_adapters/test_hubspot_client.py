"""HubSpotClient: auth, timeouts, response classification, retries and rate-limit headers."""

from __future__ import annotations

import logging

import pytest
import requests
import responses

from connector.errors import (
    FatalProviderError,
    RateLimited,
    ReauthRequired,
    TransientProviderError,
)
from crm_adapters.hubspot import paths
from crm_adapters.hubspot.client import Action, HubSpotApiError, classify
from crm_adapters.hubspot.rate_limit import SlidingWindowLimiter

from hubspot_standin import BASE_URL, TOKEN, make_client, payload

URL = BASE_URL + paths.objects_batch_update()
SEARCH_URL = BASE_URL + paths.objects_search()
OK = {"status": "COMPLETE", "results": []}
RATE_HEADERS = {
    "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
    "X-HubSpot-RateLimit-Max": "110",
    "X-HubSpot-RateLimit-Remaining": "0",
}


class CountingLimiter(SlidingWindowLimiter):
    def __init__(self, clock) -> None:
        super().__init__(1000, 10, clock=clock, sleep=clock.sleep)
        self.acquired = 0
        self.blocked: list[float] = []
        self.exhausted: list[float | None] = []

    def acquire(self) -> float:
        self.acquired += 1
        return super().acquire()

    def block_for(self, seconds: float) -> None:
        self.blocked.append(seconds)
        super().block_for(seconds)

    def note_exhausted(self, window_seconds: float | None = None) -> None:
        self.exhausted.append(window_seconds)
        super().note_exhausted(window_seconds)


@pytest.mark.parametrize(("status", "action"), [
    (200, Action.OK), (201, Action.OK), (207, Action.OK), (204, Action.OK),
    (400, Action.FAIL), (403, Action.FAIL), (404, Action.FAIL), (409, Action.FAIL),
    (401, Action.REFRESH_THEN_RETRY), (429, Action.RATE_LIMITED), (423, Action.RETRY),
    (500, Action.RETRY), (502, Action.RETRY), (503, Action.RETRY), (504, Action.RETRY),
])
def test_classification_table(status, action):
    assert classify(status) is action


def test_sends_bearer_token_from_the_callable_with_timeouts(http, clock):
    tokens = iter(["tok-1", "tok-2"])
    client = make_client(clock, token=lambda: next(tokens), timeout=(3.0, 20.0))
    http.post(URL, json=OK)
    http.post(URL, json=OK)

    client.post(paths.objects_batch_update(), {"inputs": []})
    client.post(paths.objects_batch_update(), {"inputs": []})

    assert [c.request.headers["Authorization"] for c in http.calls] == ["Bearer tok-1", "Bearer tok-2"]
    assert http.calls[0].request.req_kwargs["timeout"] == (3.0, 20.0)


def test_base_url_is_overridable(http, clock):
    client = make_client(clock, base_url="http://127.0.0.1:4010/")
    http.get("http://127.0.0.1:4010" + paths.properties(), json={"results": []})

    assert client.get(paths.properties()).status == 200


def test_429_without_retry_after_waits_the_rolling_window_and_holds_the_portal(http, clock):
    limiter = CountingLimiter(clock)
    client = make_client(clock, limiter=limiter)
    http.post(URL, status=429, json=payload("rate_limit_429.json"), headers=RATE_HEADERS)
    http.post(URL, json=OK)

    resp = client.post(paths.objects_batch_update(), {"inputs": []})

    assert resp.status == 200
    assert limiter.blocked == [10.0]  # every caller of this portal waits, not just this one
    assert 10.0 in clock.sleeps
    assert clock.now >= 10.0


def test_429_honours_retry_after(http, clock):
    client = make_client(clock)
    http.post(URL, status=429, json=payload("rate_limit_429.json"), headers={"Retry-After": "3"})
    http.post(URL, json=OK)

    client.post(paths.objects_batch_update(), {"inputs": []})

    assert clock.sleeps == [3.0]


def test_429_until_retries_run_out_raises_rate_limited(http, clock):
    client = make_client(clock, max_retries=2)
    for _ in range(3):
        http.post(URL, status=429, json=payload("rate_limit_429.json"), headers=RATE_HEADERS)

    with pytest.raises(RateLimited) as info:
        client.post(paths.objects_batch_update(), {"inputs": []})

    assert info.value.retry_after == 10.0
    assert len(http.calls) == 3


def test_daily_limit_is_not_retried_within_the_call(http, clock):
    client = make_client(clock)
    http.post(URL, status=429, json=payload("rate_limit_429_daily.json"))

    with pytest.raises(RateLimited):
        client.post(paths.objects_batch_update(), {"inputs": []})

    assert len(http.calls) == 1


def test_5xx_backs_off_exponentially_then_succeeds(http, clock):
    client = make_client(clock)
    http.post(URL, status=502, body="<html>Bad gateway</html>")
    http.post(URL, status=503, json={"status": "error", "category": "SERVICE_UNAVAILABLE"})
    http.post(URL, json=OK)

    assert client.post(paths.objects_batch_update(), {"inputs": []}).status == 200
    assert clock.sleeps == [1.0, 2.0]


def test_5xx_until_retries_run_out_raises_transient(http, clock):
    client = make_client(clock, max_retries=1)
    http.post(URL, status=500, json={"status": "error", "category": "INTERNAL_ERROR"})
    http.post(URL, status=500, json={"status": "error", "category": "INTERNAL_ERROR"})

    with pytest.raises(TransientProviderError) as info:
        client.post(paths.objects_batch_update(), {"inputs": []})

    assert not isinstance(info.value, RateLimited)


@pytest.mark.parametrize("exc", [requests.ConnectTimeout("x"), requests.ReadTimeout("x"),
                                 requests.ConnectionError("x")])
def test_timeouts_and_connection_errors_are_retried(http, clock, exc):
    client = make_client(clock)
    http.post(URL, body=exc)
    http.post(URL, json=OK)

    assert client.post(paths.objects_batch_update(), {"inputs": []}).status == 200
    assert clock.sleeps == [1.0]


def test_timeouts_until_retries_run_out_raise_transient(http, clock):
    client = make_client(clock, max_retries=1)
    http.post(URL, body=requests.ReadTimeout("slow"))
    http.post(URL, body=requests.ReadTimeout("slow"))

    with pytest.raises(TransientProviderError):
        client.post(paths.objects_batch_update(), {"inputs": []})


def test_401_refreshes_once_then_retries_with_the_new_token(http, clock):
    current = {"token": "old"}
    refreshes = []

    def refresh():
        refreshes.append(1)
        current["token"] = "new"

    client = make_client(clock, token=lambda: current["token"], force_refresh=refresh)
    http.post(URL, status=401, json=payload("unauthorized_401.json"))
    http.post(URL, json=OK)

    assert client.post(paths.objects_batch_update(), {"inputs": []}).status == 200
    assert refreshes == [1]
    assert http.calls[1].request.headers["Authorization"] == "Bearer new"


def test_401_after_refresh_requires_reauth(http, clock):
    refreshes = []
    client = make_client(clock, force_refresh=lambda: refreshes.append(1))
    http.post(URL, status=401, json=payload("unauthorized_401.json"))
    http.post(URL, status=401, json=payload("unauthorized_401.json"))

    with pytest.raises(ReauthRequired) as info:
        client.post(paths.objects_batch_update(), {"inputs": []})

    assert refreshes == [1]
    assert info.value.category == "INVALID_AUTHENTICATION"


def test_401_without_a_refresher_requires_reauth(http, clock):
    client = make_client(clock)
    http.post(URL, status=401, json=payload("unauthorized_401.json"))

    with pytest.raises(ReauthRequired):
        client.post(paths.objects_batch_update(), {"inputs": []})


def test_other_4xx_is_fatal_with_hubspot_category_and_not_retried(http, clock):
    client = make_client(clock)
    http.post(URL, status=403, json=payload("missing_scopes_403.json"))

    with pytest.raises(HubSpotApiError) as info:
        client.post(paths.objects_batch_update(), {"inputs": []})

    assert isinstance(info.value, FatalProviderError)
    assert (info.value.status, info.value.category) == (403, "MISSING_SCOPES")
    assert info.value.correlation_id == "7e0f1b2c-3d4e-4f50-8a9b-0c1d2e3f4a5b"
    assert len(http.calls) == 1 and clock.sleeps == []


def test_remaining_zero_pauses_the_portal_limiter(http, clock):
    limiter = CountingLimiter(clock)
    client = make_client(clock, limiter=limiter)
    http.post(URL, json=OK, headers=RATE_HEADERS)

    client.post(paths.objects_batch_update(), {"inputs": []})

    assert limiter.exhausted == [10.0]


def test_search_uses_the_search_limiter_only(http, clock):
    general, search = CountingLimiter(clock), CountingLimiter(clock)
    client = make_client(clock, limiter=general, search_limiter=search)
    http.post(SEARCH_URL, json={"total": 0, "results": []})
    http.post(URL, json=OK)

    client.post(paths.objects_search(), {"filterGroups": []})
    client.post(paths.objects_batch_update(), {"inputs": []})

    assert (general.acquired, search.acquired) == (1, 1)


def test_search_429_backs_off_without_rate_headers(http, clock):
    client = make_client(clock)
    http.post(SEARCH_URL, status=429, json=payload("rate_limit_429.json"))
    http.post(SEARCH_URL, json={"total": 0, "results": []})

    client.post(paths.objects_search(), {"filterGroups": []})

    assert clock.sleeps == [1.0]


def test_never_logs_the_token_or_bodies(http, clock, caplog):
    caplog.set_level(logging.DEBUG)
    client = make_client(clock, max_retries=0)
    http.post(URL, status=400, json=payload("batch_update_400_validation.json"))

    with pytest.raises(HubSpotApiError):
        client.post(paths.objects_batch_update(), {"inputs": [{"properties": {"x": "secret-pii"}}]})

    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert TOKEN not in logged
    assert "secret-pii" not in logged and "Enter only letters" not in logged
    assert "status=400" in caplog.text


def test_error_str_carries_no_body(http, clock):
    client = make_client(clock)
    http.post(URL, status=400, json=payload("batch_update_400_validation.json"))

    with pytest.raises(HubSpotApiError) as info:
        client.post(paths.objects_batch_update(), {"inputs": []})

    assert "Enter only letters" not in str(info.value)
    assert info.value.body["category"] == "VALIDATION_ERROR"


def test_unreachable_host_never_touches_the_network(clock):
    # pytest-socket blocks real sockets; with `responses` off this must surface as transient.
    client = make_client(clock, max_retries=0)
    with responses.RequestsMock() as mock:
        mock.post(URL, body=requests.ConnectionError("refused"))
        with pytest.raises(TransientProviderError):
            client.post(paths.objects_batch_update(), {"inputs": []})
