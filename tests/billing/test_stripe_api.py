"""StripeApi against Stripe-shaped responses (mocked with `responses`, never the network)."""

from __future__ import annotations

import typing
from urllib.parse import parse_qs

import pytest
import requests
import responses
from responses import matchers
from stripe.params import WebhookEndpointCreateParams

from connector.billing.stripe_api import (
    STRIPE_API_VERSION,
    WEBHOOK_EVENTS,
    StripeApi,
    StripeKeyRefused,
    StripePermissionMissing,
    account_mode,
)
from connector.errors import FatalProviderError, RateLimited, TransientProviderError

BASE = "https://stripe.stand-in.test"  # the base URL can be overridden (PRODUCT.md §7)
KEY = "sk_test_51Nv0FGQ9RKHgCVdKsecretsecret"
HOOK_URL = "https://connector.example.test/webhooks/stripe/tok123"


def api() -> StripeApi:
    return StripeApi(KEY, base_url=BASE, session=requests.Session())


def endpoint_body(**over):
    body = {
        "id": "we_1Mr5jULkdIwHu7ix1ibLTM0x",
        "object": "webhook_endpoint",
        "api_version": STRIPE_API_VERSION,
        "application": None,
        "created": 1680122196,
        "description": "dunning-connector: payment failures to your CRM",
        "enabled_events": list(WEBHOOK_EVENTS),
        "livemode": False,
        "metadata": {"created_by": "dunning-connector"},
        "secret": "whsec_wRNftLajMZNeslQOP6vEPm4iVx5NlZ6z",
        "status": "enabled",
        "url": HOOK_URL,
    }
    body.update(over)
    return body


def invoice_body(inv_id: str, created: int, **over):
    body = {
        "id": inv_id,
        "object": "invoice",
        "account_country": "US",
        "amount_due": 12050,
        "amount_paid": 0,
        "amount_remaining": 12050,
        "attempt_count": 1,
        "attempted": True,
        "auto_advance": True,
        "billing_reason": "subscription_cycle",
        "collection_method": "charge_automatically",
        "created": created,
        "currency": "usd",
        "customer": "cus_NffrFeUfNV2Hib",
        "due_date": None,
        "hosted_invoice_url": f"https://invoice.stripe.com/i/acct_1Nv0FGQ9RKHgCVdK/test_{inv_id}",
        "livemode": False,
        "next_payment_attempt": created + 3 * 86400,
        "parent": {
            "type": "subscription_details",
            "subscription_details": {"subscription": "sub_1MowQVLkdIwHu7ixeRlqHVzs"},
        },
        "status": "open",
        "status_transitions": {"finalized_at": created, "paid_at": None},
    }
    body.update(over)
    return body


def list_body(data, *, has_more=False):
    return {"object": "list", "url": "/v1/invoices", "has_more": has_more, "data": data}


def error_body(message, *, type_="invalid_request_error", code=None, param=None):
    err = {"message": message, "type": type_}
    if code:
        err["code"] = code
    if param:
        err["param"] = param
    return {"error": err}


def form(call) -> dict[str, list[str]]:
    return parse_qs(call.request.body)


# -- key mode -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "mode"),
    [
        ("sk_test_51Abc", "test"),
        ("rk_test_51Abc", "test"),
        ("sk_live_51Abc", "live"),
        ("rk_live_51Abc", "live"),
    ],
)
def test_account_mode_from_key_prefix(key, mode):
    assert account_mode(key) == mode
    assert StripeApi.account_mode(key) == mode


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("pk_live_51Abc", "publishable"),
        ("whsec_abc", "signing secret"),
        ("", "no key"),
        ("hello", "does not look like"),
    ],
)
def test_account_mode_refuses_other_strings_with_a_clear_message(key, hint):
    with pytest.raises(ValueError, match=hint) as info:
        account_mode(key)
    assert "sk_test_" in str(info.value)


# -- constants ------------------------------------------------------------------------------


def test_api_version_is_basil_or_later():
    date, _, name = STRIPE_API_VERSION.partition(".")
    assert name
    assert date >= "2025-03-31"


def test_every_webhook_event_is_one_stripe_accepts():
    allowed = set(
        typing.get_args(
            typing.get_args(WebhookEndpointCreateParams.__annotations__["enabled_events"])[0]
        )
    )
    assert allowed, "could not read the SDK's enabled_events literal"
    assert set(WEBHOOK_EVENTS) <= allowed
    assert len(set(WEBHOOK_EVENTS)) == len(WEBHOOK_EVENTS)


def test_webhook_events_cover_what_the_state_needs():
    needed = {
        "invoice.payment_failed",
        "invoice.paid",
        "invoice.payment_succeeded",
        "invoice.payment_action_required",
        "invoice.marked_uncollectible",
        "invoice.voided",
        "invoice.finalized",
        "invoice.updated",
        "invoice.overdue",
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
    }
    assert needed <= set(WEBHOOK_EVENTS)


# -- webhook endpoints ----------------------------------------------------------------------


def test_create_webhook_endpoint_posts_url_events_and_pinned_version(http):
    http.add(responses.POST, f"{BASE}/v1/webhook_endpoints", json=endpoint_body())

    endpoint_id, secret = api().create_webhook_endpoint(HOOK_URL, WEBHOOK_EVENTS)

    assert (endpoint_id, secret) == (
        "we_1Mr5jULkdIwHu7ix1ibLTM0x",
        "whsec_wRNftLajMZNeslQOP6vEPm4iVx5NlZ6z",
    )
    call = http.calls[0]
    sent = form(call)
    assert sent["url"] == [HOOK_URL]
    assert sent["api_version"] == [STRIPE_API_VERSION]
    events = [v for k, v in sorted(sent.items()) if k.startswith("enabled_events[")]
    assert sorted(e[0] for e in events) == sorted(WEBHOOK_EVENTS)
    assert call.request.headers["Stripe-Version"] == STRIPE_API_VERSION
    assert call.request.headers["Authorization"] == f"Bearer {KEY}"


def test_endpoint_without_secret_in_response_is_an_error(http):
    http.add(responses.POST, f"{BASE}/v1/webhook_endpoints", json=endpoint_body(secret=None))
    with pytest.raises(FatalProviderError, match="no signing secret"):
        api().create_webhook_endpoint(HOOK_URL, WEBHOOK_EVENTS)


def test_refused_key_is_reported_plainly_without_echoing_it(http):
    http.add(
        responses.POST,
        f"{BASE}/v1/webhook_endpoints",
        status=401,
        json=error_body("Invalid API Key provided: sk_test_********************cret"),
    )
    with pytest.raises(StripeKeyRefused) as info:
        api().create_webhook_endpoint(HOOK_URL, WEBHOOK_EVENTS)
    assert info.value.status == 401
    assert "refused the API key" in str(info.value)
    assert "sk_test_" not in str(info.value).replace("sk_test_…", "")


def test_restricted_key_missing_permission_names_it(http):
    http.add(
        responses.POST,
        f"{BASE}/v1/webhook_endpoints",
        status=403,
        json=error_body(
            "The provided key 'rk_test_*********************************************qs8Kgd' does not "
            "have the required permissions for this endpoint on account 'acct_1PJBLEBBLEfV'. Having "
            "the 'rak_webhook_write' permission would allow this request to continue."
        ),
    )
    with pytest.raises(StripePermissionMissing) as info:
        StripeApi(
            "rk_test_51Abc", base_url=BASE, session=requests.Session()
        ).create_webhook_endpoint(HOOK_URL, WEBHOOK_EVENTS)
    assert info.value.permission == "rak_webhook_write"
    assert "'rak_webhook_write'" in str(info.value)
    assert "create a webhook endpoint" in str(info.value)
    assert not isinstance(info.value, TransientProviderError)


def test_rate_limit_is_transient(http):
    http.add(
        responses.GET,
        f"{BASE}/v1/invoices/in_1",
        status=429,
        json=error_body(
            "Request rate limit exceeded. Learn more about rate limits here "
            "https://stripe.com/docs/rate-limits.",
            code="rate_limit",
        ),
    )
    with pytest.raises(RateLimited):
        api().retrieve_invoice("in_1")


def test_server_error_is_transient(http):
    http.add(
        responses.GET,
        f"{BASE}/v1/charges/ch_1",
        status=500,
        json=error_body("An unknown error occurred", type_="api_error"),
    )
    with pytest.raises(TransientProviderError) as info:
        api().retrieve_charge("ch_1")
    assert not isinstance(info.value, FatalProviderError)


def test_connection_failure_is_transient(http):
    http.add(
        responses.GET,
        f"{BASE}/v1/invoices/in_1",
        body=requests.exceptions.ConnectionError("connection reset"),
    )
    with pytest.raises(TransientProviderError):
        api().retrieve_invoice("in_1")


def test_invalid_request_is_fatal_with_stripes_reason(http):
    http.add(
        responses.POST,
        f"{BASE}/v1/webhook_endpoints",
        status=400,
        json=error_body(
            "Invalid URL: URL must be publicly accessible.", code="url_invalid", param="url"
        ),
    )
    with pytest.raises(FatalProviderError) as info:
        api().create_webhook_endpoint("http://127.0.0.1:8000/webhooks/stripe/x", WEBHOOK_EVENTS)
    assert info.value.status == 400
    assert "publicly accessible" in str(info.value)


def test_delete_unknown_endpoint_returns_false(http):
    http.add(
        responses.DELETE,
        f"{BASE}/v1/webhook_endpoints/we_gone",
        status=404,
        json=error_body("No such webhook endpoint: 'we_gone'", code="resource_missing", param="id"),
    )
    http.add(
        responses.DELETE,
        f"{BASE}/v1/webhook_endpoints/we_1",
        json={"id": "we_1", "object": "webhook_endpoint", "deleted": True},
    )
    assert api().delete_webhook_endpoint("we_gone") is False
    assert api().delete_webhook_endpoint("we_1") is True


# -- reads ----------------------------------------------------------------------------------


def test_open_invoices_all_pages_oldest_first(http):
    newest, middle, oldest = (
        invoice_body("in_3", 1764000000),
        invoice_body("in_2", 1763000000),
        invoice_body("in_1", 1762000000),
    )
    http.add(
        responses.GET,
        f"{BASE}/v1/invoices",
        match=[
            matchers.query_param_matcher(
                {"customer": "cus_NffrFeUfNV2Hib", "status": "open", "limit": "100"}
            )
        ],
        json=list_body([newest, middle], has_more=True),
    )
    http.add(
        responses.GET,
        f"{BASE}/v1/invoices",
        match=[
            matchers.query_param_matcher(
                {
                    "customer": "cus_NffrFeUfNV2Hib",
                    "status": "open",
                    "limit": "100",
                    "starting_after": "in_2",
                }
            )
        ],
        json=list_body([oldest]),
    )

    found = api().open_invoices("cus_NffrFeUfNV2Hib")

    assert [inv["id"] for inv in found] == ["in_1", "in_2", "in_3"]
    assert isinstance(found[0], dict)
    assert (
        found[0]["parent"]["subscription_details"]["subscription"] == "sub_1MowQVLkdIwHu7ixeRlqHVzs"
    )


def test_hosted_invoice_url_fetched_now_none_for_draft(http):
    http.add(responses.GET, f"{BASE}/v1/invoices/in_1", json=invoice_body("in_1", 1762000000))
    http.add(
        responses.GET,
        f"{BASE}/v1/invoices/in_draft",
        json=invoice_body("in_draft", 1762000000, status="draft", hosted_invoice_url=None),
    )
    assert (
        api().hosted_invoice_url("in_1")
        == "https://invoice.stripe.com/i/acct_1Nv0FGQ9RKHgCVdK/test_in_1"
    )
    assert api().hosted_invoice_url("in_draft") is None


def test_retrieve_charge_returns_the_object_as_a_dict(http):
    http.add(
        responses.GET,
        f"{BASE}/v1/charges/ch_3S7L",
        json={
            "id": "ch_3S7L",
            "object": "charge",
            "amount": 12050,
            "currency": "usd",
            "customer": "cus_NffrFeUfNV2Hib",
            "failure_code": "expired_card",
            "failure_message": "Your card has expired.",
            "outcome": {
                "network_status": "declined_by_network",
                "reason": "expired_card",
                "type": "issuer_declined",
            },
            "status": "failed",
        },
    )
    charge = api().retrieve_charge("ch_3S7L")
    assert charge["failure_code"] == "expired_card"
    assert charge["outcome"]["type"] == "issuer_declined"


# -- customer portal ------------------------------------------------------------------------


def portal_body(url="https://billing.stripe.com/p/session/test_YWNjdF8xTnYwRkdRO"):
    return {
        "id": "bps_1MrSjzLkdIwHu7ixex0IvU9b",
        "object": "billing_portal.session",
        "configuration": "bpc_1MAhNDLkdIwHu7ixckACO1Jq",
        "created": 1680210639,
        "customer": "cus_NffrFeUfNV2Hib",
        "flow": None,
        "livemode": False,
        "locale": None,
        "on_behalf_of": None,
        "return_url": "https://connector.example.test/pay/done",
        "url": url,
    }


def test_portal_session_opens_on_card_update(http):
    http.add(responses.POST, f"{BASE}/v1/billing_portal/sessions", json=portal_body())

    url = api().create_portal_session(
        "cus_NffrFeUfNV2Hib", "https://connector.example.test/pay/done"
    )

    assert url == "https://billing.stripe.com/p/session/test_YWNjdF8xTnYwRkdRO"
    sent = form(http.calls[0])
    assert sent["customer"] == ["cus_NffrFeUfNV2Hib"]
    assert sent["return_url"] == ["https://connector.example.test/pay/done"]
    assert sent["flow_data[type]"] == ["payment_method_update"]


def test_portal_falls_back_to_plain_portal_when_card_update_flow_is_off(http):
    http.add(
        responses.POST,
        f"{BASE}/v1/billing_portal/sessions",
        status=400,
        json=error_body(
            "The payment method update flow is not enabled in your portal configuration.",
            param="flow_data[type]",
        ),
    )
    http.add(responses.POST, f"{BASE}/v1/billing_portal/sessions", json=portal_body())

    url = api().create_portal_session(
        "cus_NffrFeUfNV2Hib", "https://connector.example.test/pay/done"
    )

    assert url.startswith("https://billing.stripe.com/p/session/")
    assert "flow_data[type]" in form(http.calls[0])
    assert "flow_data[type]" not in form(http.calls[1])
