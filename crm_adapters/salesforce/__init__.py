"""Salesforce: SalesforceAdapter (connector/ports.py CrmAdapter + PlaybookCrm) on simple-salesforce.

Modules: client (session handling, error table, Bulk 2.0, Metadata API), budget (daily API
allocation), soql (quoting), fields (§3 fields on Account), schema (creating them + permission
sets), matching, records (Collections / Bulk writes), lists (list views per segment),
activities (owners, contacts, tasks), cadences (Sales Engagement).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import requests

    from crm_adapters.salesforce.adapter import SalesforceAdapter


def build_salesforce_adapter(
    *,
    org_id: str,
    instance_url: str,
    token: Callable[[], str],
    force_refresh: Callable[[], str] | None,
    session: requests.Session,
    version: str,
    user_id: str | None = None,
    fallback_owner_id: str | None = None,
    on_budget: Callable[[Any], None] | None = None,
) -> SalesforceAdapter:
    """A SalesforceAdapter for one org, on that org's process-wide API budget."""
    from crm_adapters.salesforce.adapter import SalesforceAdapter
    from crm_adapters.salesforce.budget import budget_for
    from crm_adapters.salesforce.client import SalesforceClient

    budget = budget_for(org_id)
    budget.on_observe = on_budget
    client = SalesforceClient(session, instance_url, token, force_refresh=force_refresh,
                              version=version, budget=budget)
    return SalesforceAdapter(client, user_id=user_id, fallback_owner_id=fallback_owner_id)
