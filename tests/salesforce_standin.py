"""A small stateful Salesforce org behind `responses`, for SalesforceAdapter tests.

Bodies are shaped like Salesforce's (reference/salesforce.md §3, §6, §9.2): REST errors are JSON
arrays `[{"message", "errorCode"}]`; sObject Collections answer 200 with per-record results
`{"id", "success", "errors": [{"statusCode", "message", "fields"}]}`; an expired session is 401
INVALID_SESSION_ID (also on Bulk 2.0) or a SOAP fault `sf:INVALID_SESSION_ID` on the Metadata
API; query answers `{"totalSize", "done", "records": [{"attributes": {...}, ...}]}`, paged with
`nextRecordsUrl`; numbers come back as JSON floats, datetimes as `2026-12-03T15:00:00.000+0000`;
REST answers carry `Sforce-Limit-Info: api-usage=<used>/<max>`. Custom fields are visible to the
API only through an assigned permission set granting read access (field-level security).

SOQL is evaluated by a tiny parser covering what the adapter sends: comparisons (=, !=, IN, LIKE
with % and _ and backslash escapes), AND/OR, parentheses, null/true/false, one relationship
field (`Account.X`), ORDER BY (ignored) and LIMIT. `=` and LIKE on text ignore case, as SOQL does.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import parse_qs, urlsplit

import responses

INSTANCE = "https://acme.my.salesforce.test"
VERSION = "67.0"
DATA = f"{INSTANCE}/services/data/v{VERSION}"
SOAP_URL = f"{INSTANCE}/services/Soap/m/{VERSION}"
ORG_ID = "00D5g00000AbCdEEAR"
USER_ID = "0055g00000AdminAAA"
MD = "http://soap.sforce.com/2006/04/metadata"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
SOAPENV = "http://schemas.xmlsoap.org/soap/envelope/"

STANDARD_FIELDS = {
    "Account": {"Id", "Name", "Website", "OwnerId", "IsDeleted", "MasterRecordId", "IsPersonAccount"},
    "Contact": {"Id", "AccountId", "Email", "IsPersonAccount"},
    "User": {"Id", "Email", "IsActive"},
    "Task": {"Id", "WhatId", "OwnerId", "Subject", "Description", "ActivityDate", "Priority",
             "Status", "TaskSubtype", "IsClosed", "CreatedDate"},
    "PermissionSet": {"Id", "Name"},
    "PermissionSetAssignment": {"Id", "AssigneeId", "PermissionSetId"},
}
PREFIX = {"Account": "001", "Contact": "003", "User": "005", "Task": "00T", "PermissionSet": "0PS",
          "PermissionSetAssignment": "0Pa"}


def rest_error(status: int, code: str, message: str) -> tuple[int, dict, str]:
    return status, {"Content-Type": "application/json"}, json.dumps([{"message": message, "errorCode": code}])


def expired() -> tuple[int, dict, str]:
    return rest_error(401, "INVALID_SESSION_ID", "Session expired or invalid")


# -- SOQL -----------------------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:\\.|[^'\\])*')|(?P<op>!=|=|\(|\)|,)|(?P<word>[A-Za-z0-9_.%]+))")


def _tokens(text: str) -> list[tuple[str, Any]]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].strip() == "":
                break
            raise ValueError(f"cannot tokenize SOQL at {text[pos:pos + 20]!r}")
        pos = m.end()
        if m.group("str") is not None:
            out.append(("str", re.sub(r"\\(.)", lambda e: {"n": "\n", "t": "\t"}.get(e.group(1), e.group(1)),
                                      m.group("str")[1:-1])))
            out.append(("raw", m.group("str")[1:-1]))  # keep the escaped form for LIKE
        elif m.group("op"):
            out.append(("op", m.group("op")))
        else:
            out.append(("word", m.group("word")))
    return out


class _Where:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    def _peek(self) -> tuple[str, Any] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def _next(self) -> tuple[str, Any]:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def parse(self):
        node = self._or()
        assert self._peek() is None, self.toks[self.i:]
        return node

    def _or(self):
        parts = [self._and()]
        while (tok := self._peek()) and tok == ("word", "OR"):
            self._next()
            parts.append(self._and())
        return ("or", parts)

    def _and(self):
        parts = [self._factor()]
        while (tok := self._peek()) and tok == ("word", "AND"):
            self._next()
            parts.append(self._factor())
        return ("and", parts)

    def _factor(self):
        if self._peek() == ("op", "("):
            self._next()
            node = self._or()
            assert self._next() == ("op", ")")
            return node
        field = self._next()[1]
        op = self._next()[1]
        if op == "IN":
            assert self._next() == ("op", "(")
            values = []
            while True:
                values.append(self._value()[0])
                tok = self._next()
                if tok == ("op", ")"):
                    break
            return ("cmp", field, "IN", values, None)
        value, raw = self._value()
        return ("cmp", field, op, value, raw)

    def _value(self) -> tuple[Any, Any]:
        kind, value = self._next()
        if kind == "str":
            raw = self._next()[1]
            return value, raw
        return {"null": None, "true": True, "false": False}.get(value, value), None


def _like(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("^" + "".join(out) + "$", re.I | re.S)


def _eq(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    return a == b


def _eval(node, get) -> bool:
    kind = node[0]
    if kind == "or":
        return any(_eval(n, get) for n in node[1])
    if kind == "and":
        return all(_eval(n, get) for n in node[1])
    _, field, op, value, raw = node
    actual = get(field)
    if op == "=":
        return _eq(actual, value)
    if op == "!=":
        return not _eq(actual, value)
    if op == "IN":
        return any(_eq(actual, v) for v in value)
    if op == "LIKE":
        return actual is not None and bool(_like(raw).match(str(actual)))
    raise ValueError(op)


_SELECT = re.compile(r"^SELECT (?P<fields>.+?) FROM (?P<obj>\w+)(?: WHERE (?P<where>.+?))?"
                     r"(?: ORDER BY (?P<order>[\w.]+))?(?: LIMIT (?P<limit>\d+))?$", re.S)


# -- the org --------------------------------------------------------------------------------------


class SalesforceStandIn:
    def __init__(self, mock: responses.RequestsMock, *, api_max: int = 15000) -> None:
        self.records: dict[str, dict[str, dict[str, Any]]] = {obj: {} for obj in STANDARD_FIELDS}
        self.metadata: dict[tuple[str, str], ET.Element] = {}  # (type, fullName) → element
        self.assignments: set[tuple[str, str]] = set()  # (user id, permission set name)
        self.valid_tokens = {"00Dtoken-current"}
        self.api_used = 0
        self.api_max = api_max
        self.page_size = 2000
        self.rules: dict[str, str] = {}  # record id → validation rule message
        self.locked_once: set[str] = set()  # record ids answering UNABLE_TO_LOCK_ROW once
        self.cadences_enabled = True
        self.enrolled: dict[str, str] = {}  # target id → cadence
        self.removed: list[tuple[str, str, str | None]] = []  # (target, cadence, user) taken out
        self.cadence_users: dict[str, str | None] = {}  # target id → userId it was assigned with
        self.cadence_refusals: dict[str, str] = {}  # target id → the refusal message of every assign
        self.person_accounts = False
        self.jobs: dict[str, dict[str, Any]] = {}
        self.after_job_created: Any = None  # test hook, e.g. end the session mid-job
        self.requests: list[tuple[str, str]] = []  # (method, path) of every call
        self._ids = itertools.count(1)
        self.add("User", Id=USER_ID, Email="admin@acme.example", IsActive=True)
        self._register(mock)

    # -- state helpers --------------------------------------------------------------------------

    def new_id(self, obj: str) -> str:
        return f"{PREFIX[obj]}5g{next(self._ids):010d}AAA"

    def add(self, obj: str, **fields: Any) -> str:
        rid = fields.pop("Id", None) or self.new_id(obj)
        self.records[obj][rid] = {"Id": rid, **fields}
        if obj == "Account":
            self.records[obj][rid].setdefault("IsDeleted", False)
        return rid

    def custom_fields(self) -> dict[str, ET.Element]:
        return {name.split(".", 1)[1]: el for (kind, name), el in self.metadata.items()
                if kind == "CustomField" and name.startswith("Account.")}

    def visible(self, obj: str) -> set[str]:
        """Standard fields + custom fields the connected user may read (FLS)."""
        fields = set(STANDARD_FIELDS[obj])
        if not self.person_accounts:
            fields.discard("IsPersonAccount")
        if obj == "Account":
            for (kind, name), el in self.metadata.items():
                if kind != "PermissionSet" or (USER_ID, name) not in self.assignments:
                    continue
                for perm in el.findall(f"{{{MD}}}fieldPermissions"):
                    if perm.findtext(f"{{{MD}}}readable") == "true":
                        fields.add(perm.findtext(f"{{{MD}}}field").split(".", 1)[1])
        return fields

    def field_type(self, api_name: str) -> str:
        el = self.custom_fields().get(api_name)
        return el.findtext(f"{{{MD}}}type") if el is not None else "Text"

    # -- routing ----------------------------------------------------------------------------------

    def _register(self, mock: responses.RequestsMock) -> None:
        def route(method: str, pattern: str, handler: Any) -> None:
            mock.add_callback(method, re.compile(re.escape(DATA) + pattern + r"(\?.*)?$"),
                              callback=self._guard(handler))

        route("GET", r"/query/?", lambda r: self._query(r, deleted=False))
        route("GET", r"/queryAll/?", lambda r: self._query(r, deleted=True))
        route("GET", r"/query/(?P<cursor>[\w-]+)", self._query_more)
        route("PATCH", r"/composite/sobjects", self._update)
        route("PATCH", r"/composite/sobjects/Account/(?P<field>\w+)", self._upsert)
        route("POST", r"/composite/sobjects", self._create)
        route("POST", r"/sobjects/PermissionSetAssignment", self._assign)
        route("GET", r"/sobjects/Account/listviews", self._listviews)
        route("POST", r"/actions/standard/(?P<action>\w+)", self._action)
        route("GET", r"/limits/?", self._limits)
        route("POST", r"/jobs/ingest/?", self._job_create)
        route("PUT", r"/jobs/ingest/(?P<job>\w+)/batches", self._job_upload)
        route("PATCH", r"/jobs/ingest/(?P<job>\w+)", self._job_state)
        route("GET", r"/jobs/ingest/(?P<job>\w+)", self._job_get)
        route("GET", r"/jobs/ingest/(?P<job>\w+)/(?P<kind>failedResults|unprocessedRecords|successfulResults)",
              self._job_results)
        mock.add_callback("POST", re.compile(re.escape(SOAP_URL) + r"/?$"), callback=self._soap)

    def _guard(self, handler):
        def run(request):
            self.requests.append((request.method, urlsplit(request.url).path))
            token = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
            if token not in self.valid_tokens:
                return expired()
            self.api_used += 1
            status, headers, body = handler(request)
            return status, {"Sforce-Limit-Info": f"api-usage={self.api_used}/{self.api_max}",
                            **headers}, body
        return run

    # -- query --------------------------------------------------------------------------------

    def _query(self, request, *, deleted: bool):
        soql = parse_qs(urlsplit(request.url).query)["q"][0]
        m = _SELECT.match(soql.strip())
        if not m:
            return rest_error(400, "MALFORMED_QUERY", "unexpected token")
        obj = m.group("obj")
        fields = [f.strip() for f in m.group("fields").split(",")]
        visible = self.visible(obj)
        for f in fields:
            base = f.split(".", 1)
            if (len(base) == 1 and f not in visible) or (len(base) == 2 and base[1] not in self.visible("Account")):
                return rest_error(400, "INVALID_FIELD",
                                  f"\nSELECT {f} FROM {obj}\n       ^\nERROR at Row:1:Column:8\n"
                                  f"No such column '{f}' on entity '{obj}'. If you are attempting to use "
                                  "a custom field, be sure to append the '__c' after the custom field name.")
        where = _Where(m.group("where")).parse() if m.group("where") else None
        rows = []
        for record in self.records[obj].values():
            if obj == "Account" and record.get("IsDeleted") and not deleted:
                continue

            def get(name: str, record=record) -> Any:
                if name == "IsClosed":
                    return record.get("Status") == "Completed"
                return record.get(name)
            if where is None or _eval(where, get):
                rows.append(self._shape(obj, record, fields))
        if m.group("limit"):
            rows = rows[:int(m.group("limit"))]
        return self._page(rows)

    def _page(self, rows: list[dict[str, Any]], start: int = 0):
        page = rows[start:start + self.page_size]
        body: dict[str, Any] = {"totalSize": len(rows), "done": start + self.page_size >= len(rows),
                                "records": page}
        if not body["done"]:
            cursor = f"01g5g{next(self._ids):08d}-{start + self.page_size}"
            self._cursors = getattr(self, "_cursors", {})
            self._cursors[cursor] = rows
            body["nextRecordsUrl"] = f"/services/data/v{VERSION}/query/{cursor}"
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    def _query_more(self, request):
        cursor = urlsplit(request.url).path.rsplit("/", 1)[1]
        return self._page(self._cursors[cursor], int(cursor.rsplit("-", 1)[1]))

    def _shape(self, obj: str, record: dict[str, Any], fields: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"attributes": {"type": obj, "url": f"/services/data/v{VERSION}/sobjects/{obj}/{record['Id']}"}}
        for f in fields:
            if "." in f:
                rel, name = f.split(".", 1)
                parent = self.records["Account"].get(record.get("AccountId") or "")
                out[rel] = None if parent is None else {
                    "attributes": {"type": "Account"}, name: self._out(name, parent.get(name))}
            elif f == "IsClosed":
                out[f] = record.get("Status") == "Completed"
            else:
                out[f] = self._out(f, record.get(f))
        return out

    def _out(self, name: str, value: Any) -> Any:
        if value is None or not name.endswith("__c"):
            return value
        kind = self.field_type(name)
        if kind == "Number":
            return float(value)
        if kind == "DateTime":
            return str(value).replace("Z", "").split(".")[0] + ".000+0000"
        return value

    # -- writes -------------------------------------------------------------------------------

    def _check_fields(self, record: dict[str, Any]) -> tuple[int, dict, str] | None:
        visible = self.visible("Account")
        for name in record:
            if name != "attributes" and name not in visible:
                return rest_error(400, "INVALID_FIELD",
                                  f"No such column '{name}' on sobject of type Account")
        return None

    def _apply(self, rid: str | None, values: dict[str, Any], *, creating: bool) -> dict[str, Any]:
        def fail(code: str, message: str, fields: list[str] | None = None) -> dict[str, Any]:
            return {"success": False, "errors": [{"statusCode": code, "message": message,
                                                  "fields": fields or []}]}
        if rid in self.locked_once:
            self.locked_once.discard(rid)
            return fail("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 1 records")
        accounts = self.records["Account"]
        if not creating:
            if rid not in accounts:
                return fail("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
            if accounts[rid].get("IsDeleted"):
                return fail("ENTITY_IS_DELETED", "entity is deleted")
        if rid in self.rules:
            return fail("FIELD_CUSTOM_VALIDATION_EXCEPTION", self.rules[rid])
        for name, value in values.items():
            el = self.custom_fields().get(name)
            if el is not None and el.findtext(f"{{{MD}}}type") == "Picklist" and value is not None:
                allowed = {v.findtext(f"{{{MD}}}fullName") for v in el.iter(f"{{{MD}}}value")}
                if value not in allowed:
                    label = el.findtext(f"{{{MD}}}label")
                    return fail("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                                f"{label}: bad value for restricted picklist field: {value}", [name])
        ext = "Dunning_Billing_Customer_Id__c"
        if values.get(ext) is not None:
            clash = next((r for r in accounts.values() if r.get(ext) == values[ext]
                          and r["Id"] != rid and not r.get("IsDeleted")), None)
            if clash:
                return fail("DUPLICATE_VALUE", f"duplicate value found: {ext} duplicates value on "
                            f"record with id: {clash['Id']}", [ext])
        if creating:
            if not values.get("Name"):
                return fail("REQUIRED_FIELD_MISSING", "Required fields are missing: [Name]", ["Name"])
            rid = self.add("Account")
        accounts[rid].update({k: v for k, v in values.items()})
        return {"id": rid, "success": True, "errors": []}

    def _update(self, request):
        body = json.loads(request.body)
        seen: set[str] = set()
        results = []
        for record in body["records"]:
            problem = self._check_fields(record) if record["attributes"]["type"] == "Account" else None
            if problem:
                return problem
            rid = record["Id"]
            if rid in seen:
                results.append({"success": False, "errors": [{"statusCode": "DUPLICATE_VALUE",
                                "message": "Maximum number of duplicate updates in one batch (1 allowed). Attempt to update Id more than once in this API call: " + rid, "fields": []}]})
                continue
            seen.add(rid)
            values = {k: v for k, v in record.items() if k not in ("attributes", "Id")}
            if record["attributes"]["type"] == "Task":
                results.append(self._update_task(rid, values))
            else:
                result = self._apply(rid, values, creating=False)
                results.append(result if not result["success"] else {"id": rid, "success": True, "errors": []})
        return 200, {"Content-Type": "application/json"}, json.dumps(results)

    def _upsert(self, request):
        field = urlsplit(request.url).path.rsplit("/", 1)[1]
        body = json.loads(request.body)
        results = []
        for record in body["records"]:
            problem = self._check_fields(record)
            if problem:
                return problem
            values = {k: v for k, v in record.items() if k != "attributes"}
            existing = next((r["Id"] for r in self.records["Account"].values()
                             if r.get(field) == values[field] and not r.get("IsDeleted")), None)
            result = self._apply(existing, values, creating=existing is None)
            if result["success"]:
                result["created"] = existing is None
            results.append(result)
        return 200, {"Content-Type": "application/json"}, json.dumps(results)

    def _create(self, request):
        body = json.loads(request.body)
        results = []
        for record in body["records"]:
            owner = record.get("OwnerId")
            user = self.records["User"].get(owner) if owner else None
            if owner and (user is None or not user.get("IsActive")):
                results.append({"success": False, "errors": [{"statusCode": "INACTIVE_OWNER_OR_USER",
                                "message": "operation performed with inactive user [" + owner + "] as owner of task",
                                "fields": []}]})
                continue
            values = {k: v for k, v in record.items() if k != "attributes"}
            values.setdefault("OwnerId", USER_ID)
            tid = self.add("Task", **values, CreatedDate=f"2026-12-03T15:00:{next(self._ids) % 60:02d}.000+0000")
            results.append({"id": tid, "success": True, "errors": []})
        return 200, {"Content-Type": "application/json"}, json.dumps(results)

    def _update_task(self, tid: str, values: dict[str, Any]) -> dict[str, Any]:
        task = self.records["Task"].get(tid)
        if task is None:
            return {"success": False, "errors": [{"statusCode": "ENTITY_IS_DELETED", "message": "entity is deleted", "fields": []}]}
        task.update(values)
        return {"id": tid, "success": True, "errors": []}

    def _assign(self, request):
        body = json.loads(request.body)
        name = next(r["Name"] for r in self.records["PermissionSet"].values() if r["Id"] == body["PermissionSetId"])
        if (body["AssigneeId"], name) in self.assignments:
            return rest_error(400, "DUPLICATE_VALUE", "Duplicate PermissionSetAssignment")
        self.assignments.add((body["AssigneeId"], name))
        aid = self.add("PermissionSetAssignment", AssigneeId=body["AssigneeId"], PermissionSetId=body["PermissionSetId"])
        return 201, {"Content-Type": "application/json"}, json.dumps({"id": aid, "success": True, "errors": []})

    def _listviews(self, request):
        views = [{"id": f"00B5g00000{i:05d}AAA", "developerName": name.split(".", 1)[1],
                  "label": el.findtext(f"{{{MD}}}label"), "soqlCompatible": True,
                  "url": f"/services/data/v{VERSION}/sobjects/Account/listviews/00B5g00000{i:05d}AAA"}
                 for i, ((kind, name), el) in enumerate(sorted(self.metadata.items(), key=lambda kv: kv[0]))
                 if kind == "ListView"]
        return 200, {"Content-Type": "application/json"}, json.dumps({"done": True, "listviews": views, "size": len(views)})

    def _action(self, request):
        action = urlsplit(request.url).path.rsplit("/", 1)[1]
        if not self.cadences_enabled:
            return rest_error(404, "NOT_FOUND", "The requested resource does not exist")
        out = []
        for item in json.loads(request.body)["inputs"]:
            target = item["targetId"]
            if action == "assignTargetToSalesCadence":
                if target in self.cadence_refusals:
                    out.append({"actionName": action, "isSuccess": False, "outputValues": None,
                                "errors": [{"statusCode": "INVALID_INPUT", "message": self.cadence_refusals[target], "fields": []}]})
                elif target in self.enrolled:
                    out.append({"actionName": action, "isSuccess": False, "outputValues": None,
                                "errors": [{"statusCode": "INVALID_INPUT", "message": "The target is already assigned to a cadence.", "fields": []}]})
                else:
                    self.enrolled[target] = item["salesCadenceNameOrId"]
                    self.cadence_users[target] = item.get("userId")
                    out.append({"actionName": action, "isSuccess": True, "errors": None,
                                "outputValues": {"actionCadenceTrackerId": f"0pT5g0000{len(self.enrolled):06d}AAA"}})
            else:
                user = self.cadence_users.pop(target, None)
                if target in self.enrolled:
                    self.removed.append((target, self.enrolled[target], user))
                if self.enrolled.pop(target, None) is None:
                    out.append({"actionName": action, "isSuccess": False, "outputValues": None,
                                "errors": [{"statusCode": "INVALID_INPUT", "message": "The target isn't assigned to a cadence.", "fields": []}]})
                else:
                    out.append({"actionName": action, "isSuccess": True, "errors": None, "outputValues": {}})
        return 200, {"Content-Type": "application/json"}, json.dumps(out)

    def _limits(self, request):
        return 200, {"Content-Type": "application/json"}, json.dumps({
            "DailyApiRequests": {"Max": self.api_max, "Remaining": self.api_max - self.api_used},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000}})

    # -- Bulk API 2.0 -------------------------------------------------------------------------

    def _job_create(self, request):
        body = json.loads(request.body)
        jid = f"7505g{next(self._ids):010d}AAA"
        self.jobs[jid] = {"id": jid, "operation": body["operation"], "object": body["object"],
                          "externalIdFieldName": body.get("externalIdFieldName"), "state": "Open",
                          "contentType": "CSV", "apiVersion": float(VERSION), "polls": 0,
                          "failed": [], "unprocessed": [], "columns": []}
        if self.after_job_created:
            self.after_job_created()
        return 200, {"Content-Type": "application/json"}, json.dumps(
            {k: v for k, v in self.jobs[jid].items() if k not in ("polls", "failed", "unprocessed", "columns")})

    def _job_upload(self, request):
        job = self.jobs[urlsplit(request.url).path.split("/")[-2]]
        text = request.body.decode() if isinstance(request.body, bytes) else request.body
        job["rows"] = list(csv.DictReader(io.StringIO(text)))
        job["columns"] = text.splitlines()[0].split(",")
        return 201, {}, ""

    def _job_state(self, request):
        job = self.jobs[urlsplit(request.url).path.rsplit("/", 1)[1]]
        job["state"] = "InProgress" if json.loads(request.body)["state"] == "UploadComplete" else "Aborted"
        return 200, {"Content-Type": "application/json"}, json.dumps({"id": job["id"], "state": job["state"]})

    def _job_get(self, request):
        job = self.jobs[urlsplit(request.url).path.rsplit("/", 1)[1]]
        if job["state"] == "InProgress":
            job["polls"] += 1
            if job["polls"] >= 2:  # the first poll still sees it running
                self._run_job(job)
        return 200, {"Content-Type": "application/json"}, json.dumps({
            "id": job["id"], "state": job["state"], "object": job["object"], "operation": job["operation"],
            "numberRecordsProcessed": len(job.get("rows", [])) - len(job["unprocessed"]),
            "numberRecordsFailed": len(job["failed"])})

    def _run_job(self, job: dict[str, Any]) -> None:
        for row in job.get("rows", []):
            values: dict[str, Any] = {}
            for k, v in row.items():
                if k in ("Id", job.get("externalIdFieldName")) and job["operation"] == "update":
                    continue
                if v == "":
                    continue
                values[k] = None if v == "#N/A" else (float(v) if self.field_type(k) == "Number" else v)
            if job["operation"] == "update":
                result = self._apply(row["Id"], values, creating=False)
            else:
                ext = job["externalIdFieldName"]
                existing = next((r["Id"] for r in self.records["Account"].values() if r.get(ext) == row[ext]), None)
                result = self._apply(existing, values, creating=existing is None)
            if not result["success"]:
                err = result["errors"][0]
                job["failed"].append({"sf__Id": row.get("Id", ""), "sf__Error": f"{err['statusCode']}:{err['message']}:--", **row})
        job["state"] = "JobComplete"

    def _job_results(self, request):
        parts = urlsplit(request.url).path.split("/")
        job, kind = self.jobs[parts[-2]], parts[-1]
        rows = job["failed"] if kind == "failedResults" else job["unprocessed"] if kind == "unprocessedRecords" else []
        head = (["sf__Id", "sf__Error"] if kind == "failedResults" else []) + job["columns"]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=head, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        return 200, {"Content-Type": "text/csv"}, buffer.getvalue()

    # -- Metadata API (SOAP) --------------------------------------------------------------------

    def _soap(self, request):
        self.requests.append(("SOAP", "metadata"))
        root = ET.fromstring(request.body)
        session = root.find(f".//{{{MD}}}sessionId")
        if session is None or session.text not in self.valid_tokens:
            return 500, {"Content-Type": "text/xml"}, _fault("sf:INVALID_SESSION_ID",
                                                           "INVALID_SESSION_ID: Invalid Session ID found in SessionHeader: Illegal Session")
        self.api_used += 1
        body = root.find(f"{{{SOAPENV}}}Body")
        op = body[0]
        name = op.tag.split("}", 1)[1]
        if name == "readMetadata":
            kind = op.findtext(f"{{{MD}}}type")
            out = []
            for full_name in [e.text for e in op.findall(f"{{{MD}}}fullNames")]:
                el = self.metadata.get((kind, full_name))
                out.append(_records(kind, el))
            return 200, {"Content-Type": "text/xml"}, _envelope("readMetadataResponse",
                                                                "<result>" + "".join(out) + "</result>")
        results = []
        for item in op.findall(f"{{{MD}}}metadata"):
            kind = item.get(f"{{{XSI}}}type").split(":", 1)[-1]
            full_name = item.findtext(f"{{{MD}}}fullName")
            exists = (kind, full_name) in self.metadata
            if name == "createMetadata" and exists:
                results.append(_save(full_name, False, "DUPLICATE_DEVELOPER_NAME",
                                     "There is already a field named that on Account."))
                continue
            if name == "updateMetadata" and not exists:
                results.append(_save(full_name, False, "INVALID_CROSS_REFERENCE_KEY", "no such component"))
                continue
            self.metadata[(kind, full_name)] = item
            if kind == "PermissionSet" and not any(r["Name"] == full_name for r in self.records["PermissionSet"].values()):
                self.add("PermissionSet", Name=full_name)
            results.append(_save(full_name, True, created=None if name != "upsertMetadata" else not exists))
        return 200, {"Content-Type": "text/xml"}, _envelope(name + "Response", "".join(results))


def _envelope(response: str, inner: str) -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAPENV}" '
            f'xmlns="{MD}" xmlns:xsi="{XSI}"><soapenv:Body><{response}>{inner}</{response}>'
            "</soapenv:Body></soapenv:Envelope>")


def _records(kind: str, el: ET.Element | None) -> str:
    if el is None:
        return f'<records xsi:type="{kind}"/>'
    inner = "".join(ET.tostring(child, encoding="unicode", default_namespace=MD) for child in el)
    inner = re.sub(r' xmlns="[^"]+"', "", inner)
    return f'<records xsi:type="{kind}">{inner}</records>'


def _save(full_name: str, success: bool, code: str = "", message: str = "", *, created: bool | None = None) -> str:
    created_xml = "" if created is None else f"<created>{str(created).lower()}</created>"
    errors = "" if success else f"<errors><message>{message}</message><statusCode>{code}</statusCode></errors>"
    return f"<result>{created_xml}{errors}<fullName>{full_name}</fullName><success>{str(success).lower()}</success></result>"


def _fault(code: str, message: str) -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAPENV}" '
            f'xmlns:sf="{MD}"><soapenv:Body><soapenv:Fault><faultcode>{code}</faultcode>'
            f"<faultstring>{message}</faultstring></soapenv:Fault></soapenv:Body></soapenv:Envelope>")


class Tokens:
    """The token provider side: hands out the current token, refreshes on demand."""

    def __init__(self, standin: SalesforceStandIn, current: str = "00Dtoken-current") -> None:
        self.standin = standin
        self.current = current
        self.refreshes = 0

    def __call__(self) -> str:
        return self.current

    def force_refresh(self) -> str:
        self.refreshes += 1
        self.current = f"00Dtoken-refreshed-{self.refreshes}"
        self.standin.valid_tokens.add(self.current)
        return self.current

    def expire(self) -> None:
        """Salesforce ends the session (timeout): the current token stops working."""
        self.standin.valid_tokens.discard(self.current)


def make_client(standin: SalesforceStandIn, tokens: Tokens, clock: Any, **kwargs: Any):
    import requests

    from crm_adapters.salesforce.budget import ApiBudget
    from crm_adapters.salesforce.client import SalesforceClient

    kwargs.setdefault("budget", ApiBudget(clock=clock, sleep=clock.sleep))
    return SalesforceClient(requests.Session(), INSTANCE, tokens, force_refresh=tokens.force_refresh,
                            version=VERSION, sleep=clock.sleep, **kwargs)
