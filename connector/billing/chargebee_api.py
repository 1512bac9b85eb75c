"""Calls to one Chargebee site through the official `chargebee` package (v3, httpx inside).

Reads, plus the hosted pages of the payment link (a page for the customer to pay or update the
card, which needs a key that may write): the connector itself never changes billing data.
Objects come back as the plain dicts of the API (`raw_data`), the same shape as webhook content,
so one parser (chargebee_events) reads both.
Errors become the connector's two kinds (connector.errors): a refused key or a bad request is
fatal; rate limits, 5xx and network failures are transient.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import httpx
from chargebee import APIError, Chargebee

from connector.errors import FatalProviderError, RateLimited, TransientProviderError

log = logging.getLogger(__name__)

PAGE_SIZE = 100  # Chargebee's list maximum
SITE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
# Invoices the customer still owes: posted (not yet due), being collected, or given up on.
UNPAID_INVOICE_STATUSES = ("posted", "payment_due", "not_paid")


def is_site_name(site: str) -> bool:
    return bool(SITE_NAME.match(site or ""))


class ChargebeeApi:
    def __init__(self, site: str, api_key: str, *, domain: str = "chargebee.com",
                 read_timeout: int | None = None) -> None:
        if not is_site_name(site):
            raise ValueError("not a Chargebee site name")
        self.site = site
        self._cb = Chargebee(api_key=api_key, site=site, chargebee_domain=domain,
                             read_time_out=read_timeout)

    # -- calls --------------------------------------------------------------------------------

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except APIError as exc:
            status = exc.http_status_code
            log.info("chargebee.api_error site=%s call=%s status=%s code=%s",
                     self.site, what, status, exc.api_error_code)
            if status == 429:
                raise RateLimited(f"Chargebee rate limit on {what}") from None
            if status is not None and status >= 500:
                raise TransientProviderError(f"Chargebee {status} on {what}") from None
            if status in (401, 403):
                raise FatalProviderError(
                    "Chargebee refused the API key (check the site name and the key).",
                    status=status, category="auth") from None
            raise FatalProviderError(f"Chargebee refused {what}: {exc.api_error_code}",
                                     status=status) from None
        except httpx.HTTPError as exc:
            log.info("chargebee.network_error site=%s call=%s kind=%s", self.site, what,
                     type(exc).__name__)
            raise TransientProviderError(f"Chargebee unreachable on {what}") from None

    def _list(self, what: str, resource: Any, params: dict[str, Any], key: str,
              offset: str | None) -> tuple[list[dict[str, Any]], str | None]:
        params = {"limit": PAGE_SIZE, **params}
        if offset:
            params["offset"] = offset
        result = self._call(what, lambda: resource.list(params))
        items: list[dict[str, Any]] = []
        for entry in result.list:
            # An entry may carry related objects too (a subscription comes with its customer and
            # card): each is returned as an object of its own, the listed one first.
            items.append(dict(getattr(entry, key).raw_data))
            items.extend(dict(obj.raw_data) for name, obj in vars(entry).items()
                         if name != key and getattr(obj, "raw_data", None))
        return items, result.next_offset or None

    # list endpoint -> (client attribute, key of each entry)
    _RESOURCES = {
        "invoices": ("Invoice", "invoice"),
        "transactions": ("Transaction", "transaction"),
        "subscriptions": ("Subscription", "subscription"),
        "customers": ("Customer", "customer"),
        "payment_sources": ("PaymentSource", "payment_source"),
        "events": ("Event", "event"),
    }

    def list_resource(self, resource: str, params: dict[str, Any], *,
                      offset: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """One page of a list endpoint (`resource` as in the URL: invoices, events, …)."""
        attr, key = self._RESOURCES[resource]
        return self._list(f"{resource} list", getattr(self._cb, attr), params, key, offset)

    def check_key(self) -> None:
        """One cheap read that proves site and key work (raises otherwise)."""
        self._call("customer list", lambda: self._cb.Customer.list({"limit": 1}))

    def list_invoices(self, *, params: dict[str, Any] | None = None,
                      offset: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        return self._list("invoice list", self._cb.Invoice, params or {}, "invoice", offset)

    def list_transactions(self, *, params: dict[str, Any] | None = None,
                          offset: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        return self._list("transaction list", self._cb.Transaction, params or {}, "transaction",
                          offset)

    def list_subscriptions(self, *, params: dict[str, Any] | None = None,
                           offset: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        return self._list("subscription list", self._cb.Subscription, params or {},
                          "subscription", offset)

    def list_events(self, *, occurred_after: int, offset: str | None = None
                    ) -> tuple[list[dict[str, Any]], str | None]:
        """Events after `occurred_after`, oldest first (the incremental reconcile)."""
        params = {"occurred_at": {"after": occurred_after}, "sort_by": {"asc": "occurred_at"}}
        return self._list("event list", self._cb.Event, params, "event", offset)

    # -- hosted pages (the payment link; the key must be allowed to write) ----------------------

    def has_unpaid_invoice(self, customer_id: str) -> bool:
        items, _ = self._list("invoice list", self._cb.Invoice, {
            "customer_id": {"is": customer_id}, "status": {"in": list(UNPAID_INVOICE_STATUSES)},
            "limit": 1}, "invoice", None)
        return any(i.get("object") == "invoice" for i in items)

    def collect_now_url(self, customer_id: str, redirect_url: str) -> str:
        """A "collect now" hosted page: the customer pays their unpaid invoices (and may change
        the card to do it). Its URL expires: fetch it per click, never store it."""
        result = self._call("hosted page collect_now", lambda: self._cb.HostedPage.collect_now(
            {"customer": {"id": customer_id}, "redirect_url": redirect_url}))
        return result.hosted_page.url

    def manage_payment_sources_url(self, customer_id: str, redirect_url: str) -> str:
        """A hosted page to add or replace the customer's card (nothing owed, card expiring)."""
        result = self._call("hosted page manage_payment_sources",
                            lambda: self._cb.HostedPage.manage_payment_sources(
                                {"customer": {"id": customer_id}, "redirect_url": redirect_url}))
        return result.hosted_page.url
