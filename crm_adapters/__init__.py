"""CRM adapters (HubSpot; Salesforce later) behind connector.ports.CrmAdapter.

Kept light: the builders import their adapter only when called.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import requests

    from crm_adapters.hubspot.adapter import HubSpotAdapter


def build_hubspot_adapter(
    *,
    portal_id: str | int,
    token: Callable[[], str],
    force_refresh: Callable[[], object] | None = None,
    session: requests.Session | None = None,
    base_url: str | None = None,
) -> HubSpotAdapter:
    """A HubSpotAdapter for one portal, on that portal's shared rate limiters.

    `token` returns the current access token (refreshed ahead of expiry by the caller's token
    provider); `force_refresh` is called once when HubSpot answers 401.
    """
    import requests

    from crm_adapters.hubspot import paths
    from crm_adapters.hubspot.adapter import HubSpotAdapter
    from crm_adapters.hubspot.client import HubSpotClient
    from crm_adapters.hubspot.rate_limit import limiter_for, search_limiter_for

    client = HubSpotClient(
        session or requests.Session(),
        token,
        base_url=base_url or paths.DEFAULT_BASE_URL,
        limiter=limiter_for(portal_id),
        search_limiter=search_limiter_for(portal_id),
        force_refresh=force_refresh,
    )
    return HubSpotAdapter(client)
