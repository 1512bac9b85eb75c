"""The same scenarios against FakeCrmAdapter, HubSpotAdapter and SalesforceAdapter (behind their
stand-ins), so the fake the sync tests rely on cannot drift from the real adapters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from connector.domain.fields import FIELD_NAMES
from connector.ports import CrmAdapter, CrmRef, CustomerKeys, FieldUpdate, MatchStatus
from crm_adapters.fake import FakeCrmAdapter
from crm_adapters.hubspot.properties import ID_PROPERTY, hubspot_name
from crm_adapters.salesforce.fields import API_NAMES, LOGICAL_BY_API


@dataclass
class Backend:
    adapter: CrmAdapter
    add_company: Any  # (domain, **logical values) -> CrmRef
    refuse: Any  # (key, ref) -> None: the CRM's own validation rule refuses that update


@pytest.fixture(params=["fake", "hubspot", "salesforce"])
def backend(request) -> Backend:
    if request.param == "fake":
        fake = FakeCrmAdapter()
        fake.ensure_schema()
        return Backend(fake, lambda domain, **values: fake.add_record(domain=domain, **values),
                       lambda key, ref: fake.refuse(key, "Enter only letters"))
    if request.param == "salesforce":
        return _salesforce_backend(request)
    standin = request.getfixturevalue("standin")
    adapter = request.getfixturevalue("hubspot_adapter")
    adapter.ensure_schema()

    def add_company(domain: str, **values: str) -> CrmRef:
        props = {hubspot_name(k): v for k, v in values.items()}
        return CrmRef("companies", standin.add_company(domain=domain, **props))

    def refuse(key: str, ref: CrmRef) -> None:
        standin.rules[key] = "Enter only letters"

    return Backend(adapter, add_company, refuse)


def _salesforce_backend(request) -> Backend:
    standin = request.getfixturevalue("sf_standin")
    adapter = request.getfixturevalue("salesforce_adapter")
    adapter.ensure_schema()

    def add_company(domain: str, **values: str) -> CrmRef:
        # Salesforce keeps a website as typed, not a bare domain.
        fields = {API_NAMES[k]: v for k, v in values.items()}
        return CrmRef("Account", standin.add("Account", Name=domain, Website=f"https://www.{domain}/", **fields))

    def refuse(key: str, ref: CrmRef) -> None:
        # A validation rule is about the record, not the request: it refuses writes to `ref`.
        standin.rules[ref.record_id] = "Enter only letters"

    return Backend(adapter, add_company, refuse)


def _field_names(names: list[str]) -> set[str]:
    return {LOGICAL_BY_API.get(n, n.removeprefix("dunning_")) for n in names if ":" not in n}


@pytest.mark.parametrize("kind", ["fake", "hubspot", "salesforce"])
def test_ensure_schema_creates_every_field_once(kind, request):
    adapter = FakeCrmAdapter() if kind == "fake" else request.getfixturevalue(f"{kind}_adapter")

    first = adapter.ensure_schema()
    second = adapter.ensure_schema()

    assert first.ok and second.ok
    assert _field_names(first.created) == set(FIELD_NAMES)
    assert second.created == [] and second.updated == []
    assert _field_names(second.unchanged) == set(FIELD_NAMES)


def test_match_by_id_domain_conflict_ambiguous_unmatched(backend):
    by_id = backend.add_company("smile-dental.example", billing_customer_id="cus_QaaaA1")
    by_domain = backend.add_company("brightsmiles.example")
    linked = backend.add_company("ortho-partners.example", billing_customer_id="cus_QothO9")
    backend.add_company("twin-clinic.example")
    backend.add_company("twin-clinic.example")
    backend.add_company("gmail.com")

    results = backend.adapter.match_accounts([
        CustomerKeys("cus_QaaaA1", "smile-dental.example"),
        CustomerKeys("cus_QbbbB2", "BrightSmiles.example"),
        CustomerKeys("cus_QcccC3", "ortho-partners.example"),
        CustomerKeys("cus_QdddD4", "twin-clinic.example"),
        CustomerKeys("cus_QeeeE5", "nobody-here.example"),
        CustomerKeys("cus_QfffF6", "gmail.com"),
        CustomerKeys("cus_QgggG7", None),
    ])

    assert [(r.customer_id, r.status, r.ref, r.matched_by) for r in results[:3]] == [
        ("cus_QaaaA1", MatchStatus.MATCHED, by_id, "billing_customer_id"),
        ("cus_QbbbB2", MatchStatus.MATCHED, by_domain, "domain"),
        ("cus_QcccC3", MatchStatus.CONFLICT, linked, "domain"),
    ]
    assert [r.status for r in results[3:]] == [
        MatchStatus.AMBIGUOUS, MatchStatus.UNMATCHED, MatchStatus.UNMATCHED, MatchStatus.UNMATCHED,
    ]
    assert "free mail" in results[5].detail


def test_two_customers_claiming_one_company_are_ambiguous(backend):
    backend.add_company("shared-practice.example")

    results = backend.adapter.match_accounts([
        CustomerKeys("cus_Qone001", "shared-practice.example"),
        CustomerKeys("cus_Qtwo002", "shared-practice.example"),
    ])

    assert [r.status for r in results] == [MatchStatus.AMBIGUOUS, MatchStatus.AMBIGUOUS]


def test_write_then_read_back_canonical_values(backend):
    ref = backend.add_company("smile-dental.example", risk_reasons="old reason")
    values = {
        "billing_customer_id": "cus_QaaaA1",
        "billing_provider": "stripe",
        "payment_status": "past_due",
        "days_past_due": "16",
        "outstanding_amount": "120.50",
        "outstanding_currency": "EUR",
        "last_failure_reason": "expired_card",
        "first_failed_payment_date": "2026-11-17",
        "next_payment_retry_date": "2026-12-05",
        "risk_score": "69",
        "risk_segment": "high_risk",
        "risk_reasons": "",
        "billing_updated_at": "2026-12-03T15:00:00+00:00",
    }

    report = backend.adapter.write_fields([FieldUpdate(ref, values, key="outbox-1")])
    read = backend.adapter.read_fields([ref])

    assert report.ok == ["outbox-1"] and report.failed == [] and report.calls == 1
    assert read[ref]["outstanding_amount"] == "120.5"
    assert read[ref]["first_failed_payment_date"] == "2026-11-17"
    assert read[ref]["billing_updated_at"] == "2026-12-03T15:00:00Z"
    assert read[ref]["risk_reasons"] == ""  # "" cleared it
    assert read[ref]["payment_status"] == "past_due"
    assert read[ref]["late_payments_12m"] == ""  # never written
    assert set(read[ref]) == set(FIELD_NAMES)


def test_writing_the_same_update_twice_changes_nothing(backend):
    ref = backend.add_company("smile-dental.example")
    update = FieldUpdate(ref, {"payment_status": "current", "days_past_due": "0"}, key="k1")

    backend.adapter.write_fields([update])
    once = backend.adapter.read_fields([ref])
    backend.adapter.write_fields([update])

    assert backend.adapter.read_fields([ref]) == once


def test_one_bad_record_is_reported_and_the_rest_written(backend):
    good = backend.add_company("a-practice.example")
    refused = backend.add_company("b-practice.example")
    backend.refuse("outbox-2", refused)
    missing = CrmRef("companies", "99999999")

    report = backend.adapter.write_fields([
        FieldUpdate(good, {"payment_status": "past_due"}, key="outbox-1"),
        FieldUpdate(refused, {"risk_reasons": "Card expired 3x"}, key="outbox-2"),
        FieldUpdate(missing, {"payment_status": "current"}, key="outbox-3"),
        FieldUpdate(good, {"risk_segment": "very_high"}, key="outbox-4"),
    ])

    assert report.ok == ["outbox-1"]
    assert sorted(f.key for f in report.failed) == ["outbox-2", "outbox-3", "outbox-4"]
    assert not any(f.retriable for f in report.failed)
    assert backend.adapter.read_fields([good])[good]["payment_status"] == "past_due"
    assert backend.adapter.read_fields([refused])[refused]["risk_reasons"] == ""


def test_a_billing_id_already_on_another_record_fails_alone(backend):
    backend.add_company("first.example", billing_customer_id="cus_QdupX7")
    other = backend.add_company("second.example")
    third = backend.add_company("third.example")

    report = backend.adapter.write_fields([
        FieldUpdate(other, {"billing_customer_id": "cus_QdupX7"}, key="dup"),
        FieldUpdate(third, {"billing_customer_id": "cus_QnewN1"}, key="fine"),
    ])

    assert report.ok == ["fine"]
    assert [f.key for f in report.failed] == ["dup"]
    assert backend.adapter.read_fields([other])[other]["billing_customer_id"] == ""


def test_create_accounts_upserts_on_billing_id(backend):
    existing = backend.add_company("smile-dental.example", billing_customer_id="cus_QaaaA1")

    report = backend.adapter.create_accounts([
        FieldUpdate(existing, {"billing_customer_id": "cus_QaaaA1", "payment_status": "past_due"},
                    key="u1"),
        FieldUpdate(existing, {"billing_customer_id": "cus_QnewN1", "payment_status": "current",
                               "name": "New Practice"}, key="u2"),
        FieldUpdate(existing, {"payment_status": "current"}, key="u3"),
    ])
    matches = backend.adapter.match_accounts([CustomerKeys("cus_QaaaA1"), CustomerKeys("cus_QnewN1")])

    assert report.ok == ["u1", "u2"] and [f.key for f in report.failed] == ["u3"]
    assert matches[0].ref == existing
    assert matches[1].status is MatchStatus.MATCHED and matches[1].ref != existing
    assert backend.adapter.read_fields([matches[1].ref])[matches[1].ref]["payment_status"] == "current"
    assert backend.adapter.read_fields([existing])[existing]["payment_status"] == "past_due"


def test_batch_limits_are_the_same():
    assert FakeCrmAdapter().max_batch_size == 100
    from crm_adapters.hubspot.adapter import HubSpotAdapter

    assert HubSpotAdapter.max_batch_size == 100


def test_id_property_is_the_prefixed_billing_id():
    assert ID_PROPERTY == "dunning_billing_customer_id"
