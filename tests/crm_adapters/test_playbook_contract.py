"""The playbook scenarios (PlaybookCrm) against FakeCrmAdapter and HubSpotAdapter behind the
stand-in, so the fake the playbook is built on cannot drift from the real adapter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from connector.ports import (
    CrmRef,
    CrmTask,
    Enrollment,
    SegmentList,
    TaskCompletion,
    TaskKind,
)
from crm_adapters.fake import ENROLLMENT_REFUSALS, FakeCrmAdapter
from crm_adapters.hubspot.lists import segment_filter

LISTS = [SegmentList("high_risk", "Billing risk: High risk"),
         SegmentList("habitual_late", "Billing risk: Habitually late")]


@dataclass
class Backend:
    adapter: Any  # CrmAdapter & PlaybookCrm
    add_company: Any  # (domain) -> CrmRef
    add_owner: Any  # (user_id, email, active=True) -> owner id
    set_owner: Any  # (ref, owner_id) -> None
    add_contact: Any  # (ref, email) -> contact id
    refuse_enrollment: Any  # (contact_id, category) -> None
    edit_list_filter: Any  # (name, segment) -> None: someone edits our list in the CRM
    add_static_list: Any  # (name) -> None
    add_human_task: Any  # (ref, kind, subject) -> task id
    delete_task: Any  # (task_id) -> None


def _fake() -> Backend:
    fake = FakeCrmAdapter()
    return Backend(
        fake,
        add_company=lambda domain: fake.add_record(domain=domain),
        add_owner=lambda user_id, email, active=True: fake.add_owner(
            user_id=user_id, email=email, active=active).owner_id,
        set_owner=fake.set_record_owner,
        add_contact=lambda ref, email: fake.add_contact(ref, email).contact_id,
        refuse_enrollment=fake.refuse_enrollment,
        edit_list_filter=fake.edit_list_filter,
        add_static_list=lambda name: fake.add_list(name, "high_risk", processing_type="MANUAL"),
        add_human_task=lambda ref, kind, subject: fake.add_task(ref, kind, subject,
                                                               body="Ask about the renewal"),
        delete_task=fake.delete_task,
    )


def _hubspot(request) -> Backend:
    standin = request.getfixturevalue("standin")
    adapter = request.getfixturevalue("hubspot_adapter")

    def set_owner(ref: CrmRef, owner_id: str) -> None:
        standin.companies[ref.record_id]["hubspot_owner_id"] = owner_id

    def edit_list_filter(name: str, segment: str) -> None:
        found = next(x for x in standin.lists.values() if x["name"] == name)
        found["filterBranch"] = segment_filter(segment)

    def add_human_task(ref: CrmRef, kind: TaskKind, subject: str) -> str:
        return standin.add_task(ref.record_id, {
            "hs_task_subject": subject, "hs_task_type": kind.value, "hs_task_status": "NOT_STARTED",
            "hs_task_body": "Ask about the renewal", "hs_timestamp": "2026-12-04T09:00:00.000Z"})

    return Backend(
        adapter,
        add_company=lambda domain: CrmRef("companies", standin.add_company(domain=domain)),
        add_owner=lambda user_id, email, active=True: standin.add_owner(
            user_id=int(user_id) if user_id else None, email=email, archived=not active),
        set_owner=set_owner,
        add_contact=lambda ref, email: standin.add_contact(ref.record_id, email),
        refuse_enrollment=lambda contact_id, category: standin.enrollment_refusals.__setitem__(
            contact_id, category),
        edit_list_filter=edit_list_filter,
        add_static_list=lambda name: standin.add_list(name, "MANUAL", None),
        add_human_task=add_human_task,
        delete_task=lambda task_id: standin.tasks.pop(task_id),
    )


@pytest.fixture(params=["fake", "hubspot"])
def backend(request) -> Backend:
    return _fake() if request.param == "fake" else _hubspot(request)


def _task(ref: CrmRef, key: str, **overrides: Any) -> CrmTask:
    values: dict[str, Any] = {
        "key": key, "ref": ref, "kind": TaskKind.CALL, "subject": "Call: card expired, 16 days late",
        "body": "EUR 120.50 overdue since 2026-11-17.", "due_at": "2026-12-04T09:00:00+00:00",
        "owner_id": None,
    }
    return CrmTask(**(values | overrides))


# -- lists ---------------------------------------------------------------------------------------


def test_lists_are_created_once_and_found_again_by_name(backend):
    first = backend.adapter.ensure_segment_lists(LISTS)
    second = backend.adapter.ensure_segment_lists(LISTS)

    assert first.created == [x.name for x in LISTS] and first.problems == []
    assert second.created == [] and second.updated == []
    assert second.unchanged == [x.name for x in LISTS]
    assert second.list_ids == first.list_ids
    assert set(first.list_ids) == {"high_risk", "habitual_late"} and all(first.list_ids.values())


def test_a_changed_list_filter_is_put_back(backend):
    backend.adapter.ensure_segment_lists(LISTS)
    backend.edit_list_filter("Billing risk: High risk", "low_risk")

    fixed = backend.adapter.ensure_segment_lists(LISTS)
    again = backend.adapter.ensure_segment_lists(LISTS)

    assert fixed.updated == ["Billing risk: High risk"]
    assert fixed.unchanged == ["Billing risk: Habitually late"]
    assert again.updated == [] and len(again.unchanged) == 2


def test_a_static_list_holding_our_name_is_reported_and_left_alone(backend):
    backend.add_static_list("Billing risk: High risk")

    report = backend.adapter.ensure_segment_lists(LISTS)

    assert report.created == ["Billing risk: Habitually late"]
    assert len(report.problems) == 1 and "Billing risk: High risk" in report.problems[0]
    assert "high_risk" not in report.list_ids


# -- tasks ---------------------------------------------------------------------------------------


def test_tasks_are_created_found_open_flagged_as_ours_and_completed(backend):
    company = backend.add_company("smile-dental.example")
    owner = backend.add_owner("2222222", "dana@smile-dental.example")
    human = backend.add_human_task(company, TaskKind.TODO, "Renewal call")

    created = backend.adapter.create_tasks([_task(company, "decision-1", owner_id=owner)])
    task_id = created.created["decision-1"]
    open_before = backend.adapter.open_tasks([company])[company]
    done = backend.adapter.complete_tasks([TaskCompletion("close-1", task_id,
                                                          "Closed by dunning-connector: payment recovered")])
    open_after = backend.adapter.open_tasks([company])[company]

    assert created.failed == [] and task_id
    by_id = {t.task_id: t for t in open_before}
    assert set(by_id) == {task_id, human}
    assert by_id[task_id].ours and by_id[task_id].kind is TaskKind.CALL
    assert by_id[task_id].key == "decision-1"
    assert by_id[task_id].subject == "Call: card expired, 16 days late"
    assert not by_id[human].ours and by_id[human].key == ""
    assert done.ok == ["close-1"] and done.failed == []
    assert [t.task_id for t in open_after] == [human]


def test_completing_twice_is_fine_and_a_deleted_task_is_reported(backend):
    company = backend.add_company("smile-dental.example")
    task_id = backend.adapter.create_tasks([_task(company, "d1")]).created["d1"]
    gone = backend.adapter.create_tasks([_task(company, "d2")]).created["d2"]
    backend.delete_task(gone)
    completion = TaskCompletion("c1", task_id, "Closed: written off")

    backend.adapter.complete_tasks([completion])
    report = backend.adapter.complete_tasks([completion, TaskCompletion("c2", gone, "Closed")])

    assert report.ok == ["c1"]
    assert [(f.key, f.category) for f in report.failed] == [("c2", "OBJECT_NOT_FOUND")]


def test_one_bad_task_fails_alone(backend):
    company = backend.add_company("smile-dental.example")
    other = backend.add_company("ortho.example")
    missing = CrmRef("companies", "99999999")

    report = backend.adapter.create_tasks([
        _task(company, "good-1"),
        _task(company, "bad-due", due_at="tomorrow morning"),
        _task(missing, "no-company"),
        _task(other, "good-2", kind=TaskKind.TODO, priority="MEDIUM"),
        _task(other, "bad-priority", priority="URGENT"),
    ])

    assert sorted(report.created) == ["good-1", "good-2"]
    assert sorted(f.key for f in report.failed) == ["bad-due", "bad-priority", "no-company"]
    assert {f.category for f in report.failed if f.key != "no-company"} == {"INVALID_VALUE"}
    kinds = {t.kind for t in backend.adapter.open_tasks([other])[other]}
    assert kinds == {TaskKind.TODO}


# -- owners and contacts -------------------------------------------------------------------------


def test_record_owners_and_owner_details(backend):
    owned = backend.add_company("smile-dental.example")
    unowned = backend.add_company("ortho.example")
    active = backend.add_owner("2222222", "dana@smile-dental.example")
    gone = backend.add_owner("3333333", "former@smile-dental.example", active=False)
    backend.set_owner(owned, active)

    record_owners = backend.adapter.record_owners([owned, unowned, CrmRef("companies", "99999999")])
    details = backend.adapter.owners([active, gone, "77777777"])

    assert record_owners == {owned: active, unowned: None}
    assert set(details) == {active, gone}
    assert (details[active].user_id, details[active].email, details[active].active) == (
        "2222222", "dana@smile-dental.example", True)
    assert details[gone].active is False


def test_record_contacts(backend):
    company = backend.add_company("smile-dental.example")
    lonely = backend.add_company("ortho.example")
    ids = [backend.add_contact(company, email) for email in
           ("billing@smile-dental.example", "dr.lee@smile-dental.example", None)]

    contacts = backend.adapter.record_contacts([company, lonely])

    assert contacts[lonely] == []
    assert [(c.contact_id, c.email) for c in contacts[company]] == [
        (ids[0], "billing@smile-dental.example"), (ids[1], "dr.lee@smile-dental.example"),
        (ids[2], None)]


# -- enrollment ----------------------------------------------------------------------------------


def _enrollment(key: str, contact_id: str) -> Enrollment:
    return Enrollment(key, contact_id, "123456789", "2222222", "dana@smile-dental.example")


def test_enrollment_ok_then_already_enrolled(backend):
    company = backend.add_company("smile-dental.example")
    contact = backend.add_contact(company, "billing@smile-dental.example")

    first = backend.adapter.enroll([_enrollment("e1", contact)])
    second = backend.adapter.enroll([_enrollment("e2", contact)])

    assert list(first.created) == ["e1"] and first.created["e1"] and first.failed == []
    assert second.created == {}
    assert [(f.key, f.category, f.retriable) for f in second.failed] == [
        ("e2", "already_enrolled", False)]


@pytest.mark.parametrize("category", [c for c in ENROLLMENT_REFUSALS])
def test_each_refusal_has_its_category_and_the_rest_go_through(backend, category):
    company = backend.add_company("smile-dental.example")
    refused = backend.add_contact(company, "billing@smile-dental.example")
    fine = backend.add_contact(company, "dr.lee@smile-dental.example")
    backend.refuse_enrollment(refused, category)

    report = backend.adapter.enroll([_enrollment("ok", fine), _enrollment("no", refused)])

    assert list(report.created) == ["ok"]
    assert [(f.key, f.category) for f in report.failed] == [("no", category)]
    assert report.failed[0].reason
