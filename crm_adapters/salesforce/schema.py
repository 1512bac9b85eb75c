"""Creating the §3 fields on Account and the permission sets that make them visible.

Metadata API through `sf.mdapi` (SOAP, ≤10 components per call): readMetadata shows every field,
whatever the connected user's field-level security (a describe would hide fields the user
cannot see yet and we would try to create them again). Missing fields are created, picklists
missing our values get them added (the org's own values kept), anything else that differs is
reported and left alone. Then the two permission sets are brought to their definition and the
integration one is assigned to the connected user: "without field-level security the API cannot
see new fields" (reference/salesforce.md §2.3). Every step is idempotent.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from zeep.helpers import serialize_object

from connector.domain.fields import FIELDS_BY_NAME, FieldSpec
from connector.ports import SchemaReport
from crm_adapters.salesforce import soql
from crm_adapters.salesforce.client import SalesforceApiError, SalesforceClient
from crm_adapters.salesforce.fields import (
    ACCOUNT,
    API_NAMES,
    INTEGRATION_PERMISSION_SET,
    READ_ONLY_PERMISSION_SET,
    field_definition,
    permission_set_definition,
    plan_fields,
)

log = logging.getLogger(__name__)

METADATA_CHUNK = 10  # "Limit: 10" components per CRUD call (Metadata API)
_ALREADY_THERE = frozenset({"DUPLICATE_DEVELOPER_NAME", "DUPLICATE_VALUE"})


def ensure_schema(client: SalesforceClient, *, user_id: str | None) -> SchemaReport:
    report = SchemaReport()
    raw = _read_fields(client)
    plan = plan_fields({name: _summary(obj) for name, obj in raw.items()})
    report.unchanged += plan.unchanged
    report.problems += plan.problems
    _create_fields(client, plan.to_create, report)
    _extend_picklists(client, plan.to_extend, raw, report)
    _ensure_permission_sets(client, report)
    _assign_integration_set(client, user_id, report)
    log.info("salesforce.ensure_schema created=%d updated=%d problems=%d",
             len(report.created), len(report.updated), len(report.problems))
    return report


def _chunks(items: Sequence[Any], size: int = METADATA_CHUNK) -> list[list[Any]]:
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


# -- fields -------------------------------------------------------------------------------------


def _read_fields(client: SalesforceClient) -> dict[str, Any]:
    """API name → the org's CustomField (zeep object) for those of ours that exist."""
    names = [f"{ACCOUNT}.{api}" for api in API_NAMES.values()]
    found: dict[str, Any] = {}
    for chunk in _chunks(names):
        for obj in client.metadata("readMetadata", "CustomField", chunk, raw=True):
            full_name = getattr(obj, "fullName", None)
            if full_name:  # a name that does not exist comes back as an empty record
                found[str(full_name).split(".", 1)[1]] = obj
    return found


def _summary(obj: Any) -> dict[str, Any]:
    data = serialize_object(obj, dict) or {}
    value_set = data.get("valueSet") or {}
    definition = value_set.get("valueSetDefinition") or {}
    return {
        "type": data.get("type"),
        "unique": bool(data.get("unique")),
        "externalId": bool(data.get("externalId")),
        "caseSensitive": bool(data.get("caseSensitive")),
        "values": [v.get("fullName") for v in definition.get("value") or [] if isinstance(v, dict)],
    }


def custom_field(client: SalesforceClient, spec: FieldSpec) -> Any:
    """The zeep CustomField for one §3 field."""
    md = client.metadata_type
    kwargs = field_definition(spec)
    value_set = kwargs.pop("valueSet", None)
    if value_set:
        kwargs["valueSet"] = md("ValueSet")(
            restricted=value_set["restricted"],
            valueSetDefinition=md("ValueSetValuesDefinition")(sorted=False, value=[
                md("CustomValue")(fullName=value, label=label, default=False)
                for value, label in value_set["values"]]))
    return md("CustomField")(**kwargs)


def _create_fields(client: SalesforceClient, specs: list[FieldSpec], report: SchemaReport) -> None:
    for chunk in _chunks(specs):
        results = client.metadata("createMetadata", [custom_field(client, s) for s in chunk])
        by_name = {str(r.get("fullName") or ""): r for r in results}
        for spec in chunk:
            name = API_NAMES[spec.name]
            result = by_name.get(f"{ACCOUNT}.{name}", {})
            code, message = _error(result)
            if result.get("success"):
                report.created.append(name)
            elif code in _ALREADY_THERE:  # created meanwhile by another worker
                report.unchanged.append(name)
            else:
                report.problems.append(f"{name}: Salesforce did not create it ({code}: {message})")


def _extend_picklists(client: SalesforceClient, missing: dict[str, list[str]], raw: dict[str, Any],
                      report: SchemaReport) -> None:
    if not missing:
        return
    md = client.metadata_type
    objects = []
    for logical, values in missing.items():
        obj = raw[API_NAMES[logical]]
        labels = dict(FIELDS_BY_NAME[logical].options)
        for value in values:
            obj.valueSet.valueSetDefinition.value.append(
                md("CustomValue")(fullName=value, label=labels[value], default=False))
        objects.append(obj)
    for chunk in _chunks(objects):
        for result in client.metadata("updateMetadata", chunk):
            name = str(result.get("fullName") or "").split(".", 1)[-1]
            if result.get("success"):
                report.updated.append(name)
            else:
                code, message = _error(result)
                report.problems.append(f"{name}: could not add picklist values ({code}: {message})")


# -- permission sets ----------------------------------------------------------------------------


_SETS = ((INTEGRATION_PERMISSION_SET, True), (READ_ONLY_PERMISSION_SET, False))


def _ensure_permission_sets(client: SalesforceClient, report: SchemaReport) -> None:
    current = {str(d.get("fullName")): d for d in client.metadata(
        "readMetadata", "PermissionSet", [name for name, _ in _SETS]) if d.get("fullName")}
    md = client.metadata_type
    to_write = []
    for name, editable in _SETS:
        wanted = permission_set_definition(name, editable=editable)
        if _grants(current.get(name)) >= _grants(wanted):
            report.unchanged.append(f"permission_set:{name}")
            continue
        perms = [md("PermissionSetFieldPermissions")(**p) for p in wanted.pop("fieldPermissions")]
        to_write.append(md("PermissionSet")(fieldPermissions=perms, **wanted))
    if not to_write:
        return
    for result in client.metadata("upsertMetadata", to_write):
        name = str(result.get("fullName") or "")
        if result.get("success"):
            (report.created if result.get("created") else report.updated).append(f"permission_set:{name}")
        else:
            code, message = _error(result)
            report.problems.append(f"permission set {name}: {code}: {message}")


def _grants(definition: dict[str, Any] | None) -> set[tuple[str, bool, bool]]:
    if not definition:
        return set()
    return {(str(p.get("field")), bool(p.get("readable")), bool(p.get("editable")))
            for p in definition.get("fieldPermissions") or [] if isinstance(p, dict)}


def _assign_integration_set(client: SalesforceClient, user_id: str | None, report: SchemaReport) -> None:
    if not user_id or not soql.is_record_id(user_id):
        report.problems.append(f"permission set {INTEGRATION_PERMISSION_SET} not assigned: the "
                               "connected user is unknown; assign it in Setup → Permission Sets")
        return
    rows = client.query(soql.select(["Id"], "PermissionSet",
                                    f"Name = {soql.literal(INTEGRATION_PERMISSION_SET)}"))
    if not rows:
        report.problems.append(f"permission set {INTEGRATION_PERMISSION_SET} not found after creating it")
        return
    set_id = str(rows[0]["Id"])
    assigned = client.query(soql.select(["Id"], "PermissionSetAssignment",
                                        f"AssigneeId = {soql.literal(user_id)} AND "
                                        f"PermissionSetId = {soql.literal(set_id)}"))
    label = f"permission_set_assignment:{INTEGRATION_PERMISSION_SET}"
    if assigned:
        report.unchanged.append(label)
        return
    try:
        client.rest("POST", "sobjects/PermissionSetAssignment",
                    json={"AssigneeId": user_id, "PermissionSetId": set_id})
        report.created.append(label)
    except SalesforceApiError as exc:
        if exc.category == "DUPLICATE_VALUE":  # assigned meanwhile
            report.unchanged.append(label)
        else:
            report.problems.append(f"could not assign {INTEGRATION_PERMISSION_SET} to the connected "
                                   f"user ({exc.category}); assign it in Setup → Permission Sets")


def _error(result: dict[str, Any]) -> tuple[str, str]:
    errors = result.get("errors") or []
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    return str(first.get("statusCode") or "UNKNOWN"), str(first.get("message") or "")[:300]
