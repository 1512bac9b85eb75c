"""What the connector's shell needs from CRM adapters, and the values that cross that line.

Adapters are batch-first: a failure of one record is a result (in a report), not an exception.
Exceptions mean the whole call failed: TransientProviderError (retry later, nothing lost),
FatalProviderError, ReauthRequired (see connector.errors).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True)
class CustomerKeys:
    """What we know of a billing customer that can find its CRM record."""

    customer_id: str
    email_domain: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class CrmRef:
    """A CRM record: HubSpot company id or Salesforce Account Id."""

    object_type: str
    record_id: str


class MatchStatus(StrEnum):
    MATCHED = "matched"
    UNMATCHED = "unmatched"
    AMBIGUOUS = "ambiguous"  # several candidates: never guess
    CONFLICT = "conflict"  # the only candidate is linked to another billing customer


@dataclass(frozen=True)
class MatchResult:
    customer_id: str
    status: MatchStatus
    ref: CrmRef | None = None
    matched_by: str | None = None  # "billing_customer_id" | "domain"
    detail: str = ""


@dataclass(frozen=True)
class FieldUpdate:
    """Values to write onto one record, by logical field name (PRODUCT.md §3).

    Values are canonical strings: numbers as decimal text, dates ISO `YYYY-MM-DD`, datetimes ISO
    8601 UTC, and "" to clear a field. The adapter turns them into the vendor's format.
    """

    ref: CrmRef
    values: Mapping[str, str]
    key: str = ""  # caller's id for this update (an outbox item id), echoed in the report


@dataclass(frozen=True)
class RecordError:
    key: str
    reason: str
    category: str = ""
    retriable: bool = False


@dataclass
class WriteReport:
    ok: list[str] = field(default_factory=list)  # keys written
    failed: list[RecordError] = field(default_factory=list)
    calls: int = 0
    # key -> the record that now holds the values, when the target was merged into another
    # (Salesforce: ENTITY_IS_DELETED with a MasterRecordId). The caller should relink to it.
    moved: dict[str, CrmRef] = field(default_factory=dict)


@dataclass
class SchemaReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # reported, never overwritten

    @property
    def ok(self) -> bool:
        return not self.problems


class CrmAdapter(Protocol):
    """One installation's CRM, batch-first."""

    max_batch_size: int

    def ensure_schema(self) -> SchemaReport:
        """Create the property group and §3 fields that are missing. Idempotent; a conflicting
        existing field is reported in `problems` and left as it is."""
        ...

    def match_accounts(self, keys: Sequence[CustomerKeys]) -> list[MatchResult]:
        """Find each customer's record: by billing_customer_id, else by email domain.
        Never guesses between several candidates."""
        ...

    def read_fields(self, refs: Sequence[CrmRef]) -> dict[CrmRef, dict[str, str]]:
        """Current values of the §3 fields (logical names, canonical strings)."""
        ...

    def write_fields(self, updates: Sequence[FieldUpdate]) -> WriteReport:
        """Write values by record id. Must not raise for one bad record: it goes in `failed`.
        Writing the same update twice leaves the CRM unchanged."""
        ...

    def create_accounts(self, updates: Sequence[FieldUpdate]) -> WriteReport:
        """Upsert records on billing_customer_id (only when the installation allows creating)."""
        ...


# --- Playbook actions (PRODUCT.md §6): segment lists, tasks, sequence enrollment -------------


@dataclass(frozen=True)
class SegmentList:
    """One risk-segment list: a dynamic list of records whose segment field equals `segment`."""

    segment: str  # Segment value, e.g. "high_risk"
    name: str  # e.g. "Billing risk: High risk"


@dataclass
class ListsReport:
    created: list[str] = field(default_factory=list)  # list names
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    list_ids: dict[str, str] = field(default_factory=dict)  # segment -> CRM list id


# Tags the tasks the connector creates (in the task body): the ledger counts only these.
TASK_MARKER = "[dunning-connector]"


class TaskKind(StrEnum):
    CALL = "CALL"
    TODO = "TODO"


@dataclass(frozen=True)
class CrmTask:
    """A task the connector creates on a record. `marker` tags it as ours (the ledger counts only ours)."""

    key: str  # caller's id (a decision id), echoed in reports
    ref: CrmRef  # the company / account it is associated to
    kind: TaskKind
    subject: str
    body: str
    due_at: str  # ISO 8601 datetime in the installation's offset (its local day is the due date)
    owner_id: str | None = None  # CRM owner id; None = unassigned
    priority: str = "HIGH"  # HIGH | MEDIUM | LOW
    marker: str = TASK_MARKER


@dataclass(frozen=True)
class OpenTask:
    task_id: str
    kind: TaskKind
    subject: str
    ours: bool  # carries our marker
    # The CrmTask.key it was created for, when the body still names it ("" for a human's task):
    # lets a caller whose create call timed out see that the task exists after all.
    key: str = ""


@dataclass(frozen=True)
class TaskCompletion:
    key: str
    task_id: str
    note: str  # e.g. "Closed by dunning-connector: payment recovered"


@dataclass(frozen=True)
class Contact:
    contact_id: str
    email: str | None


@dataclass(frozen=True)
class Owner:
    owner_id: str
    user_id: str | None  # HubSpot user id (the sequences API wants this, not the owner id)
    email: str | None
    active: bool = True


@dataclass(frozen=True)
class Enrollment:
    key: str
    contact_id: str
    sequence_id: str
    sender_user_id: str
    sender_email: str


@dataclass
class CreateReport:
    """Like WriteReport, with the ids the CRM gave to what was created."""

    created: dict[str, str] = field(default_factory=dict)  # key -> CRM id
    failed: list[RecordError] = field(default_factory=list)
    calls: int = 0


class PlaybookCrm(Protocol):
    """What the playbook needs beyond fields. HubSpot and Salesforce adapters implement both protocols."""

    def ensure_segment_lists(self, lists: Sequence[SegmentList]) -> ListsReport:
        """Create missing lists, found again by name (never duplicated); fix a changed filter."""
        ...

    def record_owners(self, refs: Sequence[CrmRef]) -> dict[CrmRef, str | None]:
        """The owner id of each record (None when unowned)."""
        ...

    def owners(self, owner_ids: Sequence[str]) -> dict[str, Owner]:
        """Owner details (user id and email for a sequence sender; active or not)."""
        ...

    def record_contacts(self, refs: Sequence[CrmRef]) -> dict[CrmRef, list[Contact]]:
        """Contacts associated to each record (to pick the billing contact)."""
        ...

    def open_tasks(self, refs: Sequence[CrmRef]) -> dict[CrmRef, list[OpenTask]]:
        """Open (not completed) tasks associated to each record, ours flagged by marker."""
        ...

    def create_tasks(self, tasks: Sequence[CrmTask]) -> CreateReport:
        """Create tasks associated to their records; one bad task is a result, not an exception."""
        ...

    def complete_tasks(self, completions: Sequence[TaskCompletion]) -> WriteReport:
        """Mark tasks completed, adding the note. A task already gone is reported as failed, not raised."""
        ...

    def enroll(self, enrollments: Sequence[Enrollment]) -> CreateReport:
        """Enroll contacts in sequences. Refusals (no seat, already enrolled, daily limit, unsubscribed,
        missing scope) come back in `failed` with a `category` naming the reason."""
        ...
