"""Flask blueprints: one module each."""

from __future__ import annotations

import importlib
import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

# module path -> attribute holding the blueprint. Each module owns one `bp`.
BLUEPRINTS = (
    "connector.views.health",
    "connector.views.webhooks",
    "connector.views.dashboard",
    "connector.views.api",
    "connector.views.pay",
    "oauth.views",
)


def register_blueprints(app: Flask) -> None:
    for path in BLUEPRINTS:
        try:
            module = importlib.import_module(path)
        except ModuleNotFoundError as exc:
            if exc.name != path:
                raise
            continue  # not built yet
        app.register_blueprint(module.bp)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):  # noqa: ANN202
        return jsonify(error=exc.name, message=exc.description), exc.code
