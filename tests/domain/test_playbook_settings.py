"""Playbook settings: defaults, and every bad value refused with a message naming the field."""

from __future__ import annotations

import pytest

from connector.domain.playbook_settings import DEFAULT_PLAYBOOK, parse_playbook_settings
from connector.domain.policy import PolicyError


def test_defaults():
    s = parse_playbook_settings({})
    assert s == DEFAULT_PLAYBOOK
    assert (s.daily_cap, s.working_hour, s.touch_point_days, s.pre_due_reminder) == (200, 9, (0, 3, 7, 14), False)


def test_values_are_read():
    s = parse_playbook_settings({
        "gentle_sequence_id": 123456, "firm_sequence_id": " 654321 ", "daily_cap": 50,
        "working_hour": 8, "fallback_owner_id": "77", "fallback_sender_user_id": "88",
        "fallback_sender_email": "ops@vendor.example", "region": "CA", "touch_point_days": [0, 2, 5],
        "pre_due_reminder": True, "pre_due_sequence_id": "999"}, country="US")
    assert (s.gentle_sequence_id, s.firm_sequence_id) == ("123456", "654321")
    assert (s.daily_cap, s.working_hour, s.region, s.touch_point_days) == (50, 8, "CA", (0, 2, 5))


@pytest.mark.parametrize(("settings", "message"), [
    ({"colour": "red"}, "unknown playbook setting: colour"),
    ({"daily_cap": -1}, "daily_cap: must be between 0 and 100000, got -1"),
    ({"daily_cap": "200"}, "daily_cap: must be a whole number, got str"),
    ({"daily_cap": True}, "daily_cap: must be a whole number, got bool"),
    ({"working_hour": 24}, "working_hour: must be between 0 and 23, got 24"),
    ({"working_hour": 8.5}, "working_hour: must be a whole number, got float"),
    ({"touch_point_days": [3, 7]}, "touch_point_days: must start with 0"),
    ({"touch_point_days": [0, 7, 3]}, "touch_point_days: must be strictly increasing"),
    ({"touch_point_days": []}, "touch_point_days: must be a non-empty list"),
    ({"gentle_sequence_id": ["x"]}, "gentle_sequence_id: must be text, got list"),
    ({"fallback_sender_email": "nobody"}, "fallback_sender_email: must be an email address"),
    ({"fallback_sender_user_id": "88"}, "set both or neither"),
    ({"pre_due_reminder": True}, "pre_due_sequence_id: required when pre_due_reminder is on"),
    ({"pre_due_reminder": "yes"}, "pre_due_reminder: must be true or false, got str"),
    ("not an object", "playbook settings must be an object"),
])
def test_bad_values_are_refused_naming_the_field(settings, message):
    with pytest.raises(PolicyError) as exc:
        parse_playbook_settings(settings)
    assert message in exc.value.message


def test_region_is_checked_against_the_country():
    with pytest.raises(PolicyError, match="region: no holiday calendar for US/ZZ"):
        parse_playbook_settings({"region": "ZZ"}, country="US")
    assert parse_playbook_settings({"region": "ZZ"}).region == "ZZ"  # no country: not checked
