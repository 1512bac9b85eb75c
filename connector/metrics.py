"""Prometheus metrics for `/metrics`.

Two sources, on purpose:
- webhook deliveries are counted in the process that answers them (the web process, which is
  also the one Prometheus scrapes);
- everything about queues, drains and health is read from the database at scrape time, because
  the drains run in the worker process, and a counter there would never reach this endpoint.

Labels carry installation ids only, never names or customer data.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import select

from connector.storage.db import session_scope
from connector.storage.models import (
    BillingConnection,
    BillingEvent,
    Installation,
    OutboxItem,
    SyncHealth,
    SyncRun,
)

HEALTH_STATES = ("healthy", "degraded", "failing")

PROCESS_REGISTRY = CollectorRegistry()
WEBHOOK_DELIVERIES = Counter(
    "dunning_webhook_deliveries",
    "Billing webhook deliveries answered, by provider and outcome (received, duplicate, refused).",
    ["provider", "status"],
    registry=PROCESS_REGISTRY,
)


def count_webhook(provider: str, http_status: int, body: dict) -> None:
    if http_status < 300:
        status = str(body.get("status") or "received")
    else:
        status = f"refused_{http_status}"
    WEBHOOK_DELIVERIES.labels(provider, status).inc()


class StoreCollector(Collector):
    """Reads the figures from the database at each scrape."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        with session_scope(self.engine) as s:
            pending = GaugeMetricFamily("dunning_outbox_pending", "CRM work items waiting in the outbox.",
                                        labels=["installation"])
            # Every installation gets a value, 0 included: an absent series cannot be alerted on.
            counts = dict.fromkeys(s.exec(select(Installation.id).where(Installation.status != "disconnected")), 0)
            counts.update(s.exec(select(OutboxItem.installation_id, func.count())
                                 .where(OutboxItem.status == "pending").group_by(OutboxItem.installation_id)).all())
            for iid, n in sorted(counts.items()):
                pending.add_metric([str(iid)], n)
            yield pending

            writes = CounterMetricFamily("dunning_drain_writes", "CRM records written by outbox drains.",
                                         labels=["installation"])
            failures = CounterMetricFamily("dunning_drain_failures",
                                           "CRM record writes refused during outbox drains.",
                                           labels=["installation"])
            totals: dict[int, list[int]] = {}
            for iid, counts in s.exec(select(SyncRun.installation_id, SyncRun.counts)
                                      .where(SyncRun.kind == "drain")):
                t = totals.setdefault(iid, [0, 0])
                t[0] += int((counts or {}).get("written", 0) or 0)
                t[1] += int((counts or {}).get("failed", 0) or 0)
            for iid, (w, f) in sorted(totals.items()):
                writes.add_metric([str(iid)], w)
                failures.add_metric([str(iid)], f)
            yield writes
            yield failures

            events = GaugeMetricFamily("dunning_billing_events", "Stored billing webhook events by status.",
                                       labels=["installation", "status"])
            for iid, status, n in s.exec(
                    select(BillingConnection.installation_id, BillingEvent.status, func.count())
                    .join(BillingConnection, BillingConnection.id == BillingEvent.connection_id)
                    .group_by(BillingConnection.installation_id, BillingEvent.status)):
                events.add_metric([str(iid), status], n)
            yield events

            health = GaugeMetricFamily("dunning_installation_health",
                                       "Sync health per installation: 1 for its current state.",
                                       labels=["installation", "state"])
            for row in s.exec(select(SyncHealth).order_by(SyncHealth.installation_id)):
                for state in HEALTH_STATES:
                    health.add_metric([str(row.installation_id), state], 1.0 if row.state == state else 0.0)
            yield health


def render(engine: Engine) -> bytes:
    """The exposition text: this process's counters and the store's figures."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(engine))
    return generate_latest(PROCESS_REGISTRY) + generate_latest(registry)
