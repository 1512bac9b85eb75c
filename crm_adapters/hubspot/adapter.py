"""HubSpotAdapter: the CrmAdapter and PlaybookCrm protocols (connector/ports.py) on HubSpot companies.

Batch-first: ≤100 inputs per call ("Batch operations are limited to 100 records at a time",
usage guidelines, reference/hubspot.md §3); one bad record is a result in the report, never an
exception. Exceptions mean the whole call failed before anything was written (or the schema is
broken for every record).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from connector.domain.fields import FIELDS, FIELDS_BY_NAME
from connector.domain.free_mail import normalize_domain
from connector.errors import TransientProviderError
from connector.ports import (
    Contact,
    CreateReport,
    CrmRef,
    CrmTask,
    CustomerKeys,
    Enrollment,
    FieldUpdate,
    ListsReport,
    MatchResult,
    MatchStatus,
    OpenTask,
    Owner,
    RecordError,
    SchemaReport,
    SegmentList,
    TaskCompletion,
    WriteReport,
)
from crm_adapters.hubspot import batch_errors, contacts, lists, owners, paths, sequences, tasks
from crm_adapters.hubspot.client import HubSpotApiError, HubSpotClient
from crm_adapters.hubspot.codecs import FieldValueError, from_hubspot, to_hubspot
from crm_adapters.hubspot.properties import (
    ALL_PROPERTY_NAMES,
    GROUP_NAME,
    ID_PROPERTY,
    group_definition,
    hubspot_name,
    plan_schema,
)
from crm_adapters.matching import Candidate, decide_by_domain, searchable_domain

log = logging.getLogger(__name__)

MAX_BATCH_SIZE = 100
SEARCH_PAGE_SIZE = 200  # CRM search maximum per page
DOMAINS_PER_SEARCH = 40  # two IN values per domain (with and without "www.")
# Non-§3 keys create_accounts accepts, so a new company is not nameless.
CREATE_EXTRA_PROPERTIES = {"name": "name", "domain": "domain"}

T = TypeVar("T")


def _chunks(items: Sequence[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


@dataclass
class _Input:
    key: str  # the caller's key, echoed in the report
    trace: str  # objectWriteTraceId (unique within the call)
    record: str  # the input's `id`: HubSpot record id, or the billing id for upserts
    payload: dict[str, Any]


class HubSpotAdapter:
    """One installation's HubSpot portal."""

    max_batch_size: int = MAX_BATCH_SIZE

    def __init__(self, client: HubSpotClient, *, object_type: str = paths.COMPANIES) -> None:
        self._client = client
        self.object_type = object_type

    # -- schema ---------------------------------------------------------------------------

    def ensure_schema(self) -> SchemaReport:
        report = SchemaReport()
        self._ensure_group(report)
        plan = plan_schema(self._existing_properties())
        report.unchanged += plan.unchanged
        report.problems += plan.problems
        if plan.to_create:
            self._create_properties(plan.to_create, report)
        for name, patch in plan.to_update.items():
            try:
                self._client.patch(paths.property_by_name(name, self.object_type), patch)
                report.updated.append(name)
            except HubSpotApiError as exc:
                report.problems.append(f"{name}: could not add options ({_api_reason(exc)})")
        log.info("hubspot.ensure_schema created=%d updated=%d problems=%d",
                 len(report.created), len(report.updated), len(report.problems))
        return report

    def _ensure_group(self, report: SchemaReport) -> None:
        try:
            self._client.get(paths.property_group(GROUP_NAME, self.object_type))
            report.unchanged.append(f"group:{GROUP_NAME}")
            return
        except HubSpotApiError as exc:
            if exc.status != 404:
                raise
        try:
            self._client.post(paths.property_groups(self.object_type), group_definition())
            report.created.append(f"group:{GROUP_NAME}")
        except HubSpotApiError as exc:
            if exc.status != 409:  # created meanwhile by another worker: fine
                raise
            report.unchanged.append(f"group:{GROUP_NAME}")

    def _existing_properties(self) -> dict[str, dict[str, Any]]:
        body = self._client.get(paths.properties(self.object_type)).body or {}
        results = body.get("results") if isinstance(body, Mapping) else None
        return {
            str(p["name"]): p
            for p in results or []
            if isinstance(p, Mapping) and isinstance(p.get("name"), str)
        }

    def _create_properties(self, definitions: list[dict[str, Any]], report: SchemaReport) -> None:
        # The unique property goes alone: it is the one HubSpot may refuse (at most 10 unique
        # properties per object), and its refusal must not take the others down with it.
        unique = [d for d in definitions if d.get("hasUniqueValue")]
        others = [d for d in definitions if not d.get("hasUniqueValue")]
        for definition in unique:
            try:
                self._client.post(paths.properties(self.object_type), definition)
                report.created.append(definition["name"])
            except HubSpotApiError as exc:
                report.problems.append(_unique_refusal(definition["name"], exc))
        if not others:
            return
        try:
            resp = self._client.post(paths.properties_batch_create(self.object_type),
                                     {"inputs": others})
        except HubSpotApiError as exc:
            if exc.status != 400:
                raise
            # One bad definition refused the batch: create one by one to learn which.
            for definition in others:
                self._create_one_property(definition, report)
            return
        body = resp.body if isinstance(resp.body, Mapping) else {}
        created = {r.get("name") for r in body.get("results") or [] if isinstance(r, Mapping)}
        for definition in others:
            if definition["name"] in created or (resp.status == 201 and not body.get("errors")):
                report.created.append(definition["name"])
        missing = [d for d in others if d["name"] not in report.created]
        if missing:
            # A 207: see what exists now (a retried call may have created some already).
            existing = self._existing_properties()
            for definition in missing:
                if definition["name"] in existing:
                    report.created.append(definition["name"])
                else:
                    report.problems.append(
                        f"{definition['name']}: HubSpot did not create it ({_batch_reason(body, definition['name'])})"
                    )

    def _create_one_property(self, definition: dict[str, Any], report: SchemaReport) -> None:
        try:
            self._client.post(paths.properties(self.object_type), definition)
            report.created.append(definition["name"])
        except HubSpotApiError as exc:
            if exc.status == 409:
                report.unchanged.append(definition["name"])
            else:
                report.problems.append(f"{definition['name']}: {_api_reason(exc)}")

    # -- matching -------------------------------------------------------------------------

    def match_accounts(self, keys: Sequence[CustomerKeys]) -> list[MatchResult]:
        by_id = self._find_by_billing_id([k.customer_id for k in keys if k.customer_id])
        pending = [k for k in keys if k.customer_id not in by_id]
        domains = sorted({d for k in pending if (d := searchable_domain(k))})
        by_domain = decide_by_domain(pending, self._search_domains(domains) if domains else {})
        return [
            MatchResult(k.customer_id, MatchStatus.MATCHED, self._ref(by_id[k.customer_id]),
                        "billing_customer_id")
            if k.customer_id in by_id
            else by_domain[k.customer_id]
            for k in keys
        ]

    def _find_by_billing_id(self, customer_ids: Sequence[str]) -> dict[str, str]:
        """billing id → company id, by batch read on the unique property."""
        wanted = list(dict.fromkeys(customer_ids))
        found: dict[str, str] = {}
        lowered = {cid.lower(): cid for cid in wanted}
        for chunk in _chunks(wanted, MAX_BATCH_SIZE):
            body = {
                "idProperty": ID_PROPERTY,
                "inputs": [{"id": cid} for cid in chunk],
                "properties": [ID_PROPERTY, "domain", "name"],
                "propertiesWithHistory": [],
            }
            for record in self._batch_read(body):
                value = str((record.get("properties") or {}).get(ID_PROPERTY) or "")
                cid = value if value in lowered.values() else lowered.get(value.lower())
                if cid and record.get("id") is not None:
                    found[cid] = str(record["id"])
        return found

    def _batch_read(self, body: dict[str, Any]) -> list[Mapping[str, Any]]:
        try:
            resp = self._client.post(paths.objects_batch_read(self.object_type), body)
        except HubSpotApiError as exc:
            # When none of the ids exists HubSpot may answer 404 OBJECT_NOT_FOUND for the batch.
            if exc.status == 404 and exc.category == "OBJECT_NOT_FOUND":
                return []
            raise
        results = resp.body.get("results") if isinstance(resp.body, Mapping) else None
        return [r for r in results or [] if isinstance(r, Mapping)]

    def _search_domains(self, domains: Sequence[str]) -> dict[str, list[Candidate]]:
        """domain → companies carrying it, via CRM search (IN filter, paged)."""
        found: dict[str, dict[str, Candidate]] = defaultdict(dict)
        wanted = set(domains)
        for chunk in _chunks(domains, DOMAINS_PER_SEARCH):
            # HubSpot keeps `domain` as typed (lower-cased); some carry "www.".
            values = sorted({v for d in chunk for v in (d, f"www.{d}")})
            after: str | None = None
            while True:
                body: dict[str, Any] = {
                    "filterGroups": [{"filters": [
                        {"propertyName": "domain", "operator": "IN", "values": values}]}],
                    "properties": ["domain", "name", ID_PROPERTY],
                    "limit": SEARCH_PAGE_SIZE,
                }
                if after:
                    body["after"] = after
                resp = self._client.post(paths.objects_search(self.object_type), body)
                page = resp.body if isinstance(resp.body, Mapping) else {}
                for record in page.get("results") or []:
                    hit = self._candidate(record)
                    if hit and hit[0] in wanted:
                        found[hit[0]][hit[1].ref.record_id] = hit[1]
                paging = page.get("paging")
                nxt = paging.get("next") if isinstance(paging, Mapping) else None
                after = nxt.get("after") if isinstance(nxt, Mapping) else None
                if not after:
                    break
        return {domain: list(companies.values()) for domain, companies in found.items()}

    def _candidate(self, record: Any) -> tuple[str, Candidate] | None:
        if not isinstance(record, Mapping) or record.get("id") is None:
            return None
        props = record.get("properties")
        props = props if isinstance(props, Mapping) else {}
        domain = normalize_domain(props.get("domain") if isinstance(props.get("domain"), str) else None)
        if not domain:
            return None
        return domain, Candidate(self._ref(str(record["id"])), str(props.get(ID_PROPERTY) or ""))

    # -- reading --------------------------------------------------------------------------

    def read_fields(self, refs: Sequence[CrmRef]) -> dict[CrmRef, dict[str, str]]:
        out: dict[CrmRef, dict[str, str]] = {}
        by_type: dict[str, list[str]] = defaultdict(list)
        for ref in refs:
            by_type[ref.object_type].append(ref.record_id)
        for object_type, ids in by_type.items():
            for chunk in _chunks(list(dict.fromkeys(ids)), MAX_BATCH_SIZE):
                body = {
                    "inputs": [{"id": rid} for rid in chunk],
                    "properties": list(ALL_PROPERTY_NAMES),
                    "propertiesWithHistory": [],
                }
                try:
                    resp = self._client.post(paths.objects_batch_read(object_type), body)
                except HubSpotApiError as exc:
                    if exc.status == 404 and exc.category == "OBJECT_NOT_FOUND":
                        continue
                    raise
                results = resp.body.get("results") if isinstance(resp.body, Mapping) else None
                for record in results or []:
                    if not isinstance(record, Mapping) or record.get("id") is None:
                        continue
                    props = record.get("properties") or {}
                    out[CrmRef(object_type, str(record["id"]))] = {
                        spec.name: from_hubspot(spec, props.get(hubspot_name(spec.name)))
                        for spec in FIELDS
                    }
        return out

    # -- writing --------------------------------------------------------------------------

    def write_fields(self, updates: Sequence[FieldUpdate]) -> WriteReport:
        report = WriteReport()
        inputs: list[_Input] = []
        traces = _trace_ids(updates)
        for update, trace in zip(updates, traces, strict=True):
            try:
                properties = _encode(update.values)
            except FieldValueError as exc:
                report.failed.append(RecordError(update.key, str(exc), "INVALID_VALUE"))
                continue
            payload = {"id": update.ref.record_id, "objectWriteTraceId": trace,
                       "properties": properties}
            inputs.append(_Input(update.key, trace, update.ref.record_id, payload))
        self._write(paths.objects_batch_update(self.object_type), inputs, report)
        return report

    def create_accounts(self, updates: Sequence[FieldUpdate]) -> WriteReport:
        report = WriteReport()
        inputs: list[_Input] = []
        traces = _trace_ids(updates)
        for update, trace in zip(updates, traces, strict=True):
            billing_id = update.values.get("billing_customer_id", "")
            if not billing_id:
                report.failed.append(RecordError(update.key, "billing_customer_id is required "
                                                 "to create a company", "INVALID_VALUE"))
                continue
            try:
                properties = _encode(update.values, extra=CREATE_EXTRA_PROPERTIES)
            except FieldValueError as exc:
                report.failed.append(RecordError(update.key, str(exc), "INVALID_VALUE"))
                continue
            payload = {"id": billing_id, "idProperty": ID_PROPERTY, "objectWriteTraceId": trace,
                       "properties": properties}
            inputs.append(_Input(update.key, trace, billing_id, payload))
        self._write(paths.objects_batch_upsert(self.object_type), inputs, report)
        return report

    def _write(self, path: str, inputs: list[_Input], report: WriteReport) -> None:
        batches = _batches_unique_by_record(inputs, self.max_batch_size)
        for index, batch in enumerate(batches):
            try:
                self._send(path, batch, report)
            except TransientProviderError as exc:
                if not report.ok:
                    raise  # nothing written: the whole call failed, retry it later
                # Some inputs went through: report the rest as retriable rather than losing
                # track of what was written.
                reported = set(report.ok) | {f.key for f in report.failed}
                for rest in batches[index:]:
                    for item in rest:
                        if item.key not in reported:
                            report.failed.append(RecordError(item.key, str(exc), "TRANSIENT", True))
                return

    def _send(self, path: str, batch: list[_Input], report: WriteReport) -> None:
        if not batch:
            return
        report.calls += 1
        try:
            resp = self._client.post(path, {"inputs": [item.payload for item in batch]})
        except HubSpotApiError as exc:
            if exc.status not in (400, 409) or batch_errors.is_schema_error(exc.body):
                raise
            self._isolate(path, batch, exc, report)
            return
        self._apply_results(resp.status, resp.body, batch, report)

    def _isolate(self, path: str, batch: list[_Input], exc: HubSpotApiError, report: WriteReport) -> None:
        """A whole-batch 400/409: record the input the error names and write the rest; when it
        names none, bisect until the bad input is alone."""
        error = exc.body if isinstance(exc.body, Mapping) else {}
        if len(batch) == 1:
            item = batch[0]
            report.failed.append(RecordError(item.key, _api_reason(exc), exc.category or "",
                                             batch_errors.is_retriable(error)))
            return
        named = batch_errors.named_inputs(error, _names(batch))
        if named and len(named) < len(batch):
            for item in batch:
                if item.trace in named:
                    report.failed.append(RecordError(item.key, _api_reason(exc),
                                                     exc.category or "", False))
            self._send(path, [i for i in batch if i.trace not in named], report)
            return
        middle = len(batch) // 2
        self._send(path, batch[:middle], report)
        self._send(path, batch[middle:], report)

    def _apply_results(self, status: int, body: Any, batch: list[_Input], report: WriteReport) -> None:
        body = body if isinstance(body, Mapping) else {}
        names = _names(batch)
        done: set[str] = set()
        for record in body.get("results") or []:
            if not isinstance(record, Mapping):
                continue
            trace = _result_trace(record, names)
            if trace:
                done.add(trace)
        errors = [e for e in body.get("errors") or [] if isinstance(e, Mapping)]
        failed: dict[str, Mapping[str, Any]] = {}
        unnamed: list[Mapping[str, Any]] = []
        for error in errors:
            targets = batch_errors.named_inputs(error, names)
            for trace in targets:
                failed[trace] = error
            if not targets:
                unnamed.append(error)
        for item in batch:
            if item.trace in failed:
                error = failed[item.trace]
                report.failed.append(RecordError(item.key, batch_errors.reason_of(error),
                                                 batch_errors.category_of(error),
                                                 batch_errors.is_retriable(error)))
            elif item.trace in done or not errors:
                report.ok.append(item.key)
            else:
                # A multi-status answer that neither lists nor names this input: not known to be
                # written, so retry it (writes are idempotent).
                error = unnamed[0] if unnamed else {}
                report.failed.append(RecordError(item.key, batch_errors.reason_of(error)
                                                 if unnamed else "no result from HubSpot",
                                                 batch_errors.category_of(error), True))

    def _ref(self, record_id: str) -> CrmRef:
        return CrmRef(self.object_type, str(record_id))

    # -- playbook (PlaybookCrm): the work lives in lists/tasks/owners/contacts/sequences.py ----

    def ensure_segment_lists(self, wanted: Sequence[SegmentList]) -> ListsReport:
        return lists.ensure_segment_lists(self._client, wanted, object_type=self.object_type)

    def record_owners(self, refs: Sequence[CrmRef]) -> dict[CrmRef, str | None]:
        return owners.record_owners(self._client, refs)

    def owners(self, owner_ids: Sequence[str]) -> dict[str, Owner]:
        return owners.owners(self._client, owner_ids)

    def record_contacts(self, refs: Sequence[CrmRef]) -> dict[CrmRef, list[Contact]]:
        return contacts.record_contacts(self._client, refs)

    def open_tasks(self, refs: Sequence[CrmRef]) -> dict[CrmRef, list[OpenTask]]:
        return tasks.open_tasks(self._client, refs)

    def create_tasks(self, new_tasks: Sequence[CrmTask]) -> CreateReport:
        return tasks.create_tasks(self._client, new_tasks)

    def complete_tasks(self, completions: Sequence[TaskCompletion]) -> WriteReport:
        return tasks.complete_tasks(self._client, completions)

    def enroll(self, enrollments: Sequence[Enrollment]) -> CreateReport:
        return sequences.enroll(self._client, enrollments)


# -- helpers ------------------------------------------------------------------------------


def _encode(values: Mapping[str, str], extra: Mapping[str, str] | None = None) -> dict[str, str]:
    properties: dict[str, str] = {}
    for name, value in values.items():
        spec = FIELDS_BY_NAME.get(name)
        if spec is not None:
            properties[hubspot_name(name)] = to_hubspot(spec, value)
        elif extra and name in extra:
            properties[extra[name]] = value
        else:
            raise FieldValueError(name, "not a connector field")
    return properties


def _trace_ids(updates: Sequence[FieldUpdate]) -> list[str]:
    """objectWriteTraceId = the update's key, unless empty or repeated in this call."""
    seen: set[str] = set()
    traces = []
    for index, update in enumerate(updates):
        trace = update.key if update.key and update.key not in seen else f"input-{index}"
        seen.add(trace)
        traces.append(trace)
    return traces


def _batches_unique_by_record(inputs: list[_Input], size: int) -> list[list[_Input]]:
    """Batches of ≤size where no record appears twice (HubSpot refuses duplicate ids in one
    batch); a later update of the same record goes to a later batch, keeping order."""
    batches: list[list[_Input]] = []
    records: list[set[str]] = []
    last_batch_of: dict[str, int] = {}
    for item in inputs:
        start = last_batch_of.get(item.record, -1) + 1
        index = next((i for i in range(start, len(batches))
                      if len(batches[i]) < size and item.record not in records[i]), None)
        if index is None:
            batches.append([])
            records.append(set())
            index = len(batches) - 1
        batches[index].append(item)
        records[index].add(item.record)
        last_batch_of[item.record] = index
    return batches


def _names(batch: Sequence[_Input]) -> dict[str, str]:
    names: dict[str, str] = {}
    for item in batch:
        names.setdefault(item.record, item.trace)
        names[item.trace] = item.trace
    return names


def _result_trace(record: Mapping[str, Any], names: Mapping[str, str]) -> str | None:
    for candidate in (
        record.get("objectWriteTraceId"),
        record.get("id"),
        (record.get("properties") or {}).get(ID_PROPERTY),
    ):
        if candidate is not None and str(candidate) in names:
            return names[str(candidate)]
    return None


def _api_reason(exc: HubSpotApiError) -> str:
    if isinstance(exc.body, Mapping):
        return batch_errors.reason_of(exc.body)
    return f"HTTP {exc.status}"


def _batch_reason(body: Mapping[str, Any], name: str) -> str:
    for error in body.get("errors") or []:
        if isinstance(error, Mapping) and name in str(error.get("message") or ""):
            return batch_errors.reason_of(error)
    return "no reason given"


def _unique_refusal(name: str, exc: HubSpotApiError) -> str:
    reason = _api_reason(exc)
    hint = ""
    if "unique" in reason.lower():
        hint = (" — HubSpot allows at most 10 unique-value properties per object; free one, "
                "then reinstall")
    return (f"{name}: HubSpot refused to create it as a unique property ({reason}){hint}; "
            "matching and creating companies by billing customer id will not work until it exists")
