"""Reading HubSpot batch errors: which input did an error belong to, and is it worth a retry.

HubSpot's error objects (`StandardError` in 207 bodies, `Error` for a whole-batch 400/409) are
`{status, category, message, context{key: [str]}, errors[{message, code, in, context}], id,
subCategory}`; every field is optional ("should all be treated as optional in any error
parsing", https://developers.hubspot.com/docs/api-reference/error-handling). An input is named,
when it is named at all, by its `objectWriteTraceId`, its id in `context.ids` / `context.id` /
`id`, or only in the message text ("Existing ID: 123").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

# Categories of per-input errors that may pass; everything else (VALIDATION_ERROR incl. the
# 2026-09 property validation rules, OBJECT_NOT_FOUND, CONFLICT, …) is final for that input.
RETRIABLE_CATEGORIES = frozenset(
    {"RATE_LIMITS", "RATE_LIMIT", "INTERNAL_ERROR", "TIMEOUT", "LOCKED", "SERVICE_UNAVAILABLE"}
)

# An error the whole schema causes (our property missing, or not unique so it cannot be an
# idProperty: "Unable to perform update/upsert by non-unique 0-2 property …"): bisecting would
# only fail every input one by one.
_SCHEMA_ERROR = re.compile(r"PROPERTY_DOESNT_EXIST|[Pp]roperty \S{1,120} does not exist|by non-unique")

_CONTEXT_KEYS = ("objectWriteTraceId", "objectWriteTraceIds", "ids", "id", "inputs")
_TOKEN = re.compile(r"[A-Za-z0-9_.:@\-]+")
_MAX_REASON = 500
# Names shorter than this are not looked for in message text: "3" or "42" would match by chance.
_MIN_NAME_IN_MESSAGE = 6


def category_of(error: Any) -> str:
    if isinstance(error, Mapping):
        return str(error.get("category") or error.get("errorType") or "")
    return ""


def is_retriable(error: Any) -> bool:
    return category_of(error) in RETRIABLE_CATEGORIES


def reason_of(error: Any) -> str:
    if not isinstance(error, Mapping):
        return "HubSpot refused the input"
    message = str(error.get("message") or "")
    category = category_of(error)
    text = f"{category}: {message}" if category and message else (message or category)
    return (text or "HubSpot refused the input")[:_MAX_REASON]


def is_schema_error(error: Any) -> bool:
    return isinstance(error, Mapping) and bool(_SCHEMA_ERROR.search(str(error.get("message") or "")))


def _context_values(error: Mapping[str, Any]) -> Iterable[str]:
    contexts = [error.get("context")]
    contexts += [e.get("context") for e in error.get("errors") or [] if isinstance(e, Mapping)]
    for context in contexts:
        if not isinstance(context, Mapping):
            continue
        for key in _CONTEXT_KEYS:
            value = context.get(key)
            if isinstance(value, str | int):
                yield str(value)
            elif isinstance(value, list):
                yield from (str(v) for v in value if isinstance(v, str | int))
    if isinstance(error.get("id"), str | int):
        yield str(error["id"])


def named_inputs(error: Any, names: Mapping[str, str]) -> set[str]:
    """The inputs an error names. `names` maps every name an input goes by (trace id, record id,
    unique value) to that input's trace id. Structured context wins; the message is only read
    when the context names nobody."""
    if not isinstance(error, Mapping):
        return set()
    found = {names[v] for v in _context_values(error) if v in names}
    if found:
        return found
    message = str(error.get("message") or "")
    return {
        names[token]
        for token in _TOKEN.findall(message)
        if len(token) >= _MIN_NAME_IN_MESSAGE and token in names
    }
