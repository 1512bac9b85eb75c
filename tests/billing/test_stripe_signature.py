import json

import pytest
import stripe
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.billing.stripe_signature import (
    SignatureError,
    sign_stripe_payload,
    verify_stripe_signature,
)

SECRET = "whsec_test_secret"
# stripe-python's tests/test_webhook.py DUMMY_WEBHOOK_PAYLOAD, byte for byte (125 bytes).
DUMMY = b"""{
  "id": "evt_test_webhook",
  "object": "event",
  "data": { "object": { "id": "rdr_123", "object": "terminal.reader" } }
}"""
SMALL = b'{"id":"evt_1","object":"event","type":"invoice.payment_failed"}'

# reference/billing.md §2.3 (computed, then checked against stripe-python).
VECTORS = [
    (DUMMY, 1700000000, "3bfab77baf5f7b6991a46c9b53b6547d7afc56148b10468fcad9f35c1992ffbd"),
    (DUMMY, 12345, "07b1ede164afb7b5de91267ffa656f568c65d6e0783ce0ac55ee094643578eda"),
    (SMALL, 1700000000, "6ba91f21ad80f8e66f70cc1ca35721a34ca50f25611ad469224138d8128232ca"),
    (
        json.dumps(json.loads(DUMMY)).encode(),
        1700000000,
        "a8212660506c4551e2c9747a4e781031ff75d34b1f9bfdf1b37850ab6c00cd73",
    ),
]


def test_dummy_payload_is_the_reference_bytes():
    assert len(DUMMY) == 125


@pytest.mark.parametrize(("payload", "t", "v1"), VECTORS)
def test_fixed_vectors(payload, t, v1):
    assert sign_stripe_payload(payload, SECRET, t) == f"t={t},v1={v1}"
    verify_stripe_signature(payload, f"t={t},v1={v1}", [SECRET], now=t)


def test_reserialised_body_does_not_verify():
    header = f"t=1700000000,v1={VECTORS[0][2]}"
    with pytest.raises(SignatureError, match="no v1 signature matches"):
        verify_stripe_signature(VECTORS[3][0], header, [SECRET], now=1700000000)


def test_tampered_body_and_wrong_secret_fail():
    header = sign_stripe_payload(SMALL, SECRET, 1700000000)
    with pytest.raises(SignatureError):
        verify_stripe_signature(SMALL + b" ", header, [SECRET], now=1700000000)
    with pytest.raises(SignatureError):
        verify_stripe_signature(SMALL, header, ["whsec_other"], now=1700000000)


def test_any_of_several_v1_values_may_match_and_other_schemes_are_ignored():
    good = sign_stripe_payload(SMALL, SECRET, 1700000000).split(",")[1]
    header = f"t=1700000000,v1=deadbeef,{good},v0=xyz"
    verify_stripe_signature(SMALL, header, [SECRET], now=1700000000)


def test_secret_rotation_accepts_any_configured_secret():
    header = sign_stripe_payload(SMALL, "whsec_new", 1700000000)
    verify_stripe_signature(SMALL, header, ["whsec_old", "whsec_new"], now=1700000000)
    # and Stripe signing with both secrets during a roll
    both = header + "," + sign_stripe_payload(SMALL, "whsec_old", 1700000000).split(",")[1]
    verify_stripe_signature(SMALL, both, ["whsec_old"], now=1700000000)


@pytest.mark.parametrize(
    ("offset", "ok"), [(0, True), (-300, True), (300, True), (-301, False), (301, False)]
)
def test_timestamp_tolerance_both_ways(offset, ok):
    now = 1700000000
    header = sign_stripe_payload(SMALL, SECRET, now + offset)
    if ok:
        verify_stripe_signature(SMALL, header, [SECRET], now=now)
    else:
        with pytest.raises(SignatureError, match="old" if offset < 0 else "future"):
            verify_stripe_signature(SMALL, header, [SECRET], now=now)


def test_custom_tolerance():
    header = sign_stripe_payload(SMALL, SECRET, 1700000000 - 15)
    with pytest.raises(SignatureError, match="tolerance 10s"):
        verify_stripe_signature(SMALL, header, [SECRET], now=1700000000, tolerance=10)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "missing Stripe-Signature header"),
        ("", "missing Stripe-Signature header"),
        ("   ", "missing Stripe-Signature header"),
        ("bad_header", "no timestamp"),
        ("v1=abc", "no timestamp"),
        ("t=abc,v1=abc", "not a unix time"),
        ("t=-5,v1=abc", "not a unix time"),
        # str.isdigit() takes these; int() then raised and the webhook answered 500.
        ("t=\u00b2,v1=abc", "not a unix time"),
        ("t=" + "1" * 5000 + ",v1=abc", "not a unix time"),
        ("t=1700000000", "no v1 signature"),
        ("t=1700000000,v0=abc", "no v1 signature"),
        ("t=1700000000,v1=bad_signature", "no v1 signature matches"),
    ],
)
def test_clear_messages(header, message):
    with pytest.raises(SignatureError, match=message):
        verify_stripe_signature(SMALL, header, [SECRET], now=1700000000)


def test_no_secret_configured():
    header = sign_stripe_payload(SMALL, SECRET, 1700000000)
    for secrets in ([], [""], ["  "]):
        with pytest.raises(SignatureError, match="no webhook signing secret"):
            verify_stripe_signature(SMALL, header, secrets, now=1700000000)


def test_signature_error_is_a_value_error():
    assert issubclass(SignatureError, ValueError)


# Agreement with stripe-python's own implementation.

_payloads = st.text(min_size=0, max_size=200).map(lambda s: s.encode("utf-8"))
_secrets = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=40).map(
    lambda s: "whsec_" + s
)


@settings(max_examples=100, deadline=None)
@given(payload=_payloads, secret=_secrets, t=st.integers(min_value=0, max_value=4_000_000_000))
def test_agrees_with_stripe_python(payload, secret, t):
    ours = sign_stripe_payload(payload, secret, t)
    theirs = stripe.WebhookSignature.generate_signature_header(payload.decode("utf-8"), secret, t)
    assert ours == theirs
    # each verifies the other's header
    assert stripe.WebhookSignature.verify_header(payload.decode("utf-8"), ours, secret)
    verify_stripe_signature(payload, theirs, [secret], now=t)


def test_stripe_python_rejects_what_we_reject_for_a_wrong_secret():
    header = sign_stripe_payload(SMALL, "whsec_wrong", 1700000000)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(SMALL.decode(), header, SECRET)
    with pytest.raises(SignatureError):
        verify_stripe_signature(SMALL, header, [SECRET], now=1700000000)
