"""Card fixtures: a past-due customer synced to a HubSpot company and to a Salesforce Account."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlmodel import select

from connector.storage.db import session_scope
from connector.storage.models import CustomerBilling

from card_signing import CANVAS_SECRET, COMPANY_ID, SF_ACCOUNT_ID, SF_ORG_ID
from factories import make_installation, make_stripe_connection, post_stripe, stripe_event

PAST_DUE_EVENTS = ("invoice.finalized", "charge.failed", "invoice.payment_failed")


def sync_customer(services, installation_id: int, record_id: str) -> int:
    """Mark the installation's (only) customer as matched to `record_id`, as the sync would."""
    with session_scope(services.engine) as s:
        row = s.exec(select(CustomerBilling).where(CustomerBilling.installation_id == installation_id)).one()
        row.crm_record_id, row.match_status = record_id, "matched"
        row.crm_object_type = "companies" if record_id.isdigit() else "Account"
        s.add(row)
        return row.id


@pytest.fixture
def hubspot_past_due(client, services) -> dict:
    """Portal 4242: a GBP customer whose payment failed on 2026-03-01 (277 days before FIXED_NOW)."""
    inst = make_installation(services)
    make_stripe_connection(services, inst)
    for name in PAST_DUE_EVENTS:
        assert post_stripe(client, stripe_event(name)).status_code == 200
    row_id = sync_customer(services, inst, COMPANY_ID)
    return {"installation_id": inst, "row_id": row_id}


@pytest.fixture
def other_portal(services) -> int:
    """Portal 5151, also installed, with no customer of its own."""
    return make_installation(services, external_id="5151", name="Other portal")


@pytest.fixture
def canvas_secret(services) -> str:
    services.settings = replace(services.settings, salesforce_client_secret=CANVAS_SECRET)
    return CANVAS_SECRET


@pytest.fixture
def salesforce_past_due(client, services, canvas_secret) -> dict:
    inst = make_installation(services, crm="salesforce", external_id=SF_ORG_ID, name="Acme org")
    make_stripe_connection(services, inst, token="tok_conn_sf")
    for name in PAST_DUE_EVENTS:
        assert post_stripe(client, stripe_event(name), token="tok_conn_sf").status_code == 200
    row_id = sync_customer(services, inst, SF_ACCOUNT_ID)
    return {"installation_id": inst, "row_id": row_id}
