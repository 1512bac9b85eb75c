"""Finding each billing customer's Account: by external id, else by domain, else unmatched.

1. `Dunning_Billing_Customer_Id__c IN (...)`. SOQL compares text case-insensitively, the field
   is case-sensitive, so the final comparison is exact, in Python.
2. Not found among live Accounts: the same query over deleted ones (queryAll). A merged Account
   keeps its MasterRecordId; the survivor is the match ("re-resolved, not recreated").
3. Else the domain, on Account.Website (free text: "https://www.x.example/") and on the e-mail
   of the Account's Contacts. LIKE narrows the rows; normalize_domain decides exactly. The
   shared rules of crm_adapters.matching settle candidates (never guess between several).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from connector.domain.free_mail import normalize_domain
from connector.ports import CrmRef, CustomerKeys, MatchResult, MatchStatus
from crm_adapters.matching import Candidate, decide_by_domain, searchable_domain
from crm_adapters.salesforce import soql
from crm_adapters.salesforce.client import SalesforceClient
from crm_adapters.salesforce.fields import ACCOUNT, ID_FIELD

DOMAINS_PER_QUERY = 20


def match_accounts(client: SalesforceClient, keys: Sequence[CustomerKeys]) -> list[MatchResult]:
    wanted = [k.customer_id for k in keys if k.customer_id]
    by_id = match_existing_ids(client, wanted)
    merged = _merged_survivors(client, [c for c in dict.fromkeys(wanted) if c not in by_id])
    pending = [k for k in keys if k.customer_id not in by_id and k.customer_id not in merged]
    domains = sorted({d for k in pending if (d := searchable_domain(k))})
    by_domain = decide_by_domain(pending, _candidates(client, domains) if domains else {})
    out: list[MatchResult] = []
    for k in keys:
        if k.customer_id in by_id:
            out.append(MatchResult(k.customer_id, MatchStatus.MATCHED, _ref(by_id[k.customer_id]),
                                   "billing_customer_id"))
        elif k.customer_id in merged:
            old, survivor = merged[k.customer_id]
            out.append(MatchResult(k.customer_id, MatchStatus.MATCHED, _ref(survivor),
                                   "billing_customer_id", f"Account {old} was merged into {survivor}"))
        else:
            out.append(by_domain[k.customer_id])
    return out


def _ref(record_id: str) -> CrmRef:
    return CrmRef(ACCOUNT, record_id)


def match_existing_ids(client: SalesforceClient, ids: Sequence[str]) -> dict[str, str]:
    """billing id → Account Id, for live Accounts carrying exactly that billing id."""
    found: dict[str, str] = {}
    exact = set(ids)
    for chunk in soql.chunked_in(ids):
        query = soql.select(["Id", ID_FIELD], ACCOUNT, f"{ID_FIELD} IN {soql.in_list(chunk)}")
        for row in client.query(query):
            value = str(row.get(ID_FIELD) or "")
            if value in exact:
                found[value] = str(row["Id"])
    return found


def _merged_survivors(client: SalesforceClient, ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """billing id → (deleted Account, surviving Account) for Accounts merged away."""
    out: dict[str, tuple[str, str]] = {}
    exact = set(ids)
    for chunk in soql.chunked_in(ids):
        where = f"IsDeleted = true AND MasterRecordId != null AND {ID_FIELD} IN {soql.in_list(chunk)}"
        query = soql.select(["Id", "MasterRecordId", ID_FIELD], ACCOUNT, where)
        for row in client.query(query, include_deleted=True):
            value = str(row.get(ID_FIELD) or "")
            if value in exact:
                out[value] = (str(row["Id"]), str(row["MasterRecordId"]))
    return out


def _candidates(client: SalesforceClient, domains: Sequence[str]) -> dict[str, list[Candidate]]:
    found: dict[str, dict[str, Candidate]] = defaultdict(dict)
    wanted = set(domains)
    for start in range(0, len(domains), DOMAINS_PER_QUERY):
        chunk = domains[start:start + DOMAINS_PER_QUERY]
        websites = " OR ".join(f"Website LIKE {soql.like_literal(d, prefix='%', suffix='%')}"
                               for d in chunk)
        for row in client.query(soql.select(["Id", "Website", ID_FIELD], ACCOUNT, f"({websites})")):
            _add(found, wanted, normalize_domain(row.get("Website")), row.get("Id"), row.get(ID_FIELD))
        emails = " OR ".join(f"Email LIKE {soql.like_literal(d, prefix='%@')}" for d in chunk)
        contacts = soql.select(["AccountId", f"Account.{ID_FIELD}", "Email"], "Contact",
                               f"AccountId != null AND ({emails})")
        for row in client.query(contacts):
            account = row.get("Account") if isinstance(row.get("Account"), dict) else {}
            _add(found, wanted, normalize_domain(row.get("Email")), row.get("AccountId"),
                 account.get(ID_FIELD))
    return {domain: list(accounts.values()) for domain, accounts in found.items()}


def _add(found: dict[str, dict[str, Candidate]], wanted: set[str], domain: str | None,
         account_id: Any, billing_id: Any) -> None:
    if domain in wanted and account_id:
        found[domain].setdefault(str(account_id), Candidate(_ref(str(account_id)), str(billing_id or "")))
