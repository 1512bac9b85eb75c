"""Configuration from environment variables, with embedded defaults for demo and tests.

Every vendor base URL can be overridden so a local stand-in can answer (PRODUCT.md §7).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any
from urllib.parse import urlsplit

MODES = ("production", "demo", "test")


class ConfigError(RuntimeError):
    """The configuration is not usable; start-up stops with this message."""


@dataclass(frozen=True)
class Settings:
    mode: str = "production"
    database_url: str = "sqlite:///dunning.sqlite"
    secret_key: str = ""
    encryption_key: str = ""
    # Where customers, CRMs and billing providers reach this app: it goes into payment links
    # written to the CRM, OAuth redirect URLs and webhook URLs, so every process of a deployment
    # must share it. Production must say it; demo and test default to the local server.
    public_base_url: str = ""
    hubspot_client_id: str = ""
    hubspot_client_secret: str = ""
    hubspot_api_base: str = "https://api.hubapi.com"
    hubspot_authorize_url: str = "https://app.hubspot.com/oauth/authorize"
    stripe_api_base: str = "https://api.stripe.com"
    # Chargebee sites live at https://<site>.<domain>; the client always speaks https.
    chargebee_domain: str = "chargebee.com"
    salesforce_client_id: str = ""
    salesforce_client_secret: str = ""
    # Default login host; the installer may pick sandbox or a My Domain instead (oauth/salesforce.py).
    salesforce_login_url: str = "https://login.salesforce.com"
    salesforce_api_version: str = "67.0"  # Summer '26, pinned (reference/salesforce.md §11.11)
    admin_token: str = ""
    metrics_token: str = ""  # when set, /metrics answers only a bearer of it
    scheduler_enabled: bool = False  # `serve` runs the scheduled jobs too (DUNNING_SCHEDULER=1)
    purge_grace_days: int = 30
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_demo(self) -> bool:
        return self.mode == "demo"

    @property
    def is_test(self) -> bool:
        return self.mode == "test"


_ENV = {
    "mode": "DUNNING_MODE",
    "database_url": "DATABASE_URL",
    "secret_key": "SECRET_KEY",
    "encryption_key": "DUNNING_ENCRYPTION_KEY",
    "public_base_url": "PUBLIC_BASE_URL",
    "hubspot_client_id": "HUBSPOT_CLIENT_ID",
    "hubspot_client_secret": "HUBSPOT_CLIENT_SECRET",
    "hubspot_api_base": "HUBSPOT_API_BASE",
    "hubspot_authorize_url": "HUBSPOT_AUTHORIZE_URL",
    "stripe_api_base": "STRIPE_API_BASE",
    "chargebee_domain": "CHARGEBEE_DOMAIN",
    "salesforce_client_id": "SALESFORCE_CLIENT_ID",
    "salesforce_client_secret": "SALESFORCE_CLIENT_SECRET",
    "salesforce_login_url": "SALESFORCE_LOGIN_URL",
    "salesforce_api_version": "SALESFORCE_API_VERSION",
    "admin_token": "DUNNING_ADMIN_TOKEN",
    "metrics_token": "DUNNING_METRICS_TOKEN",
    "scheduler_enabled": "DUNNING_SCHEDULER",
    "purge_grace_days": "DUNNING_PURGE_GRACE_DAYS",
}


def _coerce(name: str, raw: Any) -> Any:
    kinds = {f.name: f.type for f in fields(Settings)}
    if kinds[name] in ("bool", bool) and isinstance(raw, str):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if kinds[name] in ("int", int):
        return int(raw)
    return raw


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build settings from the environment, then `overrides`; validate them."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for name, var in _ENV.items():
        if var in env and env[var] != "":
            values[name] = _coerce(name, env[var])
    for name, value in (overrides or {}).items():
        values[name] = _coerce(name, value)
    settings = Settings(**values)
    return _validate(settings)


def _validate(settings: Settings) -> Settings:
    if settings.mode not in MODES:
        raise ConfigError(f"DUNNING_MODE must be one of {', '.join(MODES)}, not {settings.mode!r}")
    if settings.mode == "production":
        missing = [
            var
            for name, var in (("encryption_key", "DUNNING_ENCRYPTION_KEY"), ("secret_key", "SECRET_KEY"))
            if not getattr(settings, name)
        ]
        if missing:
            raise ConfigError(
                f"{' and '.join(missing)} must be set: secrets are encrypted at rest and sessions "
                "are signed with them. Generate an encryption key with: python -c "
                "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'. "
                "For a local trial run the demo instead (DUNNING_MODE=demo)."
            )
        if not settings.public_base_url:
            raise ConfigError(
                "PUBLIC_BASE_URL must be set (e.g. https://dunning.example.com): payment links "
                "written to the CRM, OAuth redirects and webhook URLs are built from it, so the web "
                "server and the worker must share one value."
            )
        _check_base_url(settings.public_base_url)
        return settings
    if not settings.public_base_url:
        settings = replace(settings, public_base_url="http://127.0.0.1:8000")
    _check_base_url(settings.public_base_url)
    if not settings.secret_key:
        settings = replace(settings, secret_key=secrets.token_urlsafe(32))
    return settings


def _check_base_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(
            f"PUBLIC_BASE_URL must be an http(s) URL without query or fragment, not {url!r}"
        )
