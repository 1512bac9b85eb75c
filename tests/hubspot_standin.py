"""Helpers for the CRM adapter tests: a fake clock, payloads, and a small stateful HubSpot stand-in.

The stand-in answers the endpoints HubSpotAdapter uses through `responses` callbacks, with
bodies shaped like HubSpot's (reference/hubspot.md §2, §3, §8; tests/payloads/hubspot/): 200 or
207 multi-status for batches, a whole-batch 400 VALIDATION_ERROR for a duplicate unique value
(without naming the input, so the adapter must bisect), per-input 207 errors for the portal's
own validation rules (enforced from /2026-09/), OBJECT_NOT_FOUND for unknown ids.
"""

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

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
        self._ids = itertools.count(18001)
        self._register(mock)

    # -- state helpers ------------------------------------------------------------------

    def add_company(self, **props: str) -> str:
        record_id = str(next(self._ids))
        self.companies[record_id] = {k: v for k, v in props.items() if v != ""}
        return record_id

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

    @staticmethod
    def _batch_answer(results: list, errors: list) -> tuple[int, dict, str]:
        body: dict[str, Any] = {"status": "COMPLETE", "results": results,
                                "requestedAt": "2026-12-03T15:00:00.912Z",
                                "startedAt": "2026-12-03T15:00:00.931Z",
                                "completedAt": "2026-12-03T15:00:01.201Z"}
        if errors:
            body |= {"errors": errors, "numErrors": len(errors)}
        return (207 if errors else 200), {}, json.dumps(body)
