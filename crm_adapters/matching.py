"""How a billing customer is matched to a CRM record by e-mail domain, for every adapter.

The rules (PRODUCT.md §3 "Cardinality", connector/ports.py): never guess between several
candidates; a company already linked to another billing customer is a conflict, not a merge.
- exactly one candidate free (no billing id, or this customer's) → MATCHED by domain;
- that one candidate also claimed by another customer of the same call → AMBIGUOUS;
- several free candidates → AMBIGUOUS;
- candidates, all linked to other billing customers → CONFLICT;
- none, no domain, or a free-mail domain → UNMATCHED.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from connector.domain.free_mail import is_free_mail, normalize_domain
from connector.ports import CrmRef, CustomerKeys, MatchResult, MatchStatus


@dataclass(frozen=True)
class Candidate:
    """A CRM record carrying a domain, and the billing id it is linked to ("" when none)."""

    ref: CrmRef
    billing_id: str = ""


def searchable_domain(keys: CustomerKeys) -> str | None:
    """The domain worth searching for, or None (no domain, or a free mail provider's)."""
    domain = normalize_domain(keys.email_domain)
    return None if domain is None or is_free_mail(domain) else domain


def _free(candidates: Iterable[Candidate], customer_id: str) -> list[Candidate]:
    return [c for c in candidates if not c.billing_id or c.billing_id == customer_id]


def decide_by_domain(
    keys: Sequence[CustomerKeys],
    candidates_by_domain: Mapping[str, Sequence[Candidate]],
) -> dict[str, MatchResult]:
    """Results for customers not found by billing id, by customer id."""
    unique_keys = list({k.customer_id: k for k in keys}.values())
    claims: Counter[CrmRef] = Counter()
    for key in unique_keys:
        domain = searchable_domain(key)
        free = _free(candidates_by_domain.get(domain or "", ()), key.customer_id)
        if len(free) == 1:
            claims[free[0].ref] += 1
    return {key.customer_id: _decide(key, candidates_by_domain, claims) for key in unique_keys}


def _decide(
    key: CustomerKeys,
    candidates_by_domain: Mapping[str, Sequence[Candidate]],
    claims: Counter[CrmRef],
) -> MatchResult:
    cid = key.customer_id
    raw = normalize_domain(key.email_domain)
    if raw is None:
        return MatchResult(cid, MatchStatus.UNMATCHED, detail="not found by billing id; no domain")
    if is_free_mail(raw):
        return MatchResult(cid, MatchStatus.UNMATCHED,
                           detail=f"not found by billing id; {raw} is a free mail domain")
    found = list(candidates_by_domain.get(raw, ()))
    free = _free(found, cid)
    if len(free) == 1:
        if claims[free[0].ref] > 1:
            return MatchResult(cid, MatchStatus.AMBIGUOUS, free[0].ref, "domain",
                               f"several billing customers share the domain {raw}")
        return MatchResult(cid, MatchStatus.MATCHED, free[0].ref, "domain")
    if free:
        return MatchResult(cid, MatchStatus.AMBIGUOUS, None, "domain",
                           f"{len(free)} records have the domain {raw}")
    if found:
        return MatchResult(cid, MatchStatus.CONFLICT, found[0].ref, "domain",
                           f"the record with domain {raw} is linked to billing customer "
                           f"{found[0].billing_id}")
    return MatchResult(cid, MatchStatus.UNMATCHED, detail=f"no record with domain {raw}")
