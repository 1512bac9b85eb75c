"""Stripe webhook signatures: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`.

v1 is the hex HMAC-SHA256, keyed with the endpoint secret, of `"{t}.{raw body}"`
(https://docs.stripe.com/webhooks#verify-manually; stripe-python `WebhookSignature`). The body
must be the raw bytes as received: re-serialised JSON no longer matches (reference/billing.md §2.3).

Differences from stripe-python, on purpose:
- several secrets are accepted (the connection's secret while it is being rolled), as well as
  several v1 values (Stripe signs with both the old and the new secret during a roll);
- a timestamp too far in the *future* is rejected too (stripe-python only rejects old ones), so a
  captured request can't be replayed later by forging nothing but a future clock skew.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence

EXPECTED_SCHEME = "v1"
DEFAULT_TOLERANCE_S = 300

_UNIX_TIME = re.compile(r"[0-9]{1,12}")


class SignatureError(ValueError):
    """The request is not a genuine, fresh Stripe webhook. The message is safe to log."""


def _compute(payload: bytes, secret: str, timestamp: int) -> str:
    signed = str(timestamp).encode("ascii") + b"." + payload
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def sign_stripe_payload(payload: bytes, secret: str, timestamp: int) -> str:
    """The `Stripe-Signature` header Stripe would send for `payload` (tests, demo, stand-ins)."""
    return f"t={timestamp},{EXPECTED_SCHEME}={_compute(payload, secret, timestamp)}"


def _parse_header(header: str) -> tuple[int, list[str]]:
    timestamp: str | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t" and timestamp is None:
            timestamp = value.strip()
        elif key == EXPECTED_SCHEME:
            signatures.append(value.strip())
    if timestamp is None:
        raise SignatureError("Stripe-Signature header has no timestamp (t=…)")
    # ASCII digits only (str.isdigit() takes "²", which int() refuses), and few enough for int().
    if not _UNIX_TIME.fullmatch(timestamp):
        raise SignatureError("Stripe-Signature header has a timestamp that is not a unix time")
    if not signatures:
        raise SignatureError(f"Stripe-Signature header has no {EXPECTED_SCHEME} signature")
    return int(timestamp), signatures


def verify_stripe_signature(
    payload: bytes,
    header: str | None,
    secrets: Sequence[str],
    *,
    now: int,
    tolerance: int = DEFAULT_TOLERANCE_S,
) -> None:
    """Raise `SignatureError` unless `header` signs `payload` with one of `secrets`, at a time
    within `tolerance` seconds of `now` (either side)."""
    if not header or not header.strip():
        raise SignatureError("missing Stripe-Signature header")
    usable = [s for s in secrets if s and s.strip()]
    if not usable:
        raise SignatureError("no webhook signing secret configured for this connection")
    timestamp, signatures = _parse_header(header)
    expected = [_compute(payload, secret, timestamp) for secret in usable]
    # Compare every pair in constant time; don't stop at the first match, so timing says nothing
    # about which secret or which position matched.
    matched = False
    for sig in signatures:
        for exp in expected:
            matched |= hmac.compare_digest(sig.encode("ascii", "replace"), exp.encode("ascii"))
    if not matched:
        raise SignatureError(
            "no v1 signature matches the payload (wrong secret, or the body was altered)"
        )
    if timestamp < now - tolerance:
        raise SignatureError(
            f"signature timestamp is {now - timestamp}s old (tolerance {tolerance}s)"
        )
    if timestamp > now + tolerance:
        raise SignatureError(
            f"signature timestamp is {timestamp - now}s in the future (tolerance {tolerance}s)"
        )
