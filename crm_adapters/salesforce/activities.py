"""Owners, contacts and Tasks on Accounts, for the playbook (connector/ports.py PlaybookCrm).

Task fields (object reference "Task", reference/salesforce.md §4): `WhatId` the Account,
`OwnerId` the assignee, `Priority` High/Normal/Low, `Status` Not Started/Completed,
`ActivityDate` a date, `TaskSubtype` Call (createable, not updateable). Ours carry TASK_MARKER and
`ref:<key>` in the Description, so a create whose answer was lost is recognised at the next look.
An owner that is inactive is refused by Salesforce (INACTIVE_OWNER_OR_USER): that task is sent
again to the fallback owner (or, without one, to the connected user).
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from connector.ports import (
    TASK_MARKER,
    Contact,
    CreateReport,
    CrmRef,
    CrmTask,
    OpenTask,
    Owner,
    RecordError,
    TaskCompletion,
    TaskKind,
    WriteReport,
)
from crm_adapters.salesforce import soql
from crm_adapters.salesforce.client import SalesforceApiError, SalesforceClient
from crm_adapters.salesforce.records import COLLECTION_SIZE, RETRIABLE_CODES, first_error

log = logging.getLogger(__name__)

PRIORITIES = {"HIGH": "High", "MEDIUM": "Normal", "LOW": "Low"}
SUBTYPES = {TaskKind.CALL: "Call", TaskKind.TODO: "Task"}
INACTIVE_OWNER = frozenset({"INACTIVE_OWNER_OR_USER", "INACTIVE_USER"})
_REF = re.compile(re.escape(TASK_MARKER) + r"\s*ref:([A-Za-z0-9_.:@\-]+)")


def _ids(refs: Sequence[CrmRef]) -> list[str]:
    return [r.record_id for r in dict.fromkeys(refs) if soql.is_record_id(r.record_id)]


def _by_id(refs: Sequence[CrmRef]) -> dict[str, CrmRef]:
    return {r.record_id: r for r in refs}


# -- owners -------------------------------------------------------------------------------------


def record_owners(client: SalesforceClient, refs: Sequence[CrmRef]) -> dict[CrmRef, str | None]:
    refs_by_id = _by_id(refs)
    out: dict[CrmRef, str | None] = {}
    for chunk in soql.chunked_in(_ids(refs)):
        for row in client.query(soql.select(["Id", "OwnerId"], "Account", f"Id IN {soql.in_list(chunk)}")):
            ref = refs_by_id.get(str(row["Id"]))
            if ref is not None:
                out[ref] = str(row["OwnerId"]) if row.get("OwnerId") else None
    return out


def owners(client: SalesforceClient, owner_ids: Sequence[str]) -> dict[str, Owner]:
    """Account owners are Users (a queue cannot own an Account); the user id is the owner id."""
    out: dict[str, Owner] = {}
    ids = [i for i in dict.fromkeys(owner_ids) if soql.is_record_id(i)]
    for chunk in soql.chunked_in(ids):
        query = soql.select(["Id", "Email", "IsActive"], "User", f"Id IN {soql.in_list(chunk)}")
        for row in client.query(query):
            uid = str(row["Id"])
            out[uid] = Owner(uid, uid, row.get("Email") or None, bool(row.get("IsActive")))
    return out


# -- contacts -----------------------------------------------------------------------------------


class ContactReader:
    """Contacts of Accounts. A Person Account is its own contact and is enrolled by its own Id;
    `IsPersonAccount` exists only where Person Accounts are enabled, so its absence
    (INVALID_FIELD) is remembered and the plain query used."""

    def __init__(self, client: SalesforceClient) -> None:
        self._client = client
        self._person_accounts: bool | None = None

    def record_contacts(self, refs: Sequence[CrmRef]) -> dict[CrmRef, list[Contact]]:
        refs_by_id = _by_id(refs)
        out: dict[CrmRef, list[Contact]] = {ref: [] for ref in dict.fromkeys(refs)}
        for chunk in soql.chunked_in(_ids(refs)):
            for row in self._rows(chunk):
                account = str(row.get("AccountId") or "")
                ref = refs_by_id.get(account)
                if ref is None:
                    continue
                target = account if row.get("IsPersonAccount") else str(row["Id"])
                out[ref].append(Contact(target, row.get("Email") or None))
        return out

    def _rows(self, account_ids: list[str]) -> list[dict[str, Any]]:
        where = f"AccountId IN {soql.in_list(account_ids)}"
        if self._person_accounts is not False:
            try:
                rows = self._client.query(soql.select(
                    ["Id", "AccountId", "Email", "IsPersonAccount"], "Contact", where))
                self._person_accounts = True
                return rows
            except SalesforceApiError as exc:
                if exc.category != "INVALID_FIELD":
                    raise
                self._person_accounts = False
        return self._client.query(soql.select(["Id", "AccountId", "Email"], "Contact", where))


# -- tasks --------------------------------------------------------------------------------------


def marked_description(task: CrmTask) -> str:
    tag = f"{task.marker} ref:{task.key}" if task.key else task.marker
    return f"{task.body}\n\n{tag}" if task.body else tag


def activity_date(due_at: str) -> str:
    """The due date. Kept in the offset `due_at` carries: the installation's local date when the
    caller passes local time (09:00+10:00 is that day, not the UTC day before)."""
    raw = due_at.strip()
    if len(raw) == 10:
        return date.fromisoformat(raw).isoformat()
    return datetime.fromisoformat(raw.replace("Z", "+00:00")).date().isoformat()


def task_record(task: CrmTask, owner_id: str | None) -> dict[str, Any]:
    record: dict[str, Any] = {
        "attributes": {"type": "Task"},
        "WhatId": task.ref.record_id,
        "Subject": task.subject[:255],
        "Description": marked_description(task)[:32000],
        "ActivityDate": activity_date(task.due_at),
        "Priority": PRIORITIES.get(task.priority.upper(), "High"),
        "Status": "Not Started",
        "TaskSubtype": SUBTYPES[task.kind],
    }
    if owner_id:
        record["OwnerId"] = owner_id
    return record


def _invalid(task: CrmTask) -> str:
    if not soql.is_record_id(task.ref.record_id):
        return f"{task.ref.record_id!r} is not a Salesforce record id"
    if task.owner_id and not soql.is_record_id(task.owner_id):
        return f"owner {task.owner_id!r} is not a Salesforce user id"
    try:
        activity_date(task.due_at)
    except ValueError:
        return f"due_at {task.due_at!r} is not an ISO date or datetime"
    return ""


def create_tasks(client: SalesforceClient, tasks: Sequence[CrmTask],
                 fallback_owner_id: str | None) -> CreateReport:
    report = CreateReport()
    valid: list[CrmTask] = []
    for task in tasks:
        problem = _invalid(task)
        if problem:
            report.failed.append(RecordError(task.key, problem, "INVALID_VALUE"))
        else:
            valid.append(task)
    for start in range(0, len(valid), COLLECTION_SIZE):
        batch = valid[start:start + COLLECTION_SIZE]
        reassign = _create(client, [(t, t.owner_id) for t in batch], report, first_try=True)
        if reassign:
            log.info("salesforce.tasks_reassigned count=%d reason=inactive_owner", len(reassign))
            _create(client, [(t, fallback_owner_id) for t in reassign], report, first_try=False)
    return report


def _create(client: SalesforceClient, items: list[tuple[CrmTask, str | None]], report: CreateReport,
            *, first_try: bool) -> list[CrmTask]:
    body = {"allOrNone": False, "records": [task_record(t, owner) for t, owner in items]}
    report.calls += 1
    results = client.rest("POST", "composite/sobjects", json=body) or []
    reassign: list[CrmTask] = []
    for (task, owner), result in zip(items, list(results) + [{}] * len(items), strict=False):
        if isinstance(result, dict) and result.get("success") and result.get("id"):
            report.created[task.key] = str(result["id"])
            continue
        code, message = first_error(result)
        if code in INACTIVE_OWNER and first_try and owner:
            reassign.append(task)
        else:
            report.failed.append(RecordError(task.key, f"{code}: {message}", code,
                                             code in RETRIABLE_CODES))
    return reassign


def open_tasks(client: SalesforceClient, refs: Sequence[CrmRef]) -> dict[CrmRef, list[OpenTask]]:
    refs_by_id = _by_id(refs)
    out: dict[CrmRef, list[OpenTask]] = defaultdict(list)
    for ref in dict.fromkeys(refs):
        out[ref] = []
    for chunk in soql.chunked_in(_ids(refs)):
        query = soql.select(["Id", "WhatId", "Subject", "TaskSubtype", "Description"], "Task",
                            f"WhatId IN {soql.in_list(chunk)} AND IsClosed = false",
                            order_by="CreatedDate")
        for row in client.query(query):
            ref = refs_by_id.get(str(row.get("WhatId") or ""))
            if ref is None:
                continue
            description = str(row.get("Description") or "")
            tag = _REF.search(description)
            out[ref].append(OpenTask(
                str(row["Id"]),
                TaskKind.CALL if row.get("TaskSubtype") == "Call" else TaskKind.TODO,
                str(row.get("Subject") or ""),
                ours=TASK_MARKER in description,
                key=tag.group(1) if tag else "",
            ))
    return dict(out)


def complete_tasks(client: SalesforceClient, completions: Sequence[TaskCompletion]) -> WriteReport:
    """Status Completed, the note appended to the Description (read first: PATCH replaces it)."""
    report = WriteReport()
    valid = [c for c in completions if soql.is_record_id(c.task_id)]
    for c in completions:
        if c not in valid:
            report.failed.append(RecordError(c.key, f"{c.task_id!r} is not a Task id", "INVALID_VALUE"))
    by_task: dict[str, list[TaskCompletion]] = defaultdict(list)
    for c in valid:
        by_task[c.task_id].append(c)
    ids = list(by_task)
    for start in range(0, len(ids), COLLECTION_SIZE):
        chunk = ids[start:start + COLLECTION_SIZE]
        report.calls += 1
        rows = {str(r["Id"]): r for r in client.query(soql.select(
            ["Id", "Description", "IsClosed"], "Task", f"Id IN {soql.in_list(chunk)}"))}
        records = []
        for task_id in chunk:
            row = rows.get(task_id)
            if row is None:
                report.failed += [RecordError(c.key, f"task {task_id} no longer exists in Salesforce",
                                              "ENTITY_IS_DELETED") for c in by_task[task_id]]
                continue
            notes = list(dict.fromkeys(c.note for c in by_task[task_id] if c.note))
            description = str(row.get("Description") or "")
            if row.get("IsClosed") and all(n in description for n in notes):
                report.ok += [c.key for c in by_task[task_id]]  # done before (a retry)
                continue
            records.append({"attributes": {"type": "Task"}, "Id": task_id, "Status": "Completed",
                            "Description": "\n\n".join([d for d in [description, *notes] if d])[:32000]})
        if not records:
            continue
        report.calls += 1
        results = client.rest("PATCH", "composite/sobjects", json={"allOrNone": False,
                                                                   "records": records}) or []
        for record, result in zip(records, list(results) + [{}] * len(records), strict=False):
            keys = [c.key for c in by_task[record["Id"]]]
            if isinstance(result, dict) and result.get("success"):
                report.ok += keys
            else:
                code, message = first_error(result)
                report.failed += [RecordError(k, f"{code}: {message}", code, code in RETRIABLE_CODES)
                                  for k in keys]
    return report
