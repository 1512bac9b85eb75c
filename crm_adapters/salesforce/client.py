"""SalesforceClient: simple-salesforce on an OAuth access token, with the session handling it lacks.

simple-salesforce has no refresh-token support: with `session_id` a 401 INVALID_SESSION_ID just
raises SalesforceExpiredSession (reference/salesforce.md §1.8). So every call goes through
`_call`: on that 401 we ask the token provider for a new token once, rebuild the `Salesforce`
object (its `mdapi` caches the old session header) and retry once. Bulk API 2.0 requests go
through `util.call_salesforce`, outside that handling, so each Bulk step is wrapped the same way
and a refreshed token continues the same job.

Errors are classified by a table into the connector's kinds (connector.errors): retriable
(5xx, timeouts, REQUEST_LIMIT_EXCEEDED), reauth, or fatal. A 403 is branched on its errorCode,
never on the status alone: it means both "limit exceeded" and "no permission"
(reference/salesforce.md §3.3, mike4aday/SwiftlySalesforce#29).
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import requests
from simple_salesforce import Salesforce
from simple_salesforce.bulk2 import Operation, ResultsType
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)
from zeep.exceptions import Fault, TransportError
from zeep.helpers import serialize_object

from connector.errors import (
    FatalProviderError,
    RateLimited,
    ReauthRequired,
    TransientProviderError,
)
from crm_adapters.salesforce.budget import ApiBudget

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_VERSION = "67.0"
TIMEOUT = (5.0, 60.0)
LIMIT_RETRY_S = 30 * 60.0
BULK_POLL_S = 2.0
BULK_MAX_WAIT_S = 15 * 60.0

# errorCode → what it means for the caller (connector.errors kinds).
_RETRIABLE_CODES = frozenset({"SERVER_UNAVAILABLE", "UNABLE_TO_LOCK_ROW", "QUERY_TIMEOUT",
                              "REQUEST_RUNNING_TOO_LONG", "CONCURRENT_REQUEST_LIMIT"})
_LIMIT_CODES = frozenset({"REQUEST_LIMIT_EXCEEDED", "TOO_MANY_REQUESTS"})


class SalesforceApiError(FatalProviderError):
    """A refused call; `category` is Salesforce's errorCode, `content` its parsed body."""

    def __init__(self, message: str, *, status: int | None, category: str | None,
                 content: Any = None) -> None:
        super().__init__(message, status=status, category=category)
        self.content = content


def error_code(content: Any) -> str:
    """errorCode of a REST error body: a JSON *array* of {message, errorCode, fields}."""
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode") or content[0].get("statusCode") or "")
    if isinstance(content, dict):
        return str(content.get("errorCode") or content.get("exceptionCode") or "")
    return ""


def error_message(content: Any) -> str:
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("message") or "")[:300]
    if isinstance(content, dict):
        return str(content.get("message") or content.get("exceptionMessage") or "")[:300]
    return ""


def _is_expired(exc: Exception) -> bool:
    if isinstance(exc, SalesforceExpiredSession):
        return True
    # Bulk API (v1 and some v2 paths) reports an expired session as 400 InvalidSessionId
    # (simple-salesforce#272); the Metadata API as a SOAP fault.
    if isinstance(exc, SalesforceMalformedRequest):
        return error_code(exc.content) in ("InvalidSessionId", "INVALID_SESSION_ID")
    if isinstance(exc, Fault):
        return "INVALID_SESSION_ID" in str(exc.code or "")
    return False


def classify(exc: Exception, what: str) -> Exception:
    """The connector error for a failed call (never carries bodies with record data)."""
    if isinstance(exc, (requests.Timeout, requests.ConnectionError)):
        return TransientProviderError(f"Salesforce {what}: {type(exc).__name__}")
    if isinstance(exc, Fault):
        code = str(exc.code or "").removeprefix("sf:")
        if code in _LIMIT_CODES:
            return RateLimited(f"Salesforce {what}: {code}", retry_after=LIMIT_RETRY_S)
        return SalesforceApiError(f"Salesforce {what}: {code} {str(exc.message or '')[:200]}".strip(),
                                  status=500, category=code or None)
    if isinstance(exc, TransportError):
        if exc.status_code >= 500:
            return TransientProviderError(f"Salesforce {what}: HTTP {exc.status_code}")
        return SalesforceApiError(f"Salesforce {what}: HTTP {exc.status_code}",
                                  status=exc.status_code, category=None)
    if isinstance(exc, SalesforceError):
        code = error_code(exc.content)
        status = int(exc.status or 0)
        message = f"Salesforce {what}: {status} {code} {error_message(exc.content)}".strip()
        if code in _LIMIT_CODES or status == 429:
            return RateLimited(message, retry_after=LIMIT_RETRY_S)
        if code in _RETRIABLE_CODES or (isinstance(exc, SalesforceGeneralError) and status >= 500):
            return TransientProviderError(message)
        if isinstance(exc, SalesforceRefusedRequest):
            return SalesforceApiError(message, status=status, category=code or "FORBIDDEN",
                                      content=exc.content)
        return SalesforceApiError(message, status=status, category=code or None, content=exc.content)
    return exc


@dataclass
class BulkResult:
    job_id: str
    state: str
    failed: list[dict[str, str]] = field(default_factory=list)  # rows with sf__Id, sf__Error
    unprocessed: list[dict[str, str]] = field(default_factory=list)
    calls: int = 0


class SalesforceClient:
    """One org's API, on the instance URL the token response named."""

    def __init__(
        self,
        session: requests.Session,
        instance_url: str,
        token: Callable[[], str],
        *,
        force_refresh: Callable[[], str] | None = None,
        version: str = DEFAULT_VERSION,
        budget: ApiBudget | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self.instance_url = instance_url.rstrip("/")
        self._token = token
        self._force_refresh = force_refresh
        self.version = version
        self.budget = budget or ApiBudget()
        self._sleep = sleep
        self._clock = clock
        self._sf: Salesforce | None = None
        self.calls = 0

    # -- session ------------------------------------------------------------------------------

    @property
    def sf(self) -> Salesforce:
        if self._sf is None:
            self._sf = Salesforce(instance_url=self.instance_url, session_id=self._token(),
                                  version=self.version, session=self._session)
        return self._sf

    def _refresh(self) -> None:
        if self._force_refresh is None:
            raise ReauthRequired("Salesforce session expired and no refresh is possible")
        new_token = self._force_refresh()
        # A new object rather than patching headers: `mdapi` and bulk handlers keep copies.
        self._sf = Salesforce(instance_url=self.instance_url, session_id=new_token,
                              version=self.version, session=self._session)
        log.info("salesforce.session_refreshed")

    def _call(self, what: str, fn: Callable[[Salesforce], T], *, budgeted: bool = True) -> T:
        if budgeted:
            self._check_budget()
        for attempt in (1, 2):
            sf = self.sf
            sf.api_usage = {}
            self.calls += 1
            try:
                result = fn(sf)
            except Exception as exc:  # noqa: BLE001 - classified below
                if _is_expired(exc):
                    if attempt == 1:
                        self._refresh()
                        continue
                    log.warning("salesforce.session_refused_after_refresh call=%s", what)
                    raise ReauthRequired(
                        "Salesforce refused a freshly refreshed session; reconnect the app") from None
                mapped = classify(exc, what)
                if mapped is exc:
                    raise
                log.warning("salesforce.call_failed call=%s error=%s", what, type(mapped).__name__)
                raise mapped from None
            self._observe(sf)
            return result
        raise AssertionError("unreachable")

    def _observe(self, sf: Salesforce) -> None:
        usage = sf.api_usage.get("api-usage") if sf.api_usage else None
        if usage is not None:
            self.budget.observe(int(usage.used), int(usage.total), "header")

    def _check_budget(self) -> None:
        if self.budget.needs_limits_check():
            self.read_limits()
        self.budget.before_call()

    # -- REST ---------------------------------------------------------------------------------

    def query(self, soql: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Every record of a SOQL query (following nextRecordsUrl)."""
        return list(self.iter_query(soql, include_deleted=include_deleted))

    def iter_query(self, soql: str, *, include_deleted: bool = False) -> Iterator[dict[str, Any]]:
        page = self._call("query", lambda sf: sf.query(soql, include_deleted=include_deleted,
                                                        timeout=TIMEOUT))
        while True:
            yield from page.get("records") or []
            if page.get("done", True) or not page.get("nextRecordsUrl"):
                return
            url = page["nextRecordsUrl"]
            page = self._call("query_more", lambda sf, url=url: sf.query_more(
                url, identifier_is_url=True, timeout=TIMEOUT))

    def rest(self, method: str, path: str, *, json: Any = None,
             params: dict[str, Any] | None = None) -> Any:
        """A call under /services/data/vXX.X/ (path without a leading slash)."""
        kwargs: dict[str, Any] = {"timeout": TIMEOUT}
        if json is not None:
            kwargs["json"] = json
        return self._call(f"{method} {path.split('?')[0]}",
                          lambda sf: sf.restful(path, params=params, method=method, **kwargs))

    def read_limits(self) -> dict[str, Any]:
        """`GET /limits`, also refreshing the budget (DailyApiRequests Max/Remaining)."""
        limits = self._call("limits", lambda sf: sf.limits(timeout=TIMEOUT), budgeted=False)
        daily = limits.get("DailyApiRequests") if isinstance(limits, dict) else None
        if isinstance(daily, dict) and daily.get("Max"):
            total = int(daily["Max"])
            self.budget.observe(total - int(daily.get("Remaining", 0)), total, "limits")
        return limits

    # -- Metadata API (SOAP, through sf.mdapi's zeep service) ------------------------------------

    def metadata_type(self, type_name: str) -> Any:
        """A zeep type builder (`md.CustomField`, `md.ListView`, …); builds values, no call."""
        return getattr(self.sf.mdapi, type_name)

    def metadata(self, operation: str, *args: Any, raw: bool = False) -> list[Any]:
        """`createMetadata` / `readMetadata` / `updateMetadata` / `upsertMetadata`, returning
        every component's result as dicts (the zeep objects with `raw`). simple-salesforce's
        MetadataType helpers discard the results and raise one combined Exception on the first
        failure, losing which component failed; the zeep service they wrap is called instead."""

        def run(sf: Salesforce) -> Any:
            md = sf.mdapi
            return getattr(md._service, operation)(*args, _soapheaders=[md._session_header])

        answer = self._call(operation, run)
        if answer is None:
            return []
        items = answer if isinstance(answer, list) else [answer]
        return items if raw else [serialize_object(item, dict) for item in items]

    # -- Bulk API 2.0 ---------------------------------------------------------------------------

    def bulk_ingest(self, sobject: str, operation: str, rows: Sequence[dict[str, str]], *,
                    external_id_field: str | None = None) -> BulkResult:
        """One ingest job: create, upload CSV, close, poll until done, read failures.

        Each step is retried once after a refresh on an expired session, on the same job."""
        op = Operation(operation)
        job = self._bulk_step("bulk2.create_job", sobject, lambda c: c.create_job(
            op, external_id_field=external_id_field))
        job_id = str(job["id"])
        result = BulkResult(job_id, str(job.get("state", "")), calls=1)
        self._bulk_step("bulk2.upload", sobject, lambda c: c.upload_job_data(job_id, _to_csv(rows)))
        self._bulk_step("bulk2.close", sobject, lambda c: c.close_job(job_id))
        result.calls += 2
        waited = 0.0
        while True:
            info = self._bulk_step("bulk2.get_job", sobject, lambda c: c.get_job(job_id, False))
            result.calls += 1
            result.state = str(info.get("state", ""))
            if result.state in ("JobComplete", "Failed", "Aborted"):
                break
            if waited >= BULK_MAX_WAIT_S:
                # Still running: Salesforce finishes it; our retry later rewrites the same values.
                raise TransientProviderError(f"Salesforce Bulk job {job_id} still {result.state}")
            self._sleep(BULK_POLL_S)
            waited += BULK_POLL_S
        if result.state != "JobComplete":
            message = str(info.get("errorMessage") or result.state)[:300]
            raise SalesforceApiError(f"Salesforce Bulk job {job_id} {result.state}: {message}",
                                     status=None, category="BULK_JOB_" + result.state.upper())
        result.failed = _read_csv(self._bulk_step(
            "bulk2.failed", sobject, lambda c: c.get_ingest_results(job_id, ResultsType.failed)))
        result.unprocessed = _read_csv(self._bulk_step(
            "bulk2.unprocessed", sobject,
            lambda c: c.get_ingest_results(job_id, ResultsType.unprocessed)))
        result.calls += 2
        return result

    def _bulk_step(self, what: str, sobject: str, step: Callable[[Any], T]) -> T:
        # `sf.bulk2.<Object>` is built with the current session id on each access, so the retry
        # after `_refresh` runs with the new token.
        return self._call(what, lambda sf: step(getattr(sf.bulk2, sobject)._client))


def _to_csv(rows: Sequence[dict[str, str]]) -> str:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _read_csv(text: Any) -> list[dict[str, str]]:
    if not isinstance(text, str) or not text.strip():
        return []
    return list(csv.DictReader(io.StringIO(text)))
