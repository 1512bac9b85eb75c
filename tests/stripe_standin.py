"""A lean Stripe account behind `responses`: the list endpoints the backfill and reconciler read.

Answers like Stripe's list API (reference/billing.md §2.5, §4.4): `{"object": "list", "url",
"has_more", "data"}`, newest first, `limit` (default 10, max 100), `starting_after` cursors,
`created[gte]`, invoices' and subscriptions' `status` (subscriptions default to all but
canceled; `all` lists every one), events' `types[]`, invoice payments' `payment[payment_intent]`,
`expand[]=data.charge` on disputes and `expand[]=data.invoice_settings.default_payment_method` /
`data.default_source` on customers (from `payment_methods`, by id). Objects are the recorded payloads of
tests/payloads/stripe/ with fields changed, so their shapes are Stripe's.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import responses

from factories import stripe_event

BASE = "https://api.stripe.test"
RESOURCES = ("invoices", "charges", "subscriptions", "invoice_payments", "disputes", "events",
             "customers")


def recorded(event_name: str, **fields: Any) -> dict[str, Any]:
    """The data.object of a recorded event, with `fields` changed."""
    obj = copy.deepcopy(stripe_event(event_name)["data"]["object"])
    obj.update(fields)
    return obj


def invoice(inv_id: str, customer: str, *, created: int, status: str = "open", amount: int = 12050,
            paid_at: int | None = None, attempt_count: int = 1, **fields: Any) -> dict[str, Any]:
    paid = amount if status == "paid" else 0
    obj = recorded("invoice.payment_failed", id=inv_id, customer=customer, created=created, status=status,
                   amount_due=amount, total=amount, subtotal=amount, amount_paid=paid,
                   amount_remaining=amount - paid, attempt_count=attempt_count,
                   next_payment_attempt=None, customer_email=f"billing@{customer[4:].lower()}.example",
                   customer_name=f"Customer {customer}")
    obj["status_transitions"] = {"finalized_at": created, "paid_at": paid_at,
                                 "marked_uncollectible_at": None, "voided_at": None}
    obj.update(fields)
    return obj


def failed_charge(ch_id: str, customer: str, *, created: int, payment_intent: str,
                  reason: str = "insufficient_funds") -> dict[str, Any]:
    ch = recorded("charge.failed", id=ch_id, customer=customer, created=created,
                  payment_intent=payment_intent)
    ch["outcome"] = {**ch["outcome"], "reason": reason}
    return ch


def succeeded_charge(ch_id: str, customer: str, *, created: int, payment_intent: str) -> dict[str, Any]:
    ch = recorded("charge.failed", id=ch_id, customer=customer, created=created,
                  payment_intent=payment_intent, status="succeeded", paid=True, captured=True,
                  failure_code=None, failure_message=None)
    ch["outcome"] = {**ch["outcome"], "type": "authorized", "reason": None, "advice_code": None,
                     "network_status": "approved_by_network"}
    return ch


def subscription(sub_id: str, customer: str, *, created: int, status: str = "active",
                 **fields: Any) -> dict[str, Any]:
    return recorded("customer.subscription.updated", id=sub_id, customer=customer, created=created,
                    status=status, **fields)


def invoice_payment(ip_id: str, invoice_id: str, payment_intent: str, *, created: int,
                    status: str = "open") -> dict[str, Any]:
    """An InvoicePayment (API 2025-03-31.basil and later: the only invoice <-> payment link)."""
    return {"id": ip_id, "object": "invoice_payment", "amount_paid": None, "amount_requested": 12050,
            "created": created, "currency": "gbp", "invoice": invoice_id, "is_default": True,
            "livemode": False, "payment": {"type": "payment_intent", "payment_intent": payment_intent},
            "status": status, "status_transitions": {"canceled_at": None, "paid_at": None}}


def card_payment_method(pm_id: str, customer: str, *, exp_month: int, exp_year: int,
                        last4: str = "4242") -> dict[str, Any]:
    """A card PaymentMethod, as payment_method.attached delivers it."""
    pm = recorded("payment_method.attached", id=pm_id, customer=customer)
    pm["card"] = {**pm["card"], "exp_month": exp_month, "exp_year": exp_year, "last4": last4}
    return pm


def legacy_card(card_id: str, customer: str, *, exp_month: int, exp_year: int,
                last4: str = "4242") -> dict[str, Any]:
    """A legacy Card (`card_…`, the Sources/Tokens era), flat as Stripe returns it."""
    return {"id": card_id, "object": "card", "address_city": None, "address_country": None,
            "address_line1": None, "address_line1_check": None, "address_zip": "BS1 4DJ",
            "address_zip_check": "pass", "brand": "Visa", "country": "GB", "customer": customer,
            "cvc_check": "pass", "dynamic_last4": None, "exp_month": exp_month,
            "exp_year": exp_year, "fingerprint": "Xt5EWLLDS7FJjR1c", "funding": "credit",
            "last4": last4, "metadata": {}, "name": None, "tokenization_method": None,
            "wallet": None}


def customer(cus_id: str, *, default_payment_method: str | None = None,
             default_source: str | None = None, created: int = 1700000000) -> dict[str, Any]:
    """A Customer as GET /v1/customers lists it (ids; the stand-in expands them on request)."""
    cus = recorded("customer.updated", id=cus_id, created=created, default_source=default_source,
                   email=f"billing@{cus_id[4:].lower()}.example", name=f"Customer {cus_id}")
    cus["invoice_settings"] = {**cus["invoice_settings"],
                               "default_payment_method": default_payment_method}
    return cus


def event(name: str, evt_id: str, *, created: int, **object_fields: Any) -> dict[str, Any]:
    evt = stripe_event(name, id=evt_id, created=created)
    evt["data"]["object"].update(object_fields)
    return evt


class StripeStandIn:
    """Serves `objects[resource]` through `responses`; records every call; fails on demand."""

    def __init__(self, mock: responses.RequestsMock) -> None:
        self.objects: dict[str, list[dict[str, Any]]] = {r: [] for r in RESOURCES}
        self.payment_methods: dict[str, dict[str, Any]] = {}  # PaymentMethods and legacy Cards
        self.calls: list[tuple[str, dict[str, list[str]]]] = []
        self._failures: dict[int, tuple[int, dict[str, str]]] = {}  # call number -> (status, headers)
        self.page_size = 100  # Stripe's maximum; tests lower it to walk several pages
        self.clock: Any = None  # when set, `times` holds the clock's reading at each call
        self.times: list[float] = []
        for resource in RESOURCES:
            mock.add_callback(responses.GET, re.compile(re.escape(f"{BASE}/v1/{resource}") + r"(\?.*)?$"),
                              callback=self._list, content_type="application/json")
        mock.add_callback(responses.GET, re.compile(re.escape(f"{BASE}/v1/invoices/") + r"(in_\w+)$"),
                          callback=self._retrieve_invoice, content_type="application/json")

    def add(self, resource: str, *objs: dict[str, Any]) -> None:
        self.objects[resource].extend(objs)

    def fail_call(self, number: int, status: int = 500, headers: dict[str, str] | None = None) -> None:
        """Answer the `number`-th call (1-based, counting all calls) with an error."""
        self._failures[number] = (status, headers or {})

    def calls_to(self, resource: str) -> list[dict[str, list[str]]]:
        return [q for r, q in self.calls if r == resource]

    # -- callbacks ------------------------------------------------------------------------

    def _list(self, request):
        url = urlsplit(request.url)
        resource = url.path.rsplit("/", 1)[-1]
        query = parse_qs(url.query)
        self.calls.append((resource, query))
        if self.clock is not None:
            self.times.append(self.clock())
        failure = self._failures.pop(len(self.calls), None)
        if failure:
            status, headers = failure
            kind = "rate_limit_error" if status == 429 else "api_error"
            return status, headers, json.dumps({"error": {"type": kind, "message": "stand-in failure"}})
        items = [o for o in self.objects[resource] if self._keep(resource, o, query)]
        items.sort(key=lambda o: (o.get("created") or 0, o["id"]), reverse=True)
        if "starting_after" in query:
            ids = [o["id"] for o in items]
            items = items[ids.index(query["starting_after"][0]) + 1:]
        limit = min(int(query.get("limit", ["10"])[0]), self.page_size)
        page = [self._expand(resource, o, query) for o in items[:limit]]
        return 200, {"Request-Id": "req_standin"}, json.dumps(
            {"object": "list", "url": f"/v1/{resource}", "has_more": len(items) > limit, "data": page})

    def _retrieve_invoice(self, request):
        inv_id = urlsplit(request.url).path.rsplit("/", 1)[-1]
        self.calls.append(("invoice", {"id": [inv_id]}))
        for obj in self.objects["invoices"]:
            if obj["id"] == inv_id:
                return 200, {}, json.dumps(obj)
        return 404, {}, json.dumps({"error": {"type": "invalid_request_error", "code": "resource_missing",
                                              "message": f"No such invoice: '{inv_id}'"}})

    def _keep(self, resource: str, obj: dict[str, Any], query: dict[str, list[str]]) -> bool:
        if "created[gte]" in query and (obj.get("created") or 0) < int(query["created[gte]"][0]):
            return False
        status = query.get("status", [None])[0]
        if resource == "subscriptions":
            if status is None and obj["status"] == "canceled":
                return False
            if status not in (None, "all") and obj["status"] != status:
                return False
        elif status is not None and obj.get("status") != status:
            return False
        types = [v for k, vs in query.items() if k.startswith("types[") for v in vs]
        if resource == "events" and types and obj["type"] not in types:
            return False
        intent = query.get("payment[payment_intent]", [None])[0]
        return not (intent and obj.get("payment", {}).get("payment_intent") != intent)

    def _expand(self, resource: str, obj: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
        expands = [v for k, vs in query.items() if k.startswith("expand[") for v in vs]
        if resource == "disputes" and "data.charge" in expands and isinstance(obj.get("charge"), str):
            charge = next((c for c in self.objects["charges"] if c["id"] == obj["charge"]), None)
            if charge:
                obj = {**obj, "charge": charge}
        if resource == "customers":
            settings = obj.get("invoice_settings") or {}
            pm = settings.get("default_payment_method")
            if "data.invoice_settings.default_payment_method" in expands and isinstance(pm, str):
                obj = {**obj, "invoice_settings": {**settings,
                                                   "default_payment_method": self.payment_methods[pm]}}
            source = obj.get("default_source")
            if "data.default_source" in expands and isinstance(source, str):
                obj = {**obj, "default_source": self.payment_methods[source]}
        return obj
