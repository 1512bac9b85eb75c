"""Bench: reconcile 100,000 synced accounts with 1% drift against HubSpot behind `responses`.

Prints (no assertions, no timing thresholds):
- HubSpot calls made (batch reads, batch updates) against the lower bound
  ceil(accounts / 100) reads + ceil(drifted / 100) writes;
- the time those calls would take under HubSpot's own budget (110 requests / 10 s per account);
- wall time of the reconcile (reading, diffing, queueing, draining), and of the setup apart;
- peak memory: max RSS after setup and after the reconcile.

HubSpot is a lean stand-in: a dict of companies answering batch/read and batch/update like
HubSpot does (200 with results). Stripe's Events API answers an empty list. The CRM client's
limiter is lifted so the figure is the connector's own cost; the HubSpot budget is computed.

    .venv/bin/python bench/reconcile_bench.py [--accounts 100000] [--drift 0.01]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import resource
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import responses
from sqlalchemy import insert
from sqlmodel import SQLModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connector.config import load_settings  # noqa: E402
from connector.context import Services  # noqa: E402
from connector.crypto import SecretBox  # noqa: E402
from connector.domain.fields import FIELDS  # noqa: E402
from connector.reconcile import reconcile_installation  # noqa: E402
from connector.storage.db import make_engine, session_scope  # noqa: E402
from connector.storage.models import BillingConnection, CustomerBilling, Installation  # noqa: E402
from crm_adapters.hubspot.adapter import HubSpotAdapter  # noqa: E402
from crm_adapters.hubspot.client import HubSpotClient  # noqa: E402
from crm_adapters.hubspot.codecs import to_hubspot  # noqa: E402
from crm_adapters.hubspot.properties import hubspot_name  # noqa: E402
from crm_adapters.hubspot.rate_limit import SlidingWindowLimiter  # noqa: E402

HUBSPOT = "https://api.hubapi.bench"
STRIPE = "https://api.stripe.bench"
FIRST_ID = 30_000_000


def desired_values(i: int) -> dict[str, str]:
    """§3 values of customer i, canonical, varied like a real portfolio."""
    late = i % 7 == 0
    return {
        "billing_customer_id": f"cus_bench{i:07d}",
        "billing_provider": "stripe",
        "payment_status": "past_due" if late else "current",
        "days_past_due": str(i % 30) if late else "0",
        "outstanding_amount": f"{(i % 900) + 50}.50" if late else "0.00",
        "outstanding_currency": ("USD", "EUR", "GBP")[i % 3],
        "failed_payment_attempts": str(i % 4) if late else "0",
        "last_failure_reason": "insufficient_funds" if late else "",
        "next_payment_retry_date": "2026-12-07" if late else "",
        "first_failed_payment_date": "2026-11-20" if late else "",
        "last_successful_payment_date": "2026-10-01",
        "late_payments_12m": str(i % 3),
        "risk_score": str(i % 100),
        "risk_segment": ("low_risk", "first_time_late", "habitual_late", "high_risk")[i % 4],
        "risk_reasons": "Paid on time for 12 months" if not late else "Past due 5 days; 2 failed attempts",
        "payment_link": f"https://bench.example/pay/tok{i:07d}" if late else "",
    }


class HubSpotCompanies:
    """Companies by id with HubSpot property values; counts the calls it answers."""

    def __init__(self) -> None:
        self.companies: dict[str, dict[str, str]] = {}
        self.reads = 0
        self.writes = 0

    def put(self, record_id: str, values: dict[str, str]) -> None:
        specs = {f.name: f for f in FIELDS}
        self.companies[record_id] = {hubspot_name(k): to_hubspot(specs[k], v) for k, v in values.items()}

    def batch_read(self, request):
        self.reads += 1
        body = json.loads(request.body)
        wanted = body["properties"]
        results = [{"id": i["id"], "properties": {p: self.companies[i["id"]].get(p) for p in wanted},
                    "createdAt": "2025-01-01T00:00:00Z", "updatedAt": "2026-12-01T00:00:00Z",
                    "archived": False}
                   for i in body["inputs"] if i["id"] in self.companies]
        return 200, {}, json.dumps({"status": "COMPLETE", "results": results,
                                    "startedAt": "2026-12-03T15:00:00Z", "completedAt": "2026-12-03T15:00:01Z"})

    def batch_update(self, request):
        self.writes += 1
        inputs = json.loads(request.body)["inputs"]
        for item in inputs:
            self.companies[item["id"]].update(item["properties"])
        results = [{"id": i["id"], "properties": i["properties"], "createdAt": "2025-01-01T00:00:00Z",
                    "updatedAt": "2026-12-03T15:00:00Z", "archived": False} for i in inputs]
        return 200, {}, json.dumps({"status": "COMPLETE", "results": results})


def seed(services: Services, crm: HubSpotCompanies, n: int, drift: float) -> tuple[int, int]:
    with session_scope(services.engine) as s:
        inst = Installation(crm="hubspot", external_id="888", name="bench", preview=False)
        s.add(inst)
        s.flush()
        conn = BillingConnection(installation_id=inst.id, provider="stripe", mode="test", webhook_token="bench",
                                 api_key_enc=services.box.encrypt("rk_test_bench"))
        s.add(conn)
        s.flush()
        inst_id, conn_id = inst.id, conn.id
    every = max(1, round(1 / drift)) if drift else 0
    drifted = 0
    chunk: list[dict] = []
    for i in range(n):
        values = desired_values(i)
        record_id = str(FIRST_ID + i)
        crm_side = dict(values)
        if every and i % every == 0:
            # An account manager overwrote one field by hand.
            crm_side["payment_status"] = "current" if values["payment_status"] == "past_due" else "past_due"
            drifted += 1
        crm.put(record_id, crm_side | {"billing_updated_at": "2026-12-01T00:00:00Z"})
        chunk.append({"installation_id": inst_id, "connection_id": conn_id, "customer_id": values["billing_customer_id"],
                      "facts": {}, "desired": values, "crm_values": values, "match_status": "matched",
                      "match_detail": "by billing_customer_id", "crm_object_type": "companies",
                      "crm_record_id": record_id, "payment_status": values["payment_status"],
                      "risk_score": int(values["risk_score"]), "risk_segment": values["risk_segment"],
                      "deleted": False, "updated_at": datetime.now(UTC)})
        if len(chunk) == 5000:
            _insert(services, chunk)
            chunk = []
    if chunk:
        _insert(services, chunk)
    return inst_id, drifted


def _insert(services: Services, rows: list[dict]) -> None:
    with session_scope(services.engine) as s:
        s.execute(insert(CustomerBilling), rows)


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--drift", type=float, default=0.01)
    args = parser.parse_args()
    n = args.accounts

    tmp = Path(tempfile.mkdtemp(prefix="dunning-reconcile-bench-"))
    settings = load_settings({"mode": "test", "database_url": f"sqlite:///{tmp}/bench.sqlite",
                              "public_base_url": "https://bench.example"}, environ={})
    settings = replace(settings, stripe_api_base=STRIPE)
    engine = make_engine(settings.database_url)
    import connector.storage.models  # noqa: F401 - registers every table

    SQLModel.metadata.create_all(engine)
    services = Services(settings=settings, engine=engine, box=SecretBox.demo(), clock=lambda: datetime.now(UTC))
    crm = HubSpotCompanies()

    t0 = time.perf_counter()
    inst_id, drifted = seed(services, crm, n, args.drift)
    setup_s = time.perf_counter() - t0
    rss_setup = max_rss_mb()

    # Lifted limiter: measure the connector, then compute what HubSpot's budget would cost.
    client = HubSpotClient(services.http, lambda: "bench-token", base_url=HUBSPOT,
                           limiter=SlidingWindowLimiter(1_000_000, 10),
                           search_limiter=SlidingWindowLimiter(1_000_000, 1))
    adapter = HubSpotAdapter(client)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback("POST", re.compile(re.escape(HUBSPOT) + r"/crm/objects/[^/]+/companies/batch/read"),
                          callback=crm.batch_read, content_type="application/json")
        mock.add_callback("POST", re.compile(re.escape(HUBSPOT) + r"/crm/objects/[^/]+/companies/batch/update"),
                          callback=crm.batch_update, content_type="application/json")
        mock.add(responses.GET, re.compile(re.escape(STRIPE) + r"/v1/events.*"),
                 json={"object": "list", "url": "/v1/events", "has_more": False, "data": []})
        t1, cpu1 = time.perf_counter(), time.process_time()
        report = reconcile_installation(services, inst_id, adapter=adapter)
        wall_s, cpu_s = time.perf_counter() - t1, time.process_time() - cpu1
    rss_after = max_rss_mb()

    lower_reads, lower_writes = math.ceil(n / 100), math.ceil(drifted / 100)
    calls = crm.reads + crm.writes
    healed = sum(report.drift_healed.values())
    still = sum(1 for i in range(0, n, max(1, round(1 / args.drift)) if args.drift else n + 1)
                if crm.companies[str(FIRST_ID + i)][hubspot_name("payment_status")]
                != desired_values(i)["payment_status"])
    print(f"accounts {n:,}, drifted {drifted:,} ({args.drift:.1%}); outcome {report.outcome}")
    print(f"drift found {report.drift_found}, healed {report.drift_healed}; "
          f"records still drifted in the CRM afterwards: {still}")
    print(f"HubSpot calls: {crm.reads:,} batch reads + {crm.writes:,} batch updates = {calls:,}; "
          f"lower bound {lower_reads:,} + {lower_writes:,} = {lower_reads + lower_writes:,} "
          f"({calls / (lower_reads + lower_writes):.3f}x)")
    print(f"Stripe calls: {report.stripe_calls} (Events API, nothing missed)")
    print(f"HubSpot budget (110 req / 10 s per account) for those calls: >= {calls / 11:,.0f} s")
    # CPU time beside wall time: on a shared box the difference is other processes' load.
    print(f"wall time: reconcile {wall_s:,.1f} s ({n / wall_s:,.0f} accounts/s), CPU {cpu_s:,.1f} s; "
          f"setup {setup_s:,.1f} s")
    print(f"peak memory (max RSS): {rss_setup:,.0f} MB after setup, {rss_after:,.0f} MB after reconcile")
    print(f"healed fields: {healed:,}")


if __name__ == "__main__":
    main()
