"""Generate the bundled sample billing data: Stripe webhook events and a HubSpot sandbox.

    /work/main/.venv/bin/python bench/make_sample_events.py          # rewrite the two JSON files
    /work/main/.venv/bin/python bench/make_sample_events.py --check  # exit 1 if they are stale

Deterministic: one seeded `random.Random`, no clock. Timestamps are relative to ANCHOR; the
loader (`connector.sample_data.loader`) shifts them so the demo always looks current.

The payloads follow Stripe's real shapes (reference/billing.md §1, §3; stripe-python 16.x
resource classes), trimmed like the stored captures: null-valued fields a dunning connector never
reads (tax, shipping, rendering, …) are left out to keep the file small. Two API shapes:

- `2025-08-27.basil` (most customers): invoices carry no `charge`, `payment_intent`, `paid` or
  top-level `subscription`; the subscription is at `parent.subscription_details.subscription`,
  payments at `payments` (InvoicePayment list); charges and payment intents carry no `invoice`;
  subscription periods live on `items.data[]`.
  https://docs.stripe.com/changelog/basil/2025-03-31/add-support-for-multiple-partial-payments-on-invoices
- `2024-06-20` (the "older account": Thames, Riverside, Kensington, Old Town): `invoice.charge`,
  `invoice.payment_intent`, `invoice.paid`, `invoice.subscription`; `charge.invoice`;
  `subscription.current_period_*` at the top level.

The webhook endpoint is assumed subscribed to the dunning-relevant types only (no
`invoice.created`, `charge.succeeded`, `invoice.payment_succeeded` …), as a real install would be.
"""

from __future__ import annotations

import argparse
import calendar
import json
import random
import string
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EVENTS_PATH = ROOT / "connector" / "sample_data" / "stripe_events.json"
COMPANIES_PATH = ROOT / "connector" / "sample_data" / "sandbox_companies.json"

SEED = 20261130
ANCHOR = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
WINDOW_DAYS = 395  # ~13 months of history before the anchor
NEW_API = "2025-08-27.basil"
OLD_API = "2024-06-20"
DAY = 86_400
HOUR = 3_600

PRODUCT_NAME = "Chairside Practice Suite"

# Custom retry schedule (Billing > Revenue recovery > Retries): 4 attempts, days after the first.
RETRY_DAYS = (0, 3, 8, 15)

# Invoice `lines` (line items) are left out of the bundled file to keep it small; the connector
# reads the subscription from `parent` (basil) / `subscription` (older) instead.
WITH_LINES = False

OWNERS = ("64492917", "64492918", "64492919", "64493120")

SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "aud": "A$", "cad": "CA$", "chf": "CHF "}
EXPONENT = {"jpy": 0, "kwd": 3}


# --------------------------------------------------------------------------------------------
# Declines: what Stripe puts on the charge, the PaymentIntent's last_payment_error and outcome.
# Codes and messages: docs.stripe.com/declines/codes (reference/billing.md §1.6, §3.3 c/d).


@dataclass(frozen=True)
class Decline:
    code: str  # charge.failure_code == last_payment_error.code
    decline_code: str | None
    message: str
    network_decline_code: str | None
    retryable: bool  # Stripe retries soft declines only (smart-retries.md)
    advice_code: str | None = None
    network_advice_code: str | None = None
    blocked: bool = False  # Radar blocked it; never reached the issuer


DECLINES: dict[str, Decline] = {
    "insufficient_funds": Decline("card_declined", "insufficient_funds",
                                  "Your card has insufficient funds.", "51", True, "try_again_later"),
    "generic_decline": Decline("card_declined", "generic_decline", "Your card was declined.", "01",
                               True, "try_again_later"),
    "do_not_honor": Decline("card_declined", "do_not_honor", "Your card was declined.", "05", True),
    "expired_card": Decline("expired_card", "expired_card", "Your card has expired.", "54", False),
    "lost_card": Decline("card_declined", "lost_card", "Your card was declined.", "41", False),
    "fraudulent": Decline("card_declined", "fraudulent", "Your card was declined.", None, False,
                          blocked=True),
    "authentication_required": Decline(
        "authentication_required", "authentication_required",
        "Your card was declined. This transaction requires authentication.", "1A", False),
    "incorrect_cvc": Decline("incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect.",
                             "N7", False),
    # processing_error comes without a decline_code: the connector must fall back to failure_code.
    "processing_error": Decline("processing_error", None,
                                "An error occurred while processing your card. Try again in a little bit.",
                                "96", True),
    "do_not_try_again": Decline("card_declined", "generic_decline", "Your card was declined.", "05",
                                False, "do_not_try_again", "03"),
}


# --------------------------------------------------------------------------------------------
# Ids


class Ids:
    """Stripe-looking ids from the seeded generator (`in_1` + 24 chars, `cus_` + 14, …)."""

    ALNUM = string.ascii_letters + string.digits

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.account_tag = self._chars(10)  # Stripe ids embed a per-account fragment

    def _chars(self, n: int) -> str:
        return "".join(self.rng.choice(self.ALNUM) for _ in range(n))

    def long(self, prefix: str, version: str = "1") -> str:
        head = self._chars(4)
        return f"{prefix}_{version}{head}{self.account_tag}{self._chars(24 - 1 - 4 - 10)}"

    def short(self, prefix: str, n: int = 14) -> str:
        return f"{prefix}_{self._chars(n)}"

    def uuid(self) -> str:
        h = "".join(self.rng.choice("0123456789abcdef") for _ in range(32))
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


# --------------------------------------------------------------------------------------------
# The people


@dataclass
class Card:
    pm: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    country: str

    def details(self) -> dict[str, Any]:
        return {"brand": self.brand, "country": self.country, "exp_month": self.exp_month,
                "exp_year": self.exp_year, "funding": "credit", "last4": self.last4}


@dataclass
class Customer:
    key: str
    name: str
    email: str
    currency: str
    amount: int  # per period, minor units
    interval: str = "month"  # month | quarter | year
    billing_day: int = 1
    hour: int = 9
    old_api: bool = False
    collection: str = "charge_automatically"
    company: bool = True  # has a HubSpot company in the sandbox
    since_days: int = 70  # subscribed this many days before the anchor (WINDOW_DAYS: before the window)
    brand: str = "visa"
    card_exp: tuple[int, int] | None = None  # (month, year); default: a random future date
    email_change: tuple[int, str] | None = None  # (days before the anchor, new e-mail)
    # filled in by the generator
    id: str = ""
    sub_id: str = ""
    si_id: str = ""
    price_id: str = ""
    created: int = 0
    card: Card | None = None
    delinquent: bool = False
    sub_status: str = "active"
    sub_created: int = 0
    sub_canceled_at: int | None = None
    sub_reason: str | None = None
    latest_invoice: str | None = None
    period: tuple[int, int] = (0, 0)
    invoice_seq: int = 0
    prefix: str = ""

    @property
    def api(self) -> str:
        return OLD_API if self.old_api else NEW_API

    @property
    def domain(self) -> str:
        return self.email.rsplit("@", 1)[1]


@dataclass
class Invoice:
    id: str
    customer: Customer
    number: str
    created: int
    period_start: int
    period_end: int
    line_period: tuple[int, int]
    billing_reason: str
    collection: str
    amount: int
    due_date: int | None
    pi: str
    inpay: str
    line_id: str
    status: str = "draft"
    attempt_count: int = 0
    next_payment_attempt: int | None = None
    finalized_at: int | None = None
    paid_at: int | None = None
    voided_at: int | None = None
    uncollectible_at: int | None = None
    charge: str | None = None  # latest charge
    description: str | None = None


# --------------------------------------------------------------------------------------------


def add_months(dt: datetime, n: int) -> datetime:
    y, m = divmod(dt.month - 1 + n, 12)
    year, month = dt.year + y, m + 1
    return dt.replace(year=year, month=month, day=min(dt.day, calendar.monthrange(year, month)[1]))


def ts(dt: datetime) -> int:
    return int(dt.timestamp())


def money(currency: str, amount: int) -> str:
    exp = EXPONENT.get(currency, 2)
    value = f"{amount / 10**exp:,.{exp}f}"
    sym = SYMBOLS.get(currency)
    return f"{sym}{value}" if sym else f"{currency.upper()} {value}"


MONTHS = {"month": 1, "quarter": 3, "year": 12}


class World:
    def __init__(self) -> None:
        self.rng = random.Random(SEED)
        self.ids = Ids(self.rng)
        self.events: list[tuple[int, int, dict[str, Any]]] = []
        self.seq = 0
        self.acct = f"acct_1{self.ids.account_tag}{self.ids._chars(5)}"
        self.product = self.ids.short("prod")
        self.prices: dict[tuple[str, str, int], str] = {}
        self.invoices: list[Invoice] = []

    # ---- envelope ----------------------------------------------------------------------------

    def emit(self, c: Customer, type_: str, obj: dict[str, Any], at: int, *,
             previous: dict[str, Any] | None = None, api_request: bool = False) -> None:
        data: dict[str, Any] = {"object": obj}
        if previous is not None:
            data["previous_attributes"] = previous
        # Automatic actions (retries, renewals) have a null request; API/Dashboard actions a req id.
        request = ({"id": self.ids.short("req"), "idempotency_key": self.ids.uuid()} if api_request
                   else {"id": None, "idempotency_key": None})
        event = {"id": self.ids.long("evt"), "object": "event", "api_version": c.api, "created": at,
                 "data": data, "livemode": False, "pending_webhooks": 1, "request": request,
                 "type": type_}
        self.seq += 1
        self.events.append((at, self.seq, event))

    # ---- objects -----------------------------------------------------------------------------

    def customer_obj(self, c: Customer) -> dict[str, Any]:
        assert c.card is not None
        return {
            "id": c.id, "object": "customer", "balance": 0, "created": c.created,
            "currency": c.currency, "default_source": None, "delinquent": c.delinquent,
            "description": None, "email": c.email, "invoice_prefix": c.prefix,
            "invoice_settings": {"custom_fields": None, "default_payment_method": c.card.pm,
                                 "footer": None, "rendering_options": None},
            "livemode": False, "metadata": {}, "name": c.name, "next_invoice_sequence": c.invoice_seq + 1,
            "phone": None, "preferred_locales": [], "tax_exempt": "none",
        }

    def price_obj(self, c: Customer) -> dict[str, Any]:
        key = (c.currency, c.interval, c.amount)
        if key not in self.prices:
            self.prices[key] = self.ids.long("price")
        months = MONTHS[c.interval]
        return {"id": self.prices[key], "object": "price", "active": True, "currency": c.currency,
                "product": self.product,
                "recurring": {"interval": "year" if months == 12 else "month",
                              "interval_count": 1 if months == 12 else months},
                "type": "recurring", "unit_amount": c.amount}

    def subscription_obj(self, c: Customer) -> dict[str, Any]:
        assert c.card is not None
        start, end = c.period
        item: dict[str, Any] = {"id": c.si_id, "object": "subscription_item", "created": c.sub_created,
                                "price": self.price_obj(c), "quantity": 1, "subscription": c.sub_id}
        sub: dict[str, Any] = {
            "id": c.sub_id, "object": "subscription", "billing_cycle_anchor": c.sub_created,
            "cancel_at": None, "cancel_at_period_end": False, "canceled_at": c.sub_canceled_at,
            "cancellation_details": {"comment": None, "feedback": None, "reason": c.sub_reason},
            "collection_method": c.collection, "created": c.sub_created, "currency": c.currency,
            "customer": c.id, "days_until_due": 30 if c.collection == "send_invoice" else None,
            "default_payment_method": c.card.pm if c.collection == "charge_automatically" else None,
            "ended_at": c.sub_canceled_at,
            "items": {"object": "list", "data": [item], "has_more": False, "total_count": 1,
                      "url": f"/v1/subscription_items?subscription={c.sub_id}"},
            "latest_invoice": c.latest_invoice, "livemode": False, "metadata": {},
            "pause_collection": None, "start_date": c.sub_created, "status": c.sub_status,
            "trial_end": None, "trial_start": None,
        }
        if c.old_api:
            sub["current_period_start"], sub["current_period_end"] = start, end
        else:  # basil moved the periods onto the items
            item["current_period_start"], item["current_period_end"] = start, end
        return sub

    def invoice_obj(self, inv: Invoice) -> dict[str, Any]:
        c = inv.customer
        paid = inv.status == "paid"
        line: dict[str, Any] = {
            "id": inv.line_id, "object": "line_item", "amount": inv.amount, "currency": c.currency,
            "description": inv.description or f"1 × {PRODUCT_NAME} (at {money(c.currency, c.amount)} / "
                                              f"{c.interval})",
            "discountable": True, "livemode": False, "metadata": {},
            "period": {"end": inv.line_period[1], "start": inv.line_period[0]}, "quantity": 1,
        }
        o: dict[str, Any] = {
            "id": inv.id, "object": "invoice", "amount_due": inv.amount, "amount_paid": inv.amount if paid else 0,
            "amount_remaining": 0 if paid else inv.amount, "attempt_count": inv.attempt_count,
            "attempted": inv.attempt_count > 0 or paid, "auto_advance": inv.status == "open",
            "billing_reason": inv.billing_reason, "collection_method": inv.collection,
            "created": inv.created, "currency": c.currency, "customer": c.id,
            "customer_email": c.email, "customer_name": c.name,
            "due_date": inv.due_date, "effective_at": inv.finalized_at, "hosted_invoice_url":
                f"https://invoice.stripe.com/i/{self.acct}/test_{inv.id[3:]}?s=ap",
            "livemode": False, "metadata": {},
            "next_payment_attempt": inv.next_payment_attempt, "number": inv.number,
            "period_end": inv.period_end, "period_start": inv.period_start, "status": inv.status,
            "status_transitions": {"finalized_at": inv.finalized_at,
                                   "marked_uncollectible_at": inv.uncollectible_at,
                                   "paid_at": inv.paid_at, "voided_at": inv.voided_at},
            "total": inv.amount, "webhooks_delivered_at": inv.created + 2,
        }
        lines_url = f"/v1/invoices/{inv.id}/lines"
        subscribed = inv.billing_reason.startswith("subscription")
        if c.old_api:
            line.update({"invoice": inv.id, "price": self.price_obj(c), "proration": False,
                         "subscription": c.sub_id if subscribed else None,
                         "subscription_item": c.si_id if subscribed else None,
                         "type": "subscription" if subscribed else "invoiceitem"})
            o.update({"charge": inv.charge, "paid": paid, "paid_out_of_band": False,
                      "payment_intent": inv.pi if inv.finalized_at else None,
                      "subscription": c.sub_id if subscribed else None,
                      "subscription_details": {"metadata": {}}})
        else:
            line.update({
                "invoice": inv.id,
                "parent": ({"invoice_item_details": None, "subscription_item_details": {
                    "invoice_item": None, "proration": False, "proration_details": {"credited_items": None},
                    "subscription": c.sub_id, "subscription_item": c.si_id},
                    "type": "subscription_item_details"} if subscribed else
                    {"invoice_item_details": {"invoice_item": self.ids.long("ii"), "proration": False,
                                              "proration_details": {"credited_items": None},
                                              "subscription": None},
                     "subscription_item_details": None, "type": "invoice_item_details"}),
                "pricing": {"price_details": {"price": self.price_obj(c)["id"], "product": self.product},
                            "type": "price_details", "unit_amount_decimal": str(inv.amount)},
            })
            o["amount_overpaid"] = 0
            o["parent"] = ({"quote_details": None, "subscription_details": {
                "metadata": {}, "subscription": c.sub_id}, "type": "subscription_details"}
                if subscribed else None)
            payments = []
            if inv.finalized_at is not None:
                payments.append({
                    "id": inv.inpay, "object": "invoice_payment",
                    "amount_paid": inv.amount if paid else None, "amount_requested": inv.amount,
                    "created": inv.finalized_at, "currency": c.currency, "invoice": inv.id,
                    "is_default": True, "livemode": False,
                    "payment": {"payment_intent": inv.pi, "type": "payment_intent"},
                    "status": "paid" if paid else ("canceled" if inv.status == "void" else "open"),
                    "status_transitions": {"canceled_at": inv.voided_at, "paid_at": inv.paid_at},
                })
            o["payments"] = {"object": "list", "data": payments, "has_more": False,
                             "total_count": len(payments), "url": f"/v1/invoices/{inv.id}/payments"}
        if WITH_LINES:
            o["lines"] = {"object": "list", "data": [line], "has_more": False, "total_count": 1,
                          "url": lines_url}
        return o

    def charge_obj(self, inv: Invoice, charge_id: str, at: int, decline: Decline | None,
                   *, amount_refunded: int = 0, disputed: bool = False) -> dict[str, Any]:
        c = inv.customer
        assert c.card is not None
        if decline is None:
            outcome = {"advice_code": None, "network_advice_code": None, "network_decline_code": None,
                       "network_status": "approved_by_network", "reason": None, "risk_level": "normal",
                       "risk_score": self.rng.randint(5, 40),
                       "seller_message": "Payment complete.", "type": "authorized"}
        elif decline.blocked:
            outcome = {"advice_code": None, "network_advice_code": None, "network_decline_code": None,
                       "network_status": "not_sent_to_network", "reason": "highest_risk_level",
                       "risk_level": "highest", "risk_score": 91,
                       "seller_message": "Stripe blocked this payment as too risky.", "type": "blocked"}
        else:
            seller = (f"The bank returned the decline code `{decline.decline_code}`."
                      if decline.decline_code and decline.decline_code != "generic_decline"
                      else "The bank did not return any further details with this decline.")
            outcome = {"advice_code": decline.advice_code, "network_advice_code": decline.network_advice_code,
                       "network_decline_code": decline.network_decline_code,
                       "network_status": "declined_by_network", "reason": decline.decline_code,
                       "risk_level": "normal", "risk_score": self.rng.randint(5, 40),
                       "seller_message": seller, "type": "issuer_declined"}
        ok = decline is None
        o: dict[str, Any] = {
            "id": charge_id, "object": "charge", "amount": inv.amount,
            "amount_captured": inv.amount if ok else 0, "amount_refunded": amount_refunded,
            "balance_transaction": self.ids.long("txn", "3") if ok else None,
            "captured": ok, "created": at,
            "currency": c.currency, "customer": c.id,
            "description": "Subscription creation" if inv.billing_reason == "subscription_create"
            else "Subscription update",
            "disputed": disputed, "failure_code": None if ok else decline.code,
            "failure_message": None if ok else decline.message,
            "livemode": False, "metadata": {}, "outcome": outcome, "paid": ok,
            "payment_intent": inv.pi, "payment_method": c.card.pm,
            "payment_method_details": {"card": {**c.card.details(), "network": c.card.brand}, "type": "card"},
            "receipt_email": None, "refunded": amount_refunded >= inv.amount and amount_refunded > 0,
            "status": "succeeded" if ok else "failed",
        }
        if c.old_api:
            o["invoice"] = inv.id
        return o

    def payment_intent_obj(self, inv: Invoice, charge_id: str, at: int, decline: Decline) -> dict[str, Any]:
        c = inv.customer
        assert c.card is not None
        error: dict[str, Any] = {
            "charge": charge_id, "code": decline.code,
            "decline_code": decline.decline_code,
            "doc_url": f"https://stripe.com/docs/error-codes/{decline.code.replace('_', '-')}",
            "message": decline.message,
            "payment_method": {"id": c.card.pm, "object": "payment_method", "card": c.card.details(),
                               "created": c.created, "customer": c.id, "livemode": False, "type": "card"},
            "type": "card_error",
        }
        for k in ("advice_code", "network_advice_code", "network_decline_code"):
            if getattr(decline, k):
                error[k] = getattr(decline, k)
        o: dict[str, Any] = {
            "id": inv.pi, "object": "payment_intent", "amount": inv.amount, "amount_capturable": 0,
            "amount_received": 0, "canceled_at": None, "cancellation_reason": None,
            "capture_method": "automatic", "confirmation_method": "automatic", "created": inv.finalized_at, "currency": c.currency,
            "customer": c.id, "description": "Subscription creation"
            if inv.billing_reason == "subscription_create" else "Subscription update",
            "last_payment_error": error, "latest_charge": charge_id, "livemode": False, "metadata": {},
            "next_action": None, "payment_method": None, "payment_method_types": ["card"],
            "setup_future_usage": "off_session", "status": "requires_payment_method",
        }
        if c.old_api:
            o["invoice"] = inv.id
        return o

    # ---- actions -----------------------------------------------------------------------------

    def set_delinquent(self, c: Customer, value: bool, at: int) -> None:
        # Stripe flips customer.delinquent on an automatic failure / a payment and says so with
        # customer.updated (stripe-python Customer.delinquent docstring).
        if c.delinquent == value:
            return
        c.delinquent = value
        self.emit(c, "customer.updated", self.customer_obj(c), at, previous={"delinquent": not value})

    def set_sub_status(self, c: Customer, status: str, at: int, *, api_request: bool = False,
                       extra_prev: dict[str, Any] | None = None) -> None:
        if c.sub_status == status:
            return
        prev = {"status": c.sub_status, **(extra_prev or {})}
        c.sub_status = status
        self.emit(c, "customer.subscription.updated", self.subscription_obj(c), at, previous=prev,
                  api_request=api_request)

    def new_invoice(self, c: Customer, start: int, end: int, prev_start: int, *, reason: str,
                    amount: int | None = None, description: str | None = None) -> Invoice:
        c.invoice_seq += 1
        created = start + self.rng.randint(5, 40)
        due = created + 30 * DAY + HOUR if c.collection == "send_invoice" else None
        inv = Invoice(id=self.ids.long("in"), customer=c, number=f"{c.prefix}-{c.invoice_seq:04d}",
                      created=created, period_start=prev_start, period_end=start, line_period=(start, end),
                      billing_reason=reason, collection=c.collection,
                      amount=c.amount if amount is None else amount, due_date=due, pi=self.ids.long("pi", "3"),
                      inpay=self.ids.long("inpay"), line_id=self.ids.long("il"), description=description)
        # Invoices are finalized ~1 h after invoice.created, then attempted
        # (stripe-python Invoice.attempted docstring).
        inv.finalized_at = created + HOUR + self.rng.randint(0, 120)
        inv.status = "open"
        if reason == "subscription_create":
            inv.finalized_at = created + 1  # first invoices are finalized and attempted at once
        if reason.startswith("subscription"):
            c.latest_invoice = inv.id
        self.invoices.append(inv)
        return inv

    def fail(self, inv: Invoice, at: int, code: str, *, last: bool) -> None:
        c = inv.customer
        d = DECLINES[code]
        inv.attempt_count += 1
        charge = self.ids.long("ch", "3")
        inv.charge = charge
        retry = None
        if d.retryable and not last:
            nxt = RETRY_DAYS[inv.attempt_count] - RETRY_DAYS[inv.attempt_count - 1]
            retry = at + nxt * DAY + self.rng.randint(-2 * HOUR, 2 * HOUR)
        inv.next_payment_attempt = retry
        self.emit(c, "charge.failed", self.charge_obj(inv, charge, at, d), at)
        self.emit(c, "payment_intent.payment_failed", self.payment_intent_obj(inv, charge, at, d), at + 1)
        self.emit(c, "invoice.payment_failed", self.invoice_obj(inv), at + 2)
        if code == "authentication_required":
            self.emit(c, "invoice.payment_action_required", self.invoice_obj(inv), at + 2)
        if inv.billing_reason != "subscription_create":  # an incomplete subscription is no dunning case
            self.set_delinquent(c, True, at + 3)
            self.set_sub_status(c, "past_due", at + 3)

    def pay(self, inv: Invoice, at: int, *, automatic: bool) -> None:
        c = inv.customer
        if automatic:
            inv.attempt_count += 1
        charge = self.ids.long("ch", "3")
        inv.charge = charge
        inv.status, inv.paid_at, inv.next_payment_attempt = "paid", at, None
        self.emit(c, "invoice.paid", self.invoice_obj(inv), at + 2, api_request=not automatic)
        self.set_delinquent(c, False, at + 3)
        if c.sub_status == "past_due":
            self.set_sub_status(c, "active", at + 3)

    def update_card(self, c: Customer, at: int) -> None:
        assert c.card is not None
        old = c.card.pm
        c.card = self.make_card(c, brand=c.card.brand)
        self.emit(c, "customer.updated", self.customer_obj(c), at, api_request=True,
                  previous={"invoice_settings": {"default_payment_method": old}})

    def make_card(self, c: Customer, brand: str | None = None, exp: tuple[int, int] | None = None) -> Card:
        month, year = exp or (self.rng.randint(1, 12), self.rng.randint(2027, 2030))
        last4 = {"amex": 5, "visa": 4}.get(brand or c.brand, 4)
        return Card(pm=self.ids.long("pm"), brand=brand or c.brand,
                    last4="".join(self.rng.choice(string.digits) for _ in range(last4))[-4:],
                    exp_month=month, exp_year=year, country="US")


# --------------------------------------------------------------------------------------------
# Scenarios. Each customer gets its subscription periods from `since_days` to the anchor; a
# `plan` maps a period index (negative = counted from the latest) to what happens to it.


@dataclass
class Step:
    """What happens to one period's invoice (charge_automatically)."""

    codes: tuple[str, ...] = ()  # one decline code per failed attempt
    then: str = "paid"  # paid | paid_by_customer | open | uncollectible | canceled | card_then_paid
    days_to_pay: float = 1.0  # for paid_by_customer / card_then_paid: days after the last failure


CUSTOMERS: list[tuple[Customer, dict[int, Step]]] = [
    # Episode open: first failure 2 days ago, retry scheduled -> PRODUCT.md §5 worked example (18).
    (Customer("brightsmile", "Bright Smile Dental", "billing@brightsmile-dental.example", "usd", 14900,
              billing_day=28, hour=14), {-1: Step(("insufficient_funds",), "open")}),
    # Habitual: three earlier episodes in 12 months, all recovered, and a fourth one open now.
    (Customer("harborview", "Harbor View Orthodontics", "accounts@harborview-ortho.example", "usd", 24900,
              billing_day=25, hour=10, since_days=WINDOW_DAYS),
     {-11: Step(("insufficient_funds",)), -7: Step(("generic_decline", "generic_decline")),
      -3: Step(("insufficient_funds",), "paid_by_customer", 2.2),
      -1: Step(("generic_decline", "generic_decline"), "open")}),
    # Long-running: ~20 days past due, hard decline, no retry -> high risk.
    (Customer("maplegrove", "Maple Grove Family Dentistry", "office@maplegrove-dentistry.example", "usd",
              19900, billing_day=10, hour=8, since_days=120, card_exp=(10, 2026)), {-1: Step(("expired_card",), "open")}),
    # Soft decline twice, recovered by the third automatic retry.
    (Customer("nordlicht", "Zahnarztpraxis Nordlicht", "buchhaltung@nordlicht-zahnarzt.example", "eur",
              12900, billing_day=3, hour=6, since_days=120), {-2: Step(("do_not_honor", "do_not_honor"))}),
    # Lost card (hard decline, no retry); the customer adds a new card and the invoice is paid.
    (Customer("lumiere", "Clinique Dentaire Lumière", "compta@lumiere-dentaire.example", "eur", 9900,
              billing_day=12, hour=7, since_days=120), {-3: Step(("lost_card",), "card_then_paid", 3.0)}),
    # Older API account: retries exhausted, invoice marked uncollectible, subscription unpaid.
    (Customer("thames", "Thames Dental Studio", "finance@thames-dental.example", "gbp", 45000,
              interval="quarter", billing_day=11, hour=9, old_api=True, since_days=300),
     {-1: Step(("do_not_honor",) * 4, "uncollectible")}),
    # 3-D Secure needed off-session: authentication_required + invoice.payment_action_required.
    (Customer("sakura", "Sakura Shika Clinic", "keiri@sakura-shika.example", "jpy", 12000, billing_day=26,
              hour=0, brand="mastercard"), {-1: Step(("authentication_required",), "open")}),
    # KWD (3 decimals): second attempt failed, third scheduled.
    (Customer("alnoor", "Al Noor Dental Center", "accounts@alnoor-dental.example", "kwd", 35200,
              billing_day=24, hour=5), {-1: Step(("insufficient_funds", "insufficient_funds"), "open")}),
    # Clean payers in other currencies and intervals (median-invoice and currency variety).
    (Customer("gulfsmile", "Gulf Smile Clinic", "billing@gulfsmile.example", "kwd", 48500,
              interval="quarter", billing_day=15, hour=6, since_days=200), {}),
    # send_invoice net 30: one invoice 9 days past its due date (a clock, no event) -> episode.
    (Customer("pacificcoast", "Pacific Coast Dental Group", "ap@pacificcoast-dental.example", "usd", 89000,
              billing_day=21, hour=17, collection="send_invoice", since_days=150), {}),
    # send_invoice: an invoice passes its due date, then is voided (episode written off).
    (Customer("evergreen", "Evergreen Endodontics", "billing@evergreen-endo.example", "usd", 54000,
              billing_day=2, hour=16, collection="send_invoice", since_days=150), {}),
    # Older API: incorrect CVC, card updated, paid (charge.invoice / invoice.charge present).
    (Customer("riverside", "Riverside Pediatric Dentistry", "billing@riverside-kids-dental.example", "usd",
              17900, billing_day=18, hour=13, old_api=True, since_days=150),
     {-4: Step(("incorrect_cvc",), "card_then_paid", 1.5)}),
    # processing_error carries no decline_code (fall back to failure_code); retry succeeds.
    (Customer("summit", "Summit Oral Surgery", "ar@summit-oralsurgery.example", "usd", 29900,
              billing_day=7, hour=11, brand="amex", since_days=120), {-2: Step(("processing_error",))}),
    # Retries exhausted -> subscription canceled for non-payment; the invoice stays open (owed).
    (Customer("cedarpark", "Cedar Park Dental", "office@cedarpark-dental.example", "usd", 15900,
              billing_day=20, hour=15, since_days=120), {-2: Step(("generic_decline",) * 4, "canceled")}),
    # generic_decline with advice_code do_not_try_again -> do_not_retry, no retry scheduled.
    (Customer("lakeside", "Lakeside Dental Care", "billing@lakeside-dental.example", "usd", 21900,
              billing_day=22, hour=12, brand="mastercard"), {-1: Step(("do_not_try_again",), "open")}),
    # Free-mail billing address: no company match.
    (Customer("moreno", "Jane Moreno DDS", "jane.moreno.dds@gmail.com", "usd", 7900, billing_day=29,
              hour=3, company=False), {-1: Step(("insufficient_funds",), "open")}),
    (Customer("becker", "Becker Family Dentistry", "tombecker.dentist@gmail.com", "usd", 7900,
              billing_day=5, hour=20, company=False, since_days=100), {}),
    # Two customers on one domain: the CRM has one company -> conflict, not merge.
    (Customer("unity_dt", "Unity Dental Partners – Downtown", "downtown@unitydental-partners.example",
              "usd", 19900, billing_day=9, hour=9, since_days=160), {}),
    (Customer("unity_ws", "Unity Dental Partners – Westside", "westside@unitydental-partners.example",
              "usd", 19900, billing_day=9, hour=9, since_days=160), {-4: Step(("insufficient_funds",))}),
    # First invoice of a new subscription fails: `incomplete`, starts no episode.
    (Customer("freshstart", "Fresh Start Dental", "hello@freshstart-dental.example", "usd", 14900,
              company=False, since_days=0), {}),
    # Partial refund (charge.refunded).
    (Customer("bayside", "Bayside Dental Lab", "rechnungen@bayside-dentallab.example", "eur", 8900,
              billing_day=14, hour=8, since_days=100), {}),
    # Dispute on a paid charge (charge.dispute.created).
    (Customer("northstar", "Northstar Dental", "billing@northstar-dental.example", "usd", 32900,
              billing_day=4, hour=18, since_days=150), {}),
    # Billing e-mail moves from a free mailbox to the practice domain (customer.updated).
    (Customer("willowcreek", "Willow Creek Dental", "drlee.willowcreek@gmail.com", "usd", 14900,
              billing_day=16, hour=15, since_days=120,
              email_change=(45, "billing@willowcreek-dental.example")), {}),
    # Older API: canceled on request, later customer.deleted (personal data erased; CRM record stays).
    (Customer("oldtown", "Old Town Dental", "office@oldtown-dental.example", "usd", 9900,
              billing_day=6, hour=10, old_api=True, since_days=220), {}),
    # PRODUCT.md §5 second worked example: expired card, 16 days, two earlier episodes -> 69, high risk.
    (Customer("granitestate", "Granite State Dentistry", "billing@granitestate-dental.example", "usd",
              17900, billing_day=14, hour=12, since_days=WINDOW_DAYS, card_exp=(10, 2026)),
     {-10: Step(("insufficient_funds",)), -6: Step(("generic_decline",), "paid_by_customer", 1.2),
      -1: Step(("expired_card",), "open")}),
    # Radar block: decline_code fraudulent (outcome.type blocked), no retry.
    (Customer("coastal", "Coastal Smiles Dentistry", "accounts@coastalsmiles.example", "aud", 18900,
              billing_day=27, hour=23), {-1: Step(("fraudulent",), "open")}),
    # Older API, clean payer.
    (Customer("kensington", "Kensington Smiles", "accounts@kensington-smiles.example", "gbp", 11900,
              billing_day=19, hour=9, old_api=True, since_days=120), {}),
    (Customer("alpenblick", "Zahnklinik Alpenblick", "admin@alpenblick-zahnklinik.example", "chf", 26000,
              interval="quarter", billing_day=1, hour=7, since_days=200), {}),
    (Customer("tokyobay", "Tokyo Bay Dental Office", "jimu@tokyobay-dental.example", "jpy", 360000,
              interval="year", billing_day=8, hour=1, since_days=WINDOW_DAYS), {}),
    # One earlier episode, recovered (1 earlier episode -> 5 risk points, low risk).
    (Customer("montroyal", "Clinique Dentaire Mont-Royal", "factures@montroyal-dentaire.example", "cad",
              16900, billing_day=13, hour=14, since_days=170), {-5: Step(("insufficient_funds",) * 2)}),
    (Customer("amstel", "Tandartspraktijk Amstel", "administratie@amstel-tandarts.example", "eur", 11900,
              interval="quarter", billing_day=17, hour=8, since_days=200), {}),
    # Annual plan on invoice terms (send_invoice): the latest invoice is open, not yet due.
    (Customer("prairie", "Prairie Dental Associates", "billing@prairie-dental.example", "usd", 279000,
              interval="year", billing_day=23, hour=16, collection="send_invoice", since_days=WINDOW_DAYS), {}),
    # Clean payer with no company in the CRM.
    (Customer("sunrise", "Sunrise Dental Lab", "ap@sunrise-dentallab.example", "usd", 12900,
              interval="quarter", billing_day=11, hour=19, company=False, since_days=200), {}),
    (Customer("desertbloom", "Desert Bloom Dental", "office@desertbloom-dental.example", "usd", 15900,
              billing_day=19, hour=21, since_days=120), {}),
    (Customer("blueridge", "Blue Ridge Periodontics", "billing@blueridge-perio.example", "usd", 299000,
              interval="year", billing_day=2, hour=14, since_days=WINDOW_DAYS), {}),
    (Customer("emerald", "Emerald Isle Dental", "accounts@emeraldisle-dental.example", "eur", 13900,
              interval="quarter", billing_day=20, hour=10, since_days=200), {-2: Step(("insufficient_funds",))}),
]

# Companies in the CRM that no billing customer matches (prospects, churned long ago).
EXTRA_COMPANIES = [
    ("Silver Lake Dental", "silverlake-dental.example"),
    ("Orchard Hill Orthodontics", "orchardhill-ortho.example"),
    ("Meridian Smile Studio", "meridian-smile.example"),
]


class Generator:
    def __init__(self) -> None:
        self.w = World()
        self.customers: list[Customer] = []

    def run(self) -> None:
        for c, _plan in CUSTOMERS:
            self.setup(c)
        for c, plan in CUSTOMERS:
            self.play(c, plan)

    def setup(self, c: Customer) -> None:
        w = self.w
        c.id = w.ids.short("cus")
        c.sub_id = w.ids.long("sub")
        c.si_id = w.ids.short("si")
        c.prefix = "".join(w.rng.choice(string.ascii_uppercase + string.digits) for _ in range(8))
        c.card = w.make_card(c, exp=c.card_exp)
        self.customers.append(c)

    def periods(self, c: Customer) -> list[datetime]:
        months = MONTHS[c.interval]
        start = ANCHOR - timedelta(days=c.since_days)
        d = ANCHOR.replace(day=c.billing_day, hour=c.hour, minute=0)
        while d > ANCHOR:
            d = add_months(d, -months)
        out = []
        while d >= start:
            out.append(d)
            d = add_months(d, -months)
        return out[::-1]

    def play(self, c: Customer, plan: dict[int, Step]) -> None:
        special = getattr(self, f"play_{c.key}", None)
        if special is not None:
            special(c)
            return
        self.play_subscription(c, plan)

    def begin(self, c: Customer, first: datetime, *, announce: bool) -> None:
        """Customer and subscription exist from the first period; announce = events in window."""
        c.created = ts(first) - 2 * DAY - self.w.rng.randint(0, 5000)
        c.sub_created = ts(first)
        if announce:
            self.w.emit(c, "customer.created", self.w.customer_obj(c), c.created, api_request=True)

    def play_subscription(self, c: Customer, plan: dict[int, Step], *, stop_after: int | None = None) -> None:
        w = self.w
        starts = self.periods(c)
        if stop_after is not None:
            starts = starts[:stop_after]
        self.begin(c, starts[0], announce=c.since_days < WINDOW_DAYS)
        n = len(starts)
        if plan and min(plan) < -n:
            raise ValueError(f"{c.key}: plan reaches period {min(plan)} but there are only {n}")
        months = MONTHS[c.interval]
        for i, start in enumerate(starts):
            if c.sub_status in ("canceled", "unpaid"):
                break  # no further invoices worth sending (unpaid: created and closed at once)
            self.maybe_change_email(c, ts(start))
            end = add_months(start, months)
            c.period = (ts(start), ts(end))
            prev = add_months(start, -months)
            reason = "subscription_cycle" if i or c.since_days >= WINDOW_DAYS else "subscription_create"
            if i == 0 and reason == "subscription_create":
                c.sub_status = "active"
                w.emit(c, "customer.subscription.created", w.subscription_obj(c), ts(start) + 3, api_request=True)
            inv = w.new_invoice(c, ts(start), ts(end), ts(prev) if reason != "subscription_create" else ts(start),
                                reason=reason)
            step = plan.get(i - n, Step())
            if step.codes and reason == "subscription_create":
                raise ValueError(f"{c.key}: a failing first invoice belongs in play_freshstart")
            if c.collection == "send_invoice":
                self.send_invoice_flow(c, inv)
            else:
                self.run_step(c, inv, step)
        self.maybe_change_email(c, ts(ANCHOR))

    def maybe_change_email(self, c: Customer, before: int) -> None:
        if c.email_change is None:
            return
        days, new = c.email_change
        at = ts(ANCHOR) - days * DAY + 5 * HOUR
        if at < before:
            old, c.email, c.email_change = c.email, new, None
            self.w.emit(c, "customer.updated", self.w.customer_obj(c), at, previous={"email": old},
                        api_request=True)

    def run_step(self, c: Customer, inv: Invoice, step: Step) -> None:
        w = self.w
        assert inv.finalized_at is not None
        t0 = inv.finalized_at + 5
        at = t0
        for k, code in enumerate(step.codes):
            at = t0 + RETRY_DAYS[k] * DAY + (w.rng.randint(-1800, 1800) if k else 0)
            if at > ts(ANCHOR):
                raise ValueError(f"{c.key}: attempt {k + 1} lands after the anchor")
            final = k == len(step.codes) - 1 and step.then in ("uncollectible", "canceled")
            w.fail(inv, at, code, last=final)
        if not step.codes:
            w.pay(inv, t0, automatic=True)
        elif step.then == "paid":
            retry_at = t0 + RETRY_DAYS[len(step.codes)] * DAY + w.rng.randint(-1800, 1800)
            w.pay(inv, retry_at, automatic=True)
        elif step.then == "paid_by_customer":
            w.pay(inv, at + int(step.days_to_pay * DAY), automatic=False)
        elif step.then == "card_then_paid":
            upd = at + int(step.days_to_pay * DAY)
            w.update_card(c, upd)
            w.pay(inv, upd + 40, automatic=False)  # the customer pays the open invoice with the new card
        elif step.then == "uncollectible":
            # Retry settings: "mark the invoice as uncollectible" + subscription "mark as unpaid".
            end = at + HOUR
            inv.status, inv.uncollectible_at, inv.next_payment_attempt = "uncollectible", end, None
            w.emit(c, "invoice.marked_uncollectible", w.invoice_obj(inv), end)
            w.set_sub_status(c, "unpaid", end + 1)
        elif step.then == "canceled":
            end = at + HOUR
            c.sub_status, c.sub_canceled_at, c.sub_reason = "canceled", end, "payment_failed"
            w.emit(c, "customer.subscription.deleted", w.subscription_obj(c), end)
        elif step.then != "open":
            raise ValueError(step.then)

    def send_invoice_flow(self, c: Customer, inv: Invoice) -> None:
        w = self.w
        assert inv.finalized_at is not None and inv.due_date is not None
        w.emit(c, "invoice.finalized", w.invoice_obj(inv), inv.finalized_at)
        pay_at = inv.finalized_at + w.rng.randint(8, 26) * DAY + w.rng.randint(0, 8) * HOUR
        if pay_at < ts(ANCHOR):
            w.pay(inv, pay_at, automatic=False)

    # ---- special customers ---------------------------------------------------------------------

    def play_pacificcoast(self, c: Customer) -> None:
        """send_invoice, net 30; the latest-but-one invoice is 9 days past its due date."""
        w = self.w
        starts = self.periods(c)
        self.begin(c, starts[0], announce=False)
        for i, start in enumerate(starts):
            end = add_months(start, 1)
            c.period = (ts(start), ts(end))
            inv = w.new_invoice(c, ts(start), ts(end), ts(add_months(start, -1)), reason="subscription_cycle")
            w.emit(c, "invoice.finalized", w.invoice_obj(inv), inv.finalized_at or 0)
            if i == len(starts) - 2:
                # Unpaid past due -> Stripe moves the subscription to past_due and sets delinquent
                # (Subscription.status / Customer.delinquent docstrings). No invoice.overdue: that
                # needs an Automation (reference/billing.md §1.1).
                assert inv.due_date is not None
                overdue = inv.due_date + 60
                assert ANCHOR - datetime.fromtimestamp(inv.due_date, UTC) >= timedelta(days=9)
                w.set_delinquent(c, True, overdue)
                w.set_sub_status(c, "past_due", overdue + 1)
                continue
            if i < len(starts) - 2:
                w.pay(inv, (inv.finalized_at or 0) + w.rng.randint(12, 27) * DAY, automatic=False)

    def play_evergreen(self, c: Customer) -> None:
        """send_invoice; one invoice passes its due date and is voided (written off)."""
        w = self.w
        starts = self.periods(c)
        self.begin(c, starts[0], announce=False)
        for i, start in enumerate(starts):
            end = add_months(start, 1)
            c.period = (ts(start), ts(end))
            inv = w.new_invoice(c, ts(start), ts(end), ts(add_months(start, -1)), reason="subscription_cycle")
            w.emit(c, "invoice.finalized", w.invoice_obj(inv), inv.finalized_at or 0)
            assert inv.due_date is not None
            if i == len(starts) - 3:
                w.set_delinquent(c, True, inv.due_date + 60)
                w.set_sub_status(c, "past_due", inv.due_date + 61)
                void_at = inv.due_date + 9 * DAY + 5 * HOUR
                inv.status, inv.voided_at = "void", void_at
                w.emit(c, "invoice.voided", w.invoice_obj(inv), void_at, api_request=True)
                # Voiding does not reset delinquent (only paying / marking uncollectible via API does).
                w.set_sub_status(c, "active", void_at + 2)
                continue
            pay_at = (inv.finalized_at or 0) + w.rng.randint(10, 25) * DAY
            if pay_at < ts(ANCHOR):
                w.pay(inv, pay_at, automatic=False)

    def play_freshstart(self, c: Customer) -> None:
        """A new subscription whose first invoice fails: `incomplete`, which starts no episode."""
        w = self.w
        start = ANCHOR - timedelta(hours=4)
        c.created = ts(start) - 600
        c.sub_created = ts(start)
        end = add_months(start, 1)
        c.period = (ts(start), ts(end))
        c.sub_status = "incomplete"
        w.emit(c, "customer.created", w.customer_obj(c), c.created, api_request=True)
        inv = w.new_invoice(c, ts(start), ts(end), ts(start), reason="subscription_create")
        # subscription_create invoices are finalized and attempted at once (payment_behavior
        # default_incomplete / error_if_incomplete), not an hour later.
        inv.created = ts(start) + 1
        inv.finalized_at = ts(start) + 2
        w.emit(c, "customer.subscription.created", w.subscription_obj(c), ts(start) + 3, api_request=True)
        w.fail(inv, ts(start) + 4, "insufficient_funds", last=True)

    def play_bayside(self, c: Customer) -> None:
        """Clean payer with a partial refund on one invoice."""
        self.play_subscription(c, {})
        inv_charge = self.last_paid(c, back=1)
        inv, charge, paid_at = inv_charge
        at = paid_at + 4 * DAY + 3 * HOUR
        self.w.emit(c, "charge.refunded",
                    self.w.charge_obj(inv, charge, paid_at, None, amount_refunded=2000), at, api_request=True)

    def play_northstar(self, c: Customer) -> None:
        """Clean payer who disputes a charge (reason subscription_canceled)."""
        w = self.w
        self.play_subscription(c, {})
        inv, charge, paid_at = self.last_paid(c, back=0)
        assert c.card is not None
        at = paid_at + 18 * DAY + 7 * HOUR
        dispute = {
            "id": w.ids.long("dp"), "object": "dispute", "amount": inv.amount, "balance_transactions": [],
            "charge": charge, "created": at, "currency": c.currency,
            "evidence": {"customer_email_address": None, "customer_name": None,
                         "uncategorized_text": None},
            "evidence_details": {"due_by": at + 8 * DAY - 1, "has_evidence": False, "past_due": False,
                                 "submission_count": 0},
            "is_charge_refundable": False, "livemode": False, "metadata": {},
            "network_reason_code": "13.2", "payment_intent": inv.pi,
            "payment_method_details": {"card": {"brand": c.card.brand, "case_type": "chargeback",
                                                "network_reason_code": "13.2"}, "type": "card"},
            "reason": "subscription_canceled", "status": "needs_response",
        }
        w.emit(c, "charge.dispute.created", dispute, at)

    def play_oldtown(self, c: Customer) -> None:
        """Older-API customer who canceled on request, then was deleted (personal data erasure)."""
        w = self.w
        self.play_subscription(c, {}, stop_after=4)
        cancel_at = ts(ANCHOR) - 95 * DAY
        c.sub_status, c.sub_canceled_at, c.sub_reason = "canceled", cancel_at, "cancellation_requested"
        w.emit(c, "customer.subscription.deleted", w.subscription_obj(c), cancel_at, api_request=True)
        # customer.deleted carries the customer as it was, not the bare DeletedCustomer stub.
        w.emit(c, "customer.deleted", w.customer_obj(c), ts(ANCHOR) - 60 * DAY + 2 * HOUR,
               api_request=True)

    def last_paid(self, c: Customer, back: int) -> tuple[Invoice, str, int]:
        paid = [i for i in self.w.invoices if i.customer is c and i.status == "paid"]
        inv = paid[-1 - back]
        assert inv.charge is not None and inv.paid_at is not None
        return inv, inv.charge, inv.paid_at

    # ---- output --------------------------------------------------------------------------------

    def events(self) -> list[dict[str, Any]]:
        return [e for _, _, e in sorted(self.w.events, key=lambda x: (x[0], x[1]))]

    def companies(self) -> list[dict[str, Any]]:
        rng = random.Random(SEED + 1)
        seen: set[str] = set()
        rows: list[tuple[str, str]] = []
        for c in self.customers:
            if not c.company or c.domain in seen:
                continue
            seen.add(c.domain)
            rows.append((c.name.split(" – ")[0], c.domain))
        rows.extend(EXTRA_COMPANIES)
        out = []
        next_id = 18_200_000_000 + rng.randint(0, 9_999_999)
        for name, domain in rows:
            next_id += rng.randint(1, 400_000)
            cid = str(next_id)
            out.append({"id": cid, "properties": {"name": name, "domain": domain, "hs_object_id": cid,
                                                  "hubspot_owner_id": rng.choice(OWNERS)}})
        return out


def build() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Return (events document, sandbox companies)."""
    g = Generator()
    g.run()
    return {"anchor": ts(ANCHOR), "events": g.events()}, g.companies()


def stripe_order(value: Any) -> Any:
    """Keys as Stripe serialises them: `id` and `object` first, then alphabetical."""
    if isinstance(value, dict):
        head = [k for k in ("id", "object") if k in value]
        keys = head + sorted(k for k in value if k not in ("id", "object"))
        return {k: stripe_order(value[k]) for k in keys}
    if isinstance(value, list):
        return [stripe_order(v) for v in value]
    return value


def render_events(doc: dict[str, Any]) -> str:
    # One event per line: small, and diffs stay readable.
    lines = [json.dumps(stripe_order(e), ensure_ascii=False, separators=(",", ":"))
             for e in doc["events"]]
    body = ",\n".join(lines)
    return f'{{"anchor": {doc["anchor"]}, "events": [\n{body}\n]}}\n'


def render_companies(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, ensure_ascii=False, indent=1) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed files are stale")
    args = parser.parse_args(argv)
    doc, companies = build()
    outputs = {EVENTS_PATH: render_events(doc), COMPANIES_PATH: render_companies(companies)}
    if args.check:
        stale = [p for p, text in outputs.items() if not p.exists() or p.read_text("utf-8") != text]
        for p in stale:
            print(f"stale: {p.relative_to(ROOT)}")
        return 1 if stale else 0
    for p, text in outputs.items():
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, "utf-8")
        print(f"wrote {p.relative_to(ROOT)} ({len(text.encode()):,} bytes)")
    customers = {e["data"]["object"].get("customer") for e in doc["events"]} - {None}
    print(f"{len(doc['events'])} events, {len(customers)} customers, {len(companies)} companies")
    return 0


if __name__ == "__main__":
    sys.exit(main())
