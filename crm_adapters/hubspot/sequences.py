"""Sequence enrollment, and what HubSpot's refusals mean.

Sequences API, date version paths.SEQUENCES_VERSION (reference/hubspot.md §6; spec
Automation/Sequences/Rollouts/177891/2026-09/sequences.json):
`POST /automation/sequences/<v>/enrollments?userId=<HubSpot USER id>` with body
`{sequenceId, contactId, senderEmail}`; `userId` is required (the owner's user id, not the owner
id); answer 200 `{id, toEmail, enrolledAt, updatedAt}`. No batch endpoint: one call per contact.
Needs `automation.sequences.enrollments.write` (an optional scope: Free/Starter portals install
without it) and a Sales/Service Hub Professional+ seat for the sender.

Refusal shapes. Known: a missing scope is `403 {"category": "MISSING_SCOPES", "message": "This app
hasn't been granted all required scopes …", "errors": [{"context": {"requiredGranularScopes": […]}}]}`
(the standard HubSpot error body). NOT known: the exact bodies for no seat, sender inbox not
connected, already enrolled, daily send limit, unsubscribed — HubSpot documents only the generic
`Error` schema (`category`, `subCategory`, `message`, `errors[]`). The rules below read all of those
texts for the words HubSpot uses for these states in its own UI and knowledge base (enrollment error
codes ALREADY_ENROLLED, UNSUBSCRIBED, UNSUBSCRIBED_PERSONAL; "Inbox disconnected"; "sequences daily
send limit"; "assigned Sales Hub … seat",
https://knowledge.hubspot.com/sequences/sequences-error-contact-cant-be-enrolled-in-this-sequence,
https://knowledge.hubspot.com/connected-email/sales-email-send-limits). Anything else is `refused`
with HubSpot's own message, so nothing is hidden when a guess misses.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from connector.errors import TransientProviderError
from connector.ports import CreateReport, Enrollment, RecordError
from crm_adapters.hubspot import batch_errors, paths
from crm_adapters.hubspot.bodies import mapping
from crm_adapters.hubspot.client import HubSpotApiError, HubSpotClient

log = logging.getLogger(__name__)

NO_SEAT = "no_seat"
INBOX_NOT_CONNECTED = "inbox_not_connected"
ALREADY_ENROLLED = "already_enrolled"
DAILY_LIMIT = "daily_limit"
UNSUBSCRIBED = "unsubscribed"
MISSING_SCOPE = "missing_scope"
REFUSED = "refused"

# First match wins; the daily limit goes before the inbox rule ("the sender's inbox reached its
# daily send limit" is a limit, not a disconnected inbox).
_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (ALREADY_ENROLLED, re.compile(r"already[ _-]?enrolled|currently enrolled|already in (a|this|another) sequence")),
    (UNSUBSCRIBED, re.compile(r"unsubscrib|opted[ _-]?out|opt[ _-]out")),
    (DAILY_LIMIT, re.compile(r"(daily|per[ _-]day|send(ing)?)[ _-]?limit|limit[ _-]reached|rate[ _-]limit reached")),
    (NO_SEAT, re.compile(r"\bseats?\b|sales hub (professional|enterprise)|service hub (professional|enterprise)")),
    (INBOX_NOT_CONNECTED, re.compile(r"inbox|connected[ _-]email|not[ _-]connected|disconnected|sender[ _-]?email")),
)


def classify_refusal(status: int, body: Any) -> str:
    """The RecordError category for HubSpot refusing one enrollment."""
    error = mapping(body)
    if status == 403 and batch_errors.category_of(error) in ("MISSING_SCOPES", ""):
        return MISSING_SCOPE
    text = _texts(error)
    if "missing_scopes" in text or "required scopes" in text:
        return MISSING_SCOPE
    for category, pattern in _RULES:
        if pattern.search(text):
            return category
    return REFUSED


def _texts(error: Mapping[str, Any]) -> str:
    parts: list[str] = [str(error.get(k) or "") for k in ("category", "subCategory", "message")]
    for detail in error.get("errors") or []:
        detail = mapping(detail)
        parts += [str(detail.get(k) or "") for k in ("code", "subCategory", "message")]
    context = mapping(error.get("context"))
    parts += [str(k) for k in context] + [str(v) for values in context.values()
                                          if isinstance(values, list) for v in values]
    return " ".join(parts).lower()


def enrollment_body(enrollment: Enrollment) -> dict[str, str]:
    return {"sequenceId": enrollment.sequence_id, "contactId": enrollment.contact_id,
            "senderEmail": enrollment.sender_email}


def enroll(client: HubSpotClient, enrollments: Sequence[Enrollment]) -> CreateReport:
    report = CreateReport()
    scope_refusal: RecordError | None = None
    for index, enrollment in enumerate(enrollments):
        if scope_refusal is not None:
            # The scope is the installation's: every further call would be refused the same way.
            report.failed.append(RecordError(enrollment.key, scope_refusal.reason, MISSING_SCOPE))
            continue
        if not (enrollment.sender_user_id and enrollment.sender_email):
            report.failed.append(RecordError(enrollment.key, "no sender: the sequences API needs the "
                                             "sender's HubSpot user id and email", "INVALID_VALUE"))
            continue
        report.calls += 1
        try:
            resp = client.request("POST", paths.sequence_enrollments(), json=enrollment_body(enrollment),
                                  params={"userId": enrollment.sender_user_id})
        except HubSpotApiError as exc:
            category = classify_refusal(exc.status or 0, exc.body)
            reason = batch_errors.reason_of(exc.body) if isinstance(exc.body, Mapping) else f"HTTP {exc.status}"
            refusal = RecordError(enrollment.key, reason, category)
            report.failed.append(refusal)
            log.info("hubspot.enroll_refused key=%s category=%s status=%s",
                     enrollment.key, category, exc.status)
            if category == MISSING_SCOPE:
                scope_refusal = refusal
            continue
        except TransientProviderError as exc:
            if not report.created:
                raise  # nothing enrolled yet: retry the whole call later
            for rest in enrollments[index:]:
                report.failed.append(RecordError(rest.key, str(exc), "TRANSIENT", True))
            break
        enrollment_id = mapping(resp.body).get("id")
        report.created[enrollment.key] = str(enrollment_id) if enrollment_id is not None else ""
    return report
