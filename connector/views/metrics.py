"""`/metrics` for Prometheus (connector/metrics.py says what is counted where).

The figures name installations and their volumes: with DUNNING_METRICS_TOKEN set, only a scraper
sending it as a bearer token gets them (Prometheus: `authorization: {credentials: …}`); without
it, keep /metrics on an internal network.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, abort
from prometheus_client import CONTENT_TYPE_LATEST

from connector.auth import bearer_is
from connector.context import get_services
from connector.metrics import render

log = logging.getLogger(__name__)
bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics() -> Response:
    services = get_services()
    token = services.settings.metrics_token
    if token and not bearer_is(token):
        log.info("metrics.refused")
        abort(401, "Send the metrics token as a bearer token.")
    return Response(render(services.engine), mimetype=None, content_type=CONTENT_TYPE_LATEST)
