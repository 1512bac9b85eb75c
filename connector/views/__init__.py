"""Flask blueprints: one module each."""

from __future__ import annotations

import importlib
import logging
import re
from types import MethodType

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


# The last segment of these paths is a credential (a webhook token, half of Chargebee's login;
# a customer's payment link): it never goes into a log line.
_SECRET_PATHS = re.compile(r"^(/webhooks/[^/]+/|/pay/)[^/]+")


def loggable_path(path: str) -> str:
    """`path` with any credential segment replaced, for log lines."""
    return _SECRET_PATHS.sub(r"\1[redacted]", path)


def register_blueprints(app: Flask) -> None:
    for path in BLUEPRINTS:
        app.register_blueprint(importlib.import_module(path).bp)
    app.log_exception = MethodType(_log_exception, app)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):  # noqa: ANN202
        # Every refusal answers JSON with a message a person can act on, and leaves a log line.
        if exc.code and exc.code >= 400:
            log.info("http.refused status=%s path=%s reason=%s", exc.code, loggable_path(request.path),
                     exc.description)
        return jsonify(error=exc.name, message=exc.description), exc.code


def _log_exception(app: Flask, exc_info) -> None:  # noqa: ANN001 - Flask's exc_info tuple
    """Flask's own line names the request path; ours redacts the credentials in it."""
    app.logger.error("Exception on %s [%s]", loggable_path(request.path), request.method, exc_info=exc_info)
