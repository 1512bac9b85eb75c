"""Contacts associated to companies, with their email (to pick the billing contact, PRODUCT.md §6).

Associations batch read, date version paths.CRM_ASSOCIATIONS_VERSION (`POST /crm/associations/<v>/
companies/contacts/batch/read`, inputs `{id, after?}`, results `{from{id}, to[{toObjectId,
associationTypes}], paging?}`; "The 'paging' field will only be present if there are more pages").
A company without contacts comes back as a 207 error `OBJECT_NOT_FOUND` /
`crm.associations.NO_ASSOCIATIONS_FOUND` ("No contact is associated with company …"), not as an
empty result: that is an empty list, not a failure. Emails then come from a contacts batch read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connector.ports import Contact, CrmRef
from crm_adapters.hubspot import paths
from crm_adapters.hubspot.bodies import chunks, mapping, next_after, properties, results
from crm_adapters.hubspot.client import HubSpotApiError, HubSpotClient


def record_contacts(client: HubSpotClient, refs: Sequence[CrmRef]) -> dict[CrmRef, list[Contact]]:
    wanted = list(dict.fromkeys(refs))
    contact_ids: dict[CrmRef, list[str]] = {ref: [] for ref in wanted}
    by_type: dict[str, list[CrmRef]] = {}
    for ref in wanted:
        by_type.setdefault(ref.object_type, []).append(ref)
    for object_type, type_refs in by_type.items():
        associated = _associated(client, object_type, [r.record_id for r in type_refs])
        for ref in type_refs:
            contact_ids[ref] = associated.get(ref.record_id, [])
    emails = _emails(client, list(dict.fromkeys(c for ids in contact_ids.values() for c in ids)))
    return {
        ref: [Contact(cid, emails[cid]) for cid in ids if cid in emails]
        for ref, ids in contact_ids.items()
    }


def _associated(client: HubSpotClient, from_type: str, record_ids: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    pending: list[dict[str, Any]] = [{"id": rid} for rid in record_ids]
    path = paths.associations_batch_read(from_type, paths.CONTACTS)
    while pending:
        following: list[dict[str, Any]] = []
        for chunk in chunks(pending):
            try:
                resp = client.post(path, {"inputs": chunk})
            except HubSpotApiError as exc:
                if exc.status == 404:  # none of them has contacts (or exists)
                    continue
                raise
            for result in results(resp.body):
                from_id = str(mapping(result.get("from")).get("id") or "")
                targets = found.setdefault(from_id, [])
                for target in result.get("to") or []:
                    target_id = mapping(target).get("toObjectId")
                    if target_id is not None and str(target_id) not in targets:
                        targets.append(str(target_id))
                after = next_after(result)
                if from_id and after:
                    following.append({"id": from_id, "after": after})
            # Errors are companies without contacts (NO_ASSOCIATIONS_FOUND) or gone: no contacts.
        pending = following
    return found


def _emails(client: HubSpotClient, contact_ids: list[str]) -> dict[str, str | None]:
    emails: dict[str, str | None] = {}
    for chunk in chunks(contact_ids):
        body = {"inputs": [{"id": cid} for cid in chunk], "properties": ["email"],
                "propertiesWithHistory": []}
        try:
            resp = client.post(paths.objects_batch_read(paths.CONTACTS), body)
        except HubSpotApiError as exc:
            if exc.status == 404:
                continue
            raise
        for record in results(resp.body):
            if record.get("id") is not None:
                email = properties(record).get("email")
                emails[str(record["id"])] = str(email).strip() if email else None
    return emails
