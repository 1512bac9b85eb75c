"""Build the CRM adapter of one installation (the wiring between storage, OAuth and adapters)."""

from __future__ import annotations

from connector.context import Services
from connector.ports import CrmAdapter
from connector.storage.db import session_scope
from connector.storage.models import Installation


def adapter_for(services: Services, installation_id: int) -> CrmAdapter:
    """The installation's adapter: HubSpot through its refreshed OAuth token (or a test/demo override)."""
    if services.adapter_factory is not None:
        return services.adapter_factory(installation_id)
    with session_scope(services.engine) as s:
        inst = s.get(Installation, installation_id)
        if inst is None:
            raise LookupError(f"installation {installation_id} does not exist")
        crm, portal_id = inst.crm, inst.external_id
    if crm != "hubspot":
        raise NotImplementedError(f"no adapter for CRM {crm!r} yet")
    from crm_adapters.hubspot.adapter import HubSpotAdapter
    from crm_adapters.hubspot.client import HubSpotClient
    from crm_adapters.hubspot.rate_limit import limiter_for, search_limiter_for
    from oauth.manager import TokenManager

    tokens = TokenManager(services.engine, services.box, services.http, services.settings,
                          services.clock).for_installation(installation_id)
    client = HubSpotClient(services.http, tokens.access_token, base_url=services.settings.hubspot_api_base,
                           limiter=limiter_for(portal_id), search_limiter=search_limiter_for(portal_id),
                           force_refresh=tokens.force_refresh)
    return HubSpotAdapter(client)
