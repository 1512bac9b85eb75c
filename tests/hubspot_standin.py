"""Helpers for the CRM adapter tests: a fake clock, payloads, and a small stateful HubSpot stand-in.

The stand-in answers the endpoints HubSpotAdapter uses through `responses` callbacks, with
bodies shaped like HubSpot's (reference/hubspot.md §2, §3, §8; tests/payloads/hubspot/): 200 or
207 multi-status for batches, a whole-batch 400 VALIDATION_ERROR for a duplicate unique value
(without naming the input, so the adapter must bisect), per-input 207 errors for the portal's
own validation rules (enforced from /2026-09/), OBJECT_NOT_FOUND for unknown ids.

The playbook endpoints (reference/hubspot.md §4-§6): lists found by name / created / filters
replaced, tasks batch create/read/update and search on `associations.company`, owners by id and
paged, company→contacts association batch read (207 NO_ASSOCIATIONS_FOUND for a company without
contacts), contacts batch read, sequence enrollment. The enrollment refusal bodies other than
MISSING_SCOPES are NOT HubSpot's verbatim answers (none is published): they use HubSpot's standard
error shape with the wording of HubSpot's own enrollment error codes; see
crm_adapters/hubspot/sequences.py.
"""

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import requests
import responses

from crm_adapters.hubspot import paths
from crm_adapters.hubspot.client import HubSpotClient
from crm_adapters.hubspot.properties import GROUP_NAME, ID_PROPERTY
from crm_adapters.hubspot.rate_limit import SlidingWindowLimiter

PAYLOADS = Path(__file__).resolve().parent / "payloads" / "hubspot"
BASE_URL = "https://api.hubapi.test"
TOKEN = "pat-na1-test-token-0123456789"


def payload(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())


class FakeClock:
    """Monotonic time that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_client(clock: FakeClock, **kwargs: Any) -> HubSpotClient:
    kwargs.setdefault("limiter", SlidingWindowLimiter(110, 10, clock=clock, sleep=clock.sleep))
    kwargs.setdefault("search_limiter", SlidingWindowLimiter(5, 1, clock=clock, sleep=clock.sleep))
    kwargs.setdefault("sleep", clock.sleep)
    kwargs.setdefault("base_url", BASE_URL)
    return HubSpotClient(requests.Session(), kwargs.pop("token", lambda: TOKEN), **kwargs)


def _error(status: int, message: str, category: str, **extra: Any) -> tuple[int, dict, str]:
    body = {"status": "error", "message": message,
            "correlationId": "4c1e0e8e-2f51-4d7e-9d0b-b5d1d6a0f001", "category": category, **extra}
    return status, {}, json.dumps(body)


_STANDARD_PROPERTIES = {
    "name": {"name": "name", "type": "string", "fieldType": "text", "groupName": "companyinformation"},
    "domain": {"name": "domain", "type": "string", "fieldType": "text",
               "groupName": "companyinformation"},
}


class HubSpotStandIn:
    """A tiny in-memory HubSpot portal (companies only) behind `responses`."""

    def __init__(self, mock: responses.RequestsMock) -> None:
        self.groups: set[str] = set()
        self.properties: dict[str, dict[str, Any]] = {k: dict(v) for k, v in _STANDARD_PROPERTIES.items()}
        self.companies: dict[str, dict[str, str]] = {}
        self.rules: dict[str, str] = {}  # objectWriteTraceId → validation message
        self.lists: dict[str, dict[str, Any]] = {}  # listId → list
        self.tasks: dict[str, dict[str, Any]] = {}  # task id → {"properties", "company"}
        self.owners: dict[str, dict[str, Any]] = {}  # owner id → PublicOwner
        self.contacts: dict[str, dict[str, str]] = {}  # contact id → properties
        self.company_contacts: dict[str, list[str]] = {}
        self.enrollments: list[dict[str, Any]] = []  # {"userId", **body}
        self.enrollment_refusals: dict[str, str] = {}  # contact id → refusal category
        self._ids = itertools.count(18001)
        self._register(mock)

    # -- state helpers ------------------------------------------------------------------

    def add_company(self, **props: str) -> str:
        record_id = str(next(self._ids))
        self.companies[record_id] = {k: v for k, v in props.items() if v != ""}
        return record_id

    def add_owner(self, *, user_id: int | None, email: str | None, archived: bool = False) -> str:
        owner_id = str(next(self._ids) + 60_000_000)
        self.owners[owner_id] = {
            "id": owner_id, "email": email, "firstName": "Dana", "lastName": "Reyes",
            "userId": user_id, "userIdIncludingInactive": user_id or 7_654_321, "type": "PERSON",
            "createdAt": "2024-04-02T08:15:00.000Z", "updatedAt": "2026-10-01T09:00:00.000Z",
            "archived": archived, "teams": []}
        return owner_id

    def add_contact(self, company_id: str, email: str | None) -> str:
        contact_id = str(next(self._ids))
        self.contacts[contact_id] = {"email": email} if email else {}
        self.company_contacts.setdefault(company_id, []).append(contact_id)
        return contact_id

    def add_task(self, company_id: str, properties: dict[str, str]) -> str:
        task_id = str(next(self._ids) + 90_000_000)
        self.tasks[task_id] = {"properties": dict(properties), "company": company_id}
        return task_id

    def add_list(self, name: str, processing_type: str, filter_branch: dict | None) -> str:
        list_id = str(next(self._ids))
        self.lists[list_id] = {
            "listId": list_id, "listVersion": 1, "name": name, "objectTypeId": "0-2",
            "processingType": processing_type, "processingStatus": "COMPLETE",
            "createdAt": "2026-12-03T15:00:00.000Z", "updatedAt": "2026-12-03T15:00:00.000Z",
            "filtersUpdatedAt": "2026-12-03T15:00:00.000Z", "createdById": "2222222",
            **({"filterBranch": filter_branch} if filter_branch is not None else {})}
        return list_id

    # -- routing --------------------------------------------------------------------------

    def _register(self, mock: responses.RequestsMock) -> None:
        def route(method: str, path: str, handler: Any, pattern: str | None = None) -> None:
            regex = re.compile(re.escape(BASE_URL) + (pattern or re.escape(path)) + r"(\?.*)?$")
            mock.add_callback(method, regex, callback=handler, content_type="application/json")

        props = paths.properties()
        route("GET", paths.property_group(GROUP_NAME), self._get_group)
        route("POST", paths.property_groups(), self._create_group)
        route("GET", props, self._list_properties)
        route("POST", props, self._create_property)
        route("POST", paths.properties_batch_create(), self._batch_create_properties)
        route("PATCH", "", self._patch_property, re.escape(props) + r"/(?P<name>[a-z0-9_]+)")
        route("POST", paths.objects_batch_read(), self._batch_read)
        route("POST", paths.objects_search(), self._search)
        route("POST", paths.objects_batch_update(), self._batch_update)
        route("POST", paths.objects_batch_upsert(), self._batch_upsert)
        route("GET", "", self._get_list_by_name,
              re.escape(paths.lists()) + r"/object-type-id/0-2/name/(?P<name>[^?]+)")
        route("POST", paths.lists(), self._create_list)
        route("PUT", "", self._update_list_filters,
              re.escape(paths.lists()) + r"/(?P<id>[0-9]+)/update-list-filters")
        route("POST", paths.objects_batch_create(paths.TASKS), self._create_tasks)
        route("POST", paths.objects_batch_read(paths.TASKS), self._read_tasks)
        route("POST", paths.objects_batch_update(paths.TASKS), self._update_tasks)
        route("POST", paths.objects_search(paths.TASKS), self._search_tasks)
        route("GET", "", self._get_owner, re.escape(paths.owners()) + r"/(?P<id>[^/?]+)")
        route("GET", paths.owners(), self._list_owners)
        route("POST", paths.associations_batch_read(paths.COMPANIES, paths.CONTACTS),
              self._company_contacts)
        route("POST", paths.objects_batch_read(paths.CONTACTS), self._read_contacts)
        route("POST", paths.sequence_enrollments(), self._enroll)

    # -- properties ---------------------------------------------------------------------

    def _get_group(self, request):
        if GROUP_NAME in self.groups:
            return 200, {}, json.dumps({"name": GROUP_NAME, "label": "Billing & dunning",
                                        "displayOrder": -1, "archived": False})
        return _error(404, f"Unable to find property group {GROUP_NAME}", "OBJECT_NOT_FOUND")

    def _create_group(self, request):
        body = json.loads(request.body)
        if body["name"] in self.groups:
            return _error(409, "A property group with that name already exists", "CONFLICT")
        self.groups.add(body["name"])
        return 201, {}, json.dumps({**body, "archived": False})

    def _list_properties(self, request):
        return 200, {}, json.dumps({"results": list(self.properties.values())})

    def _create_property(self, request):
        definition = json.loads(request.body)
        if definition["name"] in self.properties:
            return _error(409, f"Property named {definition['name']} already exists", "CONFLICT")
        self.properties[definition["name"]] = definition
        return 201, {}, json.dumps(definition)

    def _batch_create_properties(self, request):
        inputs = json.loads(request.body)["inputs"]
        for definition in inputs:
            self.properties[definition["name"]] = definition
        return 201, {}, json.dumps({"status": "COMPLETE", "results": inputs})

    def _patch_property(self, request):
        name = request.path_url.split("?")[0].rsplit("/", 1)[1]
        self.properties[name].update(json.loads(request.body))
        return 200, {}, json.dumps(self.properties[name])

    # -- objects --------------------------------------------------------------------------

    def _record(self, record_id: str, wanted: list[str] | None = None) -> dict[str, Any]:
        stored = self.companies[record_id]
        names = wanted if wanted is not None else list(stored)
        return {"id": record_id, "properties": {n: stored.get(n) for n in names} | {"hs_object_id": record_id},
                "createdAt": "2025-02-11T09:12:44.012Z", "updatedAt": "2026-12-03T15:00:01.127Z",
                "archived": False}

    def _by_unique(self, value: str) -> str | None:
        return next((rid for rid, p in self.companies.items() if p.get(ID_PROPERTY) == value), None)

    def _batch_read(self, request):
        body = json.loads(request.body)
        id_property = body.get("idProperty")
        results, missing = [], []
        for item in body["inputs"]:
            rid = self._by_unique(item["id"]) if id_property else item["id"]
            if rid in self.companies:
                results.append(self._record(rid, body.get("properties")))
            else:
                missing.append(item["id"])
        return self._batch_answer(results, [{
            "status": "error", "category": "OBJECT_NOT_FOUND",
            "message": "Could not get some COMPANY objects, they may be deleted or not exist. "
                       "Check that ids are valid.",
            "context": {"ids": missing}}] if missing else [])

    def _search(self, request):
        body = json.loads(request.body)
        values = set(body["filterGroups"][0]["filters"][0]["values"])
        hits = sorted(rid for rid, p in self.companies.items() if p.get("domain") in values)
        start = int(body.get("after") or 0)
        page = hits[start:start + body["limit"]]
        answer: dict[str, Any] = {"total": len(hits),
                                  "results": [self._record(rid, body["properties"]) for rid in page]}
        if start + body["limit"] < len(hits):
            answer["paging"] = {"next": {"after": str(start + body["limit"])}}
        return 200, {}, json.dumps(answer)

    def _validate(self, inputs: list[dict[str, Any]], key: str) -> tuple[int, dict, str] | None:
        seen = set()
        for item in inputs:
            if item[key] in seen:
                return _error(400, f"Duplicate IDs found in batch input: [{item[key]}]. IDs must be unique",
                              "VALIDATION_ERROR", context={"ids": [item[key]]})
            seen.add(item[key])
            for name in item["properties"]:
                if name not in self.properties:
                    return _error(400, "Property values were not valid: [{\"isValid\":false,"
                                  f"\"message\":\"Property \\\"{name}\\\" does not exist\","
                                  f"\"error\":\"PROPERTY_DOESNT_EXIST\",\"name\":\"{name}\"}}]",
                                  "VALIDATION_ERROR")
        return None

    def _unique_clash(self, inputs: list[dict[str, Any]], resolve) -> bool:
        for item in inputs:
            value = item["properties"].get(ID_PROPERTY)
            owner = self._by_unique(value) if value else None
            if owner is not None and owner != resolve(item):
                return True
        return False

    def _store(self, record_id: str, properties: dict[str, str]) -> None:
        stored = self.companies[record_id]
        for name, value in properties.items():
            if value == "":
                stored.pop(name, None)
            elif self.properties.get(name, {}).get("type") == "date":
                # Dates come back as epoch ms of midnight UTC, like HubSpot's batch examples.
                day = date.fromisoformat(value)
                stored[name] = str(int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000))
            else:
                stored[name] = value

    def _write(self, request, *, upsert: bool):
        inputs = json.loads(request.body)["inputs"]
        refused = self._validate(inputs, "id")
        if refused:
            return refused
        resolve = (lambda i: self._by_unique(i["id"])) if upsert else (lambda i: i["id"])
        if self._unique_clash(inputs, resolve):
            # The whole batch is refused and the message names no input: the adapter bisects.
            return _error(400, "Property values were not valid: [{\"isValid\":false,\"message\":"
                          "\"A company already has this value\",\"error\":\"INVALID_UNIQUE_VALUE\","
                          f"\"name\":\"{ID_PROPERTY}\"}}]", "VALIDATION_ERROR")
        results, errors = [], []
        for item in inputs:
            trace = item.get("objectWriteTraceId")
            if trace in self.rules:
                errors.append({"status": "error", "category": "VALIDATION_ERROR",
                               "message": "Property values were not valid: [{\"isValid\":false,"
                                          f"\"message\":\"{self.rules[trace]}\",\"error\":\"INVALID_ALPHA\"}}]",
                               "context": {"objectWriteTraceId": [trace]}})
                continue
            rid = resolve(item)
            new = False
            if rid is None and upsert:
                rid, new = self.add_company(**{ID_PROPERTY: item["id"]}), True
            if rid not in self.companies:
                errors.append({"status": "error", "category": "OBJECT_NOT_FOUND",
                               "message": f"Object {rid} does not exist",
                               "context": {"ids": [rid]}})
                continue
            self._store(rid, item["properties"])
            result = self._record(rid)
            if upsert:
                result["new"] = new
            results.append(result)
        return self._batch_answer(results, errors)

    def _batch_update(self, request):
        return self._write(request, upsert=False)

    def _batch_upsert(self, request):
        return self._write(request, upsert=True)

    # -- lists --------------------------------------------------------------------------

    def _get_list_by_name(self, request):
        path = request.path_url.split("?")[0]
        name = unquote(path.rsplit("/name/", 1)[1])
        found = next((x for x in self.lists.values() if x["name"].lower() == name.lower()), None)
        if found is None:
            return _error(404, f"List with name {name} does not exist", "OBJECT_NOT_FOUND")
        include = "includeFilters=true" in request.url
        shown = found if include else {k: v for k, v in found.items() if k != "filterBranch"}
        return 200, {}, json.dumps({"list": shown})

    def _create_list(self, request):
        body = json.loads(request.body)
        if any(x["name"].lower() == body["name"].lower() for x in self.lists.values()):
            return _error(400, f"A list with the name {body['name']} already exists",
                          "VALIDATION_ERROR", subCategory="ILS.DUPLICATE_LIST_NAMES")
        list_id = self.add_list(body["name"], body["processingType"], body.get("filterBranch"))
        return 200, {}, json.dumps({"list": self.lists[list_id]})

    def _update_list_filters(self, request):
        list_id = request.path_url.split("?")[0].rsplit("/", 2)[1]
        if list_id not in self.lists:
            return _error(404, f"List {list_id} does not exist", "OBJECT_NOT_FOUND")
        self.lists[list_id]["filterBranch"] = json.loads(request.body)["filterBranch"]
        self.lists[list_id]["listVersion"] += 1
        return 200, {}, json.dumps({"updatedList": self.lists[list_id]})

    # -- tasks --------------------------------------------------------------------------

    def _task(self, task_id: str, wanted: list[str] | None = None) -> dict[str, Any]:
        stored = self.tasks[task_id]["properties"]
        names = wanted if wanted is not None else list(stored)
        return {"id": task_id, "properties": {n: stored.get(n) for n in names} | {"hs_object_id": task_id},
                "createdAt": "2026-12-03T15:00:01.000Z", "updatedAt": "2026-12-03T15:00:01.000Z",
                "archived": False}

    def _create_tasks(self, request):
        inputs = json.loads(request.body)["inputs"]
        for item in inputs:
            for association in item["associations"]:
                target = association["to"]["id"]
                if target not in self.companies:
                    # The whole batch is refused; the message names the missing company.
                    return _error(400, f"One or more associations are invalid: company {target} "
                                  "does not exist", "VALIDATION_ERROR",
                                  context={"toObjectId": [target]})
        results = []
        for item in inputs:
            company = item["associations"][0]["to"]["id"]
            task_id = self.add_task(company, item["properties"])
            result = self._task(task_id)
            result["objectWriteTraceId"] = item.get("objectWriteTraceId")
            results.append(result)
        return 201, {}, json.dumps({"status": "COMPLETE", "results": results,
                                    "startedAt": "2026-12-03T15:00:00.931Z",
                                    "completedAt": "2026-12-03T15:00:01.201Z"})

    def _read_tasks(self, request):
        body = json.loads(request.body)
        found = [self._task(i["id"], body.get("properties")) for i in body["inputs"] if i["id"] in self.tasks]
        missing = [i["id"] for i in body["inputs"] if i["id"] not in self.tasks]
        return self._batch_answer(found, [{
            "status": "error", "category": "OBJECT_NOT_FOUND",
            "message": "Could not get some TASK objects, they may be deleted or not exist. "
                       "Check that ids are valid.", "context": {"ids": missing}}] if missing else [])

    def _update_tasks(self, request):
        results, errors = [], []
        for item in json.loads(request.body)["inputs"]:
            if item["id"] not in self.tasks:
                errors.append({"status": "error", "category": "OBJECT_NOT_FOUND",
                               "message": f"Object {item['id']} does not exist",
                               "context": {"ids": [item["id"]]}})
                continue
            self.tasks[item["id"]]["properties"].update(item["properties"])
            results.append(self._task(item["id"]))
        return self._batch_answer(results, errors)

    def _search_tasks(self, request):
        body = json.loads(request.body)
        filters = {f["propertyName"]: f for f in body["filterGroups"][0]["filters"]}
        company = filters["associations.company"]["value"]
        status = filters["hs_task_status"]
        assert status["operator"] == "NEQ"
        hits = sorted(tid for tid, t in self.tasks.items()
                      if t["company"] == company and t["properties"].get("hs_task_status") != status["value"])
        start = int(body.get("after") or 0)
        page = hits[start:start + body["limit"]]
        answer: dict[str, Any] = {"total": len(hits),
                                  "results": [self._task(tid, body["properties"]) for tid in page]}
        if start + body["limit"] < len(hits):
            answer["paging"] = {"next": {"after": str(start + body["limit"])}}
        return 200, {}, json.dumps(answer)

    # -- owners -------------------------------------------------------------------------

    def _get_owner(self, request):
        owner_id = request.path_url.split("?")[0].rsplit("/", 1)[1]
        archived = "archived=true" in request.url
        owner = self.owners.get(owner_id)
        if owner is None or owner["archived"] != archived:
            return _error(404, f"Owner {owner_id} not found", "OBJECT_NOT_FOUND")
        return 200, {}, json.dumps(owner)

    def _list_owners(self, request):
        query = dict(p.split("=", 1) for p in request.url.split("?", 1)[1].split("&"))
        archived = query.get("archived") == "true"
        everyone = [o for _, o in sorted(self.owners.items()) if o["archived"] == archived]
        start, limit = int(query.get("after", 0)), int(query.get("limit", 100))
        answer: dict[str, Any] = {"results": everyone[start:start + limit]}
        if start + limit < len(everyone):
            answer["paging"] = {"next": {"after": str(start + limit)}}
        return 200, {}, json.dumps(answer)

    # -- contacts -----------------------------------------------------------------------

    def _company_contacts(self, request):
        results, errors = [], []
        for item in json.loads(request.body)["inputs"]:
            contacts = self.company_contacts.get(item["id"], [])
            if not contacts:
                errors.append({"status": "error", "category": "OBJECT_NOT_FOUND",
                               "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                               "message": f"No contact is associated with company {item['id']}.",
                               "context": {"fromObjectId": [item["id"]], "fromObjectType": ["company"],
                                           "toObjectType": ["contact"]}})
                continue
            # Pages of two, so the adapter's per-input paging is exercised.
            start = int(item.get("after") or 0)
            result: dict[str, Any] = {"from": {"id": item["id"]}, "to": [
                {"toObjectId": int(cid), "associationTypes": [
                    {"category": "HUBSPOT_DEFINED", "typeId": 280, "label": None}]}
                for cid in contacts[start:start + 2]]}
            if start + 2 < len(contacts):
                result["paging"] = {"next": {"after": str(start + 2)}}
            results.append(result)
        return self._batch_answer(results, errors)

    def _read_contacts(self, request):
        body = json.loads(request.body)
        found = [{"id": i["id"], "properties": {"email": self.contacts[i["id"]].get("email"),
                                                "hs_object_id": i["id"]},
                  "createdAt": "2025-02-11T09:12:44.012Z", "updatedAt": "2026-12-01T10:00:00.000Z",
                  "archived": False}
                 for i in body["inputs"] if i["id"] in self.contacts]
        missing = [i["id"] for i in body["inputs"] if i["id"] not in self.contacts]
        return self._batch_answer(found, [{"status": "error", "category": "OBJECT_NOT_FOUND",
                                           "message": "Could not get some CONTACT objects",
                                           "context": {"ids": missing}}] if missing else [])

    # -- sequences ----------------------------------------------------------------------

    def _enroll(self, request):
        user_id = request.url.split("userId=", 1)[1].split("&")[0] if "userId=" in request.url else ""
        if not user_id:
            return _error(400, "userId is required", "VALIDATION_ERROR")
        body = json.loads(request.body)
        contact = body["contactId"]
        refusal = self.enrollment_refusals.get(contact)
        if refusal:
            return ENROLLMENT_REFUSAL_BODIES[refusal](contact, user_id, body["senderEmail"])
        if contact not in self.contacts:
            return _error(404, f"Contact {contact} does not exist", "OBJECT_NOT_FOUND")
        if any(e["contactId"] == contact for e in self.enrollments):
            return ENROLLMENT_REFUSAL_BODIES["already_enrolled"](contact, user_id, body["senderEmail"])
        enrollment_id = str(next(self._ids) + 500_000_000)
        self.enrollments.append({"userId": user_id, "id": enrollment_id, **body})
        return 200, {}, json.dumps({"id": enrollment_id, "toEmail": self.contacts[contact].get("email"),
                                    "enrolledAt": "2026-12-03T15:00:02.000Z",
                                    "updatedAt": "2026-12-03T15:00:02.000Z"})

    @staticmethod
    def _batch_answer(results: list, errors: list) -> tuple[int, dict, str]:
        body: dict[str, Any] = {"status": "COMPLETE", "results": results,
                                "requestedAt": "2026-12-03T15:00:00.912Z",
                                "startedAt": "2026-12-03T15:00:00.931Z",
                                "completedAt": "2026-12-03T15:00:01.201Z"}
        if errors:
            body |= {"errors": errors, "numErrors": len(errors)}
        return (207 if errors else 200), {}, json.dumps(body)


def _missing_scope(contact: str, user: str, sender: str) -> tuple[int, dict, str]:
    body = payload("missing_scopes_403.json")
    body["errors"][0]["context"]["requiredGranularScopes"] = ["automation.sequences.enrollments.write"]
    return 403, {}, json.dumps(body)


# Assumed shapes (see the module docstring): HubSpot's standard error body with the wording of its
# enrollment error codes. Keyed by the category the adapter must report.
ENROLLMENT_REFUSAL_BODIES = {
    "no_seat": lambda c, u, s: _error(
        400, f"User {u} must have an assigned Sales Hub or Service Hub Professional or Enterprise "
             "seat to enroll contacts in sequences", "VALIDATION_ERROR"),
    "inbox_not_connected": lambda c, u, s: _error(
        400, f"The sender email {s} is not a connected inbox for user {u}", "VALIDATION_ERROR"),
    "already_enrolled": lambda c, u, s: _error(
        400, f"Contact {c} cannot be enrolled: ALREADY_ENROLLED", "VALIDATION_ERROR",
        subCategory="ALREADY_ENROLLED"),
    "daily_limit": lambda c, u, s: _error(
        400, "The sequences daily send limit for this inbox has been reached", "VALIDATION_ERROR"),
    "unsubscribed": lambda c, u, s: _error(
        400, f"Contact {c} cannot be enrolled: UNSUBSCRIBED", "VALIDATION_ERROR",
        subCategory="UNSUBSCRIBED"),
    "missing_scope": _missing_scope,
    "refused": lambda c, u, s: _error(
        400, "Sequence 123456789 is not available for enrollment", "VALIDATION_ERROR"),
}
