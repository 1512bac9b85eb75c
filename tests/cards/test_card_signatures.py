"""HubSpot v3 request signatures and Salesforce Canvas signed requests, against public vectors.

HubSpot: hubspot-api-client's own vectors (tests/spec/utils/test_signature.py in
HubSpot/hubspot-api-python; reference/hubspot.md §7.3). Salesforce: the full signed request of
the npm package salesforce-signed-request (test/tests.js), kept in
tests/payloads/salesforce/canvas_signed_request_vector.txt.
"""

from __future__ import annotations

import base64
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest

from connector.card_signatures import (
    SignatureRefused,
    hubspot_v3_signature,
    hubspot_v3_uri,
    redact_uri,
    verify_canvas_signed_request,
    verify_hubspot_v3,
)

from card_signing import (
    VECTOR,
    VECTOR_ORG_ID,
    VECTOR_SECRET,
    canvas_envelope,
    hubspot_v3,
    sign_canvas,
)

LIB_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
LIB_BODY = "{'example_field':'example_value'}"
LIB_URI = "https://www.example.com/webhook_uri"


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        ("1693657560000", "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y="),
        ("15000000", "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw="),
    ],
)
def test_v3_matches_the_hubspot_client_vectors(timestamp, expected):
    assert hubspot_v3_signature(LIB_SECRET, "POST", LIB_URI, LIB_BODY, timestamp) == expected


def test_v3_vector_verifies_inside_the_window_only():
    sent = datetime.fromtimestamp(1693657560, UTC)
    signed = verify_hubspot_v3(
        secret=LIB_SECRET, method="POST", uris={"with_query": LIB_URI}, body=LIB_BODY.encode(),
        signature="K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y=", timestamp="1693657560000",
        now=sent + timedelta(minutes=4, seconds=59),
    )
    assert signed.uri_form == "with_query"
    for now, reason in ((sent + timedelta(minutes=5, seconds=1), "older than 5 minutes"),
                        (sent - timedelta(minutes=5, seconds=1), "in the future")):
        with pytest.raises(SignatureRefused, match=reason):
            verify_hubspot_v3(
                secret=LIB_SECRET, method="POST", uris={"with_query": LIB_URI}, body=LIB_BODY.encode(),
                signature="K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y=", timestamp="1693657560000", now=now,
            )


def test_uri_decoding_is_the_documented_list_and_nothing_else():
    uri = "https://x.test/cards?email=a%40b.example&q=%3A%2F%3F%21%24%27%28%29%2A%2C%3B&sp=a%20b&pct=%25"
    assert hubspot_v3_uri(uri) == "https://x.test/cards?email=a@b.example&q=:/?!$'()*,;&sp=a%20b&pct=%25"
    assert hubspot_v3_uri("https://x.test/?e=a%40b%2c") == "https://x.test/?e=a@b,"  # lower-case hex too


NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
TS = str(int(NOW.timestamp() * 1000))
FULL = "https://connector.example.test/cards/hubspot/story?userId=1&userEmail=a%40b.example&portalId=4242"
BARE = "https://connector.example.test/cards/hubspot/story"
BODY = b'{"objectId":"9001"}'


@pytest.mark.parametrize(("signed_uri", "form"), [(FULL, "with_query"), (BARE, "without_query")])
def test_either_uri_form_verifies_and_says_which(signed_uri, form):
    sig = hubspot_v3("POST", signed_uri, BODY.decode(), TS, "s3cret")
    signed = verify_hubspot_v3(secret="s3cret", method="POST", uris={"with_query": FULL, "without_query": BARE},
                               body=BODY, signature=sig, timestamp=TS, now=NOW)
    assert signed.uri_form == form


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"secret": "other"}, "does not match"),
        ({"body": b'{"objectId":"9002"}'}, "does not match"),
        ({"method": "GET"}, "does not match"),
        ({"signature": None}, "missing"),
        ({"timestamp": None}, "missing"),
        ({"timestamp": "12ab"}, "milliseconds"),
        ({"timestamp": "\u00b2"}, "milliseconds"),  # isdigit() but not int(): was a 500
        ({"timestamp": "1" * 5000}, "milliseconds"),
        ({"timestamp": str(int(TS) + 1)}, "does not match"),
        ({"secret": ""}, "no HubSpot client secret"),
    ],
)
def test_anything_changed_is_refused(change, reason):
    args = {"secret": "s3cret", "method": "POST", "uris": {"with_query": FULL, "without_query": BARE},
            "body": BODY, "signature": hubspot_v3("POST", FULL, BODY.decode(), TS, "s3cret"),
            "timestamp": TS, "now": NOW}
    with pytest.raises(SignatureRefused, match=reason):
        verify_hubspot_v3(**{**args, **change})


def test_refused_uri_is_logged_without_the_viewers_email():
    assert redact_uri(FULL) == BARE + "?userId=1&userEmail=[redacted]&portalId=4242"


# ---------------------------------------------------------------------------------------------
# Salesforce Canvas


def test_public_canvas_vector_verifies_and_decodes():
    envelope = verify_canvas_signed_request(VECTOR, VECTOR_SECRET)
    assert envelope["algorithm"] == "HMACSHA256"
    assert envelope["context"]["organization"]["organizationId"] == VECTOR_ORG_ID
    assert envelope["context"]["user"]["userId"] == "005R0000000DgJAIA0"


def test_public_canvas_vector_with_the_wrong_secret_is_refused():
    with pytest.raises(SignatureRefused, match="does not match"):
        verify_canvas_signed_request(VECTOR, "invalid_app_secret")


def test_url_safe_unpadded_signature_is_the_same_signature():
    sig, payload = VECTOR.split(".", 1)
    url_safe = base64.urlsafe_b64encode(base64.b64decode(sig)).decode().rstrip("=")
    assert url_safe != sig
    assert verify_canvas_signed_request(f"{url_safe}.{payload}", VECTOR_SECRET)["userId"] == "005R0000000DgJA"


def test_tampered_payload_is_refused():
    sig, payload = VECTOR.split(".", 1)
    envelope = json.loads(base64.b64decode(payload))
    envelope["context"]["organization"]["organizationId"] = "00D000000000001AAA"
    forged = base64.b64encode(json.dumps(envelope).encode()).decode()
    with pytest.raises(SignatureRefused, match="does not match"):
        verify_canvas_signed_request(f"{sig}.{forged}", VECTOR_SECRET)


@pytest.mark.parametrize("raw", ["", "no-dot", "!!!.e30=", "bad.sig.parts"])
def test_malformed_signed_requests_are_refused(raw):
    with pytest.raises(SignatureRefused):
        verify_canvas_signed_request(raw, VECTOR_SECRET)


def test_a_deeply_nested_signed_payload_is_refused_not_a_500():
    payload = base64.b64encode(b"[" * 100_000 + b"]" * 100_000).decode()
    sig = base64.b64encode(hmac.new(b"k", payload.encode(), "sha256").digest()).decode()
    with pytest.raises(SignatureRefused, match="not Base64 JSON"):
        verify_canvas_signed_request(f"{sig}.{payload}", "k")


def test_an_envelope_naming_another_algorithm_is_refused():
    envelope = canvas_envelope("00D000000000001AAA", "001000000000001AAA")
    envelope["algorithm"] = "HMACSHA1"
    with pytest.raises(SignatureRefused, match="algorithm"):
        verify_canvas_signed_request(sign_canvas(envelope, "k"), "k")


def test_canvas_without_a_configured_secret_is_refused():
    with pytest.raises(SignatureRefused, match="consumer secret"):
        verify_canvas_signed_request(VECTOR, "")
