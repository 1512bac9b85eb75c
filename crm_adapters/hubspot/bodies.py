"""Reading HubSpot response bodies defensively, and cutting inputs into batches.

Every field of a HubSpot answer is treated as optional ("should all be treated as optional in any
error parsing", https://developers.hubspot.com/docs/api-reference/error-handling): these helpers
return empty values instead of raising on an odd body.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

from crm_adapters.hubspot import batch_errors
from crm_adapters.hubspot.client import HubSpotApiError

T = TypeVar("T")

MAX_BATCH_SIZE = 100  # "Batch operations are limited to 100 records at a time" (reference §3)


def chunks(items: Sequence[T], size: int = MAX_BATCH_SIZE) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def results(body: Any) -> list[Mapping[str, Any]]:
    return [r for r in mapping(body).get("results") or [] if isinstance(r, Mapping)]


def errors(body: Any) -> list[Mapping[str, Any]]:
    return [e for e in mapping(body).get("errors") or [] if isinstance(e, Mapping)]


def next_after(page: Any) -> str | None:
    """The `paging.next.after` cursor, or None on the last page."""
    after = mapping(mapping(mapping(page).get("paging")).get("next")).get("after")
    return str(after) if after not in (None, "") else None


def properties(record: Mapping[str, Any]) -> Mapping[str, Any]:
    return mapping(record.get("properties"))


def api_reason(exc: HubSpotApiError) -> str:
    if isinstance(exc.body, Mapping):
        return batch_errors.reason_of(exc.body)
    return f"HTTP {exc.status}"
