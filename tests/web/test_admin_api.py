"""The admin JSON behind the dashboard: health, metrics, recovery, settings, reconcile, isolation."""

from __future__ import annotations

import re
import threading
from dataclasses import replace
from datetime import timedelta

import pytest
import responses
from sqlmodel import select

from connector import api_budget, reconcile_runs
from connector.storage.db import session_scope
from connector.storage.models import (
    CustomerBilling,
    Installation,
    OutboxItem,
    SyncHealth,
    SyncRun,
)
from crm_adapters.fake import FakeCrmAdapter

from admin_testkit import seed_dataset, sign_in
from factories import make_installation, make_stripe_connection, post_stripe, stripe_event
from hubspot_standin import BASE_URL, FakeClock, make_client
from tests_clock import FIXED_NOW


@pytest.fixture(autouse=True)
def _fresh_process_state():
    api_budget.forget()
    reconcile_runs.forget_all()
    yield
    reconcile_runs.forget_all(join_timeout=10)
    api_budget.forget()


@pytest.fixture
def inst(services):
    iid = make_installation(services, preview=False)
    make_stripe_connection(services, iid)
    return iid


def _set(services, model, row_id, **values):
    with session_scope(services.engine) as s:
        row = s.get(model, row_id)
        for k, v in values.items():
            setattr(row, k, v)
        s.add(row)


def failed_invoice(n: int, domain: str = "brightsmile.example") -> dict:
    return stripe_event("invoice.payment_failed", id=f"evt_fail_{n}", object__id=f"in_{n}",
                        object__customer=f"cus_{n:05d}", object__customer_email=f"billing@{domain}",
                        object__customer_name=f"Practice {n}")


# --- health -----------------------------------------------------------------------------------


def test_health_gathers_the_figures_and_stores_a_snapshot(client, services, inst):
    sign_in(client, inst)
    assert post_stripe(client, failed_invoice(1)).status_code == 200
    with session_scope(services.engine) as s:
        row = s.exec(select(CustomerBilling)).one()
        row.match_status, row.match_detail = "conflict", "record 77 is linked to cus_9"
        s.add(row)
        s.add(OutboxItem(installation_id=inst, kind="write_fields", customer_row_id=row.id, status="failed",
                         created_at=FIXED_NOW, done_at=FIXED_NOW - timedelta(hours=2), last_error="INVALID"))
        s.add(SyncRun(installation_id=inst, kind="reconcile", started_at=FIXED_NOW, finished_at=FIXED_NOW,
                      outcome="ok", counts={"drift_found": {"payment_status": 2, "risk_score": 1},
                                            "drift_healed": {"payment_status": 2}, "records_drifted": 2}))
    body = client.get(f"/api/installations/{inst}/health").get_json()

    assert body["state"] == "degraded"
    assert [f["code"] for f in body["findings"]] == ["errors", "drift_unhealed", "conflicts"]
    figures = body["figures"]
    assert figures["pending"] == 1 and figures["oldest_pending_age_s"] == 0
    assert figures["last_webhook_at"] == "2026-12-03T15:00:00Z"
    assert figures["errors_24h"] == {"crm_write_refused": 1}
    assert figures["drift_runs"][0] == {"at": "2026-12-03T15:00:00Z", "outcome": "ok", "full": False,
                                        "records": 2, "found": 3, "healed": 2}
    assert (figures["customers"], figures["conflicts"], figures["unmatched"]) == (1, 1, 0)
    assert figures["token"]["state"] == "none"
    with session_scope(services.engine) as s:
        stored = s.exec(select(SyncHealth)).one()
        assert (stored.installation_id, stored.state) == (inst, "degraded")
        assert stored.reason == body["reason"]


def test_an_old_outbox_item_makes_it_failing_and_since_moves(client, services, inst):
    sign_in(client, inst)
    post_stripe(client, failed_invoice(1))
    assert client.get(f"/api/installations/{inst}/health").get_json()["state"] == "healthy"
    services.clock = lambda: FIXED_NOW + timedelta(hours=3)
    body = client.get(f"/api/installations/{inst}/health").get_json()
    assert body["state"] == "failing"
    assert body["reason"] == "CRM updates are 3 h behind (1 waiting)."
    assert body["since"] == "2026-12-03T18:00:00Z"


def test_needs_reauth_is_failing(client, services, inst):
    sign_in(client, inst)
    _set(services, Installation, inst, status="needs_reauth", status_reason="refresh token revoked")
    body = client.get(f"/api/installations/{inst}/health").get_json()
    assert body["state"] == "failing"
    assert body["findings"][0]["code"] == "needs_reauth"
    assert body["figures"]["token"] == {"state": "needs_reauth", "reason": "refresh token revoked",
                                        "expires_at": None}


def test_api_budget_comes_from_hubspot_rate_limit_headers(client, services, inst):
    sign_in(client, inst)
    hubspot = make_client(FakeClock(), on_headers=api_budget.recorder(inst, services.clock))
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE_URL}/crm/properties/2026-09/companies", json={"results": []}, headers={
            "X-HubSpot-RateLimit-Max": "110", "X-HubSpot-RateLimit-Remaining": "6",
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"})
        hubspot.get("/crm/properties/2026-09/companies")
    body = client.get(f"/api/installations/{inst}/health").get_json()
    assert body["figures"]["api_budget"] == {"max": 110, "remaining": 6, "interval_ms": 10000,
                                             "used_share": round(104 / 110, 4), "seen_at": "2026-12-03T15:00:00Z"}
    assert "api_budget" in [f["code"] for f in body["findings"]]
    # Another process (no reading in memory) reports the stored one.
    api_budget.forget()
    again = client.get(f"/api/installations/{inst}/health").get_json()
    assert again["figures"]["api_budget"]["remaining"] == 6


def test_drain_all_refreshes_every_snapshot(services, inst):
    from connector import jobs

    lonely = make_installation(services, external_id="5151")  # no billing connection: degraded
    services.adapter_factory = lambda _iid: FakeCrmAdapter()
    jobs.drain_all(services)
    with session_scope(services.engine) as s:
        states = {h.installation_id: (h.state, h.reason) for h in s.exec(select(SyncHealth))}
    assert set(states) == {inst, lonely}
    assert states[lonely] == ("degraded", "No billing account is connected yet: connect Stripe to start.")


# --- metrics ----------------------------------------------------------------------------------


def _metric(text: str, name: str, **labels: str) -> float | None:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    m = re.search(rf"^{re.escape(name)}\{{{re.escape(want)}\}} (\S+)$", text, re.MULTILINE)
    return float(m.group(1)) if m else None


def test_metrics_answer_only_the_token_bearer_when_a_token_is_set(client, services, inst):
    services.settings = replace(services.settings, metrics_token="scrape-0123456789")
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    resp = client.get("/metrics", headers={"Authorization": "Bearer scrape-0123456789"})
    assert resp.status_code == 200 and "dunning_outbox_pending" in resp.get_data(as_text=True)


def test_metrics(client, services, inst):
    idle = make_installation(services, external_id="5151")
    before = client.get("/metrics").get_data(as_text=True)
    received = _metric(before, "dunning_webhook_deliveries_total", provider="stripe", status="received") or 0
    refused = _metric(before, "dunning_webhook_deliveries_total", provider="stripe", status="refused_400") or 0
    post_stripe(client, failed_invoice(1))
    post_stripe(client, failed_invoice(2), header="t=1,v1=bad")
    with session_scope(services.engine) as s:
        s.add(SyncRun(installation_id=inst, kind="drain", outcome="partial", counts={"written": 7, "failed": 2}))
        s.add(SyncRun(installation_id=inst, kind="drain", outcome="ok", counts={"written": 3, "failed": 0}))
    sign_in(client, inst)
    client.get(f"/api/installations/{inst}/health")

    resp = client.get("/metrics")
    assert resp.status_code == 200 and resp.content_type.startswith("text/plain")
    text = resp.get_data(as_text=True)
    assert _metric(text, "dunning_webhook_deliveries_total", provider="stripe", status="received") == received + 1
    assert _metric(text, "dunning_webhook_deliveries_total", provider="stripe", status="refused_400") == refused + 1
    assert _metric(text, "dunning_outbox_pending", installation=str(inst)) == 1
    assert _metric(text, "dunning_outbox_pending", installation=str(idle)) == 0
    assert _metric(text, "dunning_drain_writes_total", installation=str(inst)) == 10
    assert _metric(text, "dunning_drain_failures_total", installation=str(inst)) == 2
    assert _metric(text, "dunning_billing_events", installation=str(inst), status="applied") == 1
    assert _metric(text, "dunning_installation_health", installation=str(inst), state="healthy") == 1
    assert _metric(text, "dunning_installation_health", installation=str(inst), state="failing") == 0


# --- recovery, segments, unmatched -------------------------------------------------------------


@pytest.fixture
def dataset(services):
    iid = make_installation(services, preview=True)
    conn = make_stripe_connection(services, iid)
    seed_dataset(services, iid, conn, FIXED_NOW, matched={"cus_A": "9001", "cus_G": "9007"})
    return iid


def test_recovery_figures_with_their_formulas(client, dataset):
    sign_in(client, dataset)
    body = client.get(f"/api/installations/{dataset}/recovery?period=2026-11").get_json()
    assert body["period"] == {"start": "2026-11-01", "end": "2026-11-30", "days": 30, "label": "2026-11"}
    assert body["formulas"]["dso"] == ("receivables open at period end / amount billed in the period × days "
                                       "in the period")
    usd = next(c for c in body["currencies"] if c["currency"] == "USD")
    assert usd["recovery_rate"]["worked"] == "3 / 6 = 50.0%"
    assert usd["recovery_rate_amount"]["worked"] == "USD 480.00 / USD 790.00 = 60.8%"
    assert usd["recovered_amount"]["amount"] == "480.00"
    assert usd["dso"]["worked"] == "USD 120.00 / USD 500.00 × 30 days = 7.2 days"
    assert usd["involuntary_churn"]["worked"] == "1 / 4 = 25.0%"
    assert [(w["week"], w["ended"], w["recovered"]) for w in usd["by_week"]][1:3] == [
        ("2026-11-02", 1, 1), ("2026-11-09", 2, 1)]
    assert [c["currency"] for c in body["currencies"]] == ["EUR", "USD"]


def test_recovery_refuses_a_bad_period(client, dataset):
    sign_in(client, dataset)
    resp = client.get(f"/api/installations/{dataset}/recovery?period=last-week")
    assert resp.status_code == 400
    assert "2026-Q4" in resp.get_json()["message"]


def test_segments_and_unmatched(client, dataset):
    sign_in(client, dataset)
    segments = {s["segment"]: s for s in client.get(f"/api/installations/{dataset}/segments").get_json()["segments"]}
    assert sum(s["accounts"] for s in segments.values()) == 8
    assert list(segments) == ["high_risk", "habitual_late", "first_time_late", "low_risk"]
    assert segments["first_time_late"]["by_status"] == {"past_due": 2}  # F and G are in an episode
    unmatched = client.get(f"/api/installations/{dataset}/unmatched").get_json()["customers"]
    assert sorted(c["customer_id"] for c in unmatched) == ["cus_B", "cus_C", "cus_D", "cus_E", "cus_F", "cus_H"]
    assert unmatched[0]["email_domain"].endswith(".example")


# --- settings ---------------------------------------------------------------------------------


def _post(client, url, body, csrf="csrf-test-token"):
    return client.post(url, json=body, headers={"X-CSRF-Token": csrf} if csrf else {})


def test_settings_save_and_rescore(client, services, dataset):
    csrf = sign_in(client, dataset)
    url = f"/api/installations/{dataset}/settings"
    assert client.get(url).get_json()["risk"]["high_risk_threshold"] == 70
    resp = _post(client, url, {"risk": {"high_risk_threshold": 15}, "playbook": {"working_hour": 8},
                               "timezone": "America/New_York"}, csrf)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["settings"]["risk"]["high_risk_threshold"] == 15
    assert body["settings"]["playbook"]["working_hour"] == 8
    assert body["refreshed"] >= 1
    with session_scope(services.engine) as s:
        inst = s.get(Installation, dataset)
        assert inst.settings["risk"] == {"high_risk_threshold": 15}
        assert inst.timezone == "America/New_York"
        g = s.exec(select(CustomerBilling).where(CustomerBilling.customer_id == "cus_G")).one()
        assert g.risk_segment == "high_risk"  # re-scored now, not at the next tick


@pytest.mark.parametrize(("body", "message"), [
    ({"risk": {"high_risk_threshold": 101}}, "risk: high_risk_threshold: must be at most 100 (the score's maximum)"),
    ({"risk": {"high_risk_threshold": "abc"}}, "risk: high_risk_threshold: must be a whole number, got str"),
    ({"risk": {"points_per_dayz": 2}}, "risk: unknown risk setting: points_per_dayz"),
    ({"risk": {"high_risk_threshold": 50}, "playbook": {"working_hour": 25}},
     "playbook: working_hour: must be between 0 and 23, got 25"),
    ({"timezone": "Mars/Olympus"}, "timezone: not a known time zone: 'Mars/Olympus' (use an IANA name like "
                                   "Europe/London)"),
    ({"colour": "blue"}, "Unknown setting: colour."),
    ({"timezone": "localtime"}, "timezone: not a known time zone: 'localtime' (use an IANA name like Europe/London)"),
    ({"timezone": "right/UTC"}, "timezone: not a known time zone: 'right/UTC' (use an IANA name like Europe/London)"),
    ({"timezone": "Factory"}, "timezone: not a known time zone: 'Factory' (use an IANA name like Europe/London)"),
])
def test_a_bad_setting_is_refused_and_the_old_settings_stay(client, services, dataset, body, message):
    csrf = sign_in(client, dataset)
    url = f"/api/installations/{dataset}/settings"
    assert _post(client, url, {"risk": {"high_risk_threshold": 60}}, csrf).status_code == 200
    resp = _post(client, url, body, csrf)
    assert resp.status_code == 400
    assert resp.get_json()["message"] == message
    with session_scope(services.engine) as s:
        inst = s.get(Installation, dataset)
        assert inst.settings.get("risk") == {"high_risk_threshold": 60}
        assert "playbook" not in inst.settings
        assert inst.timezone == "Europe/London"


def test_the_country_of_the_business_day_calendar_is_a_setting(client, services, dataset):
    csrf = sign_in(client, dataset)
    url = f"/api/installations/{dataset}/settings"
    resp = _post(client, url, {"country": "de", "playbook": {"region": "BY"}}, csrf)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["settings"]["country"] == "DE"
    with session_scope(services.engine) as s:
        inst = s.get(Installation, dataset)
        assert (inst.country, inst.settings["playbook"]["region"]) == ("DE", "BY")


@pytest.mark.parametrize(("body", "message"), [
    ({"country": "XX"}, "country: no business-day calendar for 'XX' (use an ISO 3166 code like US, GB or DE)"),
    ({"country": 49}, "country: no business-day calendar for '' (use an ISO 3166 code like US, GB or DE)"),
    ({"country": "US", "playbook": {"region": "ENG"}}, "playbook: region: no holiday calendar for US/ENG"),
])
def test_a_country_without_a_calendar_is_refused(client, services, dataset, body, message):
    csrf = sign_in(client, dataset)
    resp = _post(client, f"/api/installations/{dataset}/settings", body, csrf)
    assert resp.status_code == 400
    assert resp.get_json()["message"] == message
    with session_scope(services.engine) as s:
        assert s.get(Installation, dataset).country == "GB"


def test_changing_country_refuses_a_stored_region_of_the_old_one(client, services, dataset):
    csrf = sign_in(client, dataset)
    url = f"/api/installations/{dataset}/settings"
    assert _post(client, url, {"playbook": {"region": "ENG"}}, csrf).status_code == 200
    resp = _post(client, url, {"country": "US"}, csrf)
    assert resp.status_code == 400
    assert "region" in resp.get_json()["message"]
    with session_scope(services.engine) as s:
        assert s.get(Installation, dataset).country == "GB"


def test_settings_need_the_csrf_token(client, dataset):
    sign_in(client, dataset)
    url = f"/api/installations/{dataset}/settings"
    assert _post(client, url, {"risk": {"high_risk_threshold": 60}}, csrf=None).status_code == 403
    assert _post(client, url, {"risk": {"high_risk_threshold": 60}}, csrf="forged").status_code == 403
    assert client.post(f"/api/installations/{dataset}/reconcile", json={}).status_code == 403


def test_signed_out_is_401(client, dataset):
    assert client.get(f"/api/installations/{dataset}/health").status_code == 401


# --- isolation --------------------------------------------------------------------------------


def test_an_admin_of_one_installation_gets_404_for_another(client, services, dataset):
    other = make_installation(services, external_id="5151", name="Other portal")
    csrf = sign_in(client, other)
    assert [i["id"] for i in client.get("/api/installations").get_json()] == [other]
    for path in ("health", "recovery", "segments", "unmatched", "settings", "reconcile", "accounts", "writes",
                 "decisions"):
        resp = client.get(f"/api/installations/{dataset}/{path}")
        assert resp.status_code == 404, path
        assert "Acme" not in resp.get_data(as_text=True)
    for path in ("settings", "reconcile", "mode"):
        assert _post(client, f"/api/installations/{dataset}/{path}", {"preview": True}, csrf).status_code == 404
    assert client.get(f"/api/installations/{other}/health").status_code == 200
    assert client.get("/api/installations/99999/health").status_code == 404


# --- reconcile --------------------------------------------------------------------------------


def test_reconcile_runs_in_the_background_and_reports(client, services, inst):
    csrf = sign_in(client, inst)
    release = threading.Event()
    calls = []

    def fake_reconcile(svc, installation_id, *, full):
        calls.append((installation_id, full))
        release.wait(10)
        return {"records_read": 4, "drift_found": {"payment_status": 1}, "drift_healed": {"payment_status": 1}}

    services.extras["reconcile"] = fake_reconcile
    url = f"/api/installations/{inst}/reconcile"
    first = _post(client, url, {"full": True}, csrf)
    assert first.status_code == 202 and first.get_json()["run"]["state"] == "running"
    second = _post(client, url, {}, csrf)  # one at a time per installation
    assert second.status_code == 409 and second.get_json()["started"] is False
    release.set()
    reconcile_runs.wait(inst, 10)
    run = client.get(url).get_json()["run"]
    assert run["state"] == "done" and run["full"] is True
    assert run["result"]["drift_healed"] == {"payment_status": 1}
    assert calls == [(inst, True)]


def test_a_failing_reconcile_says_so_without_details(client, services, inst):
    csrf = sign_in(client, inst)

    def broken(svc, installation_id, *, full):
        raise RuntimeError("secret-ish internal detail")

    services.extras["reconcile"] = broken
    _post(client, f"/api/installations/{inst}/reconcile", {}, csrf)
    reconcile_runs.wait(inst, 10)
    run = client.get(f"/api/installations/{inst}/reconcile").get_json()["run"]
    assert run["state"] == "failed"
    assert "secret" not in run["error"]


def test_reconcile_refuses_a_bad_body_and_an_inactive_installation(client, services, inst):
    csrf = sign_in(client, inst)
    url = f"/api/installations/{inst}/reconcile"
    assert _post(client, url, {"full": "yes"}, csrf).status_code == 400
    _set(services, Installation, inst, status="needs_reauth")
    resp = _post(client, url, {}, csrf)
    assert resp.status_code == 409 and "reconnect" in resp.get_json()["message"]


def test_the_real_reconciler_heals_drift_from_the_button(client, services, http):
    """The button calls connector.reconcile.reconcile_installation (no stand-in)."""
    iid = make_installation(services, preview=False)
    conn = make_stripe_connection(services, iid)
    crm = FakeCrmAdapter()
    ref = crm.add_record(domain="a.example", name="Bright Smile Dental")
    rows = seed_dataset(services, iid, conn, FIXED_NOW, matched={"cus_G": ref.record_id})
    with session_scope(services.engine) as s:
        g = s.get(CustomerBilling, rows["cus_G"])
        g.crm_values = dict(g.desired)  # as if written; then an account manager overwrites a value
        s.add(g)
    crm.records[ref.record_id].values.update({**g.desired, "payment_status": "current"})
    services.adapter_factory = lambda _iid: crm
    http.get(re.compile(r"https://api\.stripe\.com/v1/events.*"),
             json={"object": "list", "url": "/v1/events", "has_more": False, "data": []})
    csrf = sign_in(client, iid)
    assert _post(client, f"/api/installations/{iid}/reconcile", {}, csrf).status_code == 202
    reconcile_runs.wait(iid, 30)
    run = client.get(f"/api/installations/{iid}/reconcile").get_json()["run"]
    assert run["state"] == "done", run
    assert run["result"]["drift_found"] == {"payment_status": 1}
    assert run["result"]["drift_healed"] == {"payment_status": 1}
    assert crm.records[ref.record_id].values["payment_status"] == "past_due"
    health = client.get(f"/api/installations/{iid}/health").get_json()
    assert health["figures"]["drift_runs"][0]["found"] == 1
    assert health["figures"]["drift_runs"][0]["healed"] == 1
