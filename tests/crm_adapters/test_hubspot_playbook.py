"""HubSpotAdapter's playbook calls, request by request: paths and versions, exact bodies
(association type ids, hs_timestamp, the userId query parameter), and how refusals are read."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from connector.errors import TransientProviderError
from connector.ports import (
    CrmRef,
    CrmTask,
    Enrollment,
    SegmentList,
    TaskCompletion,
    TaskKind,
)
from crm_adapters.hubspot import paths
from crm_adapters.hubspot.adapter import HubSpotAdapter
from crm_adapters.hubspot.lists import segment_filter
from crm_adapters.hubspot.rate_limit import SlidingWindowLimiter
from crm_adapters.hubspot.sequences import classify_refusal

from hubspot_standin import BASE_URL, make_client, payload

TASKS_CREATE = BASE_URL + paths.objects_batch_create("tasks")
TASKS_READ = BASE_URL + paths.objects_batch_read("tasks")
TASKS_UPDATE = BASE_URL + paths.objects_batch_update("tasks")
TASKS_SEARCH = BASE_URL + paths.objects_search("tasks")
ENROLL = BASE_URL + paths.sequence_enrollments()
LISTS = BASE_URL + paths.lists()
HIGH = SegmentList("high_risk", "Billing risk: High risk")
HIGH_BY_NAME = BASE_URL + paths.list_by_name("0-2", HIGH.name)


class CountingLimiter(SlidingWindowLimiter):
    def __init__(self, clock) -> None:
        super().__init__(1000, 1, clock=clock, sleep=clock.sleep)
        self.acquired = 0

    def acquire(self) -> float:
        self.acquired += 1
        return super().acquire()


@pytest.fixture
def adapter(clock) -> HubSpotAdapter:
    return HubSpotAdapter(make_client(clock))


def _body(call) -> dict:
    return json.loads(call.request.body)


def _query(call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def _company(record_id: str) -> CrmRef:
    return CrmRef("companies", record_id)


def _error(status: int, message: str, category: str, **extra) -> dict:
    return {"status": "error", "message": message, "category": category,
            "correlationId": "0b5c1f4e-9d3a-4b8e-8f21-5e6d7c8b9a01", **extra}


def test_playbook_paths_are_on_date_versions():
    assert paths.lists() == "/crm/lists/2026-09"
    assert paths.list_by_name("0-2", "Billing risk: High risk") == (
        "/crm/lists/2026-09/object-type-id/0-2/name/Billing%20risk%3A%20High%20risk")
    assert paths.list_filters("611") == "/crm/lists/2026-09/611/update-list-filters"
    assert paths.objects_batch_create("tasks") == "/crm/objects/2026-09/tasks/batch/create"
    assert paths.associations_batch_read("companies", "contacts") == (
        "/crm/associations/2026-09/companies/contacts/batch/read")
    assert paths.owner("64492917") == "/crm/owners/2026-09/64492917"
    assert paths.sequence_enrollments() == "/automation/sequences/2026-09/enrollments"
    assert paths.is_search_path(paths.objects_search("tasks"))


# -- lists ---------------------------------------------------------------------------------------


def test_a_missing_list_is_looked_up_by_name_then_created_dynamic(http, adapter):
    http.get(HIGH_BY_NAME, status=404, json=_error(404, "List does not exist", "OBJECT_NOT_FOUND"))
    http.post(LISTS, json={"list": {"listId": "611", "name": HIGH.name, "processingType": "DYNAMIC",
                                    "objectTypeId": "0-2", "processingStatus": "PROCESSING"}})

    report = adapter.ensure_segment_lists([HIGH])

    assert _query(http.calls[0]) == {"includeFilters": ["true"]}
    assert _body(http.calls[1]) == {
        "name": "Billing risk: High risk", "objectTypeId": "0-2", "processingType": "DYNAMIC",
        "filterBranch": {
            "filterBranchType": "OR", "filterBranchOperator": "OR", "filters": [],
            "filterBranches": [{
                "filterBranchType": "AND", "filterBranchOperator": "AND", "filterBranches": [],
                "filters": [{"filterType": "PROPERTY", "property": "dunning_risk_segment",
                             "operation": {"operationType": "ENUMERATION", "operator": "IS_ANY_OF",
                                           "values": ["high_risk"],
                                           "includeObjectsWithNoValueSet": False}}]}]}}
    assert report.created == [HIGH.name] and report.list_ids == {"high_risk": "611"}


def test_hubspots_echo_of_our_filter_counts_as_unchanged(http, adapter):
    echoed = segment_filter("high_risk")
    # HubSpot echoes extra keys and may reorder: neither is a change.
    echoed["filterBranches"][0]["filters"][0]["operation"]["operationTypeDisplay"] = "ENUMERATION"
    echoed["filterBranches"][0]["filterBranches"] = []
    echoed["filterBranches"][0]["objectTypeId"] = "0-2"
    http.get(HIGH_BY_NAME, json={"list": {"listId": "611", "name": HIGH.name,
                                          "processingType": "DYNAMIC", "filterBranch": echoed}})

    report = adapter.ensure_segment_lists([HIGH])

    assert report.unchanged == [HIGH.name] and len(http.calls) == 1


def test_a_changed_filter_is_replaced_without_enrolling_members_in_workflows(http, adapter):
    http.get(HIGH_BY_NAME, json={"list": {"listId": "611", "name": HIGH.name, "processingType": "DYNAMIC",
                                          "filterBranch": segment_filter("very_high")}})
    http.put(BASE_URL + paths.list_filters("611"), json={"updatedList": {"listId": "611"}})

    report = adapter.ensure_segment_lists([HIGH])

    assert _query(http.calls[1]) == {"enrollObjectsInWorkflows": ["false"]}
    assert _body(http.calls[1]) == {"filterBranch": segment_filter("high_risk")}
    assert report.updated == [HIGH.name] and report.list_ids == {"high_risk": "611"}


def test_a_list_created_meanwhile_is_read_back_not_duplicated(http, adapter):
    http.get(HIGH_BY_NAME, status=404, json=_error(404, "List does not exist", "OBJECT_NOT_FOUND"))
    http.post(LISTS, status=400, json=_error(400, "A list with this name already exists",
                                             "VALIDATION_ERROR"))
    http.get(HIGH_BY_NAME, json={"list": {"listId": "612", "name": HIGH.name, "processingType": "DYNAMIC",
                                          "filterBranch": segment_filter("high_risk")}})

    report = adapter.ensure_segment_lists([HIGH])

    assert report.created == [] and report.unchanged == [HIGH.name]
    assert report.list_ids == {"high_risk": "612"}


def test_a_refused_list_is_a_problem_not_an_exception(http, adapter):
    http.get(HIGH_BY_NAME, status=403, json=payload("missing_scopes_403.json"))

    report = adapter.ensure_segment_lists([HIGH])

    assert len(report.problems) == 1 and "MISSING_SCOPES" in report.problems[0]


# -- tasks ---------------------------------------------------------------------------------------


def test_task_create_body_association_timestamp_owner_and_marker(http, adapter):
    http.post(TASKS_CREATE, status=201, json={"status": "COMPLETE", "results": [
        {"id": "90018001", "objectWriteTraceId": "decision-7", "properties": {}}]})

    report = adapter.create_tasks([CrmTask(
        key="decision-7", ref=_company("9876"), kind=TaskKind.CALL,
        subject="Call: card expired, 16 days late", body="EUR 120.50 overdue.",
        due_at="2026-12-04T10:00:00+01:00", owner_id="64492917")])

    assert _body(http.calls[0]) == {"inputs": [{
        "objectWriteTraceId": "decision-7",
        "properties": {
            "hs_task_subject": "Call: card expired, 16 days late",
            "hs_task_body": "EUR 120.50 overdue.\n\n[dunning-connector] ref:decision-7",
            "hs_task_type": "CALL",
            "hs_task_priority": "HIGH",
            "hs_task_status": "NOT_STARTED",
            "hs_timestamp": "2026-12-04T09:00:00.000Z",
            "hubspot_owner_id": "64492917",
        },
        "associations": [{"to": {"id": "9876"}, "types": [
            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 192}]}],
    }]}
    assert report.created == {"decision-7": "90018001"} and report.calls == 1


def test_an_unassigned_todo_sends_no_owner(http, adapter):
    http.post(TASKS_CREATE, status=201, json={"status": "COMPLETE", "results": [
        {"id": "90018002", "properties": {}}]})

    report = adapter.create_tasks([CrmTask("d8", _company("9876"), TaskKind.TODO, "Pick the billing "
                                           "contact", "", "2026-12-04T09:00:00Z", priority="MEDIUM")])

    props = _body(http.calls[0])["inputs"][0]["properties"]
    assert "hubspot_owner_id" not in props and props["hs_task_type"] == "TODO"
    assert props["hs_task_body"] == "[dunning-connector] ref:d8"
    # No trace id echoed: a fully successful batch is read in input order.
    assert report.created == {"d8": "90018002"}


def test_tasks_go_in_batches_of_100(http, adapter):
    def answer(request):
        inputs = json.loads(request.body)["inputs"]
        return 201, {}, json.dumps({"status": "COMPLETE", "results": [
            {"id": str(90000000 + i), "objectWriteTraceId": item["objectWriteTraceId"], "properties": {}}
            for i, item in enumerate(inputs)]})
    http.add_callback(responses.POST, TASKS_CREATE, callback=answer)

    report = adapter.create_tasks([CrmTask(f"d{i}", _company("9876"), TaskKind.CALL, "Call", "",
                                           "2026-12-04T09:00:00Z") for i in range(150)])

    assert [len(_body(c)["inputs"]) for c in http.calls] == [100, 50]
    assert len(report.created) == 150 and report.calls == 2


def test_an_outage_before_any_task_raises(http, clock):
    adapter = HubSpotAdapter(make_client(clock, max_retries=0))
    http.post(TASKS_CREATE, status=503)

    with pytest.raises(TransientProviderError):
        adapter.create_tasks([CrmTask("d1", _company("9876"), TaskKind.CALL, "Call", "",
                                      "2026-12-04T09:00:00Z")])


def test_an_outage_after_a_batch_went_through_reports_the_rest_retriable(http, clock):
    adapter = HubSpotAdapter(make_client(clock, max_retries=0))
    http.post(TASKS_CREATE, status=201, json={"status": "COMPLETE", "results": [
        {"id": str(90000000 + i), "objectWriteTraceId": f"d{i}", "properties": {}} for i in range(100)]})
    http.post(TASKS_CREATE, status=503)

    report = adapter.create_tasks([CrmTask(f"d{i}", _company("9876"), TaskKind.CALL, "Call", "",
                                           "2026-12-04T09:00:00Z") for i in range(101)])

    assert len(report.created) == 100
    assert [(f.key, f.category, f.retriable) for f in report.failed] == [("d100", "TRANSIENT", True)]


def test_open_tasks_search_filters_on_the_company_and_status_through_the_search_limiter(http, clock):
    search_limiter = CountingLimiter(clock)
    adapter = HubSpotAdapter(make_client(clock, search_limiter=search_limiter))
    http.post(TASKS_SEARCH, json={"total": 3, "results": [
        {"id": "901", "properties": {"hs_task_subject": "Call", "hs_task_type": "CALL",
                                     "hs_task_status": "NOT_STARTED",
                                     "hs_task_body": "x\n\n[dunning-connector] ref:decision-7"}},
        {"id": "902", "properties": {"hs_task_subject": "Send deck", "hs_task_type": "EMAIL",
                                     "hs_task_status": "NOT_STARTED", "hs_task_body": ""}},
        {"id": "903", "properties": {"hs_task_subject": "Renewal", "hs_task_type": None,
                                     "hs_task_status": "WAITING", "hs_task_body": None}},
    ], "paging": {"next": {"after": "3"}}})
    http.post(TASKS_SEARCH, json={"total": 3, "results": []})

    found = adapter.open_tasks([_company("9876")])[_company("9876")]

    first = _body(http.calls[0])
    assert first["filterGroups"] == [{"filters": [
        {"propertyName": "associations.company", "operator": "EQ", "value": "9876"},
        {"propertyName": "hs_task_status", "operator": "NEQ", "value": "COMPLETED"}]}]
    assert "hs_task_body" in first["properties"] and first["limit"] == 200
    assert _body(http.calls[1])["after"] == "3"
    assert search_limiter.acquired == 2
    assert [(t.task_id, t.kind, t.ours, t.key) for t in found] == [
        ("901", TaskKind.CALL, True, "decision-7"), ("903", TaskKind.TODO, False, "")]


def test_complete_appends_the_note_to_the_current_body(http, adapter):
    http.post(TASKS_READ, json={"status": "COMPLETE", "results": [
        {"id": "901", "properties": {"hs_task_status": "NOT_STARTED",
                                     "hs_task_body": "Call about EUR 120.50\n\n[dunning-connector] ref:d7"}}]})
    http.post(TASKS_UPDATE, json={"status": "COMPLETE", "results": [{"id": "901", "properties": {}}]})

    report = adapter.complete_tasks([TaskCompletion("c1", "901", "Closed by dunning-connector: "
                                                    "payment recovered")])

    assert _body(http.calls[0])["properties"] == ["hs_task_status", "hs_task_body"]
    assert _body(http.calls[1]) == {"inputs": [{"id": "901", "objectWriteTraceId": "901", "properties": {
        "hs_task_status": "COMPLETED",
        "hs_task_body": "Call about EUR 120.50\n\n[dunning-connector] ref:d7\n\n"
                        "Closed by dunning-connector: payment recovered"}}]}
    assert report.ok == ["c1"] and report.calls == 2


def test_a_task_deleted_between_read_and_update_is_reported(http, adapter):
    http.post(TASKS_READ, json={"status": "COMPLETE", "results": [
        {"id": "901", "properties": {"hs_task_status": "NOT_STARTED", "hs_task_body": ""}},
        {"id": "902", "properties": {"hs_task_status": "NOT_STARTED", "hs_task_body": ""}}]})
    http.post(TASKS_UPDATE, status=207, json={"status": "COMPLETE",
                                              "results": [{"id": "901", "properties": {}}],
                                              "errors": [{"status": "error", "category": "OBJECT_NOT_FOUND",
                                                          "message": "Object 902 does not exist",
                                                          "context": {"ids": ["902"]}}]})

    report = adapter.complete_tasks([TaskCompletion("c1", "901", "done"), TaskCompletion("c2", "902", "done")])

    assert report.ok == ["c1"]
    assert [(f.key, f.category) for f in report.failed] == [("c2", "OBJECT_NOT_FOUND")]


# -- owners --------------------------------------------------------------------------------------


def _owner(owner_id: str, user_id: int | None, **extra) -> dict:
    return {"id": owner_id, "email": f"{owner_id}@smile-dental.example", "userId": user_id,
            "userIdIncludingInactive": user_id or 9_000_001, "type": "PERSON", "archived": False,
            "createdAt": "2024-04-02T08:15:00.000Z", "updatedAt": "2026-10-01T09:00:00.000Z", **extra}


def test_an_owner_not_found_active_is_looked_up_among_archived_ones(http, adapter):
    url = BASE_URL + paths.owner("64492917")
    http.get(url, status=404, json=_error(404, "Owner not found", "OBJECT_NOT_FOUND"))
    http.get(url, json=_owner("64492917", 2222222, archived=True))

    found = adapter.owners(["64492917"])

    assert [_query(c)["archived"] for c in http.calls] == [["false"], ["true"]]
    assert found["64492917"].user_id == "2222222" and found["64492917"].active is False


def test_a_deactivated_user_is_an_inactive_owner_with_its_user_id(http, adapter):
    http.get(BASE_URL + paths.owner("64492917"), json=_owner("64492917", None))

    owner = adapter.owners(["64492917"])["64492917"]

    assert owner.active is False and owner.user_id == "9000001"


def test_many_owners_are_read_by_paging(http, adapter):
    wanted = [str(64000000 + i) for i in range(12)]
    http.get(BASE_URL + paths.owners(), json={"results": [_owner(o, 100 + i) for i, o in enumerate(wanted[:8])],
                                              "paging": {"next": {"after": "8"}}})
    http.get(BASE_URL + paths.owners(), json={"results": [_owner(o, 200) for o in wanted[8:11]]})
    http.get(BASE_URL + paths.owners(), json={"results": [_owner(wanted[11], 300, archived=True)]})

    found = adapter.owners(wanted)

    assert len(http.calls) == 3 and set(found) == set(wanted)
    assert _query(http.calls[1])["after"] == ["8"]
    assert _query(http.calls[2])["archived"] == ["true"]
    assert found[wanted[11]].active is False and found[wanted[0]].user_id == "100"


def test_record_owners_batch_reads_hubspot_owner_id(http, adapter):
    http.post(BASE_URL + paths.objects_batch_read(), json={"status": "COMPLETE", "results": [
        {"id": "9876", "properties": {"hubspot_owner_id": "64492917"}},
        {"id": "9877", "properties": {"hubspot_owner_id": None}}]})

    owners = adapter.record_owners([_company("9876"), _company("9877")])

    assert _body(http.calls[0]) == {"inputs": [{"id": "9876"}, {"id": "9877"}],
                                    "properties": ["hubspot_owner_id"], "propertiesWithHistory": []}
    assert owners == {_company("9876"): "64492917", _company("9877"): None}


# -- enrollment ----------------------------------------------------------------------------------


def _enrollment(key: str = "e1", contact: str = "456") -> Enrollment:
    return Enrollment(key, contact, "123456789", "2222222", "dana@smile-dental.example")


def test_enroll_sends_the_owners_user_id_as_query_and_the_sender_in_the_body(http, adapter):
    http.post(ENROLL, json={"id": "5550001", "toEmail": "billing@smile-dental.example",
                            "enrolledAt": "2026-12-03T15:00:02.000Z", "updatedAt": "2026-12-03T15:00:02.000Z"})

    report = adapter.enroll([_enrollment()])

    assert _query(http.calls[0]) == {"userId": ["2222222"]}
    assert _body(http.calls[0]) == {"sequenceId": "123456789", "contactId": "456",
                                    "senderEmail": "dana@smile-dental.example"}
    assert report.created == {"e1": "5550001"} and report.calls == 1


def test_a_missing_scope_stops_further_enrollment_calls(http, adapter):
    http.post(ENROLL, status=403, json=payload("missing_scopes_403.json"))

    report = adapter.enroll([_enrollment("e1", "456"), _enrollment("e2", "457")])

    assert len(http.calls) == 1
    assert [(f.key, f.category) for f in report.failed] == [("e1", "missing_scope"), ("e2", "missing_scope")]


def test_an_outage_after_one_enrollment_reports_the_rest_retriable(http, clock):
    adapter = HubSpotAdapter(make_client(clock, max_retries=0))
    http.post(ENROLL, json={"id": "5550001"})
    http.post(ENROLL, status=502)

    report = adapter.enroll([_enrollment("e1", "456"), _enrollment("e2", "457"), _enrollment("e3", "458")])

    assert report.created == {"e1": "5550001"}
    assert [(f.key, f.retriable) for f in report.failed] == [("e2", True), ("e3", True)]


def test_an_outage_before_any_enrollment_raises(http, clock):
    adapter = HubSpotAdapter(make_client(clock, max_retries=0))
    http.post(ENROLL, status=503)

    with pytest.raises(TransientProviderError):
        adapter.enroll([_enrollment()])


@pytest.mark.parametrize(("status", "body", "category"), [
    (403, payload("missing_scopes_403.json"), "missing_scope"),
    (403, None, "missing_scope"),
    (400, _error(400, "Contact 456 cannot be enrolled: ALREADY_ENROLLED", "VALIDATION_ERROR"),
     "already_enrolled"),
    (400, _error(400, "Contact is currently enrolled in another sequence", "VALIDATION_ERROR"),
     "already_enrolled"),
    (400, _error(400, "Invalid input", "VALIDATION_ERROR",
                 errors=[{"message": "recipient opted out", "code": "UNSUBSCRIBED_PERSONAL"}]),
     "unsubscribed"),
    (400, _error(400, "The sender's inbox has reached its sequences daily send limit",
                 "VALIDATION_ERROR"), "daily_limit"),
    (400, _error(400, "User 2222222 does not have an assigned Sales Hub Professional seat",
                 "VALIDATION_ERROR"), "no_seat"),
    (400, _error(400, "Inbox disconnected: reconnect dana@smile-dental.example", "VALIDATION_ERROR"),
     "inbox_not_connected"),
    (404, _error(404, "Sequence 123456789 not found", "OBJECT_NOT_FOUND"), "refused"),
    (400, "not json", "refused"),
])
def test_refusals_are_read_into_categories(status, body, category):
    assert classify_refusal(status, body) == category
