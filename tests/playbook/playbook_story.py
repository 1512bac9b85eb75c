"""Stripe event stories for the playbook scenarios: failed attempts, retries and recoveries,
built from the recorded payloads (tests/payloads/stripe/) with their ids, times and codes changed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import select

from connector import jobs
from connector.storage.db import session_scope
from connector.storage.models import PlaybookDecision

from factories import post_stripe, stripe_event


@dataclass(frozen=True)
class Customer:
    customer_id: str
    domain: str
    name: str

    @property
    def email(self) -> str:
        return f"accounts@{self.domain}"


def _ts(at: datetime) -> int:
    return int(at.timestamp())


def failed_attempt(c: Customer, invoice: str, n: int, at: datetime, *, decline: str = "insufficient_funds",
                   attempt: int = 1, next_attempt: datetime | None = None,
                   amount: int = 12050) -> list[dict]:
    """The invoice.payment_failed and charge.failed events of one failed automatic attempt."""
    invoice_event = stripe_event(
        "invoice.payment_failed", id=f"evt_inv_{invoice}_{n}", created=_ts(at),
        object__id=invoice, object__customer=c.customer_id, object__customer_email=c.email,
        object__customer_name=c.name, object__attempt_count=attempt, object__amount_due=amount,
        object__amount_remaining=amount, object__total=amount, object__subtotal=amount,
        object__created=_ts(at) - 3600,
        object__next_payment_attempt=_ts(next_attempt) if next_attempt else None)
    charge = stripe_event("charge.failed", id=f"evt_ch_{invoice}_{n}", created=_ts(at))
    charge["data"]["object"] |= {
        "id": f"ch_{invoice}_{n}", "customer": c.customer_id, "created": _ts(at) - 1, "amount": amount,
        "failure_code": "expired_card" if decline == "expired_card" else "card_declined"}
    charge["data"]["object"]["outcome"] = {**charge["data"]["object"]["outcome"], "reason": decline}
    return [invoice_event, charge]


def paid(c: Customer, invoice: str, at: datetime, *, amount: int = 12050) -> dict:
    event = stripe_event("invoice.paid", id=f"evt_paid_{invoice}", created=_ts(at),
                         object__id=invoice, object__customer=c.customer_id,
                         object__customer_email=c.email, object__customer_name=c.name,
                         object__amount_due=amount, object__amount_paid=amount,
                         object__amount_remaining=0, object__total=amount, object__subtotal=amount,
                         object__created=_ts(at) - 86400 * 30, object__next_payment_attempt=None)
    event["data"]["object"]["status_transitions"] = {
        **event["data"]["object"]["status_transitions"], "paid_at": _ts(at)}
    return event


def deliver(client, events: list[dict]) -> None:
    for event in events:
        assert post_stripe(client, event, timestamp=_ts_now(client)).status_code == 200


def _ts_now(client) -> int:
    from connector.context import get_services

    return _ts(get_services(client.application).clock())


def drain(services) -> None:
    results = jobs.drain_all(services)
    assert results, "the installation was not drained"


def tick_and_drain(services) -> None:
    jobs.tick(services)
    drain(services)


def decisions(services) -> list[PlaybookDecision]:
    with session_scope(services.engine) as s:
        return list(s.exec(select(PlaybookDecision).order_by(PlaybookDecision.id)))
