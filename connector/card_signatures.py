"""Who is asking for a card: HubSpot's v3 request signature and Salesforce's Canvas signed request.

Both prove only that the request passed through the CRM vendor: every HubSpot portal signs with
the same app secret and every Salesforce org with the same consumer secret. Which tenant asks is
read from the signed request (HubSpot's `portalId`, the Canvas `organizationId`) and the record
must then belong to that tenant (connector.cards.find_card_customer) — the signature alone
proves nothing about the tenant.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hubspot.utils.signature import Signature

# reference/hubspot.md §7.3: requests older than five minutes are refused. A timestamp as far in
# the future is refused too: it would stay valid for longer than the window.
HUBSPOT_MAX_AGE = timedelta(minutes=5)

# The v3 algorithm signs the URI with these escapes decoded (and only these; the doc's list,
# https://developers.hubspot.com/docs/apps/developer-platform/build-apps/authentication/request-validation).
_V3_DECODED = {
    "%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'",
    "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";",
}
_V3_ESCAPE = re.compile("|".join(_V3_DECODED), re.IGNORECASE)

CANVAS_ALGORITHM = "HMACSHA256"

_MILLIS = re.compile(r"[0-9]{1,15}")


class SignatureRefused(Exception):
    """The request is not provably from the CRM vendor; `reason` is safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ---------------------------------------------------------------------------------------------
# HubSpot X-HubSpot-Signature-v3


def hubspot_v3_uri(uri: str) -> str:
    """The URI as HubSpot's v3 algorithm signs it: the listed percent-escapes decoded."""
    return _V3_ESCAPE.sub(lambda m: _V3_DECODED[m.group(0).upper()], uri)


def hubspot_v3_signature(secret: str, method: str, uri: str, body: str, timestamp: str) -> str:
    """base64(HMAC-SHA256(secret, method + uri + body + timestamp)), the URI decoded first.

    The HMAC itself is hubspot-api-client's; that library leaves the URI decoding to the caller.
    """
    return Signature.get_signature(
        secret, body, "v3", http_uri=hubspot_v3_uri(uri), http_method=method.upper(),
        timestamp=timestamp,
    )


@dataclass(frozen=True)
class HubSpotSigned:
    uri_form: str  # which candidate URI the signature covered ("with_query" | "without_query")
    uri: str


def verify_hubspot_v3(
    *,
    secret: str,
    method: str,
    uris: Mapping[str, str],
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    now: datetime,
) -> HubSpotSigned:
    """Check a v3-signed request against each candidate URI; return the one that matched.

    HubSpot does not document whether `hubspot.fetch` signs the URL with its query string (the
    proxy appends portalId, userId, userEmail), so the caller passes both forms.
    """
    if not secret:
        raise SignatureRefused("no HubSpot client secret configured")
    if not signature or not timestamp:
        raise SignatureRefused("missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp")
    # ASCII digits only (str.isdigit() takes "²", which int() refuses), and few enough for int().
    if not _MILLIS.fullmatch(timestamp):
        raise SignatureRefused("timestamp is not milliseconds since the epoch")
    sent_at_ms = int(timestamp)
    now_ms = int(now.timestamp() * 1000)
    window_ms = int(HUBSPOT_MAX_AGE.total_seconds() * 1000)
    if now_ms - sent_at_ms > window_ms:
        raise SignatureRefused("timestamp older than 5 minutes")
    if sent_at_ms - now_ms > window_ms:
        raise SignatureRefused("timestamp more than 5 minutes in the future")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SignatureRefused("body is not UTF-8") from None
    given = signature.strip().encode("ascii", "replace")
    matched: HubSpotSigned | None = None
    # Every candidate is computed and compared, so the time taken says nothing about which matched.
    for form, uri in uris.items():
        expected = hubspot_v3_signature(secret, method, uri, text, timestamp).encode("ascii")
        if hmac.compare_digest(expected, given) and matched is None:
            matched = HubSpotSigned(form, uri)
    if matched is None:
        raise SignatureRefused("signature does not match")
    return matched


# ---------------------------------------------------------------------------------------------
# Salesforce Canvas signed_request


def _b64decode(text: str) -> bytes:
    """Standard or URL-safe Base64, padded or not (commons-codec, which Salesforce's SDK uses,
    accepts both alphabets)."""
    cleaned = text.strip()
    padded = cleaned + "=" * (-len(cleaned) % 4)
    alt = b"-_" if ("-" in cleaned or "_" in cleaned) else None
    return base64.b64decode(padded, altchars=alt, validate=True)


def verify_canvas_signed_request(signed_request: str, secret: str) -> dict[str, Any]:
    """Verify and decode a Canvas `signed_request` (`base64(signature).base64(json)`).

    The signature is HMAC-SHA256, keyed with the consumer secret, over the Base64 JSON part as
    sent (Salesforce's SignedRequest.java), not over the decoded JSON.
    """
    if not secret:
        raise SignatureRefused("no Salesforce consumer secret configured")
    if not signed_request or "." not in signed_request:
        raise SignatureRefused("signed_request is not <signature>.<payload>")
    sig_b64, payload_b64 = signed_request.split(".", 1)
    try:
        given = _b64decode(sig_b64)
    except (binascii.Error, ValueError):
        raise SignatureRefused("signature is not Base64") from None
    expected = hmac.new(secret.encode("utf-8"), payload_b64.encode("ascii", "replace"), "sha256").digest()
    if not hmac.compare_digest(expected, given):
        raise SignatureRefused("signature does not match")
    try:
        envelope = json.loads(_b64decode(payload_b64))
    except (binascii.Error, ValueError, RecursionError):
        raise SignatureRefused("payload is not Base64 JSON") from None
    if not isinstance(envelope, dict):
        raise SignatureRefused("payload is not a JSON object")
    # Only HMACSHA256 was checked above: an envelope naming another algorithm is not what we verified.
    if envelope.get("algorithm", CANVAS_ALGORITHM) != CANVAS_ALGORITHM:
        raise SignatureRefused("unexpected algorithm")
    return envelope


# ---------------------------------------------------------------------------------------------
# Helpers for the views


_EMAIL_PARAM = re.compile(r"((?:^|[?&])userEmail=)[^&]*", re.IGNORECASE)


def redact_uri(uri: str) -> str:
    """The URI for a log line: HubSpot's `userEmail` query value is personal data."""
    return _EMAIL_PARAM.sub(r"\1[redacted]", uri)

