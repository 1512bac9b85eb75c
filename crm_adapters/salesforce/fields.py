"""The §3 fields as custom fields on Account, their Metadata API definitions, and value codecs.

API names are `Dunning_<Logical_Name>__c` (PRODUCT.md §3), created by the connector, not shipped
in the managed package (see README "Salesforce"): a managed package would namespace them and
freeze their picklists to package versions. Picklist API values equal the internal enum values.

`billing_customer_id` is a unique, case-sensitive External ID: Stripe ids differ by case only
in theory, but case-insensitive uniqueness would refuse two such ids (PRODUCT.md §3).
Field-level security is not granted by creating a field ("you must explicitly configure field
permissions", reference/salesforce.md §2.3), so the permission sets below carry it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from connector.domain.fields import FIELDS, FIELDS_BY_NAME, FieldKind, FieldSpec
from crm_adapters.canonical import FieldValueError, canonical_datetime, canonicalize

ACCOUNT = "Account"
PREFIX = "Dunning_"
INTEGRATION_PERMISSION_SET = "Dunning_Connector_Integration"
READ_ONLY_PERMISSION_SET = "Dunning_Connector_Read_Only"

# Metadata API type and its sizing per logical field (Number precision counts all digits).
_NUMBER_SIZES: dict[str, tuple[int, int]] = {
    "days_past_due": (5, 0),
    "outstanding_amount": (16, 3),  # up to 3 decimals (KWD 35.200), PRODUCT.md §3
    "failed_payment_attempts": (4, 0),
    "late_payments_12m": (4, 0),
    "risk_score": (3, 0),
}
_TEXT_LENGTHS: dict[str, int] = {"billing_customer_id": 64, "outstanding_currency": 3}
_URL_FIELDS = frozenset({"payment_link"})

_MD_TYPES = {
    FieldKind.TEXT: "Text",
    FieldKind.ENUM: "Picklist",
    FieldKind.NUMBER: "Number",
    FieldKind.DATE: "Date",
    FieldKind.DATETIME: "DateTime",
}


def api_name(logical: str) -> str:
    """`payment_status` → `Dunning_Payment_Status__c`."""
    return PREFIX + "_".join(part.capitalize() for part in logical.split("_")) + "__c"


API_NAMES: dict[str, str] = {spec.name: api_name(spec.name) for spec in FIELDS}
LOGICAL_BY_API: dict[str, str] = {v: k for k, v in API_NAMES.items()}
ID_FIELD = API_NAMES["billing_customer_id"]
SEGMENT_FIELD = API_NAMES["risk_segment"]


def metadata_type(spec: FieldSpec) -> str:
    if spec.name in _URL_FIELDS:
        return "Url"
    return _MD_TYPES[spec.kind]


def field_definition(spec: FieldSpec) -> dict[str, Any]:
    """Keyword arguments of the Metadata API `CustomField` for one §3 field."""
    definition: dict[str, Any] = {
        "fullName": f"{ACCOUNT}.{API_NAMES[spec.name]}",
        "label": spec.label,
        "description": spec.description,
        "inlineHelpText": spec.description,
        "type": metadata_type(spec),
        # Never `required`: a required field cannot carry field permissions (reference §2.3).
    }
    if spec.kind is FieldKind.TEXT and spec.name not in _URL_FIELDS:
        definition["length"] = _TEXT_LENGTHS.get(spec.name, 255)
    if spec.kind is FieldKind.NUMBER:
        precision, scale = _NUMBER_SIZES[spec.name]
        definition.update(precision=precision, scale=scale)
    if spec.kind is FieldKind.ENUM:
        definition["valueSet"] = {"restricted": True, "values": list(spec.options)}
    if spec.unique:
        definition.update(externalId=True, unique=True, caseSensitive=True)
    return definition


def permission_set_definition(name: str, *, editable: bool) -> dict[str, Any]:
    label = ("Dunning connector (integration user)" if editable
             else "Dunning connector (account managers, read only)")
    return {
        "fullName": name,
        "label": label,
        "description": ("Field access for dunning-connector's Account fields. "
                        + ("Assign to the user who connected the app." if editable
                           else "Assign to account managers and support staff.")),
        "fieldPermissions": [
            {"field": f"{ACCOUNT}.{API_NAMES[spec.name]}", "readable": True, "editable": editable}
            for spec in FIELDS
        ],
    }


# -- what an org already has ------------------------------------------------------------------


@dataclass
class FieldPlan:
    to_create: list[FieldSpec] = field(default_factory=list)
    # spec → picklist values the org's field lacks (added, the org's own values kept)
    to_extend: dict[str, list[str]] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def plan_fields(existing: Mapping[str, Mapping[str, Any]]) -> FieldPlan:
    """`existing`: API name → the org's field as read (type, unique, externalId, caseSensitive,
    values). Never plans to change a type or uniqueness; those are reported."""
    plan = FieldPlan()
    for spec in FIELDS:
        name = API_NAMES[spec.name]
        current = existing.get(name)
        if current is None:
            plan.to_create.append(spec)
            continue
        problem = _conflict(spec, current)
        if problem:
            plan.problems.append(problem)
            continue
        if spec.kind is FieldKind.ENUM:
            have = set(current.get("values") or ())
            missing = [value for value, _label in spec.options if value not in have]
            if missing:
                plan.to_extend[spec.name] = missing
                continue
        plan.unchanged.append(name)
    return plan


def _conflict(spec: FieldSpec, current: Mapping[str, Any]) -> str | None:
    name = API_NAMES[spec.name]
    expected = metadata_type(spec)
    actual = current.get("type")
    if actual != expected:
        return (f"{name} exists with type {actual!r}, expected {expected!r}; left as it is "
                "(rename or delete it in Setup, then reconnect)")
    if spec.unique and not (current.get("unique") and current.get("externalId")):
        return (f"{name} exists but is not a unique External ID; matching and upserts by billing "
                "customer id will not work (fix it in Setup → Object Manager → Account)")
    if spec.unique and not current.get("caseSensitive"):
        return (f"{name} is unique but case-insensitive; billing ids differing only by case "
                "would clash (make it case-sensitive in Setup)")
    return None


# -- values -----------------------------------------------------------------------------------


def encode(values: Mapping[str, str]) -> dict[str, Any]:
    """Canonical strings (connector/ports.py FieldUpdate) → Salesforce JSON values; "" → null."""
    record: dict[str, Any] = {}
    for logical, value in values.items():
        spec = FIELDS_BY_NAME.get(logical)
        if spec is None:
            raise FieldValueError(logical, "not a connector field")
        canonical = canonicalize(spec, value)
        record[API_NAMES[logical]] = _to_json(spec, canonical)
    return record


def _to_json(spec: FieldSpec, canonical: str) -> Any:
    if canonical == "":
        return None
    if spec.kind is FieldKind.NUMBER:
        number = Decimal(canonical)
        return int(number) if number == number.to_integral_value() else float(number)
    if spec.kind is FieldKind.DATETIME:
        return canonical  # ISO 8601 with Z: Salesforce accepts it as is
    return canonical


def to_csv_value(value: Any) -> str:
    """Bulk API 2.0 CSV: `#N/A` sets a field to null; an empty cell leaves it unchanged."""
    if value is None:
        return "#N/A"
    if isinstance(value, float):
        return format(Decimal(str(value)), "f")
    return str(value)


def decode(record: Mapping[str, Any]) -> dict[str, str]:
    """A queried Account → canonical strings for every §3 field ("" when empty)."""
    out: dict[str, str] = {}
    for spec in FIELDS:
        raw = record.get(API_NAMES[spec.name])
        out[spec.name] = _from_json(spec, raw)
    return out


def _from_json(spec: FieldSpec, raw: Any) -> str:
    if raw is None or raw == "":
        return ""
    if spec.kind is FieldKind.NUMBER:
        return canonicalize(spec, str(Decimal(str(raw))))
    if spec.kind is FieldKind.DATETIME:
        return canonical_datetime(str(raw))  # "2026-12-03T15:00:00.000+0000"
    return str(raw)
