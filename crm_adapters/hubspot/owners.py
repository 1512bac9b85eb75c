"""Owners: who owns a company, and the owner's HubSpot user id and email (a sequence sender).

- A company's owner is its `hubspot_owner_id` property, read by batch (≤100 per call).
- Owners API, date version paths.CRM_OWNERS_VERSION (spec CRM/Crm Owners/Rollouts/146888/2026-09/
  crmOwners.json): `GET /crm/owners/<v>/{ownerId}` (`archived=true` finds archived ones) and a paged
  `GET /crm/owners/<v>`. There is no batch read: a few owners are read one by one, many by paging
  through the portal's owners (usually a handful of pages).
- `PublicOwner` carries `id` (the owner id), `userId`, `userIdIncludingInactive`, `email`,
  `archived`, `type` PERSON | QUEUE. The sequences API wants the *user* id. A deactivated user keeps
  an owner record whose `userId` is empty (only `userIdIncludingInactive` names the user), so an
  owner counts as active only when it is not archived and still has a `userId`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from connector.ports import CrmRef, Owner
from crm_adapters.hubspot import paths
from crm_adapters.hubspot.bodies import chunks, mapping, next_after, properties, results
from crm_adapters.hubspot.client import HubSpotApiError, HubSpotClient

OWNER_PROPERTY = "hubspot_owner_id"
# Up to this many owners are read one by one; more, and paging through all owners is cheaper.
SINGLE_READS_MAX = 10
OWNERS_PAGE_SIZE = 100


def record_owners(client: HubSpotClient, refs: Sequence[CrmRef]) -> dict[CrmRef, str | None]:
    """Owner id of each record that exists (None when unowned); missing records are left out."""
    out: dict[CrmRef, str | None] = {}
    by_type: dict[str, list[str]] = {}
    for ref in refs:
        by_type.setdefault(ref.object_type, []).append(ref.record_id)
    for object_type, ids in by_type.items():
        for chunk in chunks(list(dict.fromkeys(ids))):
            body = {"inputs": [{"id": rid} for rid in chunk], "properties": [OWNER_PROPERTY],
                    "propertiesWithHistory": []}
            try:
                resp = client.post(paths.objects_batch_read(object_type), body)
            except HubSpotApiError as exc:
                if exc.status == 404:  # none of them exists
                    continue
                raise
            for record in results(resp.body):
                if record.get("id") is None:
                    continue
                owner = properties(record).get(OWNER_PROPERTY)
                out[CrmRef(object_type, str(record["id"]))] = str(owner) if owner else None
    return out


def owners(client: HubSpotClient, owner_ids: Sequence[str]) -> dict[str, Owner]:
    wanted = [o for o in dict.fromkeys(str(i) for i in owner_ids) if o]
    if len(wanted) <= SINGLE_READS_MAX:
        found = {}
        for owner_id in wanted:
            owner = _read_one(client, owner_id)
            if owner is not None:
                found[owner_id] = owner
        return found
    found = _page_all(client, set(wanted), archived=False)
    missing = set(wanted) - set(found)
    if missing:
        found |= _page_all(client, missing, archived=True)
    return found


def parse_owner(body: Mapping[str, Any]) -> Owner | None:
    if body.get("id") is None:
        return None
    user_id = body.get("userId")
    user_or_inactive = user_id if user_id is not None else body.get("userIdIncludingInactive")
    email = body.get("email")
    return Owner(
        owner_id=str(body["id"]),
        user_id=str(user_or_inactive) if user_or_inactive is not None else None,
        email=str(email) if email else None,
        active=not body.get("archived") and user_id is not None,
    )


def _read_one(client: HubSpotClient, owner_id: str) -> Owner | None:
    # Active owners answer without `archived`; an archived one answers 404 unless asked for.
    for archived in ("false", "true"):
        try:
            resp = client.get(paths.owner(owner_id), params={"idProperty": "id", "archived": archived})
        except HubSpotApiError as exc:
            if exc.status in (400, 404):  # 400: not a number (the path parameter is an integer)
                continue
            raise
        return parse_owner(mapping(resp.body))
    return None


def _page_all(client: HubSpotClient, wanted: set[str], *, archived: bool) -> dict[str, Owner]:
    found: dict[str, Owner] = {}
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": OWNERS_PAGE_SIZE, "archived": str(archived).lower()}
        if after:
            params["after"] = after
        page = client.get(paths.owners(), params=params).body
        for record in results(page):
            owner = parse_owner(record)
            if owner is not None and owner.owner_id in wanted:
                found[owner.owner_id] = owner
        after = next_after(page)
        if not after or len(found) == len(wanted):
            return found
