"""Bulk reads of one Chargebee site (backfill, reconcile), folded in like webhook events.

The backfill (connector.backfill) and the reconciler walk lists page by page with a cursor; this
module gives them a Chargebee pager with the same `list_page(resource, query, starting_after)`
shape as StripeApi, and turns the objects read into the same facts the webhook content gives
(billing.chargebee_events), merged into the same per-customer store. Chargebee pages by
`offset` (an opaque string), which the cursor keeps where Stripe's keeps `starting_after`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from connector.billing.chargebee_api import ChargebeeApi
from connector.billing.chargebee_events import (
    card_snapshot,
    invoice_snapshot,
    payment_failure,
    subscription_snapshot,
)
from connector.context import Services
from connector.customers import apply_facts, get_or_create_customer
from connector.domain.billing_facts import Fact, ProfileSnapshot, RefundSnapshot
from connector.storage.models import BillingConnection, CustomerBilling

log = logging.getLogger(__name__)

# The date field each list filters its window on (Stripe's `created`).
_WINDOW_FIELD = {"invoices": "date", "transactions": "date", "subscriptions": "created_at",
                 "customers": "created_at", "payment_sources": "created_at"}
# Invoices Chargebee is still collecting or has given up on: the daily dunning sweep.
DUNNING_INVOICE_QUERY: dict[str, Any] = {"status": {"in": ["payment_due", "not_paid"]}}


@dataclass(frozen=True)
class ChargebeePage:
    data: list[dict[str, Any]]
    next_offset: str | None

    @property
    def has_more(self) -> bool:
        return self.next_offset is not None

    @property
    def last_id(self) -> str | None:
        return self.next_offset


class ChargebeePager:
    """StripeApi's `list_page` over a Chargebee site (what backfill and reconcile call)."""

    def __init__(self, api: ChargebeeApi) -> None:
        self.api = api

    def list_page(self, resource: str, query: Mapping[str, Any],
                  starting_after: str | None = None) -> ChargebeePage:
        params = dict(query)
        created = params.pop("created", None)
        if isinstance(created, dict) and "gte" in created:
            # Stripe's created>=t is Chargebee's <field>[after]=t-1.
            params[_WINDOW_FIELD[resource]] = {"after": int(created["gte"]) - 1}
        items, offset = self.api.list_resource(resource, params, offset=starting_after)
        return ChargebeePage(items, offset)


def chargebee_pager(services: Services, conn: BillingConnection) -> ChargebeePager | None:
    if not conn.api_key_enc or not conn.account_ref:
        return None
    try:
        key = services.box.decrypt(conn.api_key_enc)
    except ValueError:
        log.warning("chargebee.bulk_api.key_unreadable connection=%s", conn.id)
        return None
    return ChargebeePager(ChargebeeApi(conn.account_ref, key,
                                       domain=services.settings.chargebee_domain))


def facts_from_chargebee_object(obj: Mapping[str, Any], *, observed_at: int
                                ) -> tuple[str | None, list[Fact]]:
    """(customer id, facts) one object read from the API tells."""
    kind = obj.get("object")
    customer = obj.get("customer_id") if kind != "customer" else obj.get("id")
    facts: list[Fact] = []
    if kind == "invoice" and obj.get("id"):
        facts.append(invoice_snapshot(obj, observed_at))
    elif kind == "subscription" and obj.get("id"):
        facts.append(subscription_snapshot(obj, observed_at))
    elif kind == "transaction" and obj.get("id"):
        if obj.get("type") == "payment" and obj.get("status") in ("failure", "needs_attention"):
            facts.append(payment_failure(obj, observed_at, None, "transaction"))
        elif obj.get("type") == "refund" and obj.get("status") == "success":
            facts.append(RefundSnapshot(
                charge_id=obj.get("reference_transaction_id") or obj.get("refunded_txn_id")
                or obj["id"], observed_at=observed_at, amount_refunded=obj.get("amount") or 0,
                currency=(obj.get("currency_code") or "").upper() or None))
    elif (kind == "payment_source" and obj.get("type") == "card") or kind == "card":
        snap = card_snapshot(obj, observed_at)
        if snap is not None:
            facts.append(snap)
    elif kind == "customer" and obj.get("id"):
        person = " ".join(x for x in (obj.get("first_name"), obj.get("last_name")) if x)
        email, name = obj.get("email") or None, obj.get("company") or person or None
        if email or name:
            facts.append(ProfileSnapshot(observed_at, email, name, source="customer"))
    return (customer if isinstance(customer, str) and customer else None), facts


def apply_chargebee_objects(session: Session, conn: BillingConnection,
                            objects: Iterable[Mapping[str, Any]], *, now: datetime
                            ) -> list[CustomerBilling]:
    """Merge the facts the objects tell into their customers' stores; returns the rows touched."""
    by_customer: dict[str, list[Fact]] = defaultdict(list)
    for obj in objects:
        customer, facts = facts_from_chargebee_object(obj, observed_at=int(now.timestamp()))
        if customer and facts:
            by_customer[customer].extend(facts)
    rows = []
    for customer_id, facts in by_customer.items():
        row = get_or_create_customer(session, conn, customer_id, now)
        apply_facts(session, row, facts)
        rows.append(row)
    return rows
