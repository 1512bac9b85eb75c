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
