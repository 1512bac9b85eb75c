"""The demo: a sandbox installation in preview, fed bundled sample Stripe events.

The events go through the real webhook endpoint (the Flask view, signature check and all),
signed with the demo connection's secret, so the demo exercises the same path as production.
The sandbox CRM is the in-memory adapter seeded with sample companies: nothing leaves the machine.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections import Counter
from pathlib import Path

from flask import Flask
from sqlmodel import select

from app import create_app
from connector import jobs
from connector.billing.stripe_signature import sign_stripe_payload
from connector.context import get_services
from connector.playbook_runner import ensure_lists
from connector.sample_data.loader import load_sample_events, load_sandbox_companies
from connector.storage.db import session_scope
from connector.storage.models import BillingConnection, Installation
from crm_adapters.fake import FakeCrmAdapter

log = logging.getLogger(__name__)
DEMO_DB = Path("dunning-demo.sqlite")


def prepare_demo(db_path: Path = DEMO_DB) -> Flask:
    """Build the demo app on a fresh SQLite file and push the sample events through it."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    port = os.environ.get("PORT", "8000")
    app = create_app({"mode": "demo", "database_url": f"sqlite:///{db_path}",
                      "public_base_url": f"http://127.0.0.1:{port}"})
    services = get_services(app)
    crm = FakeCrmAdapter()
    for company in load_sandbox_companies():
        props = company["properties"]
        crm.add_record(domain=props.get("domain", ""), name=props.get("name", ""))
    services.adapter_factory = lambda _installation_id: crm
    crm.ensure_schema()
    secret = "whsec_" + secrets.token_hex(16)
    token = _create_sandbox(services, secret)
    with session_scope(services.engine) as s:
        sandbox_id = s.exec(select(Installation.id).where(Installation.external_id == "sandbox")).one()
    ensure_lists(services, sandbox_id)
    statuses = _push_events(app, token, secret)
    # The sample history reaches back weeks: run the touch points that already fell due (the
    # worker's hourly tick would, an hour from now), so the decision log is complete at once.
    jobs.tick(services)
    jobs.drain_all(services)
    log.info("demo.ready events=%s", dict(statuses))
    print(f"Demo: {sum(statuses.values())} sample Stripe events posted to the webhook endpoint "  # noqa: T201
          f"({', '.join(f'{n} answered {code}' for code, n in sorted(statuses.items()))}); "
          f"dashboard on http://127.0.0.1:{port}/")
    return app


def _create_sandbox(services, secret: str) -> str:  # noqa: ANN001
    token = secrets.token_urlsafe(32)
    with session_scope(services.engine) as s:
        inst = Installation(crm="hubspot", external_id="sandbox", name="Sandbox HubSpot portal (demo)",
                            preview=True, timezone="America/New_York", country="US",
                            settings={"sandbox": True}, installed_by="local demo user")
        s.add(inst)
        s.flush()
        s.add(BillingConnection(installation_id=inst.id, provider="stripe", mode="test", webhook_token=token,
                                webhook_secret_enc=services.box.encrypt(secret), account_ref="acct_demo"))
    return token


def _push_events(app: Flask, token: str, secret: str) -> Counter:
    services = get_services(app)
    client = app.test_client()
    statuses: Counter = Counter()
    for event in load_sample_events(services.clock()):
        payload = json.dumps(event).encode()
        header = sign_stripe_payload(payload, secret, int(services.clock().timestamp()))
        resp = client.post(f"/webhooks/stripe/{token}", data=payload,
                           headers={"Stripe-Signature": header, "Content-Type": "application/json"})
        statuses[resp.status_code] += 1
    return statuses
