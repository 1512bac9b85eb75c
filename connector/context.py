"""What a request or job needs, hung on the Flask app: settings, engine, secret box, clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
from flask import Flask, current_app
from sqlalchemy.engine import Engine

from connector.config import Settings
from connector.crypto import SecretBox


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    settings: Settings
    engine: Engine
    box: SecretBox
    clock: Callable[[], datetime] = _utcnow
    # One HTTP session for our own vendor calls (HubSpot client, OAuth); tests mock it with `responses`.
    http: requests.Session = field(default_factory=requests.Session)
    # Per-installation CRM adapter factory override (tests and the demo sandbox).
    adapter_factory: Callable[..., Any] | None = None
    extras: dict[str, Any] = field(default_factory=dict)


def init_services(app: Flask, services: Services) -> None:
    app.extensions["connector"] = services


def get_services(app: Flask | None = None) -> Services:
    return (app or current_app).extensions["connector"]
