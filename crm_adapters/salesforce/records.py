"""Writing Account fields: sObject Collections (≤200 a call), or Bulk API 2.0 for large drains.

Collections answer HTTP 200 with one result per record, in order, even when records fail
(`allOrNone` false): `{"id", "success", "errors": [{"statusCode", "message", "fields"}]}`
(reference/salesforce.md §3.1). Only what failed for a retriable reason is sent again, once; the
rest is recorded. A merged Account (ENTITY_IS_DELETED whose MasterRecordId names the survivor) is
written on the survivor and reported in `WriteReport.moved`; one deleted outright is reported.

Bulk API 2.0 costs about seven calls whatever the size (create, upload, close, a couple of polls,
two result reads), Collections one per 200 records; Salesforce advises Bulk above 2,000 records
(reference §3.2). Whichever makes fewer calls wins, from BULK_THRESHOLD on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from connector.errors import TransientProviderError
from connector.ports import CrmRef, RecordError, WriteReport
from crm_adapters.salesforce import soql
from crm_adapters.salesforce.client import SalesforceClient
from crm_adapters.salesforce.fields import ACCOUNT, to_csv_value

log = logging.getLogger(__name__)

COLLECTION_SIZE = 200
BULK_THRESHOLD = 2000
BULK_CALLS = 7

# statusCodes worth one more try; everything else (validation rules, duplicates, bad ids,
# restricted picklists, deleted records) is final for that record.
RETRIABLE_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "REQUEST_RUNNING_TOO_LONG",
                             "QUERY_TIMEOUT", "ALL_OR_NONE_OPERATION_ROLLED_BACK"})
DELETED = "ENTITY_IS_DELETED"


@dataclass
class Pending:
    """Values for one record, merged from every update of it in this call (later ones win)."""

    record: str  # Account Id, or the billing id for upserts
    keys: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)


def merge(items: Sequence[tuple[str, str, dict[str, Any]]]) -> list[Pending]:
    """(record, key, values) → one Pending per record, in first-seen order. Salesforce refuses
    the same Id twice in one request, and two writes of one record in one drain mean the same as
    their merge."""
    by_record: dict[str, Pending] = {}
    for record, key, values in items:
        pending = by_record.setdefault(record, Pending(record))
        pending.keys.append(key)
        pending.values.update(values)
    return list(by_record.values())


def use_bulk(count: int) -> bool:
    return count >= BULK_THRESHOLD and -(-count // COLLECTION_SIZE) > BULK_CALLS


def first_error(result: Any) -> tuple[str, str]:
    errors = result.get("errors") if isinstance(result, dict) else None
    if not errors:
        return "UNKNOWN", "Salesforce gave no reason"
    error = errors[0] if isinstance(errors[0], dict) else {}
    # Collections use statusCode; single-record REST errors use errorCode (reference §9.2).
    code = str(error.get("statusCode") or error.get("errorCode") or "UNKNOWN")
    return code, str(error.get("message") or code)[:500]


class RecordWriter:
    """Sends merged record values; fills a WriteReport."""

    def __init__(self, client: SalesforceClient, sobject: str = ACCOUNT) -> None:
        self._client = client
        self._sobject = sobject

    # -- updates by Id --------------------------------------------------------------------------

    def update(self, pending: list[Pending], report: WriteReport) -> None:
        if use_bulk(len(pending)):
            self._bulk_update(pending, report)
            return
        self._in_batches(pending, report, self._collections_update)

    def _collections_update(self, batch: list[Pending], report: WriteReport, *, again: bool = False) -> None:
        body = {"allOrNone": False, "records": [
            {"attributes": {"type": self._sobject}, "Id": p.record, **p.values} for p in batch]}
        report.calls += 1
        results = self._client.rest("PATCH", "composite/sobjects", json=body) or []
        retry: list[Pending] = []
        deleted: list[Pending] = []
        for pending, result in zip(batch, _padded(results, len(batch)), strict=True):
            if isinstance(result, dict) and result.get("success"):
                report.ok.extend(pending.keys)
                continue
            code, message = first_error(result)
            if code == DELETED and not again:
                deleted.append(pending)
            elif code in RETRIABLE_CODES and not again:
                retry.append(pending)
            else:
                _fail(report, pending, code, message, retriable=code in RETRIABLE_CODES)
        if retry:
            self._collections_update(retry, report, again=True)
        if deleted:
            self._follow_merges(deleted, report)

    def _follow_merges(self, deleted: list[Pending], report: WriteReport) -> None:
        """Deleted Accounts: a merge left a survivor (MasterRecordId) — write there instead."""
        where = f"Id IN {soql.in_list(p.record for p in deleted)}"
        report.calls += 1
        rows = self._client.query(soql.select(["Id", "MasterRecordId"], self._sobject, where),
                                  include_deleted=True)
        masters = {str(r["Id"]): str(r["MasterRecordId"]) for r in rows if r.get("MasterRecordId")}
        moved: list[Pending] = []
        for pending in deleted:
            master = masters.get(pending.record)
            if master:
                moved.append(Pending(master, pending.keys, pending.values))
                for key in pending.keys:
                    report.moved[key] = CrmRef(self._sobject, master)
            else:
                _fail(report, pending, DELETED, "the Account was deleted in Salesforce; the "
                      "customer will be matched again", retriable=False)
        if moved:
            log.info("salesforce.records_merged count=%d", len(moved))
            self._collections_update(moved, report, again=True)

    def _bulk_update(self, pending: list[Pending], report: WriteReport) -> None:
        rows = [{"Id": p.record, **{k: to_csv_value(v) for k, v in p.values.items()}} for p in pending]
        result = self._client.bulk_ingest(self._sobject, "update", rows)
        report.calls += result.calls
        self._apply_bulk(pending, result, report, key_column="Id")

    # -- upserts on the external id ---------------------------------------------------------------

    def upsert(self, pending: list[Pending], id_field: str, report: WriteReport) -> None:
        if use_bulk(len(pending)):
            rows = [{id_field: p.record, **{k: to_csv_value(v) for k, v in p.values.items()}}
                    for p in pending]
            result = self._client.bulk_ingest(self._sobject, "upsert", rows, external_id_field=id_field)
            report.calls += result.calls
            self._apply_bulk(pending, result, report, key_column=id_field)
            return

        def send(batch: list[Pending], report: WriteReport) -> None:
            body = {"allOrNone": False, "records": [
                {"attributes": {"type": self._sobject}, id_field: p.record, **p.values} for p in batch]}
            report.calls += 1
            results = self._client.rest("PATCH", f"composite/sobjects/{self._sobject}/{id_field}",
                                        json=body) or []
            for pending, result in zip(batch, _padded(results, len(batch)), strict=True):
                if isinstance(result, dict) and result.get("success"):
                    report.ok.extend(pending.keys)
                else:
                    code, message = first_error(result)
                    _fail(report, pending, code, message, retriable=code in RETRIABLE_CODES)

        self._in_batches(pending, report, send)

    # -- shared ---------------------------------------------------------------------------------

    def _in_batches(self, pending: list[Pending], report: WriteReport,
                    send: Callable[[list[Pending], WriteReport], None]) -> None:
        batches = [pending[i:i + COLLECTION_SIZE] for i in range(0, len(pending), COLLECTION_SIZE)]
        for index, batch in enumerate(batches):
            try:
                send(batch, report)
            except TransientProviderError as exc:
                if not report.ok:
                    raise  # nothing written: the whole call failed, retry it later
                # Some batches went through: report the rest as retriable rather than
                # losing track of what was written.
                for rest in batches[index:]:
                    for p in rest:
                        _fail(report, p, "TRANSIENT", str(exc), retriable=True)
                return

    def _apply_bulk(self, pending: list[Pending], result: Any, report: WriteReport, *,
                    key_column: str) -> None:
        failed = {row.get(key_column, ""): row.get("sf__Error", "") for row in result.failed}
        unprocessed = {row.get(key_column, "") for row in result.unprocessed}
        for p in pending:
            if p.record in failed:
                raw = failed[p.record]
                # sf__Error is "STATUS_CODE:message:fields".
                code, _, rest = raw.partition(":")
                _fail(report, p, code or "UNKNOWN", (rest.rsplit(":", 1)[0] or raw)[:500],
                      retriable=code in RETRIABLE_CODES)
            elif p.record in unprocessed:
                _fail(report, p, "UNPROCESSED", f"Bulk job {result.job_id} did not process it",
                      retriable=True)
            else:
                report.ok.extend(p.keys)


def _fail(report: WriteReport, pending: Pending, code: str, message: str, *, retriable: bool) -> None:
    for key in pending.keys:
        report.failed.append(RecordError(key, f"{code}: {message}" if code not in message else message,
                                         code, retriable))


def _padded(results: Any, size: int) -> list[Any]:
    """One result per record; a short answer leaves the rest unknown (retriable)."""
    items = list(results) if isinstance(results, list) else []
    filler = {"success": False, "errors": [{"statusCode": "SERVER_UNAVAILABLE",
                                            "message": "no result from Salesforce"}]}
    return (items + [filler] * size)[:size]
