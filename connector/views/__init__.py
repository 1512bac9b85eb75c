"""Flask blueprints: one module each."""

from __future__ import annotations

import importlib
import logging

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

# Each module owns one `bp`; imported here so the app factory stays the one place that wires.
BLUEPRINTS = (
    "connector.views.health",
    "connector.views.webhooks",
    "connector.views.dashboard",
    "connector.views.api",
    "connector.views.playbook",
    "connector.views.pay",
    "connector.views.cards",
    "connector.views.admin",
    "connector.views.metrics",
    "oauth.views",
    "oauth.salesforce_views",
)


def register_blueprints(app: Flask) -> None:
    for path in BLUEPRINTS:
        app.register_blueprint(importlib.import_module(path).bp)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):  # noqa: ANN202
        # Every refusal answers JSON with a message a person can act on, and leaves a log line.
        if exc.code and exc.code >= 400:
            log.info("http.refused status=%s path=%s reason=%s", exc.code, request.path, exc.description)
        return jsonify(error=exc.name, message=exc.description), exc.code
