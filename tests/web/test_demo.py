"""The demo: sample events through the real webhook endpoint into a sandbox in preview."""

from __future__ import annotations

from collections import Counter

from connector.demo import prepare_demo


def test_demo_shows_companies_with_fields_from_the_sample_events(tmp_path, capsys):
    app = prepare_demo(tmp_path / "demo.sqlite")
    assert "390 answered 200" in capsys.readouterr().out
    client = app.test_client()
    me = client.get("/api/session").get_json()
    assert me["demo"] is True and me["name"] == "local demo user"
    (inst,) = client.get("/api/installations").get_json()
    assert inst["preview"] is True and inst["sandbox"] is True

    accounts = client.get(f"/api/installations/{inst['id']}/accounts").get_json()["accounts"]
    assert len(accounts) >= 30
    by_name = {a["name"]: a for a in accounts if a["name"]}
    statuses = Counter(a["fields"]["payment_status"] for a in accounts)
    assert statuses["past_due"] >= 5 and statuses["current"] >= 10
    assert statuses["uncollectible"] >= 1 and statuses["canceled"] >= 1
    assert {a["fields"]["outstanding_currency"] for a in accounts} >= {"USD", "EUR", "GBP", "JPY", "KWD"}
    matched = Counter(a["match_status"] for a in accounts)
    assert matched["matched"] >= 25 and matched["unmatched"] >= 2

    # The §5 worked examples are in the sample set.
    bright = next(a for n, a in by_name.items() if n.startswith("Bright Smile"))
    assert (bright["fields"]["risk_score"], bright["fields"]["risk_segment"]) == ("18", "first_time_late")
    granite = next(a for n, a in by_name.items() if n.startswith("Granite State"))
    assert granite["fields"]["risk_segment"] == "high_risk"

    # Touch points that fell due during the sample history are decided before the page opens.
    feed = client.get(f"/api/installations/{inst['id']}/decisions").get_json()["decisions"]
    call_tasks = {d["customer_name"] for d in feed if d["kind"] == "call_task"}
    assert granite["name"] in call_tasks
    assert all(d["preview"] for d in feed)

    writes = client.get(f"/api/installations/{inst['id']}/writes").get_json()
    previewed = [w for w in writes["writes"] if w["status"] == "previewed"]
    assert len(previewed) == matched["matched"]
    assert all("payment_status" in w["values"] for w in previewed)

    with client.get("/") as page:
        assert page.status_code == 200 and b"Demo mode" in page.data
