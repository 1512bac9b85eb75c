"""Connecting a Stripe account to an installation: key, webhook endpoint, signing secret.

An installation has at most one billing connection (PRODUCT.md §2). Its webhook URL carries an
unguessable token that stays the same across reconnects, so a hand-made Stripe endpoint keeps
working when only the key changes.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import secrets

from sqlmodel import Session, select

from connector.billing.chargebee_api import ChargebeeApi, is_site_name
from connector.billing.stripe_api import WEBHOOK_EVENTS, StripeApi, account_mode
from connector.context import Services
from connector.crypto import SecretBox
from connector.errors import BadInput, ConnectorError
from connector.storage.models import AuditLog, BillingConnection, Installation

log = logging.getLogger(__name__)

WEBHOOK_SECRET_PREFIX = "whsec_"


def stripe_webhook_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/webhooks/stripe/{token}"


def _existing_connection(session: Session, installation_id: int, provider: str) -> BillingConnection | None:
    """The installation's connection to `provider`, if any; refuses an unknown installation and
    one already connected to the other provider (one billing connection per installation)."""
    if session.get(Installation, installation_id) is None:
        raise BadInput("unknown installation", status=404)
    existing = session.exec(
        select(BillingConnection).where(BillingConnection.installation_id == installation_id)
    ).first()
    if existing is not None and existing.provider != provider:
        raise BadInput(
            f"This installation is connected to {existing.provider}; disconnect it before "
            f"connecting {provider.capitalize()} (one billing connection per installation).",
            status=409,
        )
    return existing


def connect_stripe(
    session: Session,
    services: Services,
    installation_id: int,
    *,
    api_key: str,
    endpoint_secret: str | None = None,
    actor: str = "admin",
) -> BillingConnection:
    """Connect (or reconnect) the installation's Stripe account; returns the flushed row.

    Without `endpoint_secret` a webhook endpoint is created through the API and its secret
    stored; with one (`whsec_…`, several comma-separated during a rotation) the admin made the
    endpoint by hand. Reconnecting replaces key and secret and keeps the webhook token.
    Raises BadInput for unusable input, the Stripe errors of connector.billing.stripe_api
    (key refused, permission missing: FatalProviderError; outage: TransientProviderError).
    """
    api_key = (api_key or "").strip()
    try:
        mode = account_mode(api_key)
    except ValueError as exc:
        raise BadInput(str(exc)) from exc
    hand_secrets = (
        _parse_secrets(endpoint_secret) if endpoint_secret and endpoint_secret.strip() else None
    )

    existing = _existing_connection(session, installation_id, "stripe")

    conn = existing or BillingConnection(
        installation_id=installation_id,
        provider="stripe",
        webhook_token=secrets.token_urlsafe(32),
    )
    old_endpoint_id = conn.provider_endpoint_id
    old_key = _stored_key(services.box, conn) if existing is not None else ""

    api = StripeApi(api_key, base_url=services.settings.stripe_api_base, session=services.http)
    if hand_secrets is None:
        url = stripe_webhook_url(services.settings.public_base_url, conn.webhook_token)
        endpoint_id, secret = api.create_webhook_endpoint(url, WEBHOOK_EVENTS)
        conn.provider_endpoint_id = endpoint_id
        conn.webhook_secret_enc = services.box.encrypt(secret)
    else:
        conn.provider_endpoint_id = ""
        conn.webhook_secret_enc = services.box.encrypt(",".join(hand_secrets))

    # The endpoint we made earlier also posts to this URL, signed with the secret we just
    # replaced: every delivery would fail verification until Stripe disables it and emails
    # the admin. Remove it, best effort (the old key may be rolled, the new one may belong to
    # another account or mode).
    old_endpoint_removed = None
    if old_endpoint_id and old_endpoint_id != conn.provider_endpoint_id:
        old_endpoint_removed = _remove_endpoint(services, old_endpoint_id, [api_key, old_key])

    conn.api_key_enc = services.box.encrypt(api_key)
    previous_mode = conn.mode if existing is not None else None
    conn.mode = mode
    session.add(conn)
    session.flush()
    session.add(
        AuditLog(
            installation_id=installation_id,
            actor=actor,
            action="billing.reconnected" if existing is not None else "billing.connected",
            detail={
                "provider": "stripe",
                "connection_id": conn.id,
                "mode": mode,
                "previous_mode": previous_mode,
                "endpoint": "created" if hand_secrets is None else "hand_entered",
                "old_endpoint_removed": old_endpoint_removed,
            },
        )
    )
    log.info(
        "stripe connected installation=%s connection=%s mode=%s endpoint=%s",
        installation_id,
        conn.id,
        mode,
        "created" if hand_secrets is None else "hand_entered",
    )
    return conn


def webhook_secrets(conn: BillingConnection, box: SecretBox) -> list[str]:
    """The signing secrets to try, as stored; several while a rolled secret overlaps."""
    return [s.strip() for s in box.decrypt(conn.webhook_secret_enc).split(",") if s.strip()]


def connection_by_token(session: Session, token: str) -> BillingConnection | None:
    if not token:
        return None
    return session.exec(
        select(BillingConnection).where(BillingConnection.webhook_token == token)
    ).first()


def _parse_secrets(raw: str) -> list[str]:
    found = [s.strip() for s in raw.split(",") if s.strip()]
    bad = [
        s
        for s in found
        if not s.startswith(WEBHOOK_SECRET_PREFIX) or len(s) <= len(WEBHOOK_SECRET_PREFIX)
    ]
    if not found or bad:
        raise BadInput(
            "The webhook signing secret starts with 'whsec_' (Stripe: Developers → Webhooks → your "
            "endpoint → Signing secret; or the one `stripe listen` prints)."
        )
    return found


def _stored_key(box: SecretBox, conn: BillingConnection) -> str:
    try:
        return box.decrypt(conn.api_key_enc)
    except ValueError:  # encrypted under a key no longer configured; only cleanup needs it
        return ""


def _remove_endpoint(services: Services, endpoint_id: str, keys: list[str]) -> bool:
    for key in dict.fromkeys(k for k in keys if k):
        api = StripeApi(key, base_url=services.settings.stripe_api_base, session=services.http)
        try:
            if api.delete_webhook_endpoint(endpoint_id):
                return True
        except ConnectorError as exc:
            log.warning("could not remove old stripe webhook endpoint: %s", type(exc).__name__)
    log.warning("old stripe webhook endpoint was not removed; the admin may delete it in Stripe")
    return False


# ---------------------------------------------------------------------------------------------
# Chargebee (reference/billing.md §5.2): Chargebee signs nothing, so the protection is the
# unguessable token in the URL plus HTTP Basic auth over HTTPS, with a user and password the
# connector generates and the admin pastes into Chargebee (Settings → Webhooks → "Protect
# webhook URL with basic authentication").

CHARGEBEE_USER_PREFIX = "dunning-"


def chargebee_webhook_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/webhooks/chargebee/{token}"


def chargebee_mode(site: str, api_key: str, mode: str | None = None) -> str:
    """test | live: as the admin says, else from the key (`test_…`/`live_…`), else from the
    site name (Chargebee's test sites are `<name>-test`)."""
    if mode in ("test", "live"):
        return mode
    if api_key.startswith(("test_", "live_")):
        return api_key.split("_", 1)[0]
    return "test" if site.endswith("-test") else "live"


def connect_chargebee(
    session: Session,
    services: Services,
    installation_id: int,
    *,
    site: str,
    api_key: str,
    mode: str | None = None,
    key_can_write: bool = False,
    actor: str = "admin",
) -> tuple[BillingConnection, dict[str, str]]:
    """Connect (or reconnect) a Chargebee site; returns the flushed row and the webhook
    credentials to show the admin ({"url", "username", "password"}).

    The key is checked with one read. Reconnecting keeps the webhook token *and* the Basic-auth
    credentials, so the webhook already configured in Chargebee keeps working. `key_can_write`:
    the admin says the key is a full-access one, which allows the hosted-page card actions.
    """
    site = (site or "").strip().lower()
    site = site.removesuffix(".chargebee.com").removeprefix("https://")
    api_key = (api_key or "").strip()
    if not is_site_name(site):
        raise BadInput("The Chargebee site is the first part of your Chargebee address "
                       "(acme in acme.chargebee.com; test sites end in -test).")
    if not api_key:
        raise BadInput("Paste a Chargebee API key (Settings → Configure Chargebee → API keys).")
    if mode not in (None, "", "test", "live"):
        raise BadInput("mode is test or live")

    existing = _existing_connection(session, installation_id, "chargebee")

    ChargebeeApi(site, api_key, domain=services.settings.chargebee_domain).check_key()

    conn = existing or BillingConnection(
        installation_id=installation_id,
        provider="chargebee",
        webhook_token=secrets.token_urlsafe(32),
    )
    if existing is None or not conn.webhook_secret_enc:
        username = CHARGEBEE_USER_PREFIX + secrets.token_hex(4)
        password = secrets.token_urlsafe(24)
        conn.webhook_secret_enc = services.box.encrypt(f"{username}:{password}")
    conn.api_key_enc = services.box.encrypt(api_key)
    conn.account_ref = site
    previous_mode = conn.mode if existing is not None else None
    conn.mode = chargebee_mode(site, api_key, mode or None)
    session.add(conn)
    installation = session.get(Installation, installation_id)
    settings = dict(installation.settings or {})
    settings["chargebee"] = {**settings.get("chargebee", {}), "key_can_write": bool(key_can_write)}
    installation.settings = settings
    session.add(installation)
    session.flush()
    session.add(
        AuditLog(
            installation_id=installation_id,
            actor=actor,
            action="billing.reconnected" if existing is not None else "billing.connected",
            detail={"provider": "chargebee", "connection_id": conn.id, "site": site,
                    "mode": conn.mode, "previous_mode": previous_mode,
                    "key_can_write": bool(key_can_write)},
        )
    )
    log.info("chargebee connected installation=%s connection=%s mode=%s",
             installation_id, conn.id, conn.mode)
    return conn, chargebee_webhook_credentials(services, conn)


def chargebee_webhook_credentials(services: Services, conn: BillingConnection) -> dict[str, str]:
    """What the admin pastes into Chargebee: the URL and the Basic-auth user and password."""
    username, _, password = services.box.decrypt(conn.webhook_secret_enc).partition(":")
    return {
        "url": chargebee_webhook_url(services.settings.public_base_url, conn.webhook_token),
        "username": username,
        "password": password,
    }


def chargebee_basic_auth_ok(services: Services, conn: BillingConnection,
                            authorization: str | None) -> bool:
    """Whether an `Authorization: Basic …` header carries this connection's credentials.

    Compared in constant time over the whole `user:password`, so neither part leaks by timing.
    """
    scheme, _, encoded = (authorization or "").strip().partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return False
    try:
        given = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        expected = services.box.decrypt(conn.webhook_secret_enc).encode("utf-8")
    except ValueError:
        log.warning("chargebee.webhook_secret_unreadable connection=%s", conn.id)
        return False
    return hmac.compare_digest(given, expected)
