"""Scenario fixtures: a movable clock, an installation, and a CRM "world" that is the in-memory
FakeCrmAdapter, HubSpotAdapter behind the HubSpot stand-in or SalesforceAdapter behind the
Salesforce stand-in (the same scenarios run against all three, so the fake the playbook is built
on cannot drift from either CRM)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import responses

from connector.ports import CrmRef
from connector.storage.db import session_scope
from connector.storage.models import Installation
from crm_adapters.fake import FakeCrmAdapter
from crm_adapters.hubspot.adapter import HubSpotAdapter

from factories import make_installation, make_stripe_connection
from hubspot_standin import FakeClock, HubSpotStandIn, make_client
from salesforce_standin import USER_ID, SalesforceStandIn, Tokens
from salesforce_standin import make_client as make_sf_client
from tests_clock import FIXED_NOW

GENTLE, FIRM = "seq-gentle-1", "seq-firm-2"


@dataclass(frozen=True)
class TaskView:
    task_id: str
    record_id: str
    kind: str
    subject: str
    body: str
    completed: bool
    priority: str
    owner_id: str | None
    due_at: str


@dataclass(frozen=True)
class EnrollmentView:
    contact_id: str
    sequence_id: str
    sender_user_id: str
    sender_email: str


class FakeWorld:
    name = "fake"

    def __init__(self) -> None:
        self.adapter = FakeCrmAdapter()
        self.ended: list[EnrollmentView] = []

    def company(self, domain: str) -> CrmRef:
        return self.adapter.add_record(domain=domain)

    def owner(self, user_id: int, email: str) -> str:
        return self.adapter.add_owner(user_id=str(user_id), email=email).owner_id

    def set_owner(self, ref: CrmRef, owner_id: str) -> None:
        self.adapter.set_record_owner(ref, owner_id)

    def contact(self, ref: CrmRef, email: str | None) -> str:
        return self.adapter.add_contact(ref, email).contact_id

    def refuse(self, contact_id: str, category: str) -> None:
        self.adapter.refuse_enrollment(contact_id, category)

    def tasks(self) -> list[TaskView]:
        return [TaskView(t.task_id, t.ref.record_id, t.kind.value, t.subject, t.body, t.completed,
                         t.priority, t.owner_id, t.due_at) for t in self.adapter.tasks.values()]

    def enrollments(self) -> list[EnrollmentView]:
        return self.ended + [EnrollmentView(e.contact_id, e.sequence_id, e.sender_user_id,
                                            e.sender_email) for e in self.adapter.enrollments]

    def complete(self, task_id: str) -> None:
        self.adapter.tasks[task_id].completed = True

    def delete(self, task_id: str) -> None:
        self.adapter.delete_task(task_id)

    def end_sequences(self) -> None:
        """The §6 workflow recipe: the episode ended, so HubSpot unenrolls the contact."""
        self.ended = self.enrollments()
        self.adapter.enrollments.clear()


class HubSpotWorld:
    name = "hubspot"

    def __init__(self, standin: HubSpotStandIn) -> None:
        self.standin = standin
        self.adapter = HubSpotAdapter(make_client(FakeClock()))
        self.adapter.ensure_schema()
        self.ended: list[EnrollmentView] = []

    def company(self, domain: str) -> CrmRef:
        return CrmRef("companies", self.standin.add_company(domain=domain))

    def owner(self, user_id: int, email: str) -> str:
        return self.standin.add_owner(user_id=user_id, email=email)

    def set_owner(self, ref: CrmRef, owner_id: str) -> None:
        self.standin.companies[ref.record_id]["hubspot_owner_id"] = owner_id

    def contact(self, ref: CrmRef, email: str | None) -> str:
        return self.standin.add_contact(ref.record_id, email)

    def refuse(self, contact_id: str, category: str) -> None:
        self.standin.enrollment_refusals[contact_id] = category

    def tasks(self) -> list[TaskView]:
        out = []
        for task_id, t in self.standin.tasks.items():
            p = t["properties"]
            out.append(TaskView(task_id, t["company"], p.get("hs_task_type", ""),
                                p.get("hs_task_subject", ""), p.get("hs_task_body", ""),
                                p.get("hs_task_status") == "COMPLETED", p.get("hs_task_priority", ""),
                                p.get("hubspot_owner_id"), _hubspot_time(p.get("hs_timestamp", ""))))
        return out

    def enrollments(self) -> list[EnrollmentView]:
        return self.ended + [EnrollmentView(e["contactId"], e["sequenceId"], str(e["userId"]),
                                            e["senderEmail"]) for e in self.standin.enrollments]

    def complete(self, task_id: str) -> None:
        self.standin.tasks[task_id]["properties"]["hs_task_status"] = "COMPLETED"

    def delete(self, task_id: str) -> None:
        del self.standin.tasks[task_id]

    def end_sequences(self) -> None:
        self.ended = self.enrollments()
        self.standin.enrollments.clear()


def _hubspot_time(value: str) -> str:
    """HubSpot answers hs_timestamp as an ISO string or epoch millis; tests compare ISO UTC."""
    if value.isdigit():
        return datetime.fromtimestamp(int(value) / 1000).astimezone().isoformat()
    return value


# Salesforce words for the refusals the fake knows; those Salesforce has no words of its own for
# (HubSpot inbox and scope problems, unsubscribes) come back as a plain refusal.
_SF_REFUSALS = {
    "already_enrolled": "The target is already assigned to a cadence.",
    "no_seat": "The user doesn't have the Sales Engagement permission set license.",
}
_SF_PRIORITIES = {"High": "HIGH", "Normal": "MEDIUM", "Low": "LOW"}
# The scenarios' installation (install() below) and its default working hour.
_SCENARIO_TZ, _SCENARIO_WORKING_HOUR = ZoneInfo("America/New_York"), 9


class SalesforceWorld:
    """Accounts, Contacts, Users as owners, Tasks and cadence targets in the Salesforce stand-in.
    The playbook's gentle/firm sequence ids act as cadence ids."""

    name = "salesforce"

    def __init__(self, standin: SalesforceStandIn) -> None:
        from crm_adapters.salesforce.adapter import SalesforceAdapter

        self.standin = standin
        clock = FakeClock()
        self.adapter = SalesforceAdapter(make_sf_client(standin, Tokens(standin), clock), user_id=USER_ID)
        self.adapter.ensure_schema()
        self.ended: list[EnrollmentView] = []
        # A Salesforce owner is a User: its Id is both the owner id and the cadence userId. The
        # scenarios name owners by HubSpot-style numeric user ids; the view answers in those.
        self._user_numbers: dict[str, str] = {}

    def company(self, domain: str) -> CrmRef:
        return CrmRef("Account", self.standin.add("Account", Name=domain, Website=f"https://www.{domain}/",
                                                  OwnerId=USER_ID))

    def owner(self, user_id: int, email: str) -> str:
        uid = self.standin.add("User", Email=email, IsActive=True)
        self._user_numbers[uid] = str(user_id)
        return uid

    def set_owner(self, ref: CrmRef, owner_id: str) -> None:
        self.standin.records["Account"][ref.record_id]["OwnerId"] = owner_id

    def contact(self, ref: CrmRef, email: str | None) -> str:
        return self.standin.add("Contact", AccountId=ref.record_id, Email=email)

    def refuse(self, contact_id: str, category: str) -> None:
        self.standin.cadence_refusals[contact_id] = _SF_REFUSALS.get(
            category, "The target can't be assigned to this cadence.")

    def tasks(self) -> list[TaskView]:
        return [TaskView(tid, t["WhatId"], "CALL" if t.get("TaskSubtype") == "Call" else "TODO",
                         t.get("Subject", ""), t.get("Description", ""), t.get("Status") == "Completed",
                         _SF_PRIORITIES.get(t.get("Priority", ""), t.get("Priority", "")),
                         t.get("OwnerId"), _salesforce_due(t.get("ActivityDate", "")))
                for tid, t in self.standin.records["Task"].items()]

    def enrollments(self) -> list[EnrollmentView]:
        """Every cadence assignment, the ones the connector removed at episode end included."""
        users = self.standin.records["User"]
        current = [(t, c, self.standin.cadence_users.get(t)) for t, c in self.standin.enrolled.items()]
        return [EnrollmentView(target, cadence, self._user_numbers.get(uid or "", uid or ""),
                               users.get(uid or "", {}).get("Email", ""))
                for target, cadence, uid in self.standin.removed + current]

    def complete(self, task_id: str) -> None:
        self.standin.records["Task"][task_id]["Status"] = "Completed"

    def delete(self, task_id: str) -> None:
        del self.standin.records["Task"][task_id]

    def end_sequences(self) -> None:
        """The episode ended: the connector itself took the targets out of their cadence (§6)."""
        assert self.standin.enrolled == {}, f"still in a cadence: {self.standin.enrolled}"


def _salesforce_due(activity_date: str) -> str:
    """A Salesforce Task is due on a date (ActivityDate), with no time. The view puts it at the
    scenarios' working hour in their zone, so the date is what the scenarios compare."""
    if not activity_date:
        return ""
    due = datetime.combine(date.fromisoformat(activity_date), time(_SCENARIO_WORKING_HOUR), _SCENARIO_TZ)
    return due.astimezone(UTC).isoformat()


@pytest.fixture(params=["fake", "hubspot", "salesforce"])
def world(request) -> Iterator[Any]:
    if request.param == "fake":
        yield FakeWorld()
        return
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        if request.param == "hubspot":
            yield HubSpotWorld(HubSpotStandIn(mock))
        else:
            yield SalesforceWorld(SalesforceStandIn(mock))


@pytest.fixture
def fake_world() -> FakeWorld:
    return FakeWorld()


class MovableClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def set(self, at: datetime) -> None:
        self.now = at


@pytest.fixture
def clock(services) -> MovableClock:
    moving = MovableClock(FIXED_NOW)
    services.clock = moving
    return moving


def crm_of(adapter) -> str:
    """The installation's CRM for an adapter (what the connector may do depends on it)."""
    return "salesforce" if type(adapter).__name__ == "SalesforceAdapter" else "hubspot"


def install(services, adapter, *, preview: bool = False, playbook: dict | None = None,
            risk: dict | None = None) -> int:
    """A US installation (New York time) with a Stripe connection and the two sequences set."""
    settings: dict[str, Any] = {"playbook": {"gentle_sequence_id": GENTLE, "firm_sequence_id": FIRM,
                                             **(playbook or {})}}
    if risk:
        settings["risk"] = risk
    inst = make_installation(services, crm=crm_of(adapter), preview=preview, timezone="America/New_York",
                             country="US", settings=settings)
    make_stripe_connection(services, inst)
    services.adapter_factory = lambda _installation_id: adapter
    return inst


def set_settings(services, inst: int, **playbook: Any) -> None:
    with session_scope(services.engine) as s:
        row = s.get(Installation, inst)
        row.settings = {**row.settings, "playbook": {**row.settings["playbook"], **playbook}}
        s.add(row)


ADMIN_TOKEN = "ops-token-playbook"


def api(client, services, method: str, path: str, **kwargs: Any):
    """Call the JSON API as the operator (admin bearer token: no session, no CSRF token)."""
    services.settings = replace(services.settings, admin_token=ADMIN_TOKEN)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", **kwargs.pop("headers", {})}
    return client.open(path, method=method, headers=headers, **kwargs)


def api_get(client, services, path: str) -> Any:
    response = api(client, services, "GET", path)
    assert response.status_code == 200, response.get_json()
    return response.get_json()
