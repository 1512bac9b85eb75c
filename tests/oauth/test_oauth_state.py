from __future__ import annotations

from datetime import timedelta

import pytest

from oauth.state import InvalidState, consume_state, issue_state

KEY = "test-secret-key"


def test_state_round_trip_returns_the_payload(engine, now):
    state = issue_state(KEY, {"crm": "hubspot", "bind": "abc"}, now)
    assert consume_state(KEY, state, engine, now + timedelta(minutes=9)) == {"crm": "hubspot", "bind": "abc"}


def test_each_state_is_different(now):
    assert issue_state(KEY, {}, now) != issue_state(KEY, {}, now)


def test_tampered_state_is_refused(engine, now):
    state = issue_state(KEY, {"bind": "abc"}, now)
    head, _, sig = state.rpartition(".")
    forged = head + "." + ("A" if sig[0] != "A" else "B") + sig[1:]
    with pytest.raises(InvalidState, match="invalid"):
        consume_state(KEY, forged, engine, now)


def test_state_signed_with_another_key_is_refused(engine, now):
    state = issue_state("another-key", {}, now)
    with pytest.raises(InvalidState, match="invalid"):
        consume_state(KEY, state, engine, now)


@pytest.mark.parametrize("garbage", ["", "not-a-state", "a.b.c"])
def test_garbage_state_is_refused(engine, now, garbage):
    with pytest.raises(InvalidState):
        consume_state(KEY, garbage, engine, now)


def test_state_expires_after_ten_minutes(engine, now):
    state = issue_state(KEY, {}, now)
    with pytest.raises(InvalidState, match="expired"):
        consume_state(KEY, state, engine, now + timedelta(minutes=10, seconds=1))


def test_state_from_the_future_is_refused(engine, now):
    state = issue_state(KEY, {}, now + timedelta(minutes=5))
    with pytest.raises(InvalidState, match="expired"):
        consume_state(KEY, state, engine, now)


def test_state_is_single_use(engine, now):
    state = issue_state(KEY, {}, now)
    consume_state(KEY, state, engine, now)
    with pytest.raises(InvalidState, match="already used"):
        consume_state(KEY, state, engine, now + timedelta(seconds=5))
