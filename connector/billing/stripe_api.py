"""The Stripe API calls the connector makes, with Stripe's errors mapped onto ours.

Calls go through `stripe.StripeClient` on the shared `requests` session, so the base URL can point
at a local stand-in (PRODUCT.md §7) and tests mock the wire with `responses`.
Objects come back as plain dicts shaped like webhook payloads, so one parser reads both.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import requests
import stripe

from connector.errors import FatalProviderError, RateLimited, TransientProviderError

log = logging.getLogger(__name__)

# The API version we speak and create webhook endpoints with: the version stripe 16.1.0 pins
# (stripe/_api_version.py). Pinned here, not taken from the SDK, so a library upgrade never
# changes payload shapes silently; endpoint events are rendered in it too, so re-read objects
# and webhook payloads have one shape. basil or later: invoices carry no charge/payment_intent
# (reference/billing.md §1.2).
STRIPE_API_VERSION = "2026-10-28.endive"

# Events the connector subscribes to (reference/billing.md §1.1; every name is in stripe
# 16.1.0's WebhookEndpointCreateParams.enabled_events). invoice.overdue only fires when the
# account has an Automation for it, so send_invoice lateness is also decided by the clock.
WEBHOOK_EVENTS: tuple[str, ...] = (
    "invoice.finalized",
    "invoice.updated",
    "invoice.payment_failed",
    "invoice.payment_action_required",
    "invoice.paid",
    "invoice.payment_succeeded",
    "invoice.marked_uncollectible",
    "invoice.voided",
    "invoice.overdue",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "charge.failed",
    "payment_intent.payment_failed",
    "charge.refunded",
    "charge.dispute.created",
    "charge.dispute.closed",
    "customer.updated",
    "customer.deleted",
    "payment_method.automatically_updated",
    "customer.source.expiring",
    # Card-expiry pre-dunning: the card's expiry as it is attached, edited or removed.
    "payment_method.attached",
    "payment_method.updated",
    "payment_method.detached",
)

# What a restricted key (rk_…) needs, as resources in Stripe's restricted-key editor; shown on
# the admin form so the admin can grant them before connecting.
RESTRICTED_KEY_PERMISSIONS: tuple[str, ...] = (
    "Webhook Endpoints: Write",
    "Invoices: Read",
    "Charges: Read",
    "PaymentIntents: Read",
    "Customers: Read",
    "Subscriptions: Read",
    "Customer portal: Write",
    # The backfill and reconciler: missed events, and disputes over 12 months.
    "Events: Read",
    "Disputes: Read",
    # Card-expiry pre-dunning: customers are listed with their default payment method expanded.
    "PaymentMethods: Read",
)

# Client-side throttle for bulk reads (backfill, reconcile), under Stripe's limits
# (reference/billing.md §4.3): live 100 req/s globally and 25 req/s per endpoint, sandbox 25 req/s
# globally. We stay well below both, leaving room for the account's own integration.
BULK_REQUESTS_PER_SECOND = {"live": 20, "test": 10}
# A 429 without Retry-After is retried after 1, 2, 4 … s (capped); stripe-python itself does not
# retry a plain 429 (reference/billing.md §4.3).
MAX_RATE_LIMIT_RETRIES = 6
MAX_RATE_LIMIT_BACKOFF_S = 30.0
# List endpoints the bulk reads walk (the attribute of StripeClient.v1 each one is).
LIST_RESOURCES = frozenset({"invoices", "charges", "subscriptions", "invoice_payments", "disputes",
                            "events", "customers"})
# `types[]` of GET /v1/events takes at most 20 names (reference/billing.md §2.5).
MAX_EVENT_TYPES_PER_LIST = 20

_KEY_MODES = {"sk_test_": "test", "rk_test_": "test", "sk_live_": "live", "rk_live_": "live"}

# A restricted key missing a permission gets 403 with "… Having the 'rak_webhook_write'
# permission would allow this request to continue." (seen in stripe-node#2246, st-paywall#36).
_PERMISSION_RE = re.compile(r"'(rak_[a-z0-9_]+)'")


class StripeKeyRefused(FatalProviderError):
    """Stripe answered 401: the key is wrong, revoked or expired."""

    def __init__(self) -> None:
        super().__init__(
            "Stripe refused the API key (it may be mistyped, rolled, revoked or expired). Paste a "
            "current secret key (sk_…) or restricted key (rk_…) from Stripe: Developers → API keys.",
            status=401,
            category="auth",
        )


class StripePermissionMissing(FatalProviderError):
    """Stripe answered 403: a restricted key lacks a permission the call needs."""

    def __init__(self, action: str, permission: str | None) -> None:
        needed = f"the permission '{permission}'" if permission else "a permission"
        super().__init__(
            f"The restricted Stripe key lacks {needed} needed to {action}. Edit the key in Stripe "
            "(Developers → API keys) to grant it, or use a key with more access.",
            status=403,
            category="permission",
        )
        self.permission = permission


def account_mode(api_key: str) -> str:
    """Return "test" or "live" from the key prefix; ValueError saying what to do otherwise."""
    for prefix, mode in _KEY_MODES.items():
        if api_key.startswith(prefix):
            return mode
    if api_key.startswith("pk_"):
        reason = "that is a publishable key (pk_…), which cannot read invoices"
    elif api_key.startswith("whsec_"):
        reason = "that is a webhook signing secret (whsec_…), not an API key"
    elif not api_key.strip():
        reason = "no key was given"
    else:
        reason = "it does not look like a Stripe API key"
    raise ValueError(
        f"Enter a Stripe secret key (sk_test_… / sk_live_…) or restricted key (rk_test_… / "
        f"rk_live_…): {reason}."
    )


class Limiter(Protocol):
    def acquire(self) -> float: ...


@dataclass(frozen=True)
class StripePage:
    """One page of a list endpoint: objects newest first, as Stripe returns them."""

    data: list[dict[str, Any]]
    has_more: bool

    @property
    def last_id(self) -> str | None:
        """The cursor for the next page (`starting_after`)."""
        return self.data[-1]["id"] if self.data else None


class StripeApi:
    """One Stripe account, reached with one API key."""

    account_mode = staticmethod(account_mode)

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str,
        session: requests.Session,
        timeout: float = 20.0,
        max_network_retries: int = 0,
        limiter: Limiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        # Retries default to none: callers either have their own retry (the outbox) or a
        # person waiting (the pay link), and the SDK's backoff sleeps would block them.
        self._client = stripe.StripeClient(
            api_key,
            stripe_version=STRIPE_API_VERSION,
            base_addresses={"api": base_url.rstrip("/")},
            http_client=stripe.RequestsClient(session=session, timeout=timeout),
            max_network_retries=max_network_retries,
        )
        # Only bulk reads (list_page) are throttled and back off on 429: a person waiting on the
        # pay link must not sleep behind a backfill's budget.
        self._limiter = limiter
        self._sleep = sleep

    # -- webhook endpoints ------------------------------------------------------------------

    def create_webhook_endpoint(self, url: str, events: Sequence[str]) -> tuple[str, str]:
        """Create an endpoint delivering `events` to `url`; returns (endpoint id, signing secret).

        Stripe returns the secret only in this response, so the caller must store it now.
        """
        with _mapped("create a webhook endpoint"):
            endpoint = self._client.v1.webhook_endpoints.create(
                params={
                    "url": url,
                    "enabled_events": list(events),
                    "api_version": STRIPE_API_VERSION,
                    "description": "dunning-connector: payment failures to your CRM",
                    "metadata": {"created_by": "dunning-connector"},
                }
            )
        secret = endpoint.to_dict().get("secret")
        if not secret:
            raise FatalProviderError(
                "Stripe created the webhook endpoint but returned no signing secret"
            )
        return endpoint.id, secret

    def delete_webhook_endpoint(self, endpoint_id: str) -> bool:
        """Delete an endpoint; False when Stripe does not know it (already gone, other account)."""
        try:
            with _mapped("delete a webhook endpoint"):
                self._client.v1.webhook_endpoints.delete(endpoint_id)
        except FatalProviderError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    # -- reads ------------------------------------------------------------------------------

    def retrieve_invoice(self, invoice_id: str) -> dict[str, Any]:
        with _mapped("read invoices"):
            return self._client.v1.invoices.retrieve(invoice_id).to_dict()

    def retrieve_charge(self, charge_id: str) -> dict[str, Any]:
        with _mapped("read charges"):
            return self._client.v1.charges.retrieve(charge_id).to_dict()

    def hosted_invoice_url(self, invoice_id: str) -> str | None:
        """The invoice's hosted page, fetched now (it expires; never store it). None for drafts."""
        return self.retrieve_invoice(invoice_id).get("hosted_invoice_url") or None

    def open_invoices(self, customer_id: str) -> list[dict[str, Any]]:
        """The customer's open invoices, oldest first (Stripe lists newest first)."""
        with _mapped("read invoices"):
            page = self._client.v1.invoices.list(
                params={"customer": customer_id, "status": "open", "limit": 100}
            )
            invoices = [inv.to_dict() for inv in page.auto_paging_iter()]
        return sorted(invoices, key=lambda inv: (inv.get("created") or 0, inv.get("id") or ""))

    # -- bulk reads (backfill, reconcile) -------------------------------------------------------

    def list_page(
        self, resource: str, params: Mapping[str, Any], *, starting_after: str | None = None
    ) -> StripePage:
        """One page (up to 100 objects) of a list endpoint, throttled, backing off on 429.

        Lists come newest first; `starting_after=<last id of the previous page>` walks on, so a
        stored last id resumes an interrupted walk where it stopped.
        """
        if resource not in LIST_RESOURCES:
            raise ValueError(f"not a list endpoint the connector reads: {resource!r}")
        query: dict[str, Any] = {"limit": 100, **params}
        if starting_after:
            query["starting_after"] = starting_after
        endpoint = getattr(self._client.v1, resource)
        for attempt in range(MAX_RATE_LIMIT_RETRIES + 1):
            if self._limiter is not None:
                self._limiter.acquire()
            try:
                with _mapped(f"read {resource.replace('_', ' ')}"):
                    page = endpoint.list(params=query)
                return StripePage([obj.to_dict() for obj in page.data], bool(page.has_more))
            except RateLimited as exc:
                if attempt == MAX_RATE_LIMIT_RETRIES:
                    raise
                delay = exc.retry_after or min(2.0**attempt, MAX_RATE_LIMIT_BACKOFF_S)
                log.info("stripe.rate_limited resource=%s wait_s=%s", resource, delay)
                self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def invoice_of_payment_intent(self, payment_intent_id: str) -> str | None:
        """The invoice a PaymentIntent pays (basil and later: only InvoicePayment links them)."""
        page = self.list_page(
            "invoice_payments",
            {"payment": {"type": "payment_intent", "payment_intent": payment_intent_id}, "limit": 1},
        )
        invoice = page.data[0].get("invoice") if page.data else None
        return invoice.get("id") if isinstance(invoice, dict) else invoice

    # -- customer portal --------------------------------------------------------------------

    def create_portal_session(self, customer_id: str, return_url: str) -> str:
        """A billing-portal session opened on the card-update screen; its URL lives minutes.

        The card-update deep link (`flow_data.type=payment_method_update`) is refused when the
        account's portal configuration turns payment-method updates off; the plain portal is
        then the best we can offer, so we ask once more without it.
        """
        params: dict[str, Any] = {"customer": customer_id, "return_url": return_url}
        try:
            with _mapped("open the customer portal"):
                session = self._client.v1.billing_portal.sessions.create(
                    params={**params, "flow_data": {"type": "payment_method_update"}}
                )
        except FatalProviderError as exc:
            if exc.status != 400:
                raise
            log.info("portal card-update flow refused (%s); opening the plain portal", exc.category)
            with _mapped("open the customer portal"):
                session = self._client.v1.billing_portal.sessions.create(params=params)
        return session.url


@contextmanager
def _mapped(action: str) -> Iterator[None]:
    """Turn stripe-python errors into the connector's retry kinds, with plain-words messages."""
    try:
        yield
    except stripe.AuthenticationError as exc:
        raise StripeKeyRefused() from exc
    except stripe.PermissionError as exc:
        match = _PERMISSION_RE.search(exc.user_message or "")
        raise StripePermissionMissing(action, match.group(1) if match else None) from exc
    except stripe.RateLimitError as exc:
        raise RateLimited(
            f"Stripe rate limit while trying to {action}", retry_after=_retry_after(exc)
        ) from exc
    except stripe.APIConnectionError as exc:
        raise TransientProviderError(f"Stripe could not be reached to {action}") from exc
    except stripe.StripeError as exc:
        status = exc.http_status
        # 5xx and 409 (a concurrent change of the same object) pass; stripe-python itself
        # retries exactly these (reference/billing.md §4.3). An unreadable body without a
        # status is an outage too.
        if status is None or status >= 500 or status == 409:
            raise TransientProviderError(
                f"Stripe failed (HTTP {status}) while trying to {action}",
                retry_after=_retry_after(exc),
            ) from exc
        raise FatalProviderError(
            f"Stripe refused to {action}: {exc.user_message or 'HTTP ' + str(status)}",
            status=status,
            category=exc.code or type(exc).__name__,
        ) from exc


def _retry_after(exc: stripe.StripeError) -> float | None:
    raw = (exc.headers or {}).get("Retry-After") or (exc.headers or {}).get("retry-after")
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None
