"""Chargebee event stories for the playbook scenarios: the same stories as playbook_story's Stripe
ones (a failed renewal of GBP 120.50, its retries, the payment), built from the recorded v2
payloads (tests/payloads/chargebee/) with ids, times, versions and codes changed."""

from __future__ import annotations

from datetime import datetime

from playbook_story import Customer

from factories import chargebee_event, make_chargebee_connection, make_installation, post_chargebee


def _ts(at: datetime) -> int:
    return int(at.timestamp())


def _customer(event: dict, c: Customer) -> None:
    content = event["content"]
    content["customer"] |= {"id": c.customer_id, "email": c.email, "company": c.name}
    for key in ("invoice", "transaction", "subscription"):
        if key in content:
            content[key]["customer_id"] = c.customer_id


def failed_attempt(c: Customer, invoice: str, n: int, at: datetime, *,
                   decline: str = "insufficient_funds", next_attempt: datetime | None = None,
                   amount: int = 12050) -> list[dict]:
    """The payment_failed event of one failed automatic attempt (dunning in progress)."""
    event = chargebee_event("payment_failed")
    event |= {"id": f"ev_fail_{invoice}_{n}", "occurred_at": _ts(at)}
    _customer(event, c)
    inv = event["content"]["invoice"]
    inv |= {"id": invoice, "date": _ts(at) - 3600, "total": amount, "amount_due": amount,
            "currency_code": "GBP", "resource_version": _ts(at) * 1000 + n, "updated_at": _ts(at),
            "next_retry_at": _ts(next_attempt) if next_attempt else None,
            "dunning_attempts": [{"attempt": i, "transaction_id": f"txn_{invoice}_{i + 1}",
                                  "dunning_type": "auto_collect", "txn_status": "failure",
                                  "created_at": _ts(at), "txn_amount": amount} for i in range(n)]}
    txn = event["content"]["transaction"]
    txn |= {"id": f"txn_{invoice}_{n}", "date": _ts(at) - 1, "amount": amount, "currency_code": "GBP",
            "error_code": "card_declined", "resource_version": _ts(at) * 1000,
            "linked_invoices": [{"invoice_id": invoice, "applied_amount": 0}]}
    txn["error_detail"] = {**txn["error_detail"], "decline_code": decline}
    return [event]


def paid(c: Customer, invoice: str, at: datetime, *, amount: int = 12050) -> dict:
    event = chargebee_event("payment_succeeded")
    event |= {"id": f"ev_paid_{invoice}", "occurred_at": _ts(at)}
    _customer(event, c)
    event["content"]["invoice"] |= {
        "id": invoice, "total": amount, "amount_paid": amount, "amount_due": 0, "currency_code": "GBP",
        "paid_at": _ts(at), "updated_at": _ts(at), "resource_version": _ts(at) * 1000 + 999}
    event["content"]["transaction"] |= {"id": f"txn_{invoice}_paid", "date": _ts(at),
                                        "amount": amount, "currency_code": "GBP"}
    return event


def deliver(client, events: list[dict]) -> None:
    for event in events:
        assert post_chargebee(client, event).status_code == 200


def install_chargebee(services, adapter, *, playbook: dict | None = None) -> int:
    """As conftest.install (New York, both sequences set), with a Chargebee site instead."""
    from playbook_world import FIRM, GENTLE, crm_of

    settings = {"playbook": {"gentle_sequence_id": GENTLE, "firm_sequence_id": FIRM,
                             **(playbook or {})}}
    inst = make_installation(services, crm=crm_of(adapter), preview=False, timezone="America/New_York",
                             country="US", settings=settings)
    make_chargebee_connection(services, inst)
    services.adapter_factory = lambda _installation_id: adapter
    return inst
