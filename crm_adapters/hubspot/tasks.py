"""Tasks on companies: create (batch, associated to the company), find the open ones, complete.

Tasks API on the objects date version (reference/hubspot.md §5; spec
CRM/Tasks/Rollouts/424/2026-09/tasks.json): `hs_timestamp` is the due date ("Required … marks the
task's due date", UTC ISO string), `hs_task_type` CALL/TODO, `hs_task_priority` HIGH/MEDIUM/LOW,
`hs_task_status` NOT_STARTED/COMPLETED, `hubspot_owner_id` the assignee. Association task→company
is type 192, HUBSPOT_DEFINED (py-client `hubspot/crm/association_type.py` TASK_TO_COMPANY = 192).

Ours are told apart by TASK_MARKER in `hs_task_body`, followed by `ref:<key>` so a create whose
answer was lost (timeout after HubSpot wrote) can be recognised at the next look.

Open tasks of a company come from CRM search with the `associations.company` pseudo-property and
`hs_task_status NEQ COMPLETED` (reference §5). That filter is used widely in public code but not in
the HubSpot docs we could read (reference "Open uncertainties" 3): if HubSpot ever drops it, the
documented fallback is associations batch read company→tasks plus a tasks batch read. Search is
eventually consistent ("may take a few moments for newly created … objects to appear"), so the
caller's ledger stays the first line against duplicates. The client sends /search calls through the
portal's search limiter (5/s).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connector.errors import TransientProviderError
from connector.ports import (
    TASK_MARKER,
    CreateReport,
    CrmRef,
    CrmTask,
    OpenTask,
    RecordError,
    TaskCompletion,
    TaskKind,
    WriteReport,
)
from crm_adapters.canonical import parse_datetime
from crm_adapters.hubspot import batch_errors, paths
from crm_adapters.hubspot.bodies import (
    api_reason,
    chunks,
    errors,
    mapping,
    next_after,
    properties,
    results,
)
from crm_adapters.hubspot.client import HubSpotApiError, HubSpotClient

log = logging.getLogger(__name__)

TASK_TO_COMPANY = 192
COMPLETED = "COMPLETED"
NOT_STARTED = "NOT_STARTED"
PRIORITIES = frozenset({"HIGH", "MEDIUM", "LOW"})
SEARCH_PAGE_SIZE = 200
SEARCH_PROPERTIES = ["hs_task_subject", "hs_task_type", "hs_task_status", "hs_task_body"]
# The search filter names the associated object type in the singular.
_SEARCH_ASSOCIATION = {paths.COMPANIES: "associations.company"}
_REF = re.compile(re.escape(TASK_MARKER) + r"\s*ref:([A-Za-z0-9_.:@\-]+)")


def marked_body(task: CrmTask) -> str:
    tag = f"{task.marker} ref:{task.key}" if task.key else task.marker
    return f"{task.body}\n\n{tag}" if task.body else tag


def hubspot_timestamp(value: str) -> str:
    moment = parse_datetime(value)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def task_input(task: CrmTask, trace: str) -> dict[str, Any]:
    props = {
        "hs_task_subject": task.subject,
        "hs_task_body": marked_body(task),
        "hs_task_type": task.kind.value,
        "hs_task_priority": task.priority,
        "hs_task_status": NOT_STARTED,
        "hs_timestamp": hubspot_timestamp(task.due_at),
    }
    if task.owner_id:
        props["hubspot_owner_id"] = task.owner_id
    return {
        "objectWriteTraceId": trace,
        "properties": props,
        "associations": [{
            "to": {"id": task.ref.record_id},
            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": TASK_TO_COMPANY}],
        }],
    }


# -- create ----------------------------------------------------------------------------------


@dataclass
class _Pending:
    key: str
    trace: str
    record: str
    payload: dict[str, Any]


def create_tasks(client: HubSpotClient, tasks: Sequence[CrmTask]) -> CreateReport:
    report = CreateReport()
    pending: list[_Pending] = []
    seen: set[str] = set()
    for index, task in enumerate(tasks):
        problem = _invalid(task)
        if problem:
            report.failed.append(RecordError(task.key, problem, "INVALID_VALUE"))
            continue
        trace = task.key if task.key and task.key not in seen else f"task-{index}"
        seen.add(trace)
        pending.append(_Pending(task.key, trace, task.ref.record_id, task_input(task, trace)))
    batches = list(chunks(pending))
    for index, batch in enumerate(batches):
        try:
            _send(client, batch, report)
        except TransientProviderError as exc:
            if not report.created:
                raise  # nothing created: the whole call failed, retry it later
            # HubSpot may have written what it did not answer for: retriable, but a caller should
            # look for its key among open_tasks before creating again.
            done = set(report.created) | {f.key for f in report.failed}
            for rest in batches[index:]:
                report.failed += [RecordError(p.key, str(exc), "TRANSIENT", True)
                                  for p in rest if p.key not in done]
            break
    return report


def _invalid(task: CrmTask) -> str:
    if task.ref.object_type != paths.COMPANIES:
        return f"tasks can only be associated to companies, not {task.ref.object_type}"
    if task.priority not in PRIORITIES:
        return f"priority must be HIGH, MEDIUM or LOW, not {task.priority!r}"
    try:
        hubspot_timestamp(task.due_at)
    except ValueError:
        return f"due_at is not an ISO 8601 datetime: {task.due_at!r}"
    return ""


def _send(client: HubSpotClient, batch: list[_Pending], report: CreateReport) -> None:
    if not batch:
        return
    report.calls += 1
    try:
        resp = client.post(paths.objects_batch_create(paths.TASKS),
                           {"inputs": [p.payload for p in batch]})
    except HubSpotApiError as exc:
        if exc.status not in (400, 409):
            raise
        _isolate(client, batch, exc, report)
        return
    _apply(resp.body, batch, report)


def _isolate(client: HubSpotClient, batch: list[_Pending], exc: HubSpotApiError,
             report: CreateReport) -> None:
    """A whole-batch refusal (e.g. one task's company no longer exists): fail the input the error
    names, else halve until the bad one is alone, and create the rest."""
    if len(batch) == 1:
        report.failed.append(RecordError(batch[0].key, api_reason(exc), exc.category or "",
                                         batch_errors.is_retriable(exc.body)))
        return
    named = batch_errors.named_inputs(exc.body, _names(batch))
    if named and len(named) < len(batch):
        report.failed += [RecordError(p.key, api_reason(exc), exc.category or "")
                          for p in batch if p.trace in named]
        _send(client, [p for p in batch if p.trace not in named], report)
        return
    middle = len(batch) // 2
    _send(client, batch[:middle], report)
    _send(client, batch[middle:], report)


def _apply(body: Any, batch: list[_Pending], report: CreateReport) -> None:
    names = _names(batch)
    created: dict[str, str] = {}
    unnamed_results = []
    for record in results(body):
        trace = record.get("objectWriteTraceId")
        if trace is not None and str(trace) in names and record.get("id") is not None:
            created[names[str(trace)]] = str(record["id"])
        elif record.get("id") is not None:
            unnamed_results.append(str(record["id"]))
    failed: dict[str, Mapping[str, Any]] = {}
    for error in errors(body):
        for trace in batch_errors.named_inputs(error, names):
            failed[trace] = error
    if not created and not failed and len(unnamed_results) == len(batch):
        # No trace ids echoed: HubSpot answers a fully successful batch create in input order.
        created = {p.trace: rid for p, rid in zip(batch, unnamed_results, strict=True)}
    for item in batch:
        if item.trace in created:
            report.created[item.key] = created[item.trace]
        elif item.trace in failed:
            error = failed[item.trace]
            report.failed.append(RecordError(item.key, batch_errors.reason_of(error),
                                             batch_errors.category_of(error),
                                             batch_errors.is_retriable(error)))
        else:
            report.failed.append(RecordError(item.key, "no result from HubSpot", "UNKNOWN", True))


def _names(batch: Sequence[_Pending]) -> dict[str, str]:
    names: dict[str, str] = {}
    for item in batch:
        names.setdefault(item.record, item.trace)
        names[item.trace] = item.trace
    return names


# -- open tasks ------------------------------------------------------------------------------


def open_tasks(client: HubSpotClient, refs: Sequence[CrmRef]) -> dict[CrmRef, list[OpenTask]]:
    out: dict[CrmRef, list[OpenTask]] = {}
    for ref in dict.fromkeys(refs):
        association = _SEARCH_ASSOCIATION.get(ref.object_type)
        if association is None:
            raise ValueError(f"open tasks are looked up for companies, not {ref.object_type}")
        out[ref] = _open_tasks_of(client, association, ref.record_id)
    return out


def _open_tasks_of(client: HubSpotClient, association: str, record_id: str) -> list[OpenTask]:
    found: list[OpenTask] = []
    after: str | None = None
    while True:
        body: dict[str, Any] = {
            "filterGroups": [{"filters": [
                {"propertyName": association, "operator": "EQ", "value": record_id},
                {"propertyName": "hs_task_status", "operator": "NEQ", "value": COMPLETED},
            ]}],
            "properties": SEARCH_PROPERTIES,
            "limit": SEARCH_PAGE_SIZE,
        }
        if after:
            body["after"] = after
        page = client.post(paths.objects_search(paths.TASKS), body).body
        for record in results(page):
            task = _open_task(record)
            if task is not None:
                found.append(task)
        after = next_after(page)
        if not after:
            return found


def _open_task(record: Mapping[str, Any]) -> OpenTask | None:
    props = properties(record)
    if record.get("id") is None or props.get("hs_task_status") == COMPLETED:
        return None
    raw_type = str(props.get("hs_task_type") or TaskKind.TODO.value)
    if raw_type not in TaskKind.__members__:
        return None  # EMAIL and other kinds: never ours, and no playbook rule counts them
    body = str(props.get("hs_task_body") or "")
    ref = _REF.search(body)
    return OpenTask(task_id=str(record["id"]), kind=TaskKind(raw_type),
                    subject=str(props.get("hs_task_subject") or ""),
                    ours=TASK_MARKER in body, key=ref.group(1) if ref else "")


# -- complete --------------------------------------------------------------------------------


def complete_tasks(client: HubSpotClient, completions: Sequence[TaskCompletion]) -> WriteReport:
    """Read each task (it may be gone, and the note goes after its current body), then set
    COMPLETED with the note in one batch update. Completing twice leaves it as it is."""
    report = WriteReport()
    by_task: dict[str, list[TaskCompletion]] = {}
    for completion in completions:
        by_task.setdefault(completion.task_id, []).append(completion)
    current = _read_tasks(client, list(by_task), report)
    inputs: list[dict[str, Any]] = []
    for task_id, items in by_task.items():
        props = current.get(task_id)
        if props is None:
            report.failed += [RecordError(c.key, f"task {task_id} no longer exists in HubSpot",
                                          "OBJECT_NOT_FOUND") for c in items]
            continue
        body = str(props.get("hs_task_body") or "")
        notes = [c.note for c in items if c.note and c.note not in body]
        if props.get("hs_task_status") == COMPLETED and not notes:
            report.ok += [c.key for c in items]
            continue
        new_body = "\n\n".join([body, *dict.fromkeys(notes)]) if body else "\n\n".join(dict.fromkeys(notes))
        inputs.append({"id": task_id, "objectWriteTraceId": task_id,
                       "properties": {"hs_task_status": COMPLETED, "hs_task_body": new_body}})
    for batch in chunks(inputs):
        report.calls += 1
        resp = client.post(paths.objects_batch_update(paths.TASKS), {"inputs": batch})
        names = {i["id"]: i["id"] for i in batch}
        failed: dict[str, Mapping[str, Any]] = {}
        for error in errors(resp.body):
            for task_id in batch_errors.named_inputs(error, names):
                failed[task_id] = error
        for item in batch:
            for completion in by_task[item["id"]]:
                error = failed.get(item["id"])
                if error is None:
                    report.ok.append(completion.key)
                else:
                    report.failed.append(RecordError(completion.key, batch_errors.reason_of(error),
                                                     batch_errors.category_of(error),
                                                     batch_errors.is_retriable(error)))
    return report


def _read_tasks(client: HubSpotClient, task_ids: list[str], report: WriteReport) -> dict[str, Mapping[str, Any]]:
    found: dict[str, Mapping[str, Any]] = {}
    for chunk in chunks(task_ids):
        report.calls += 1
        body = {"inputs": [{"id": tid} for tid in chunk],
                "properties": ["hs_task_status", "hs_task_body"], "propertiesWithHistory": []}
        try:
            resp = client.post(paths.objects_batch_read(paths.TASKS), body)
        except HubSpotApiError as exc:
            if exc.status == 404:  # none of them exists
                continue
            raise
        for record in results(resp.body):
            if record.get("id") is not None:
                found[str(record["id"])] = mapping(record.get("properties"))
    return found
