"""Billing webhook endpoints: thin callers of connector.ingest."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from connector.context import get_services
from connector.ingest import receive_chargebee_webhook, receive_stripe_webhook
from connector.metrics import count_webhook

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


@bp.post("/stripe/<token>")
def stripe_webhook(token: str):  # noqa: ANN201
    # The signature covers the exact bytes Stripe sent: never re-serialise before verifying.
    payload = request.get_data(cache=False, as_text=False)
    result = receive_stripe_webhook(get_services(), token, payload, request.headers.get("Stripe-Signature"))
    count_webhook("stripe", result.status, result.body)
    return jsonify(result.body), result.status


@bp.post("/chargebee/<token>")
def chargebee_webhook(token: str):  # noqa: ANN201
    payload = request.get_data(cache=False, as_text=False)
    result = receive_chargebee_webhook(get_services(), token, payload, request.headers.get("Authorization"))
    count_webhook("chargebee", result.status, result.body)
    return jsonify(result.body), result.status
