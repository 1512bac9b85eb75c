"""The application factory: the only place that wires everything together."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask

from connector.config import Settings, load_settings
from connector.context import Services, init_services
from connector.crypto import SecretBox
from connector.storage.db import make_engine, upgrade_schema


def create_app(
    config: Mapping[str, Any] | None = None, *, services: Services | None = None
) -> Flask:
    """Create and configure the connector's Flask app.

    `config` overrides environment settings (keys of connector.config.Settings).
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = services.settings if services else load_settings(config)
    if services is None:
        services = build_services(settings)
    app = Flask(__name__, static_folder="static", static_url_path="/static")
    app.config.update(
        SECRET_KEY=settings.secret_key, TESTING=settings.is_test, MAX_CONTENT_LENGTH=1 << 20,
        # The admin session: never sent on cross-site subrequests (CSRF tokens guard the forms
        # too), and over HTTPS only once the app is served on it. The OAuth return is a top-level
        # GET, which Lax still carries.
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.mode == "production" and settings.public_base_url.startswith("https://"),
    )
    _default_hooks(services)
    init_services(app, services)

    from connector.views import register_blueprints

    register_blueprints(app)
    return app


def build_services(settings: Settings) -> Services:
    """Engine (migrated to the newest schema), secret box and HTTP session for `settings`."""
    engine = make_engine(settings.database_url)
    upgrade_schema(engine)
    box = SecretBox(settings.encryption_key) if settings.encryption_key else SecretBox.demo()
    return Services(settings=settings, engine=engine, box=box)


def _default_hooks(services: Services) -> None:
    from connector.install import on_installed

    services.extras.setdefault("on_installed", on_installed)
