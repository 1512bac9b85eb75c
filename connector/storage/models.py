"""SQLModel tables.

Secrets live only in `*_enc` columns (Fernet, see connector.crypto) and are never serialised.
Everything hangs off an installation (one HubSpot portal or Salesforce org); no query crosses two.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class Installation(SQLModel, table=True):
    """One CRM account (HubSpot portal / Salesforce org) that installed the app."""

    __tablename__ = "installation"
    __table_args__ = (UniqueConstraint("crm", "external_id", name="uq_installation_crm_external"),)

    id: int | None = Field(default=None, primary_key=True)
    crm: str = Field(index=True)  # "hubspot" | "salesforce"
    external_id: str  # HubSpot portal id / Salesforce org id
    name: str = ""
    # active | needs_reauth | disconnected
    status: str = Field(default="active", index=True)
    status_reason: str = ""
    preview: bool = True
    timezone: str = "UTC"
    country: str = "US"
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    installed_by: str = ""  # the CRM user who installed (user id / email), for the admin login
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    live_since: datetime | None = None
    disconnected_at: datetime | None = None
    purge_after: datetime | None = None


class CrmCredential(SQLModel, table=True):
    """OAuth tokens of an installation, encrypted. `version` guards concurrent refreshes."""

    __tablename__ = "crm_credential"

    id: int | None = Field(default=None, primary_key=True)
    installation_id: int = Field(foreign_key="installation.id", unique=True)
    access_token_enc: str = Field(sa_column=Column(Text, nullable=False))
    refresh_token_enc: str = Field(sa_column=Column(Text, nullable=False))
    expires_at: datetime | None = None
    scopes: str = ""  # space separated, as granted
    instance_url: str = ""  # Salesforce
    user_id: str = ""
    version: int = 0
    updated_at: datetime = Field(default_factory=utcnow)


class BillingConnection(SQLModel, table=True):
    """One Stripe account or Chargebee site connected to an installation."""

    __tablename__ = "billing_connection"

    id: int | None = Field(default=None, primary_key=True)
    installation_id: int = Field(foreign_key="installation.id", index=True)
    provider: str  # "stripe" | "chargebee"
    mode: str = "test"  # test | live; events whose livemode differs are refused
    webhook_token: str = Field(unique=True, index=True)  # the unguessable part of the webhook URL
    webhook_secret_enc: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    api_key_enc: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    account_ref: str = ""  # Stripe account id / Chargebee site
    provider_endpoint_id: str = ""  # the webhook endpoint we created at the provider
    created_at: datetime = Field(default_factory=utcnow)


class BillingEvent(SQLModel, table=True):
    """A raw billing event exactly as received, stored before the webhook answers 2xx."""

    __tablename__ = "billing_event"
    __table_args__ = (UniqueConstraint("connection_id", "event_id", name="uq_billing_event"),)

    id: int | None = Field(default=None, primary_key=True)
    connection_id: int = Field(foreign_key="billing_connection.id", index=True)
    event_id: str
    type: str
    customer_id: str | None = Field(default=None, index=True)
    created: int = 0  # provider's event timestamp (epoch s)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    # pending | applied | ignored (unknown type) | failed
    status: str = Field(default="pending", index=True)
    error: str = ""
    received_at: datetime = Field(default_factory=utcnow)
    processed_at: datetime | None = None
    # Failed applies so far; after connector.ingest.MAX_APPLY_ATTEMPTS the event is `failed`
    # (kept, counted in sync health) instead of being retried for ever ahead of everyone else's.
    apply_attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class CustomerBilling(SQLModel, table=True):
    """Per billing customer: the known facts, the derived state, and its CRM record."""

    __tablename__ = "customer_billing"
    __table_args__ = (UniqueConstraint("connection_id", "customer_id", name="uq_customer_billing"),)

    id: int | None = Field(default=None, primary_key=True)
    installation_id: int = Field(foreign_key="installation.id", index=True)
    connection_id: int = Field(foreign_key="billing_connection.id", index=True)
    customer_id: str
    facts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # The desired §3 values (canonical strings) as last derived.
    desired: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # What the CRM holds as far as we know (last written or read back).
    crm_values: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    payment_status: str = "current"
    risk_score: int = 0
    risk_segment: str = "low_risk"
    # matched | unmatched | ambiguous | conflict | pending
    match_status: str = Field(default="pending", index=True)
    match_detail: str = ""
    crm_object_type: str = ""
    crm_record_id: str = Field(default="", index=True)
    deleted: bool = False
    # Set from the embedded card ("pause the playbook for N days"): until then the playbook
    # creates no task or enrollment for this customer; fields keep syncing.
    playbook_paused_until: datetime | None = None
    # "<episode start>:<touch point>" of the last touch point the playbook ran: the daily tick
    # runs each touch point once, on its business day (or the first tick after, when one was
    # missed), never again on the days between touch points.
    touch_point_run: str = Field(default="", sa_column_kwargs={"server_default": ""})
    updated_at: datetime = Field(default_factory=utcnow)


class OutboxItem(SQLModel, table=True):
    """Pending CRM work. Taken with a lease so a crash mid-way loses nothing and duplicates nothing."""

    __tablename__ = "outbox_item"

    id: int | None = Field(default=None, primary_key=True)
    installation_id: int = Field(foreign_key="installation.id", index=True)
    kind: str  # write_fields | ...
    customer_row_id: int | None = Field(default=None, foreign_key="customer_billing.id")
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # pending | done | failed | previewed | superseded
    status: str = Field(default="pending", index=True)
    attempts: int = 0
    available_at: datetime = Field(default_factory=utcnow, index=True)
    leased_until: datetime | None = None
    last_error: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    done_at: datetime | None = None


class SyncRun(SQLModel, table=True):
    """One drain / reconcile / tick run, for the dashboard and sync health."""

    __tablename__ = "sync_run"

    id: int | None = Field(default=None, primary_key=True)
    installation_id: int = Field(foreign_key="installation.id", index=True)
    kind: str
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    outcome: str = "running"  # ok | partial | failed | running
    counts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    error: str = ""


class SyncHealth(SQLModel, table=True):
    """The latest sync-health snapshot of an installation (connector/sync_health.py).

    One row per installation, rewritten after each drain and whenever the health is read, so the
    metrics of every process and the dashboard agree; `since` says how long the state has held.
    """

    __tablename__ = "sync_health"

    id: int | None = Field(default=None, primary_key=True)
    installation_id: int = Field(foreign_key="installation.id", unique=True)
    state: str = "healthy"  # healthy | degraded | failing
    reason: str = ""
    figures: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # The CRM's rate-limit headers as last seen by the process that made the calls.
    api_budget: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    since: datetime = Field(default_factory=utcnow)
    computed_at: datetime = Field(default_factory=utcnow)


class AuditLog(SQLModel, table=True):
    """Who did what: installs, settings changes, mode switches, CRM writes recorded in preview."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    installation_id: int | None = Field(default=None, foreign_key="installation.id", index=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor: str = "system"
    action: str
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class PaymentLink(SQLModel, table=True):
    """The stable `/pay/<token>` link of one customer; dies with the episode or after 60 days."""

    __tablename__ = "payment_link"

    id: int | None = Field(default=None, primary_key=True)
    token: str = Field(unique=True, index=True)
    installation_id: int = Field(foreign_key="installation.id", index=True)
    customer_row_id: int = Field(foreign_key="customer_billing.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    revoked_at: datetime | None = None


class OAuthState(SQLModel, table=True):
    """Single-use marker of an OAuth `state` value (the value itself is signed and expiring)."""

    __tablename__ = "oauth_state"

    id: int | None = Field(default=None, primary_key=True)
    nonce: str = Field(unique=True, index=True)
    used_at: datetime = Field(default_factory=utcnow)


class BillingCursor(SQLModel, table=True):
    """Where a bulk read of one billing connection stands, per stream: backfill resumes from here.

    Backfill streams ("invoices", "charges", …) walk a list newest first: `since` is the window
    start fixed on the first run (so a resumed walk asks the same question), `starting_after`
    the last object id done, `done` set when the list ran out. The "events" stream of the
    reconciler keeps in `since` the `created` time up to which events have been read.
    """

    __tablename__ = "billing_cursor"
    __table_args__ = (UniqueConstraint("connection_id", "stream", name="uq_billing_cursor"),)

    id: int | None = Field(default=None, primary_key=True)
    connection_id: int = Field(foreign_key="billing_connection.id", index=True)
    stream: str
    since: int = 0
    starting_after: str = ""
    done: bool = False
    items: int = 0
    started_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class PlaybookDecision(SQLModel, table=True):
    """The playbook ledger (PRODUCT.md §6): every decision, what was done about it, and why.

    One row per (customer, episode start, touch point, kind): a redelivered event or a second
    tick finds the row and decides nothing new.
    """

    __tablename__ = "playbook_decision"
    __table_args__ = (UniqueConstraint("customer_row_id", "episode_start", "touch_point", "kind",
                                       name="uq_playbook_decision"),)

    id: int | None = Field(default=None, primary_key=True)
    installation_id: int = Field(foreign_key="installation.id", index=True)
    customer_row_id: int = Field(foreign_key="customer_billing.id", index=True)
    episode_start: date  # the episode's start date (installation time zone)
    touch_point: str  # day_0 | day_3 | … | end | pre_due:<invoice id>
    kind: str  # call_task | enroll | todo_task | complete_task
    why: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # proposed | previewed | applied | failed | deferred | skipped
    status: str = Field(default="proposed", index=True)
    result: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    risk_score: int = 0
    segment: str = ""
    # subject, body, due_at, sequence, sequence_id, todo_reason, card_update, note, …
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    crm_task_id: str = ""
    crm_enrollment_id: str = ""
    counts_toward_cap: bool = True
    day: date  # the installation's calendar day it counts against the daily cap
    created_at: datetime = Field(default_factory=utcnow, index=True)
    applied_at: datetime | None = None
    completed_at: datetime | None = None  # CALL tasks: when we closed it at episode end
