"""Sales Engagement cadences: enroll the billing contact, remove it when the episode ends.

Invocable actions (reference/salesforce.md §6): `POST actions/standard/assignTargetToSalesCadence`
`{"inputs": [{"salesCadenceNameOrId", "targetId", "userId"}]}` and
`removeTargetFromSalesCadence` `{"inputs": [{"targetId", "completionReasonCode"}]}`. The answer
is one item per input, `{"actionName", "errors", "isSuccess", "outputValues"}`; a refusal of one
input is `isSuccess: false` inside a 200. The target must be a Contact, Lead or Person Account.

Without Sales Engagement the action does not exist for the org: the call is refused as a whole
(404 NOT_FOUND, or FUNCTIONALITY_NOT_ENABLED / INVALID_TYPE). Every input then fails with
category `missing_feature`, and the playbook creates a TODO task instead (PRODUCT.md §6). The
exact error texts for an unlicensed user or an already-enrolled target are not documented
(reference §11.7); the rules below read the message, and anything else is `refused` with
Salesforce's own words.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from connector.ports import CreateReport, Enrollment, RecordError, WriteReport
from crm_adapters.salesforce import soql
from crm_adapters.salesforce.client import SalesforceApiError, SalesforceClient

log = logging.getLogger(__name__)

ASSIGN = "actions/standard/assignTargetToSalesCadence"
REMOVE = "actions/standard/removeTargetFromSalesCadence"
INPUTS_PER_CALL = 100  # the per-call cap of invocable actions is not documented; stay modest

MISSING_FEATURE = "missing_feature"
NO_SEQUENCE = "no_sequence"
ALREADY_ENROLLED = "already_enrolled"
NO_SEAT = "no_seat"
REFUSED = "refused"

_FEATURE_CODES = frozenset({"NOT_FOUND", "FUNCTIONALITY_NOT_ENABLED", "INVALID_TYPE"})
_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (ALREADY_ENROLLED, re.compile(r"already (assigned|enrolled|(a )?target)|already in (a|another|this) cadence", re.I)),
    (NO_SEAT, re.compile(r"permission set licen[cs]e|licen[cs]es? (are|is) in use|HighVelocitySales", re.I)),
    (MISSING_FEATURE, re.compile(r"sales engagement (is not|isn't) (enabled|set up)|not enabled", re.I)),
)
_NOT_IN_CADENCE = re.compile(r"(not|n't) (currently )?(assigned|enrolled|in (a|any|the) cadence)|no active", re.I)


def enroll(client: SalesforceClient, enrollments: Sequence[Enrollment]) -> CreateReport:
    report = CreateReport()
    valid: list[Enrollment] = []
    for e in enrollments:
        if not e.sequence_id:
            report.failed.append(RecordError(e.key, "no cadence is set for this segment", NO_SEQUENCE))
        elif not soql.is_record_id(e.contact_id):
            report.failed.append(RecordError(e.key, f"{e.contact_id!r} is not a Salesforce id", "INVALID_VALUE"))
        else:
            valid.append(e)
    for start in range(0, len(valid), INPUTS_PER_CALL):
        batch = valid[start:start + INPUTS_PER_CALL]
        inputs = []
        for e in batch:
            item = {"salesCadenceNameOrId": e.sequence_id, "targetId": e.contact_id}
            if e.sender_user_id:
                item["userId"] = e.sender_user_id
            inputs.append(item)
        results = _invoke(client, ASSIGN, inputs, [e.key for e in batch], report.failed)
        report.calls += 1
        if results is None:
            continue
        for e, result in zip(batch, results, strict=True):
            if result.get("isSuccess"):
                outputs = result.get("outputValues") or {}
                report.created[e.key] = str(outputs.get("actionCadenceTrackerId") or e.contact_id)
            else:
                message = _message(result)
                category = _category(message)
                log.info("salesforce.enroll_refused key=%s category=%s", e.key, category)
                report.failed.append(RecordError(e.key, message, category))
    return report


def unenroll(client: SalesforceClient, enrollments: Sequence[Enrollment]) -> WriteReport:
    """Remove targets from their cadence (episode end). A target no longer in a cadence is done."""
    report = WriteReport()
    valid = [e for e in enrollments if soql.is_record_id(e.contact_id)]
    report.failed += [RecordError(e.key, f"{e.contact_id!r} is not a Salesforce id", "INVALID_VALUE")
                      for e in enrollments if e not in valid]
    for start in range(0, len(valid), INPUTS_PER_CALL):
        batch = valid[start:start + INPUTS_PER_CALL]
        inputs = [{"targetId": e.contact_id, "completionReasonCode": "ManuallyRemoved"} for e in batch]
        results = _invoke(client, REMOVE, inputs, [e.key for e in batch], report.failed)
        report.calls += 1
        if results is None:
            continue
        for e, result in zip(batch, results, strict=True):
            message = _message(result)
            if result.get("isSuccess") or _NOT_IN_CADENCE.search(message):
                report.ok.append(e.key)
            else:
                report.failed.append(RecordError(e.key, message, _category(message)))
    return report


def _invoke(client: SalesforceClient, path: str, inputs: list[dict[str, str]], keys: list[str],
            failed: list[RecordError]) -> list[dict[str, Any]] | None:
    try:
        answer = client.rest("POST", path, json={"inputs": inputs})
    except SalesforceApiError as exc:
        if exc.status == 404 or exc.category in _FEATURE_CODES:
            reason = "Sales Engagement (cadences) is not available in this Salesforce org"
            failed += [RecordError(k, reason, MISSING_FEATURE) for k in keys]
            log.info("salesforce.cadence_unavailable status=%s code=%s", exc.status, exc.category)
            return None
        raise
    items = [a if isinstance(a, dict) else {} for a in answer] if isinstance(answer, list) else []
    missing = {"isSuccess": False, "errors": [{"statusCode": "UNKNOWN",
                                               "message": "no result from Salesforce"}]}
    return (items + [missing] * len(inputs))[:len(inputs)]


def _message(result: dict[str, Any]) -> str:
    errors = result.get("errors") or []
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    code = str(first.get("statusCode") or "")
    text = str(first.get("message") or "")
    return (f"{code}: {text}" if code and text else text or code or "Salesforce refused it")[:500]


def _category(message: str) -> str:
    for category, pattern in _RULES:
        if pattern.search(message):
            return category
    return REFUSED
