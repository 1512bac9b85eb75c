"""FakeCrmAdapter: an in-memory CRM behind the CrmAdapter protocol, for tests and preview.

It follows the same contract as HubSpotAdapter (tests/crm_adapters/test_contract.py runs the same
scenarios against both): unique billing_customer_id, domain matching through
crm_adapters.matching, values validated and stored in canonical form, one bad record reported
and the rest written. It records every call in `calls`, and lets tests inject per-record
refusals (`refuse`) and whole-call failures (`fail_next`).

The playbook side (PlaybookCrm; tests/crm_adapters/test_playbook_contract.py) keeps lists by name,
tasks with their status, owners, contacts and enrollments in memory. Test helpers: `add_owner`,
`set_record_owner`, `add_contact`, `add_task` (a human's task), `delete_task`, `add_list`,
`edit_list_filter`, `refuse_enrollment`; state in `lists`, `tasks`, `owner_records`,
`contacts`, `enrollments`.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from connector.domain.fields import FIELDS, FIELDS_BY_NAME
from connector.domain.free_mail import normalize_domain
from connector.ports import (
    TASK_MARKER,
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
    TaskKind,
    WriteReport,
)
from crm_adapters.canonical import FieldValueError, canonicalize, parse_datetime
from crm_adapters.matching import Candidate, decide_by_domain, searchable_domain

_EXTRA_ON_CREATE = ("name", "domain")


@dataclass
class FakeRecord:
    ref: CrmRef
    name: str = ""
    domain: str = ""
    values: dict[str, str] = field(default_factory=dict)  # logical name → canonical value
    owner_id: str | None = None
    contact_ids: list[str] = field(default_factory=list)


@dataclass
class FakeList:
    list_id: str
    name: str
    segment: str  # the segment its filter selects
    processing_type: str = "DYNAMIC"


@dataclass
class FakeTask:
    task_id: str
    ref: CrmRef
    kind: TaskKind
    subject: str
    body: str
    due_at: str = ""
    owner_id: str | None = None
    priority: str = "HIGH"
    completed: bool = False


@dataclass
class FakeEnrollment:
    enrollment_id: str
    contact_id: str
    sequence_id: str
    sender_user_id: str
    sender_email: str


# Refusal categories enroll() reports (the same names HubSpotAdapter uses).
ENROLLMENT_REFUSALS = ("no_seat", "inbox_not_connected", "already_enrolled", "daily_limit",
                       "unsubscribed", "missing_scope", "refused")
_PRIORITIES = ("HIGH", "MEDIUM", "LOW")


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
        self.lists: dict[str, FakeList] = {}  # by name (names are unique, as in HubSpot)
        self.tasks: dict[str, FakeTask] = {}
        self.owner_records: dict[str, Owner] = {}
        self.contacts: dict[str, Contact] = {}
        self.enrollments: list[FakeEnrollment] = []
        self._enrollment_refusals: dict[str, tuple[str, str]] = {}  # contact id → (category, reason)

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

    def add_owner(self, *, user_id: str | None, email: str | None, active: bool = True,
                  owner_id: str | None = None) -> Owner:
        owner = Owner(owner_id or str(next(self._ids)), user_id, email, active)
        self.owner_records[owner.owner_id] = owner
        return owner

    def set_record_owner(self, ref: CrmRef, owner_id: str | None) -> None:
        self.records[ref.record_id].owner_id = owner_id

    def add_contact(self, ref: CrmRef, email: str | None) -> Contact:
        """A contact associated to the record."""
        contact = Contact(str(next(self._ids)), email)
        self.contacts[contact.contact_id] = contact
        self.records[ref.record_id].contact_ids.append(contact.contact_id)
        return contact

    def add_task(self, ref: CrmRef, kind: TaskKind, subject: str, *, body: str = "",
                 completed: bool = False) -> str:
        """A task someone made in the CRM (no marker unless the body carries one)."""
        task = FakeTask(str(next(self._ids)), ref, kind, subject, body, completed=completed)
        self.tasks[task.task_id] = task
        return task.task_id

    def delete_task(self, task_id: str) -> None:
        del self.tasks[task_id]

    def add_list(self, name: str, segment: str, *, processing_type: str = "DYNAMIC") -> str:
        """A list made by someone else (e.g. a static list already holding our name)."""
        fake_list = FakeList(str(next(self._ids)), name, segment, processing_type)
        self.lists[name] = fake_list
        return fake_list.list_id

    def edit_list_filter(self, name: str, segment: str) -> None:
        """Someone changed a list's filter in the CRM."""
        self.lists[name].segment = segment

    def refuse_enrollment(self, contact_id: str, category: str, reason: str = "") -> None:
        """Make every enrollment of this contact fail with `category` (one of ENROLLMENT_REFUSALS)."""
        if category not in ENROLLMENT_REFUSALS:
            raise ValueError(f"unknown refusal category {category!r}")
        self._enrollment_refusals[contact_id] = (category, reason or category.replace("_", " "))

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

    # -- playbook (PlaybookCrm) -------------------------------------------------------------

    def ensure_segment_lists(self, lists: Sequence[SegmentList]) -> ListsReport:
        self._enter("ensure_segment_lists", len(lists))
        report = ListsReport()
        for wanted in lists:
            existing = self.lists.get(wanted.name)
            if existing is None:
                self.lists[wanted.name] = FakeList(str(next(self._ids)), wanted.name, wanted.segment)
                report.created.append(wanted.name)
            elif existing.processing_type != "DYNAMIC":
                report.problems.append(f"{wanted.name}: a {existing.processing_type} list with this "
                                       "name already exists; it was left as it is")
                continue
            elif existing.segment != wanted.segment:
                existing.segment = wanted.segment
                report.updated.append(wanted.name)
            else:
                report.unchanged.append(wanted.name)
            report.list_ids[wanted.segment] = self.lists[wanted.name].list_id
        return report

    def record_owners(self, refs: Sequence[CrmRef]) -> dict[CrmRef, str | None]:
        self._enter("record_owners", len(refs))
        return {ref: self.records[ref.record_id].owner_id for ref in refs
                if ref.record_id in self.records and ref.object_type == self.object_type}

    def owners(self, owner_ids: Sequence[str]) -> dict[str, Owner]:
        self._enter("owners", len(owner_ids))
        return {oid: self.owner_records[oid] for oid in owner_ids if oid in self.owner_records}

    def record_contacts(self, refs: Sequence[CrmRef]) -> dict[CrmRef, list[Contact]]:
        self._enter("record_contacts", len(refs))
        out: dict[CrmRef, list[Contact]] = {}
        for ref in refs:
            record = self.records.get(ref.record_id)
            ids = record.contact_ids if record is not None else []
            out[ref] = [self.contacts[cid] for cid in ids if cid in self.contacts]
        return out

    def open_tasks(self, refs: Sequence[CrmRef]) -> dict[CrmRef, list[OpenTask]]:
        self._enter("open_tasks", len(refs))
        return {ref: [_open_task(t) for t in self.tasks.values() if t.ref == ref and not t.completed]
                for ref in refs}

    def create_tasks(self, tasks: Sequence[CrmTask]) -> CreateReport:
        report = CreateReport(calls=_calls(len(tasks), self.max_batch_size))
        self._enter("create_tasks", len(tasks))
        for task in tasks:
            problem = self._task_problem(task)
            if problem:
                report.failed.append(RecordError(task.key, problem[1], problem[0]))
                continue
            body = f"{task.marker} ref:{task.key}" if task.key else task.marker
            created = FakeTask(str(next(self._ids)), task.ref, task.kind, task.subject,
                               f"{task.body}\n\n{body}" if task.body else body, task.due_at,
                               task.owner_id, task.priority)
            self.tasks[created.task_id] = created
            report.created[task.key] = created.task_id
        return report

    def complete_tasks(self, completions: Sequence[TaskCompletion]) -> WriteReport:
        report = WriteReport(calls=_calls(len(completions), self.max_batch_size))
        self._enter("complete_tasks", len(completions))
        for completion in completions:
            task = self.tasks.get(completion.task_id)
            if task is None:
                report.failed.append(RecordError(completion.key, f"task {completion.task_id} no "
                                                 "longer exists", "OBJECT_NOT_FOUND"))
                continue
            if completion.note and completion.note not in task.body:
                task.body = f"{task.body}\n\n{completion.note}" if task.body else completion.note
            task.completed = True
            report.ok.append(completion.key)
        return report

    def enroll(self, enrollments: Sequence[Enrollment]) -> CreateReport:
        report = CreateReport(calls=len(enrollments))
        self._enter("enroll", len(enrollments))
        for enrollment in enrollments:
            refusal = self._enrollment_problem(enrollment)
            if refusal:
                report.failed.append(RecordError(enrollment.key, refusal[1], refusal[0]))
                continue
            created = FakeEnrollment(str(next(self._ids)), enrollment.contact_id,
                                     enrollment.sequence_id, enrollment.sender_user_id,
                                     enrollment.sender_email)
            self.enrollments.append(created)
            report.created[enrollment.key] = created.enrollment_id
        return report

    def _task_problem(self, task: CrmTask) -> tuple[str, str] | None:
        if task.ref.record_id not in self.records:
            return "OBJECT_NOT_FOUND", f"no record {task.ref.record_id} to associate the task to"
        if task.priority not in _PRIORITIES:
            return "INVALID_VALUE", f"priority must be HIGH, MEDIUM or LOW, not {task.priority!r}"
        try:
            parse_datetime(task.due_at)
        except ValueError:
            return "INVALID_VALUE", f"due_at is not an ISO 8601 datetime: {task.due_at!r}"
        return None

    def _enrollment_problem(self, enrollment: Enrollment) -> tuple[str, str] | None:
        if not (enrollment.sender_user_id and enrollment.sender_email):
            return "INVALID_VALUE", "no sender"
        if enrollment.contact_id in self._enrollment_refusals:
            return self._enrollment_refusals[enrollment.contact_id]
        if enrollment.contact_id not in self.contacts:
            return "refused", f"no contact {enrollment.contact_id}"
        # Like HubSpot: a contact is in one sequence at a time (there is no unenroll here).
        if any(e.contact_id == enrollment.contact_id for e in self.enrollments):
            return "already_enrolled", "contact is already enrolled in a sequence"
        return None

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


def _open_task(task: FakeTask) -> OpenTask:
    after_tag = task.body.partition(f"{TASK_MARKER} ref:")[2].split()
    key = after_tag[0] if after_tag else ""
    return OpenTask(task.task_id, task.kind, task.subject, TASK_MARKER in task.body, key)


def _calls(count: int, size: int) -> int:
    return -(-count // size) if count else 0
