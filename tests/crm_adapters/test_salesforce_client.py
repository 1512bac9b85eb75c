"""SalesforceClient: expired sessions (REST, Bulk 2.0, Metadata API), the error table, the API
budget, SOQL quoting and query paging — against the stand-in (Salesforce-shaped bodies)."""

from __future__ import annotations

import pytest
import requests
import responses

from connector.errors import FatalProviderError, RateLimited, ReauthRequired, TransientProviderError
from connector.ports import CrmRef, FieldUpdate
from crm_adapters.salesforce import records, soql
from crm_adapters.salesforce.budget import LIMITS_RECHECK_S, SLOW_DELAY_S
from crm_adapters.salesforce.client import SalesforceApiError

from salesforce_standin import DATA, INSTANCE, VERSION
from salesforce_standin import make_client as make_sf_client


@pytest.fixture
def client(sf_standin, sf_tokens, clock):
    return make_sf_client(sf_standin, sf_tokens, clock)


def test_expired_session_is_refreshed_once_and_the_call_retried(client, sf_standin, sf_tokens):
    sf_standin.add("Account", Name="Smile")
    sf_tokens.expire()

    rows = client.query("SELECT Id, Name FROM Account")

    assert [r["Name"] for r in rows] == ["Smile"]
    assert sf_tokens.refreshes == 1
    assert [m for m, _ in sf_standin.requests] == ["GET", "GET"]  # the 401, then the retry


def test_a_refreshed_session_refused_again_needs_reauth(sf_standin, sf_tokens, clock):
    from crm_adapters.salesforce.client import SalesforceClient

    sf_tokens.expire()
    client = SalesforceClient(requests.Session(), INSTANCE, sf_tokens, version=VERSION,
                              force_refresh=lambda: "00Dtoken-also-refused")  # refused too

    with pytest.raises(ReauthRequired):
        client.query("SELECT Id FROM Account")
    assert len(sf_standin.requests) == 2  # once, then once after the refresh: no loop


def test_bulk_job_continues_with_a_refreshed_session(salesforce_adapter, sf_standin, sf_tokens,
                                                     clock, monkeypatch):
    salesforce_adapter.ensure_schema()
    ids = [sf_standin.add("Account", Name=f"A{i}") for i in range(4)]
    monkeypatch.setattr(records, "BULK_THRESHOLD", 3)
    monkeypatch.setattr(records, "BULK_CALLS", 0)
    sf_standin.after_job_created = sf_tokens.expire  # the session ends right after job creation
    updates = [FieldUpdate(CrmRef("Account", rid), {"days_past_due": str(i)}, key=f"k{i}")
               for i, rid in enumerate(ids)]

    report = salesforce_adapter.write_fields(updates)

    assert sorted(report.ok) == ["k0", "k1", "k2", "k3"]
    assert len(sf_standin.jobs) == 1  # the same job, not a second one
    assert sf_tokens.refreshes == 1
    assert sf_standin.records["Account"][ids[3]]["Dunning_Days_Past_Due__c"] == 3.0
    assert clock.sleeps  # polled while InProgress, with the injected sleep


def test_metadata_api_session_fault_refreshes_and_retries(salesforce_adapter, sf_standin, sf_tokens):
    sf_tokens.expire()

    report = salesforce_adapter.ensure_schema()

    assert report.ok and len(report.created) > 17
    assert sf_tokens.refreshes == 1


def _bare_client(clock):
    from crm_adapters.salesforce.budget import ApiBudget
    from crm_adapters.salesforce.client import SalesforceClient

    refreshes: list[int] = []
    client = SalesforceClient(requests.Session(), INSTANCE, lambda: "00Dtoken-current",
                              force_refresh=lambda: refreshes.append(1) or "00Dtoken-new",
                              version=VERSION, budget=ApiBudget(clock=clock, sleep=clock.sleep),
                              sleep=clock.sleep)
    return client, refreshes


@pytest.mark.parametrize(("status", "code", "kind"), [
    (403, "REQUEST_LIMIT_EXCEEDED", RateLimited),
    (403, "API_DISABLED_FOR_ORG", FatalProviderError),
    (503, "SERVER_UNAVAILABLE", TransientProviderError),
    (500, "UNKNOWN_EXCEPTION", TransientProviderError),
    (400, "MALFORMED_QUERY", SalesforceApiError),
])
def test_errors_are_classified_by_error_code(status, code, kind, clock, http):
    http.add(responses.GET, f"{DATA}/query/", status=status,
             json=[{"message": "refused", "errorCode": code}])
    client, refreshes = _bare_client(clock)

    with pytest.raises(kind) as info:
        client.query("SELECT Id FROM Account")

    assert not isinstance(info.value, ReauthRequired)
    assert refreshes == []  # a 403 is never taken for an expired session


def test_a_connection_failure_is_transient(clock, http):
    http.add(responses.GET, f"{DATA}/query/", body=requests.ConnectionError("reset"))
    client, _ = _bare_client(clock)

    with pytest.raises(TransientProviderError):
        client.query("SELECT Id FROM Account")


# -- budget ---------------------------------------------------------------------------------------


def test_budget_follows_the_limit_header_then_slows_then_pauses(client, sf_standin, clock):
    sf_standin.api_max = 100
    client.query("SELECT Id FROM Account")
    assert client.budget.state.used == 1 and client.budget.state.level == "ok"

    sf_standin.api_used = 74  # this call makes 75/100
    client.query("SELECT Id FROM Account")
    assert client.budget.state.level == "slow"
    client.query("SELECT Id FROM Account")
    assert clock.sleeps == [SLOW_DELAY_S]

    sf_standin.api_used = 90
    client.query("SELECT Id FROM Account")
    assert client.budget.state.level == "paused"
    calls = len(sf_standin.requests)
    with pytest.raises(RateLimited) as info:
        client.query("SELECT Id FROM Account")
    assert len(sf_standin.requests) == calls  # nothing sent while paused
    assert "paused" in str(info.value)


def test_a_paused_budget_rechecks_limits_and_resumes(client, sf_standin, clock):
    sf_standin.api_max = 100
    sf_standin.api_used = 95
    client.query("SELECT Id FROM Account")
    assert client.budget.state.level == "paused"

    sf_standin.api_used = 10  # the rolling 24 hours moved on
    clock.now += LIMITS_RECHECK_S
    client.query("SELECT Id FROM Account")

    assert ("GET", f"/services/data/v{VERSION}/limits/") in sf_standin.requests
    assert client.budget.state.level == "ok"


def test_observations_reach_the_hook(client, sf_standin):
    seen = []
    client.budget.on_observe = seen.append
    client.query("SELECT Id FROM Account")
    assert seen and seen[0].max == sf_standin.api_max and seen[0].source == "header"


# -- SOQL ---------------------------------------------------------------------------------------


def test_literals_escape_quotes_and_backslashes():
    assert soql.literal("O'Brien\\x") == "'O\\'Brien\\\\x'"
    assert soql.like_literal("50%_off", prefix="%") == "'%50\\%\\_off'"
    assert soql.in_list(["a", "b'"]) == "('a', 'b\\'')"
    with pytest.raises(ValueError):
        soql.name("Name; DELETE")


def test_a_hostile_billing_id_stays_a_value(salesforce_adapter, sf_standin):
    salesforce_adapter.ensure_schema()
    sf_standin.add("Account", Name="Other", Dunning_Billing_Customer_Id__c="cus_real")
    from connector.ports import CustomerKeys

    results = salesforce_adapter.match_accounts([CustomerKeys("x' OR Name != '")])

    assert results[0].status.value == "unmatched"


def test_in_lists_are_chunked_to_fit_a_url():
    chunks = list(soql.chunked_in([f"cus_{i:05d}" for i in range(450)], max_values=200))
    assert [len(c) for c in chunks] == [200, 200, 50]
    assert all(len(soql.in_list(c)) < soql.MAX_IN_CHARS for c in chunks)


def test_query_follows_next_records_url(client, sf_standin):
    for i in range(5):
        sf_standin.add("Account", Name=f"A{i}")
    sf_standin.page_size = 2

    rows = client.query("SELECT Id, Name FROM Account")

    assert [r["Name"] for r in rows] == [f"A{i}" for i in range(5)]
    assert sum(1 for _, path in sf_standin.requests if "/query" in path) == 3


def test_api_calls_go_to_the_instance_url(client, sf_standin):
    client.query("SELECT Id FROM Account")
    assert client.instance_url == INSTANCE
    assert sf_standin.requests[0][1].startswith(f"/services/data/v{VERSION}/")
