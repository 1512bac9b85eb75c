"""Bulk reads of one Stripe connection (backfill, reconcile), folded in like webhook events.

Objects read from the API become the same facts as webhooks (stripe_events.facts_from_stripe_object)
and are merged into the same per-customer fact store, so it does not matter whether a fact came
from a webhook, the backfill or the reconciler: the store is a join (billing_facts), and reading
an object twice changes nothing.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session

from connector.billing.stripe_api import BULK_REQUESTS_PER_SECOND, StripeApi
from connector.billing.stripe_events import facts_from_stripe_object
from connector.context import Services
from connector.customers import apply_facts, get_or_create_customer
from connector.domain.billing_facts import CardSnapshot
from connector.storage.models import BillingConnection, CustomerBilling
from crm_adapters.hubspot.rate_limit import SlidingWindowLimiter

log = logging.getLogger(__name__)


def bulk_api(services: Services, conn: BillingConnection) -> StripeApi | None:
    """A throttled StripeApi for the connection's key; None when no API key was given.

    `services.extras` may hold "monotonic" and "sleep" so tests and benches never wait.
    """
    if not conn.api_key_enc:
        return None
    try:
        key = services.box.decrypt(conn.api_key_enc)
    except ValueError:
        log.warning("stripe.bulk_api.key_unreadable connection=%s", conn.id)
        return None
    sleep = services.extras.get("sleep", time.sleep)
    clock = services.extras.get("monotonic", time.monotonic)
    limiter = SlidingWindowLimiter(BULK_REQUESTS_PER_SECOND.get(conn.mode, 10), 1.0,
                                   clock=clock, sleep=sleep)
    return StripeApi(key, base_url=services.settings.stripe_api_base, session=services.http,
                     limiter=limiter, sleep=sleep)


def link_failed_charges(api: StripeApi, objects: Iterable[Mapping[str, Any]],
                        cache: dict[str, str | None]) -> list[dict[str, Any]]:
    """Give each failed charge the invoice it tried to pay.

    Since API 2025-03-31.basil a Charge names no invoice (reference/billing.md §1.2), and an
    episode starts only at a failed *invoice* attempt, so a backfilled failure must know its
    invoice: InvoicePayment links the charge's PaymentIntent to it. One lookup per failed
    PaymentIntent (cached); pre-basil charges already carry `invoice`.
    """
    out: list[dict[str, Any]] = []
    for obj in objects:
        obj = dict(obj)
        intent = obj.get("payment_intent")
        intent_id = intent.get("id") if isinstance(intent, dict) else intent
        if obj.get("object") == "charge" and obj.get("status") == "failed" and not obj.get("invoice") \
                and isinstance(intent_id, str) and intent_id:
            if intent_id not in cache:
                cache[intent_id] = api.invoice_of_payment_intent(intent_id)
            if cache[intent_id]:
                obj["invoice"] = cache[intent_id]
        out.append(obj)
    return out


# Customers read with their default card expanded (card-expiry pre-dunning): the webhook path
# gets the same card from payment_method.* / customer.source.expiring events. Expanded, not
# fetched per customer, so a page of 100 customers is one call.
CUSTOMER_CARD_EXPAND = ("data.invoice_settings.default_payment_method", "data.default_source")


def customers_with_card(objects: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The customers whose default payment method (or legacy default source) is a card.

    Only those matter for card expiry; the others would add rows for people who never had a
    billing event (their profile comes with their invoices anyway).
    """
    return [obj for obj in objects if any(
        isinstance(f, CardSnapshot) for f in facts_from_stripe_object(obj, observed_at=0).facts)]


def apply_objects(session: Session, conn: BillingConnection, objects: Iterable[Mapping[str, Any]],
                  *, now: datetime) -> list[CustomerBilling]:
    """Merge the facts the objects tell into their customers' stores; returns the rows touched.

    The caller decides when to re-derive state (refresh_customer): a backfill waits until every
    stream is read, so the CRM never sees a half-read history.
    """
    by_customer: dict[str, list] = defaultdict(list)
    for obj in objects:
        parsed = facts_from_stripe_object(obj, observed_at=int(now.timestamp()))
        if parsed.handled and parsed.customer_id and parsed.facts:
            by_customer[parsed.customer_id].extend(parsed.facts)
    rows = []
    for customer_id, facts in by_customer.items():
        row = get_or_create_customer(session, conn, customer_id, now)
        apply_facts(session, row, facts)
        rows.append(row)
    return rows

