"""Process liveness: `/healthz` answers once the app is wired and the database answers."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from connector.context import get_services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():  # noqa: ANN201
    with get_services().engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return jsonify(status="ok")
