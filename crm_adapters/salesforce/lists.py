"""One Account list view per risk segment (PRODUCT.md §3 "Risk-segment lists").

Metadata API `ListView` named `Account.Dunning_<Segment>`, filtered on the segment field,
scope Everything, shared with all internal users (`sharedTo.allInternalUsers`; without it the
visibility follows org defaults, reference/salesforce.md §5 and §11.12). Found again by its full
name, never duplicated; a changed label, filter or sharing is put back with upsertMetadata. The
record ids come from `GET sobjects/Account/listviews` (the Metadata API does not return them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connector.ports import ListsReport, SegmentList
from crm_adapters.salesforce.client import SalesforceClient
from crm_adapters.salesforce.fields import ACCOUNT, API_NAMES, SEGMENT_FIELD

# Standard Account columns use their legacy list-view names (reference §5).
COLUMNS = ("ACCOUNT.NAME", API_NAMES["payment_status"], API_NAMES["days_past_due"],
           API_NAMES["outstanding_amount"], API_NAMES["outstanding_currency"],
           API_NAMES["risk_score"], "CORE.USERS.ALIAS")
CHUNK = 10


def developer_name(segment: str) -> str:
    return "Dunning_" + "_".join(part.capitalize() for part in segment.split("_"))


def ensure_list_views(client: SalesforceClient, lists: Sequence[SegmentList]) -> ListsReport:
    report = ListsReport()
    full_names = {f"{ACCOUNT}.{developer_name(item.segment)}": item for item in lists}
    current: dict[str, dict[str, Any]] = {}
    names = list(full_names)
    for start in range(0, len(names), CHUNK):
        for view in client.metadata("readMetadata", "ListView", names[start:start + CHUNK]):
            if view.get("fullName"):
                current[str(view["fullName"])] = view
    to_write: list[Any] = []
    created: set[str] = set()
    for full_name, item in full_names.items():
        view = current.get(full_name)
        if view is None:
            created.add(full_name)
            to_write.append(_list_view(client, full_name, item))
        elif not _same(view, item):
            to_write.append(_list_view(client, full_name, item))
        else:
            report.unchanged.append(item.name)
    for start in range(0, len(to_write), CHUNK):
        for result in client.metadata("upsertMetadata", to_write[start:start + CHUNK]):
            item = full_names.get(str(result.get("fullName") or ""))
            if item is None:
                continue
            if result.get("success"):
                (report.created if result.get("created") else report.updated).append(item.name)
            else:
                errors = result.get("errors") or [{}]
                report.problems.append(f"{item.name}: {errors[0].get('statusCode')}: "
                                       f"{str(errors[0].get('message') or '')[:200]}")
    report.list_ids = _list_ids(client, {developer_name(i.segment): i.segment for i in lists})
    return report


def _list_view(client: SalesforceClient, full_name: str, item: SegmentList) -> Any:
    md = client.metadata_type
    return md("ListView")(
        fullName=full_name,
        label=item.name[:40],  # list view labels are at most 40 characters
        filterScope="Everything",
        columns=list(COLUMNS),
        filters=[md("ListViewFilter")(field=SEGMENT_FIELD, operation="equals", value=item.segment)],
        sharedTo=md("SharedTo")(allInternalUsers=""),
    )


def _same(view: dict[str, Any], item: SegmentList) -> bool:
    filters = [f for f in view.get("filters") or [] if isinstance(f, dict)]
    return (
        view.get("label") == item.name[:40]
        and view.get("filterScope") == "Everything"
        and len(filters) == 1
        and filters[0].get("field") == SEGMENT_FIELD
        and filters[0].get("operation") == "equals"
        and filters[0].get("value") == item.segment
        and _shared_with_all_internal_users(view.get("sharedTo"))
    )


def _shared_with_all_internal_users(shared: Any) -> bool:
    # `<allInternalUsers></allInternalUsers>` reads back as an empty value, so "shared with all
    # internal users" is: a sharedTo element naming no narrower audience.
    if not isinstance(shared, dict):
        return False
    narrower = [k for k, v in shared.items() if k != "allInternalUsers" and v not in (None, [], "")]
    return not narrower


def _list_ids(client: SalesforceClient, segments_by_name: dict[str, str]) -> dict[str, str]:
    answer = client.rest("GET", f"sobjects/{ACCOUNT}/listviews") or {}
    ids: dict[str, str] = {}
    for view in answer.get("listviews") or []:
        segment = segments_by_name.get(str(view.get("developerName") or ""))
        if segment and view.get("id"):
            ids[segment] = str(view["id"])
    return ids
