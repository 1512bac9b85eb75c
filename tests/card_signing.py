"""Sign card requests the way HubSpot and Salesforce do, following their documented algorithms.

Written from the docs (reference/hubspot.md §7.3, reference/salesforce.md §7.1), not from the
code under test, so a mistake in connector/card_signatures.py cannot hide in both.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests_clock import FIXED_NOW

HUBSPOT_SECRET = "test-client-secret"  # tests/conftest.py settings.hubspot_client_secret
CANVAS_SECRET = "canvas-consumer-secret"
BASE = "https://connector.example.test"  # tests/conftest.py settings.public_base_url
VECTOR = (Path(__file__).parent / "payloads" / "salesforce" / "canvas_signed_request_vector.txt").read_text().strip()
VECTOR_SECRET = "6375554712652875436"
VECTOR_ORG_ID = "00DR00000008bPCMAY"
# The records of the card tests (tests/cards/conftest.py).
COMPANY_ID = "9001"
SF_ORG_ID = "00D5g000004XyZ1EAK"
SF_ACCOUNT_ID = "001Dn00000XyZ12AAB"

_V3_DECODE = {"%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'",
              "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";"}


def hubspot_v3(method: str, uri: str, body: str, timestamp: str, secret: str = HUBSPOT_SECRET) -> str:
    for escaped, char in _V3_DECODE.items():
        uri = uri.replace(escaped, char).replace(escaped.lower(), char)
    message = f"{method}{uri}{body}{timestamp}".encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def hubspot_query(portal_id: int | str, *, user_id: int = 77001, email: str = "agent@acme.example") -> str:
    """What HubSpot's hubspot.fetch proxy appends: the viewer's portal, user id and email."""
    return f"userId={user_id}&userEmail={quote(email, safe='')}&portalId={portal_id}"


def hubspot_fetch(client, path: str, body: dict[str, Any], *, portal_id: int | str = 4242,
                  query: str | None = None, sign_query: bool = True, secret: str = HUBSPOT_SECRET,
                  timestamp_ms: int | None = None, signature: str | None = None):
    """POST as HubSpot's proxy would: JSON body, appended query, v3 signature headers."""
    query = hubspot_query(portal_id) if query is None else query
    raw = json.dumps(body, separators=(",", ":"))
    ts = str(int(FIXED_NOW.timestamp() * 1000) if timestamp_ms is None else timestamp_ms)
    url = f"{BASE}{path}"
    signed_uri = f"{url}?{query}" if (sign_query and query) else url
    sig = signature or hubspot_v3("POST", signed_uri, raw, ts, secret)
    return client.post(f"{path}?{query}" if query else path, data=raw,
                       headers={"Content-Type": "application/json", "X-HubSpot-Signature-v3": sig,
                                "X-HubSpot-Request-Timestamp": ts})


def canvas_envelope(org_id: str, record_id: str, *, user_id: str = "005R0000000DgJAIA0",
                    email: str = "support@dental.example") -> dict[str, Any]:
    """A CanvasRequest shaped like the public vector, placed on an Account record page."""
    return {
        "algorithm": "HMACSHA256",
        "issuedAt": 1384819059,
        "userId": user_id[:15],
        "client": {"instanceId": "_:dunning_card:", "instanceUrl": "https://acme.my.salesforce.com",
                   "oauthToken": "00Dfake!token", "targetOrigin": "https://acme.lightning.force.com"},
        "context": {
            "application": {"name": "Dunning card", "developerName": "Dunning_Card", "authType": "SIGNED_REQUEST",
                            "canvasUrl": f"{BASE}/cards/salesforce/canvas", "version": "1.0", "namespace": None},
            "organization": {"organizationId": org_id, "name": "Acme Dental", "currencyIsoCode": "GBP",
                             "multicurrencyEnabled": False, "namespacePrefix": None},
            "environment": {
                "displayLocation": "RecordPage", "locationUrl": f"https://acme.lightning.force.com/lightning/r/Account/{record_id}/view",
                "uiTheme": "Theme4d", "dimensions": {"width": "100%", "height": "600px"},
                "parameters": {}, "version": {"api": "67.0", "season": "SUMMER"},
                "record": {"attributes": {"type": "Account", "url": f"/services/data/v67.0/sobjects/Account/{record_id}"},
                           "Id": record_id},
            },
            "user": {"userId": user_id, "email": email, "fullName": "Sam Support", "userName": "sam@acme.example"},
            "links": {"restUrl": "/services/data/v67.0/"},
        },
    }


def sign_canvas(envelope: dict[str, Any], secret: str = CANVAS_SECRET) -> str:
    payload = base64.b64encode(json.dumps(envelope).encode()).decode()
    signature = base64.b64encode(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()).decode()
    return f"{signature}.{payload}"
