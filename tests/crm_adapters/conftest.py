"""Fixtures for the CRM adapter tests (helpers live in hubspot_standin.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses

from crm_adapters.hubspot.adapter import HubSpotAdapter

from hubspot_standin import FakeClock, HubSpotStandIn, make_client
from salesforce_standin import USER_ID, SalesforceStandIn, Tokens
from salesforce_standin import make_client as make_sf_client


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def standin_mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def standin(standin_mock) -> HubSpotStandIn:
    return HubSpotStandIn(standin_mock)


@pytest.fixture
def hubspot_adapter(standin, clock) -> HubSpotAdapter:
    return HubSpotAdapter(make_client(clock))


@pytest.fixture
def sf_standin(standin_mock) -> SalesforceStandIn:
    return SalesforceStandIn(standin_mock)


@pytest.fixture
def sf_tokens(sf_standin) -> Tokens:
    return Tokens(sf_standin)


@pytest.fixture
def salesforce_adapter(sf_standin, sf_tokens, clock):
    from crm_adapters.salesforce.adapter import SalesforceAdapter

    return SalesforceAdapter(make_sf_client(sf_standin, sf_tokens, clock), user_id=USER_ID)
