"""SalesforceAdapter: connector/ports.py CrmAdapter and PlaybookCrm on Salesforce Accounts.

Batch-first like HubSpotAdapter: one bad record is a result in the report, never an exception;
an exception means the whole call failed (connector.errors kinds, see client.py). The same
scenario suite runs against it, HubSpot and the fake (tests/crm_adapters/test_contract.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

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
    OpenTask,
    Owner,
    RecordError,
    SchemaReport,
    SegmentList,
    TaskCompletion,
    WriteReport,
)
from crm_adapters.canonical import FieldValueError
from crm_adapters.salesforce import activities, cadences, lists, matching, schema, soql
from crm_adapters.salesforce.client import SalesforceClient
from crm_adapters.salesforce.fields import ACCOUNT, API_NAMES, ID_FIELD, decode, encode
from crm_adapters.salesforce.records import Pending, RecordWriter, merge

log = logging.getLogger(__name__)

# Non-§3 keys create_accounts accepts, so a new Account is not nameless.
CREATE_EXTRA_FIELDS = {"name": "Name", "domain": "Website"}


class SalesforceAdapter:
    """One installation's Salesforce org."""

    # The drain hands over up to this many records at once so write_fields can choose Bulk
    # API 2.0 (one 10,000-record ingest batch) over 50 Collections calls; below 2,000 it uses
    # Collections of 200 (records.py).
    max_batch_size: int = 10_000
    object_type: str = ACCOUNT

    def __init__(self, client: SalesforceClient, *, user_id: str | None = None,
                 fallback_owner_id: str | None = None) -> None:
        self.client = client
        self._user_id = user_id  # the connected user: gets the integration permission set
        self._fallback_owner_id = fallback_owner_id
        self._writer = RecordWriter(client)
        self._contacts = activities.ContactReader(client)

    @property
    def api_budget(self):  # noqa: ANN201 - BudgetState | None, for the dashboard
        return self.client.budget.state

    # -- CrmAdapter -----------------------------------------------------------------------------

    def ensure_schema(self) -> SchemaReport:
        return schema.ensure_schema(self.client, user_id=self._user_id)

    def match_accounts(self, keys: Sequence[CustomerKeys]) -> list[MatchResult]:
        return matching.match_accounts(self.client, keys)

    def read_fields(self, refs: Sequence[CrmRef]) -> dict[CrmRef, dict[str, str]]:
        out: dict[CrmRef, dict[str, str]] = {}
        refs_by_id = {r.record_id: r for r in refs}
        ids = [r.record_id for r in dict.fromkeys(refs) if soql.is_record_id(r.record_id)]
        columns = ["Id", *API_NAMES.values()]
        for chunk in soql.chunked_in(ids):
            for row in self.client.query(soql.select(columns, ACCOUNT, f"Id IN {soql.in_list(chunk)}")):
                ref = refs_by_id.get(str(row["Id"]))
                if ref is not None:
                    out[ref] = decode(row)
        return out

    def write_fields(self, updates: Sequence[FieldUpdate]) -> WriteReport:
        report = WriteReport()
        items = []
        for update in updates:
            if not soql.is_record_id(update.ref.record_id):
                report.failed.append(RecordError(update.key, f"MALFORMED_ID: {update.ref.record_id!r} "
                                                 "is not a Salesforce record id", "MALFORMED_ID"))
                continue
            try:
                items.append((update.ref.record_id, update.key, encode(update.values)))
            except FieldValueError as exc:
                report.failed.append(RecordError(update.key, str(exc), "INVALID_VALUE"))
        pending = merge(items)
        if pending:
            self._writer.update(pending, report)
        return report

    def create_accounts(self, updates: Sequence[FieldUpdate]) -> WriteReport:
        """Upsert on the external id. Name is required to create an Account, so a new one
        without a name gets the billing id; an existing one keeps its name."""
        report = WriteReport()
        items = []
        for update in updates:
            billing_id = update.values.get("billing_customer_id", "")
            if not billing_id:
                report.failed.append(RecordError(update.key, "billing_customer_id is required "
                                                 "to create an Account", "INVALID_VALUE"))
                continue
            values = {k: v for k, v in update.values.items()
                      if k not in CREATE_EXTRA_FIELDS and k != "billing_customer_id"}
            try:
                record = encode(values)
            except FieldValueError as exc:
                report.failed.append(RecordError(update.key, str(exc), "INVALID_VALUE"))
                continue
            for logical, api in CREATE_EXTRA_FIELDS.items():
                if update.values.get(logical):
                    record[api] = update.values[logical]
            items.append((billing_id, update.key, record))
        pending = merge(items)
        if pending:
            self._name_new_accounts(pending)
            self._writer.upsert(pending, ID_FIELD, report)
        return report

    def _name_new_accounts(self, pending: list[Pending]) -> None:
        unnamed = [p for p in pending if "Name" not in p.values]
        if not unnamed:
            return
        existing = matching.match_existing_ids(self.client, [p.record for p in unnamed])
        for p in unnamed:
            if p.record not in existing:
                p.values["Name"] = p.record

    # -- PlaybookCrm ----------------------------------------------------------------------------

    def ensure_segment_lists(self, segment_lists: Sequence[SegmentList]) -> ListsReport:
        return lists.ensure_list_views(self.client, segment_lists)

    def record_owners(self, refs: Sequence[CrmRef]) -> dict[CrmRef, str | None]:
        return activities.record_owners(self.client, refs)

    def owners(self, owner_ids: Sequence[str]) -> dict[str, Owner]:
        return activities.owners(self.client, owner_ids)

    def record_contacts(self, refs: Sequence[CrmRef]) -> dict[CrmRef, list[Contact]]:
        return self._contacts.record_contacts(refs)

    def open_tasks(self, refs: Sequence[CrmRef]) -> dict[CrmRef, list[OpenTask]]:
        return activities.open_tasks(self.client, refs)

    def create_tasks(self, tasks: Sequence[CrmTask]) -> CreateReport:
        return activities.create_tasks(self.client, tasks, self._fallback_owner_id)

    def complete_tasks(self, completions: Sequence[TaskCompletion]) -> WriteReport:
        return activities.complete_tasks(self.client, completions)

    def enroll(self, enrollments: Sequence[Enrollment]) -> CreateReport:
        return cadences.enroll(self.client, enrollments)

    def unenroll(self, enrollments: Sequence[Enrollment]) -> WriteReport:
        """Salesforce only (HubSpot has no unenroll API): remove targets from their cadence."""
        return cadences.unenroll(self.client, enrollments)
