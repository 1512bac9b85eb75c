"""`/pay/<token>`: the customer's payment link, resolved to a fresh provider page at click time.

Stripe: the oldest open invoice's hosted page when there is one, else a billing-portal session
on the card-update screen. Chargebee: a "collect now" hosted page when an invoice is unpaid, else
a "manage payment sources" hosted page to update the card; Chargebee creates hosted pages only
for a key that may write, so a connection whose admin did not say so gets a page naming whom to
contact instead, as does a connection without an API key. Provider URLs expire, so they are fetched per click and never stored.
Every answer is a page a customer can read: a dead link is 404/410, an outage 503, never a 500.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Blueprint, Response, redirect
from markupsafe import escape
from sqlmodel import Session

from connector.billing.chargebee_api import ChargebeeApi
from connector.billing.stripe_api import StripeApi
from connector.context import Services, get_services
from connector.errors import ConnectorError, TransientProviderError
from connector.payment_links import resolve_payment_link
from connector.storage.db import session_scope
from connector.storage.models import AuditLog, BillingConnection, CustomerBilling, Installation

log = logging.getLogger(__name__)

bp = Blueprint("pay", __name__)

# A customer is waiting in the browser: give up early and show the "try again" page.
_PROVIDER_TIMEOUT_S = 10.0

_NO_STORE = {
    "Cache-Control": "no-store",
    # The token is the credential: keep it out of Referer headers and search indexes.
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
}


@dataclass(frozen=True)
class _Target:
    installation_id: int
    link_id: int
    customer_row_id: int
    customer_id: str
    api_key_enc: str
    return_url: str | None
    provider: str = "stripe"
    site: str = ""  # Chargebee site name


@bp.get("/pay/done")
def done() -> Response:
    return _page(
        200,
        "Thank you",
        "You can close this page. If you paid or updated your card, it can take a few minutes "
        "to show.",
    )


@bp.get("/pay/<token>")
def pay(token: str) -> Response:
    services = get_services()
    now = services.clock()
    with session_scope(services.engine) as session:
        found = resolve_payment_link(session, token, now)
        if found.status == "unknown" or found.link is None:
            log.info("payment link click: unknown token")
            return _page(
                404,
                "Link not found",
                "This payment link does not exist. Please check "
                "that it was copied completely, or ask us for a new one.",
            )
        link = found.link
        if found.status != "live":
            _audit(session, link.installation_id, link.id, link.customer_row_id, found.status)
            return _gone()
        customer = session.get(CustomerBilling, link.customer_row_id)
        conn = session.get(BillingConnection, customer.connection_id) if customer else None
        installation = session.get(Installation, link.installation_id)
        if (
            customer is None
            or customer.deleted
            or conn is None
            or installation is None
            or installation.status == "disconnected"
        ):
            _audit(session, link.installation_id, link.id, link.customer_row_id, "unavailable")
            return _gone()
        if conn.provider not in ("stripe", "chargebee"):
            _audit(
                session, link.installation_id, link.id, link.customer_row_id, "unsupported_provider"
            )
            return _unavailable()
        if not conn.api_key_enc:
            # A connection set up with only a webhook secret (and the demo's) has no key to
            # open a provider page with: say whom to contact rather than call the provider keyless.
            log.warning(
                "payment link click: billing connection %s has no API key; no payment page opened",
                conn.id,
            )
            _audit(session, link.installation_id, link.id, link.customer_row_id, "no_api_key")
            return _not_offered(installation.name)
        if conn.provider == "chargebee" and not _chargebee_key_can_write(installation):
            _audit(session, link.installation_id, link.id, link.customer_row_id, "key_read_only")
            return _not_offered(installation.name)
        target = _Target(
            installation_id=link.installation_id,
            link_id=link.id or 0,
            customer_row_id=customer.id or 0,
            customer_id=customer.customer_id,
            api_key_enc=conn.api_key_enc,
            return_url=(installation.settings or {}).get("payment_return_url") or None,
            provider=conn.provider,
            site=conn.account_ref,
        )

    # No database transaction is held open across the provider calls.
    try:
        if target.provider == "chargebee":
            outcome, url = _chargebee_destination(services, target)
        else:
            outcome, url = _stripe_destination(services, target)
    except TransientProviderError:
        _audit_after(services, target, "provider_unavailable")
        return _page(
            503,
            "Please try again shortly",
            "The payment page could not be opened just now. Please try again in a few minutes.",
            retry_after=120,
        )
    except (ConnectorError, ValueError) as exc:
        log.warning("payment link click: provider refused (%s)", type(exc).__name__)
        _audit_after(services, target, "provider_refused")
        return _unavailable()
    _audit_after(services, target, outcome)
    response = redirect(url, code=302)
    response.headers.update(_NO_STORE)
    return response


def _stripe_destination(services: Services, target: _Target) -> tuple[str, str]:
    api = StripeApi(
        services.box.decrypt(target.api_key_enc),
        base_url=services.settings.stripe_api_base,
        session=services.http,
        timeout=_PROVIDER_TIMEOUT_S,
    )
    for invoice in api.open_invoices(target.customer_id):
        if invoice.get("hosted_invoice_url") and (invoice.get("amount_remaining") or 0) > 0:
            return "invoice", invoice["hosted_invoice_url"]
    return "portal", api.create_portal_session(target.customer_id, _return_url(services, target))


def _return_url(services: Services, target: _Target) -> str:
    # Where the provider page's "return" button leads: the vendor's own page when configured.
    return target.return_url or services.settings.public_base_url.rstrip("/") + "/pay/done"


def _chargebee_destination(services: Services, target: _Target) -> tuple[str, str]:
    api = ChargebeeApi(
        target.site,
        services.box.decrypt(target.api_key_enc),
        domain=services.settings.chargebee_domain,
        read_timeout=int(_PROVIDER_TIMEOUT_S),
    )
    return_url = _return_url(services, target)
    if api.has_unpaid_invoice(target.customer_id):
        return "invoice", api.collect_now_url(target.customer_id, return_url)
    return "card_update", api.manage_payment_sources_url(target.customer_id, return_url)


def _chargebee_key_can_write(installation: Installation) -> bool:
    # Set by the admin at connect (connections.connect_chargebee): a read-only key is enough for
    # sync, but Chargebee refuses to create hosted pages with it.
    return bool(((installation.settings or {}).get("chargebee") or {}).get("key_can_write"))


def _audit(
    session: Session, installation_id: int, link_id: int | None, customer_row_id: int, outcome: str
) -> None:
    # Internal ids only: no token, no provider URL, no customer data.
    session.add(
        AuditLog(
            installation_id=installation_id,
            actor="customer",
            action="payment_link.clicked",
            detail={"link_id": link_id, "customer_row_id": customer_row_id, "outcome": outcome},
        )
    )


def _audit_after(services: Services, target: _Target, outcome: str) -> None:
    # The customer's redirect matters more than the audit row: a failed write is logged only.
    try:
        with session_scope(services.engine) as session:
            _audit(session, target.installation_id, target.link_id, target.customer_row_id, outcome)
    except Exception:
        log.exception("payment link click: audit write failed")


def _gone() -> Response:
    return _page(
        410,
        "This link has expired",
        "This payment link is no longer active. If you "
        "still need to pay or update your card, please ask us for a new link.",
    )


def _unavailable() -> Response:
    return _page(
        502,
        "Payment page unavailable",
        "The payment page cannot be opened right now. Please contact us and we will help you pay.",
    )


def _not_offered(vendor: str) -> Response:
    who = f"{vendor}'s billing team" if vendor else "the company that sent you this link"
    return _page(
        403,
        "Online payment is not available here",
        f"This link cannot open a payment page. Please contact {who} (or your account "
        "manager there): they can take your payment or send you a way to update your card.",
    )


def _page(status: int, title: str, message: str, *, retry_after: int | None = None) -> Response:
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;"
        "padding:0 1rem;color:#222;line-height:1.5}h1{font-size:1.4rem}</style></head>"
        f"<body><h1>{escape(title)}</h1><p>{escape(message)}</p></body></html>"
    )
    response = Response(html, status=status, mimetype="text/html")
    response.headers.update(_NO_STORE)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response
