"""Bench: 10,000 customers' Stripe events through the webhook view and the sync path.

Prints (no assertions, no timing thresholds):
- webhook events/s through the real Flask view with signature checking, storing and applying,
  beside the same machine's rate for a bare Flask view that returns 200;
- HubSpot calls made by the drain against the lower bound ceil(changed / 100);
- peak memory (max RSS) of the process.

HubSpot sits behind `responses`: batch update answers like HubSpot does (200 with results).
Customers are pre-linked to companies so the figure isolates the write path.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import re
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import responses
from flask import Flask
from sqlmodel import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import create_app  # noqa: E402
from connector.billing.stripe_signature import sign_stripe_payload  # noqa: E402
from connector.config import load_settings  # noqa: E402
from connector.context import Services  # noqa: E402
from connector.crypto import SecretBox  # noqa: E402
from connector.storage.db import make_engine, session_scope, upgrade_schema  # noqa: E402
from connector.storage.models import BillingConnection, CustomerBilling, Installation  # noqa: E402
from connector.sync import drain_installation  # noqa: E402
from crm_adapters.hubspot.adapter import HubSpotAdapter  # noqa: E402
from crm_adapters.hubspot.client import HubSpotClient  # noqa: E402
from crm_adapters.hubspot.rate_limit import SlidingWindowLimiter  # noqa: E402

BASE = "https://api.hubapi.bench"
SECRET = "whsec_bench_secret"
TEMPLATE = Path(__file__).resolve().parents[1] / "tests/payloads/stripe/invoice.payment_failed.json"


def make_events(n: int) -> list[bytes]:
    template = json.loads(TEMPLATE.read_text())
    out = []
    for i in range(n):
        ev = copy.deepcopy(template)
        ev["id"] = f"evt_bench_{i:06d}"
        obj = ev["data"]["object"]
        obj["id"], obj["customer"] = f"in_bench_{i:06d}", f"cus_bench_{i:06d}"
        obj["customer_email"] = f"billing@practice{i}.example"
        obj["amount_due"] = obj["amount_remaining"] = 5_000 + i % 900
        out.append(json.dumps(ev).encode())
    return out


def rate(client, url: str, payloads: list[bytes], now: int) -> float:
    start = time.perf_counter()
    for body in payloads:
        resp = client.post(url, data=body, headers={"Stripe-Signature": sign_stripe_payload(body, SECRET, now),
                                                    "Content-Type": "application/json"})
        if resp.status_code != 200:
            raise SystemExit(f"unexpected {resp.status_code}: {resp.get_data(as_text=True)[:200]}")
    return len(payloads) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=10_000)
    args = parser.parse_args()
    n = args.customers
    now = datetime.now(UTC)
    tmp = Path(tempfile.mkdtemp(prefix="dunning-bench-"))
    settings = load_settings({"mode": "test", "database_url": f"sqlite:///{tmp}/bench.sqlite",
                              "public_base_url": "https://bench.example"}, environ={})
    engine = make_engine(settings.database_url)
    upgrade_schema(engine)
    services = Services(settings=settings, engine=engine, box=SecretBox.demo(), clock=lambda: datetime.now(UTC))
    app = create_app(services=services)
    with session_scope(engine) as s:
        inst = Installation(crm="hubspot", external_id="777", name="bench", preview=False)
        s.add(inst)
        s.flush()
        s.add(BillingConnection(installation_id=inst.id, provider="stripe", mode="test", webhook_token="bench",
                                webhook_secret_enc=services.box.encrypt(SECRET)))
        inst_id = inst.id

    events = make_events(n)
    bare = Flask("bare")
    bare.add_url_rule("/hook", "hook", lambda: ("", 200), methods=["POST"])
    bare_rate = rate(bare.test_client(), "/hook", events, int(now.timestamp()))
    view_rate = rate(app.test_client(), "/webhooks/stripe/bench", events, int(now.timestamp()))

    with session_scope(engine) as s:  # pre-link every customer to a company
        for i, row in enumerate(s.exec(select(CustomerBilling))):
            row.match_status, row.crm_object_type, row.crm_record_id = "matched", "companies", str(10_000 + i)
            s.add(row)

    calls = {"n": 0}

    def batch_update(request):
        calls["n"] += 1
        inputs = json.loads(request.body)["inputs"]
        results = [{"id": i["id"], "properties": i["properties"], "createdAt": "2026-01-01T00:00:00Z",
                    "updatedAt": "2026-12-03T15:00:00Z", "archived": False} for i in inputs]
        return 200, {}, json.dumps({"status": "COMPLETE", "results": results})

    limiter = SlidingWindowLimiter(10_000, 10)  # measure calls, not HubSpot's wall-clock window
    client = HubSpotClient(services.http, lambda: "bench-token", base_url=BASE, limiter=limiter,
                           search_limiter=SlidingWindowLimiter(10_000, 1))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback("POST", re.compile(re.escape(BASE) + r"/crm/objects/[^/]+/companies/batch/update"),
                          callback=batch_update, content_type="application/json")
        start = time.perf_counter()
        counts = drain_installation(services, inst_id, HubSpotAdapter(client))
        drain_s = time.perf_counter() - start

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"customers: {n}")
    print(f"webhook view (verify + store + apply): {view_rate:,.0f} events/s")
    print(f"bare Flask view returning 200:        {bare_rate:,.0f} events/s")
    print(f"records changed: {counts.written}; HubSpot calls: {calls['n']} "
          f"(lower bound ceil(changed/100) = {math.ceil(counts.written / 100)}); drain {drain_s:.1f}s")
    print(f"peak memory (max RSS): {peak_mb:,.0f} MiB")


if __name__ == "__main__":
    main()
