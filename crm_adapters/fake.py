"""FakeCrmAdapter: an in-memory CRM behind the CrmAdapter protocol, for tests and preview.

It follows the same contract as HubSpotAdapter (tests/crm_adapters/test_contract.py runs the same
scenarios against both): unique billing_customer_id, domain matching through
crm_adapters.matching, values validated and stored in canonical form, one bad record reported
and the rest written. It records every call in `calls`, and lets tests inject per-record
refusals (`refuse`) and whole-call failures (`fail_next`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from connector.domain.fields import FIELDS, FIELDS_BY_NAME
from connector.domain.free_mail import normalize_domain
from connector.ports import (
    CrmRef,
    CustomerKeys,
    FieldUpdate,
    MatchResult,
    MatchStatus,
    RecordError,
    SchemaReport,
    WriteReport,
)
from crm_adapters.canonical import FieldValueError, canonicalize
from crm_adapters.matching import Candidate, decide_by_domain, searchable_domain

_EXTRA_ON_CREATE = ("name", "domain")


@dataclass
class FakeRecord:
    ref: CrmRef
    name: str = ""
    domain: str = ""
    values: dict[str, str] = field(default_factory=dict)  # logical name → canonical value


class FakeCrmAdapter:
    """In-memory stand-in; `records` is inspectable, `calls` lists (method, size) in order."""

    def __init__(self, *, object_type: str = "companies", max_batch_size: int = 100) -> None:
        self.object_type = object_type
        self.max_batch_size = max_batch_size
        self.records: dict[str, FakeRecord] = {}
        self.schema_fields: set[str] = set()
        self.calls: list[tuple[str, int]] = []
        self._ids = itertools.count(1001)
        self._refusals: dict[str, RecordError] = {}
        self._fail_next: list[Exception] = []

    # -- test helpers ---------------------------------------------------------------------

    def add_record(self, *, domain: str = "", name: str = "", **values: str) -> CrmRef:
        ref = CrmRef(self.object_type, str(next(self._ids)))
        self.records[ref.record_id] = FakeRecord(ref, name, normalize_domain(domain) or "",
                                                 dict(values))
        return ref

    def refuse(self, key: str, reason: str = "refused", *, category: str = "VALIDATION_ERROR",
               retriable: bool = False) -> None:
        """Make the update with this key fail (as a CRM validation rule would)."""
        self._refusals[key] = RecordError(key, reason, category, retriable)

    def fail_next(self, error: Exception) -> None:
        """Make the next adapter call raise `error` (e.g. TransientProviderError)."""
        self._fail_next.append(error)

    def _enter(self, method: str, size: int) -> None:
        self.calls.append((method, size))
        if self._fail_next:
            raise self._fail_next.pop(0)

    # -- protocol -------------------------------------------------------------------------

    def ensure_schema(self) -> SchemaReport:
        self._enter("ensure_schema", 0)
        report = SchemaReport()
        for spec in FIELDS:
            (report.unchanged if spec.name in self.schema_fields else report.created).append(spec.name)
            self.schema_fields.add(spec.name)
        return report

    def match_accounts(self, keys: Sequence[CustomerKeys]) -> list[MatchResult]:
        self._enter("match_accounts", len(keys))
        by_billing_id = {
            r.values.get("billing_customer_id"): r.ref
            for r in self.records.values()
            if r.values.get("billing_customer_id")
        }
        pending = [k for k in keys if k.customer_id not in by_billing_id]
        candidates: dict[str, list[Candidate]] = {}
        wanted = {d for k in pending if (d := searchable_domain(k))}
        for record in self.records.values():
            if record.domain in wanted:
                candidates.setdefault(record.domain, []).append(
                    Candidate(record.ref, record.values.get("billing_customer_id", "")))
        by_domain = decide_by_domain(pending, candidates)
        return [
            MatchResult(k.customer_id, MatchStatus.MATCHED, by_billing_id[k.customer_id],
                        "billing_customer_id")
            if k.customer_id in by_billing_id
            else by_domain[k.customer_id]
            for k in keys
        ]

    def read_fields(self, refs: Sequence[CrmRef]) -> dict[CrmRef, dict[str, str]]:
        self._enter("read_fields", len(refs))
        out: dict[CrmRef, dict[str, str]] = {}
        for ref in refs:
            record = self.records.get(ref.record_id)
            if record is not None and ref.object_type == self.object_type:
                out[ref] = {spec.name: record.values.get(spec.name, "") for spec in FIELDS}
        return out

    def write_fields(self, updates: Sequence[FieldUpdate]) -> WriteReport:
        report = WriteReport(calls=_calls(len(updates), self.max_batch_size))
        self._enter("write_fields", len(updates))
        for update in updates:
            record = self.records.get(update.ref.record_id)
            if record is None:
                report.failed.append(RecordError(update.key, "no such record", "OBJECT_NOT_FOUND"))
                continue
            self._apply(record, update, report)
        return report

    def create_accounts(self, updates: Sequence[FieldUpdate]) -> WriteReport:
        report = WriteReport(calls=_calls(len(updates), self.max_batch_size))
        self._enter("create_accounts", len(updates))
        for update in updates:
            billing_id = update.values.get("billing_customer_id", "")
            if not billing_id:
                report.failed.append(RecordError(update.key, "billing_customer_id is required "
                                                 "to create a record", "INVALID_VALUE"))
                continue
            record = next((r for r in self.records.values()
                           if r.values.get("billing_customer_id") == billing_id), None)
            if record is None:
                ref = CrmRef(self.object_type, str(next(self._ids)))
                record = FakeRecord(ref)
                if self._apply(record, update, report, extra=_EXTRA_ON_CREATE):
                    self.records[ref.record_id] = record
            else:
                self._apply(record, update, report, extra=_EXTRA_ON_CREATE)
        return report

    # -- internals ------------------------------------------------------------------------

    def _apply(self, record: FakeRecord, update: FieldUpdate, report: WriteReport,
               extra: Sequence[str] = ()) -> bool:
        if update.key in self._refusals:
            report.failed.append(self._refusals[update.key])
            return False
        try:
            values = _canonical_values(update.values, extra)
        except FieldValueError as exc:
            report.failed.append(RecordError(update.key, str(exc), "INVALID_VALUE"))
            return False
        new_id = values.get("billing_customer_id")
        if new_id and any(r.values.get("billing_customer_id") == new_id
                          for r in self.records.values() if r is not record):
            report.failed.append(RecordError(update.key, f"billing_customer_id {new_id} is "
                                             "already on another record", "CONFLICT"))
            return False
        for name in _EXTRA_ON_CREATE:
            if name in values:
                setattr(record, name, values.pop(name))
        record.values.update(values)
        record.values = {k: v for k, v in record.values.items() if v != ""}
        report.ok.append(update.key)
        return True


def _canonical_values(values: Mapping[str, str], extra: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in values.items():
        spec = FIELDS_BY_NAME.get(name)
        if spec is not None:
            out[name] = canonicalize(spec, value)
        elif name in extra:
            out[name] = (normalize_domain(value) or "") if name == "domain" else value
        else:
            raise FieldValueError(name, "not a connector field")
    return out


def _calls(count: int, size: int) -> int:
    return -(-count // size) if count else 0
