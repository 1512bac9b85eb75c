"""HubSpot vendor constants in one place: base URL, date-based API versions, path builders.

HubSpot moved to date-based versions on 2026-03-30 (`/<api>/<YYYY-MM>/<resource>`); "for new
integrations, always use the latest date version". Each date version goes unsupported 18 months
after its release; v1-v3 paths in September 2027, v4 on 2027-03-30.
https://developers.hubspot.com/docs/api-reference/latest/overview
https://developers.hubspot.com/docs/developer-tooling/platform/versioning
Bumping a version is a one-line change here, per API.
"""

from __future__ import annotations

from urllib.parse import quote

DEFAULT_BASE_URL = "https://api.hubapi.com"  # overridable so a local stand-in can serve the API

# CRM objects (batch read/update/upsert and search live under /crm/objects/<version>/...).
# 2026-09 is GA for objects (spec PublicApiSpecs/CRM/Objects/Rollouts/424/2026-09/objects.json and
# Companies/Rollouts/424/2026-09/companies.json). From 2026-09 HubSpot enforces the portal's own
# property validation rules on API writes, so per-record refusals are expected (PRODUCT.md §7).
CRM_OBJECTS_VERSION = "2026-09"

# CRM search is part of the objects API (no separate spec file, reference/hubspot.md §9.1).
CRM_SEARCH_VERSION = CRM_OBJECTS_VERSION

# CRM properties: 2026-09 is GA (spec CRM/Properties/Rollouts/145899/2026-09/properties.json).
CRM_PROPERTIES_VERSION = "2026-09"

# Playbook APIs, all GA on 2026-09 (spec files PublicApiSpecs/CRM/Lists/Rollouts/144891/2026-09/
# lists.json, CRM/Tasks/Rollouts/424/2026-09/tasks.json, CRM/Associations/Rollouts/130902/2026-09/
# associations.json, CRM/Crm Owners/Rollouts/146888/2026-09/crmOwners.json,
# Automation/Sequences/Rollouts/177891/2026-09/sequences.json).
CRM_LISTS_VERSION = "2026-09"
CRM_ASSOCIATIONS_VERSION = "2026-09"
CRM_OWNERS_VERSION = "2026-09"
SEQUENCES_VERSION = "2026-09"

# OAuth: the date-based token endpoints are on 2026-03; the v1 ones are removed 2027-02-16.
# https://developers.hubspot.com/changelog/v1-oauth-api-deprecation
OAUTH_VERSION = "2026-03"

COMPANIES = "companies"  # objectTypeId 0-2; the B2B "account" (reference/hubspot.md §2)
CONTACTS = "contacts"
TASKS = "tasks"
# The Lists API names object types by id ("0-2" companies, "0-1" contacts).
OBJECT_TYPE_IDS = {COMPANIES: "0-2", CONTACTS: "0-1"}


def _seg(value: str) -> str:
    return quote(value, safe="")


def objects_batch_read(object_type: str = COMPANIES) -> str:
    return f"/crm/objects/{CRM_OBJECTS_VERSION}/{_seg(object_type)}/batch/read"


def objects_batch_update(object_type: str = COMPANIES) -> str:
    return f"/crm/objects/{CRM_OBJECTS_VERSION}/{_seg(object_type)}/batch/update"


def objects_batch_upsert(object_type: str = COMPANIES) -> str:
    return f"/crm/objects/{CRM_OBJECTS_VERSION}/{_seg(object_type)}/batch/upsert"


def objects_search(object_type: str = COMPANIES) -> str:
    return f"/crm/objects/{CRM_SEARCH_VERSION}/{_seg(object_type)}/search"


def properties(object_type: str = COMPANIES) -> str:
    return f"/crm/properties/{CRM_PROPERTIES_VERSION}/{_seg(object_type)}"


def property_by_name(name: str, object_type: str = COMPANIES) -> str:
    return f"{properties(object_type)}/{_seg(name)}"


def properties_batch_create(object_type: str = COMPANIES) -> str:
    return f"{properties(object_type)}/batch/create"


def property_groups(object_type: str = COMPANIES) -> str:
    return f"{properties(object_type)}/groups"


def property_group(name: str, object_type: str = COMPANIES) -> str:
    return f"{property_groups(object_type)}/{_seg(name)}"


def lists() -> str:
    # No trailing slash: the spec path is /crm/lists/<version>; "/" routes to /{listId} (§4).
    return f"/crm/lists/{CRM_LISTS_VERSION}"


def list_by_name(object_type_id: str, name: str) -> str:
    return f"{lists()}/object-type-id/{_seg(object_type_id)}/name/{_seg(name)}"


def list_filters(list_id: str) -> str:
    return f"{lists()}/{_seg(list_id)}/update-list-filters"


def associations_batch_read(from_type: str, to_type: str) -> str:
    return f"/crm/associations/{CRM_ASSOCIATIONS_VERSION}/{_seg(from_type)}/{_seg(to_type)}/batch/read"


def objects_batch_create(object_type: str) -> str:
    return f"/crm/objects/{CRM_OBJECTS_VERSION}/{_seg(object_type)}/batch/create"


def owners() -> str:
    return f"/crm/owners/{CRM_OWNERS_VERSION}"


def owner(owner_id: str) -> str:
    return f"{owners()}/{_seg(owner_id)}"


def sequence_enrollments() -> str:
    return f"/automation/sequences/{SEQUENCES_VERSION}/enrollments"


def oauth_token() -> str:
    return f"/oauth/{OAUTH_VERSION}/token"


def is_search_path(path: str) -> bool:
    """CRM search has its own limit (5/s per account) and sends no rate-limit headers."""
    return path.startswith("/crm/objects/") and path.endswith("/search")
