"""The §3 fields as HubSpot company properties, and the plan that reconciles them with a portal.

Property group `dunning` ("Billing & dunning"); internal names `dunning_<logical name>` so they
never collide with a customer's own properties (PRODUCT.md §3). Both `type` and `fieldType` are
required on create ("When creating or updating properties, both type and fieldType values are
required", https://developers.hubspot.com/docs/api/crm/properties). `hasUniqueValue` can only be
set at creation ("Once set, this can't be changed", properties spec) and a portal has at most 10
unique properties per object (https://developers.hubspot.com/changelog/unique-properties-for-contacts),
so a wrong existing property is reported, never patched or recreated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connector.domain.fields import FIELDS, FIELDS_BY_NAME, FieldKind, FieldSpec

PREFIX = "dunning_"
GROUP_NAME = "dunning"
GROUP_LABEL = "Billing & dunning"
ID_PROPERTY = PREFIX + "billing_customer_id"

# logical kind → (HubSpot type, fieldType)
_TYPES: dict[FieldKind, tuple[str, str]] = {
    FieldKind.TEXT: ("string", "text"),
    FieldKind.ENUM: ("enumeration", "select"),
    FieldKind.NUMBER: ("number", "number"),
    FieldKind.DATE: ("date", "date"),
    FieldKind.DATETIME: ("datetime", "date"),
}


def hubspot_name(logical: str) -> str:
    return PREFIX + logical


def logical_name(name: str) -> str | None:
    if name.startswith(PREFIX) and name[len(PREFIX):] in FIELDS_BY_NAME:
        return name[len(PREFIX):]
    return None


ALL_PROPERTY_NAMES: tuple[str, ...] = tuple(hubspot_name(f.name) for f in FIELDS)


def group_definition() -> dict[str, Any]:
    return {"name": GROUP_NAME, "label": GROUP_LABEL, "displayOrder": -1}


def _options(spec: FieldSpec) -> list[dict[str, Any]]:
    return [
        {"label": label, "value": value, "hidden": False, "displayOrder": order}
        for order, (value, label) in enumerate(spec.options)
    ]


def property_definition(spec: FieldSpec) -> dict[str, Any]:
    hs_type, field_type = _TYPES[spec.kind]
    definition: dict[str, Any] = {
        "name": hubspot_name(spec.name),
        "label": spec.label,
        "description": spec.description,
        "groupName": GROUP_NAME,
        "type": hs_type,
        "fieldType": field_type,
        "formField": False,
    }
    if spec.kind is FieldKind.ENUM:
        definition["options"] = _options(spec)
    if spec.unique:
        definition["hasUniqueValue"] = True
    return definition


@dataclass
class SchemaPlan:
    to_create: list[dict[str, Any]] = field(default_factory=list)
    to_update: dict[str, dict[str, Any]] = field(default_factory=dict)  # name → PATCH body
    unchanged: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def plan_schema(existing: Mapping[str, Mapping[str, Any]]) -> SchemaPlan:
    """What to create and update, given the portal's properties by name. Never plans to change
    an existing property's type or uniqueness: those become problems."""
    plan = SchemaPlan()
    for spec in FIELDS:
        name = hubspot_name(spec.name)
        current = existing.get(name)
        if current is None:
            plan.to_create.append(property_definition(spec))
            continue
        problem = _conflict(spec, current)
        if problem:
            plan.problems.append(problem)
            continue
        patch = _options_patch(spec, current)
        if patch:
            plan.to_update[name] = patch
        else:
            plan.unchanged.append(name)
    return plan


def _conflict(spec: FieldSpec, current: Mapping[str, Any]) -> str | None:
    name = hubspot_name(spec.name)
    expected_type, _ = _TYPES[spec.kind]
    actual_type = current.get("type")
    if actual_type != expected_type:
        return (f"{name} exists with type {actual_type!r}, expected {expected_type!r}; "
                "left as it is (rename or delete it in HubSpot, then reinstall)")
    if spec.unique and not current.get("hasUniqueValue"):
        return (f"{name} exists but does not require unique values; HubSpot cannot make an "
                "existing property unique, so matching and upserts by billing customer id will "
                "not work (delete it in HubSpot, then reinstall)")
    metadata = current.get("modificationMetadata") or {}
    if current.get("calculated") or metadata.get("readOnlyValue"):
        return f"{name} exists but is read-only or calculated; the connector cannot write it"
    return None


def _options_patch(spec: FieldSpec, current: Mapping[str, Any]) -> dict[str, Any] | None:
    """Add the enum values the property lacks (and unhide ours); keep the admin's own options."""
    if spec.kind is not FieldKind.ENUM:
        return None
    existing = [dict(o) for o in current.get("options") or [] if isinstance(o, Mapping)]
    by_value = {o.get("value"): o for o in existing}
    changed = False
    for order, (value, label) in enumerate(spec.options):
        option = by_value.get(value)
        if option is None:
            existing.append({"label": label, "value": value, "hidden": False,
                             "displayOrder": len(existing) + order})
            changed = True
        elif option.get("hidden"):
            option["hidden"] = False
            changed = True
    return {"options": existing} if changed else None
