"""Build the CRM adapter of one installation (the wiring between storage, OAuth and adapters)."""

from __future__ import annotations

from connector import api_budget
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
        playbook = (inst.settings or {}).get("playbook") or {}
    if crm == "salesforce":
        return _salesforce_adapter(services, installation_id, playbook.get("fallback_owner_id"))
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
                           force_refresh=tokens.force_refresh,
                           on_headers=api_budget.recorder(installation_id, services.clock))
    return HubSpotAdapter(client)


def _salesforce_adapter(services: Services, installation_id: int, fallback_owner_id: str | None) -> CrmAdapter:
    """SalesforceAdapter on the org's instance URL, refreshing on 401; its API-budget readings go
    to sync health (connector.api_budget) so the dashboard shows them."""
    from crm_adapters.salesforce import build_salesforce_adapter
    from oauth.salesforce_tokens import org_access

    access = org_access(services, installation_id)

    def record(state) -> None:  # noqa: ANN001 - crm_adapters.salesforce.budget.BudgetState
        api_budget.note_usage(installation_id, state.used, state.max, services.clock())

    return build_salesforce_adapter(
        org_id=access.org_id, instance_url=access.instance_url, token=access.tokens.access_token,
        force_refresh=access.tokens.force_refresh, session=services.http,
        version=services.settings.salesforce_api_version, user_id=access.user_id or None,
        fallback_owner_id=fallback_owner_id, on_budget=record)
