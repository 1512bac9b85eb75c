"""Helpers for the admin API and browser tests: sign in as a CRM admin, seed the known data set."""

from __future__ import annotations

from datetime import datetime

from connector.context import Services
from connector.customers import refresh_customer
from connector.storage.db import session_scope
from connector.storage.models import CustomerBilling, Installation

from recovery_dataset import customers


def sign_in(client, installation_id: int, user: str = "ops.admin@acme-billing.com") -> str:
    """What the OAuth callback leaves in the session; returns the CSRF token."""
    with client.session_transaction() as sess:
        sess["admin"] = {"installation_id": installation_id, "user": user}
        sess["csrf"] = "csrf-test-token"
    return "csrf-test-token"


def seed_dataset(services: Services, installation_id: int, connection_id: int, now: datetime,
                 *, matched: dict[str, str] | None = None) -> dict[str, int]:
    """Store the known customers (tests/recovery_dataset.py) and derive their state as ingest does.

    `matched` links customers to CRM record ids. Returns customer id -> row id.
    """
    ids = {}
    with session_scope(services.engine) as s:
        inst = s.get(Installation, installation_id)
        for facts in customers():
            row = CustomerBilling(installation_id=installation_id, connection_id=connection_id,
                                  customer_id=facts.customer_id, facts=facts.to_json(), match_status="unmatched",
                                  match_detail="no company with this domain", updated_at=now)
            record = (matched or {}).get(facts.customer_id)
            if record:
                row.match_status, row.match_detail = "matched", "by domain"
                row.crm_object_type, row.crm_record_id = "companies", record
            s.add(row)
            s.flush()
            refresh_customer(s, inst, row, now=now, base_url=services.settings.public_base_url)
            ids[facts.customer_id] = row.id
    return ids
