"""HubSpot CRM adapter: companies carry the §3 fields as `dunning_*` properties."""

from crm_adapters.hubspot.adapter import HubSpotAdapter
from crm_adapters.hubspot.client import HubSpotApiError, HubSpotClient

__all__ = ["HubSpotAdapter", "HubSpotApiError", "HubSpotClient"]
