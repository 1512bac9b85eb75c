"""Risk-segment lists: one DYNAMIC company list per segment, filtered on `dunning_risk_segment`.

Lists (segments) API, date version in paths.CRM_LISTS_VERSION (reference/hubspot.md §4;
https://developers.hubspot.com/docs/api-reference/latest/crm/lists/guide):
- a list name "must be globally unique across all public lists in the portal", so an existing list
  is found by name (`GET …/object-type-id/{objectTypeId}/name/{listName}?includeFilters=true`)
  before anything is created, and a create refused because the name exists meanwhile is read back;
- a DYNAMIC list's criteria change with `PUT …/{listId}/update-list-filters`, whose body
  "will replace the existing definition" — sent only when what HubSpot holds differs from ours;
- a list of that name that is not DYNAMIC (someone made a static one) is reported, never changed.
Every HubSpot example uses a root OR branch whose children are AND branches; the spec marks
`filterBranchOperator` and `includeObjectsWithNoValueSet` required, HubSpot's examples omit them and
its answers echo them: we send both.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from connector.ports import ListsReport, SegmentList
from crm_adapters.hubspot import paths
from crm_adapters.hubspot.bodies import api_reason, mapping
from crm_adapters.hubspot.client import HubSpotApiError, HubSpotClient
from crm_adapters.hubspot.properties import hubspot_name

log = logging.getLogger(__name__)

SEGMENT_PROPERTY = hubspot_name("risk_segment")
DYNAMIC = "DYNAMIC"


def segment_filter(segment: str) -> dict[str, Any]:
    """Records whose segment property is exactly `segment` (an enumeration property)."""
    return {
        "filterBranchType": "OR",
        "filterBranchOperator": "OR",
        "filters": [],
        "filterBranches": [{
            "filterBranchType": "AND",
            "filterBranchOperator": "AND",
            "filterBranches": [],
            "filters": [{
                "filterType": "PROPERTY",
                "property": SEGMENT_PROPERTY,
                "operation": {
                    "operationType": "ENUMERATION",
                    "operator": "IS_ANY_OF",
                    "values": [segment],
                    "includeObjectsWithNoValueSet": False,
                },
            }],
        }],
    }


def list_definition(wanted: SegmentList, object_type_id: str) -> dict[str, Any]:
    return {
        "name": wanted.name,
        "objectTypeId": object_type_id,
        "processingType": DYNAMIC,
        "filterBranch": segment_filter(wanted.segment),
    }


def ensure_segment_lists(
    client: HubSpotClient, wanted: Sequence[SegmentList], *, object_type: str = paths.COMPANIES
) -> ListsReport:
    report = ListsReport()
    object_type_id = paths.OBJECT_TYPE_IDS[object_type]
    for segment_list in wanted:
        try:
            _ensure_one(client, segment_list, object_type_id, report)
        except HubSpotApiError as exc:
            report.problems.append(f"{segment_list.name}: {api_reason(exc)}")
    log.info("hubspot.ensure_lists created=%d updated=%d problems=%d",
             len(report.created), len(report.updated), len(report.problems))
    return report


def _ensure_one(client: HubSpotClient, wanted: SegmentList, object_type_id: str,
                report: ListsReport) -> None:
    existing = find_list(client, wanted.name, object_type_id)
    if existing is None:
        try:
            resp = client.post(paths.lists(), list_definition(wanted, object_type_id))
        except HubSpotApiError as exc:
            # Another worker created it between our look-up and our create: HubSpot refuses the
            # duplicate name; read it back instead of failing.
            if exc.status not in (400, 409):
                raise
            existing = find_list(client, wanted.name, object_type_id)
            if existing is None:
                raise
        else:
            created = mapping(mapping(resp.body).get("list"))
            report.created.append(wanted.name)
            report.list_ids[wanted.segment] = str(created.get("listId") or "")
            return
    processing = existing.get("processingType")
    if processing != DYNAMIC:
        report.problems.append(
            f"{wanted.name}: a {processing or 'non-dynamic'} list with this name already exists; "
            "it was left as it is (rename it so the connector can create its dynamic list)")
        return
    list_id = str(existing.get("listId") or "")
    report.list_ids[wanted.segment] = list_id
    desired = segment_filter(wanted.segment)
    if filter_shape(existing.get("filterBranch")) == filter_shape(desired):
        report.unchanged.append(wanted.name)
        return
    # enrollObjectsInWorkflows=false: fixing our own filter must not push the list's members
    # into a customer's list-triggered workflows a second time.
    client.request("PUT", paths.list_filters(list_id), json={"filterBranch": desired},
                   params={"enrollObjectsInWorkflows": "false"})
    report.updated.append(wanted.name)


def find_list(client: HubSpotClient, name: str, object_type_id: str) -> Mapping[str, Any] | None:
    try:
        resp = client.get(paths.list_by_name(object_type_id, name), params={"includeFilters": "true"})
    except HubSpotApiError as exc:
        if exc.status == 404:
            return None
        raise
    found = mapping(mapping(resp.body).get("list"))
    return found or None


def filter_shape(branch: Any) -> Any:
    """A filter branch reduced to what decides membership, in a canonical order, so HubSpot's echo
    (extra keys, reordered filters) compares equal to what we sent."""
    if not isinstance(branch, Mapping):
        return None
    filters = sorted(_filter_key(f) for f in branch.get("filters") or [] if isinstance(f, Mapping))
    children = sorted((filter_shape(b) for b in branch.get("filterBranches") or []
                       if isinstance(b, Mapping)), key=repr)
    return (str(branch.get("filterBranchType") or ""), tuple(filters), tuple(children))


def _filter_key(item: Mapping[str, Any]) -> tuple[Any, ...]:
    operation = mapping(item.get("operation"))
    values = operation.get("values")
    if values is None and "value" in operation:
        values = [operation["value"]]
    return (
        str(item.get("filterType") or ""),
        str(item.get("property") or ""),
        str(operation.get("operationType") or ""),
        str(operation.get("operator") or ""),
        tuple(sorted(str(v) for v in values or [])),
        bool(operation.get("includeObjectsWithNoValueSet")),
    )
