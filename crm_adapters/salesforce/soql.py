"""Building SOQL safely: every value goes through `literal`, never an f-string of raw input.

SOQL string literals are single-quoted; inside them `\\` and `'` (and the control characters) must
be escaped with a backslash ("Quoted String Escape Sequences", SOQL and SOSL Reference). In a LIKE
pattern `%` and `_` are wildcards and are escaped the same way when meant literally.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence

_ESCAPES = {
    "\\": "\\\\", "'": "\\'", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b",
    "\f": "\\f",
}
_LIKE_ESCAPES = {"%": "\\%", "_": "\\_"}

# 15- or 18-character record ids (case-sensitive base62).
_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
# API names we put into queries ourselves (fields, objects): letters, digits, underscores, dots.
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*$")

# The REST query resource takes the SOQL in the URL; keep each statement well below the 16,384
# character URI limit, whatever the values.
MAX_IN_CHARS = 8000
MAX_IN_VALUES = 200


def literal(value: str) -> str:
    """A quoted SOQL string literal."""
    return "'" + "".join(_ESCAPES.get(ch, ch) for ch in value) + "'"


def like_literal(value: str, *, prefix: str = "", suffix: str = "") -> str:
    """A quoted LIKE pattern: `value` matched literally, wrapped in `prefix`/`suffix` wildcards."""
    escaped = "".join(_LIKE_ESCAPES.get(ch, _ESCAPES.get(ch, ch)) for ch in value)
    return f"'{prefix}{escaped}{suffix}'"


def is_record_id(value: str) -> bool:
    return bool(_ID.match(value))


def name(value: str) -> str:
    """An API name checked to be one (field and object names are never user input, but a typo in
    a constant should fail loudly rather than build odd SOQL)."""
    if not _NAME.match(value):
        raise ValueError(f"not a Salesforce API name: {value!r}")
    return value


def in_list(values: Iterable[str]) -> str:
    return "(" + ", ".join(literal(v) for v in values) + ")"


def chunked_in(values: Sequence[str], *, max_values: int = MAX_IN_VALUES,
               max_chars: int = MAX_IN_CHARS) -> Iterator[list[str]]:
    """Split values so each `IN (...)` stays short enough for one query URL."""
    chunk: list[str] = []
    size = 0
    for value in dict.fromkeys(values):
        cost = len(literal(value)) + 2
        if chunk and (len(chunk) >= max_values or size + cost > max_chars):
            yield chunk
            chunk, size = [], 0
        chunk.append(value)
        size += cost
    if chunk:
        yield chunk


def select(fields: Sequence[str], sobject: str, where: str = "", *, order_by: str = "",
           limit: int | None = None) -> str:
    """`SELECT … FROM … [WHERE …]`; `where` must itself be built from `literal`/`in_list`."""
    query = f"SELECT {', '.join(name(f) for f in fields)} FROM {name(sobject)}"
    if where:
        query += f" WHERE {where}"
    if order_by:
        query += f" ORDER BY {order_by}"
    if limit is not None:
        query += f" LIMIT {int(limit)}"
    return query
