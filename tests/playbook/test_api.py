"""The decisions feed and the playbook settings through the JSON API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playbook_story import Customer, deliver, drain, failed_attempt

from connector.storage.db import session_scope
from connector.storage.models import Installation

from playbook_world import GENTLE, api, api_get, install

DAY0 = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
A = Customer("cus_A0001", "a-dental.example", "A Dental")
B = Customer("cus_B0002", "b-dental.example", "B Dental")


def _two_accounts(client, services, clock, world):
    inst = install(services, world.adapter, risk={"high_risk_threshold": 30})
    for c in (A, B):
        ref = world.company(c.domain)
        world.set_owner(ref, world.owner(5500, "rep@vendor.example"))
        world.contact(ref, c.email)
    deliver(client, failed_attempt(A, "in_a", 1, DAY0))  # first time late: gentle
    clock.set(DAY0 + timedelta(minutes=5))
    deliver(client, failed_attempt(B, "in_b", 1, DAY0, decline="expired_card"))  # score 35: CALL
    drain(services)
    return inst


def test_feed_is_newest_first_and_self_explanatory(client, services, clock, fake_world):
    inst = _two_accounts(client, services, clock, fake_world)
    feed = api_get(client, services, f"/api/installations/{inst}/decisions")
    assert feed["mode"] == "live"
    # B's invoice event came before its decline: day 0 first chose the gentle sequence, then the
    # expired card made it high risk before anything was sent — the CALL task replaced it.
    assert [(d["customer_id"], d["kind"], d["status"]) for d in feed["decisions"]] == [
        ("cus_B0002", "call_task", "applied"), ("cus_B0002", "enroll", "skipped"),
        ("cus_A0001", "enroll", "applied")]
    call, superseded, enroll = feed["decisions"]
    assert superseded["result"] == ("superseded before it was sent: the account became high risk "
                                    "at the same touch point")
    assert len(fake_world.enrollments()) == 1  # A's only
    assert call["what"] == "CALL task for the account owner"
    assert call["status"] == "applied" and call["status_label"] == "Done in the CRM"
    assert call["why"].startswith("high risk (score 35) at day 0")
    assert call["result"].startswith("CALL task ") and call["result"].endswith(" created")
    assert call["card_update"] is True and call["crm_task_id"]
    assert call["subject"] == "Call B Dental: card needs updating, GBP 120.50 overdue"
    assert call["due_at"] == "2026-12-04T14:00:00Z"  # Friday 09:00 New York
    assert call["touch_point_label"] == "Day 0" and call["preview"] is False
    assert enroll["what"] == "Enroll the billing contact in the gentle sequence"
    assert enroll["result"] == "enrolled in the gentle sequence" and enroll["crm_enrollment_id"]
    assert enroll["decided_at"] == "2026-12-03T15:00:00Z"
    assert feed["daily_cap"]["used"] == 2 and feed["daily_cap"]["reached"] is False


def test_feed_filters_and_the_per_account_view(client, services, clock, fake_world):
    inst = _two_accounts(client, services, clock, fake_world)
    base = f"/api/installations/{inst}"
    only_a = api_get(client, services, f"{base}/decisions?customer=cus_A0001")["decisions"]
    assert [d["kind"] for d in only_a] == ["enroll"]
    calls = api_get(client, services, f"{base}/decisions?kind=call_task")["decisions"]
    assert [d["customer_id"] for d in calls] == ["cus_B0002"]
    account = api_get(client, services, f"{base}/accounts/cus_B0002/decisions")["decisions"]
    assert [d["kind"] for d in account] == ["call_task", "enroll"]
    assert api(client, services, "GET", f"{base}/accounts/cus_nobody/decisions").status_code == 404
    assert api(client, services, "GET", f"{base}/decisions?kind=sms").status_code == 400
    assert api(client, services, "GET", "/api/installations/999/decisions").status_code == 404


def test_feed_needs_an_admin(client, services, fake_world):
    inst = install(services, fake_world.adapter)
    assert client.get(f"/api/installations/{inst}/decisions").status_code == 401


def test_settings_are_validated_and_the_old_ones_stay(client, services, fake_world):
    inst = install(services, fake_world.adapter)
    url = f"/api/installations/{inst}/playbook-settings"
    bad = api(client, services, "PUT", url, json={"daily_cap": -5, "gentle_sequence_id": "new"})
    assert bad.status_code == 400
    assert bad.get_json()["message"] == "daily_cap: must be between 0 and 100000, got -5"
    assert api_get(client, services, url)["effective"]["gentle_sequence_id"] == GENTLE
    wrong_region = api(client, services, "PUT", url, json={"region": "QQ"})
    assert wrong_region.status_code == 400 and "US/QQ" in wrong_region.get_json()["message"]
    good = api(client, services, "PUT", url, json={"gentle_sequence_id": "777", "daily_cap": 50,
                                                    "region": "CA"})
    assert good.status_code == 200
    assert good.get_json()["effective"]["daily_cap"] == 50
    with session_scope(services.engine) as s:
        assert s.get(Installation, inst).settings["playbook"] == {
            "gentle_sequence_id": "777", "daily_cap": 50, "region": "CA"}


def test_stored_settings_that_no_longer_validate_are_reported_not_hidden(client, services, fake_world):
    # The playbook runs on the defaults then; the admin must still be told why.
    inst = install(services, fake_world.adapter)
    with session_scope(services.engine) as s:
        row = s.get(Installation, inst)
        row.settings = {**row.settings, "playbook": {"daily_cap": -5}}
        s.add(row)
    body = api_get(client, services, f"/api/installations/{inst}/playbook-settings")
    assert body["stored"] == {"daily_cap": -5}
    assert body["error"] == "daily_cap: must be between 0 and 100000, got -5"


def test_segment_lists_from_the_api(client, services, fake_world):
    inst = install(services, fake_world.adapter)
    answer = api(client, services, "POST", f"/api/installations/{inst}/segment-lists")
    assert answer.status_code == 200
    assert "Billing risk: High risk" in answer.get_json()["created"]
    assert set(fake_world.adapter.lists) == {"Billing risk: High risk", "Billing risk: Habitual late",
                                             "Billing risk: First-time late", "Billing risk: Low risk"}
