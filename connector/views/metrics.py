"""`/metrics` for Prometheus (connector/metrics.py says what is counted where)."""

from __future__ import annotations

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST

from connector.context import get_services
from connector.metrics import render

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics() -> Response:
    return Response(render(get_services().engine), mimetype=None, content_type=CONTENT_TYPE_LATEST)
