"""Value codecs, free-mail domains, the shared domain-matching rules, and the fake's test hooks."""

from __future__ import annotations

import pytest

from connector.domain.fields import FIELDS_BY_NAME
from connector.domain.free_mail import is_free_mail, normalize_domain
from connector.errors import TransientProviderError
from connector.ports import CrmRef, CustomerKeys, FieldUpdate, MatchStatus
from crm_adapters.canonical import FieldValueError, canonical_number, canonicalize
from crm_adapters.fake import FakeCrmAdapter
from crm_adapters.hubspot.codecs import from_hubspot, to_hubspot
from crm_adapters.matching import Candidate, decide_by_domain

F = FIELDS_BY_NAME


@pytest.mark.parametrize(("text", "canonical"), [
    ("120.50", "120.5"), ("35.200", "35.2"), ("5000", "5000"), ("5E+3", "5000"), ("0.000", "0"),
    ("-3", "-3"), (" 7 ", "7"), ("0.125", "0.125"),
])
def test_canonical_numbers(text, canonical):
    assert canonical_number(text) == canonical


@pytest.mark.parametrize("bad", ["abc", "NaN", "Infinity", ""])
def test_non_numbers_are_refused(bad):
    with pytest.raises(ValueError):
        canonical_number(bad)


def test_to_hubspot_dates_are_iso_dates_and_must_be_midnight_utc():
    spec = F["first_failed_payment_date"]
    assert to_hubspot(spec, "2026-11-17") == "2026-11-17"
    assert to_hubspot(spec, "2026-11-17T00:00:00Z") == "2026-11-17"
    with pytest.raises(FieldValueError) as info:
        to_hubspot(spec, "2026-11-17T09:30:00+01:00")
    assert info.value.field == "first_failed_payment_date"


def test_to_hubspot_datetimes_are_utc_with_milliseconds():
    spec = F["billing_updated_at"]
    assert to_hubspot(spec, "2026-12-03T16:00:00+01:00") == "2026-12-03T15:00:00.000Z"
    with pytest.raises(FieldValueError):
        to_hubspot(spec, "2026-12-03T16:00:00")  # no zone: ambiguous


def test_to_hubspot_enums_numbers_and_clearing():
    assert to_hubspot(F["risk_segment"], "high_risk") == "high_risk"
    assert to_hubspot(F["risk_score"], "69") == "69"
    assert to_hubspot(F["payment_status"], "") == ""
    with pytest.raises(FieldValueError):
        to_hubspot(F["risk_segment"], "High risk")


@pytest.mark.parametrize(("field", "value", "canonical"), [
    ("next_payment_retry_date", "2026-12-05", "2026-12-05"),
    ("next_payment_retry_date", "1764892800000", "2025-12-05"),
    ("billing_updated_at", "2026-12-03T15:00:00.000Z", "2026-12-03T15:00:00Z"),
    ("billing_updated_at", "2026-12-03T15:00:00.250Z", "2026-12-03T15:00:00.250Z"),
    ("billing_updated_at", "1796310000000", "2026-12-03T15:00:00Z"),
    ("outstanding_amount", "120.50", "120.5"),
    ("risk_segment", "high_risk", "high_risk"),
    ("risk_score", None, ""),
    ("days_past_due", "typed by a human", "typed by a human"),
])
def test_from_hubspot(field, value, canonical):
    assert from_hubspot(F[field], value) == canonical


def test_round_trip_is_stable():
    for name, value in [("outstanding_amount", "12.30"), ("next_payment_retry_date", "2026-02-28"),
                        ("billing_updated_at", "2026-12-03T15:00:00Z")]:
        once = canonicalize(F[name], value)
        assert from_hubspot(F[name], to_hubspot(F[name], value)) == once


@pytest.mark.parametrize(("raw", "domain"), [
    ("Dr.Jones@Smile-Dental.Example", "smile-dental.example"),
    ("https://www.smile-dental.example/contact?x=1", "smile-dental.example"),
    ("@smile-dental.example", "smile-dental.example"),
    ("smile-dental.example:443", "smile-dental.example"),
    ("", None), (None, None), ("localhost", None), ("not a domain.com", None),
])
def test_normalize_domain(raw, domain):
    assert normalize_domain(raw) == domain


@pytest.mark.parametrize(("domain", "free"), [
    ("gmail.com", True), ("GMAIL.com", True), ("yahoo.co.uk", True), ("hotmail.fr", True),
    ("gmx.de", True), ("t-online.de", True), ("bob@outlook.com", True), (None, True),
    ("smile-dental.example", False), ("live.acme.com", False), ("gmailer.com", False),
])
def test_free_mail(domain, free):
    assert is_free_mail(domain) is free


def _c(record_id: str, billing_id: str = "") -> Candidate:
    return Candidate(CrmRef("companies", record_id), billing_id)


def test_one_free_candidate_beside_a_linked_one_matches_the_free_one():
    results = decide_by_domain([CustomerKeys("cus_Q1", "group.example")],
                               {"group.example": [_c("1", "cus_Qother"), _c("2")]})

    assert (results["cus_Q1"].status, results["cus_Q1"].ref) == (MatchStatus.MATCHED, _c("2").ref)


def test_candidate_carrying_this_customers_id_counts_as_free():
    results = decide_by_domain([CustomerKeys("cus_Q1", "a.example")], {"a.example": [_c("1", "cus_Q1")]})

    assert results["cus_Q1"].status is MatchStatus.MATCHED


def test_fake_records_calls_and_injects_failures():
    fake = FakeCrmAdapter()
    ref = fake.add_record(domain="a.example")
    fake.refuse("k2", "Enter only letters", retriable=False)
    fake.fail_next(TransientProviderError("down"))

    with pytest.raises(TransientProviderError):
        fake.write_fields([FieldUpdate(ref, {"payment_status": "current"}, key="k1")])
    report = fake.write_fields([FieldUpdate(ref, {"payment_status": "current"}, key="k1"),
                                FieldUpdate(ref, {"risk_reasons": "x"}, key="k2")])

    assert fake.calls == [("write_fields", 1), ("write_fields", 2)]
    assert report.ok == ["k1"] and [f.reason for f in report.failed] == ["Enter only letters"]
    assert report.calls == 1
    assert fake.records[ref.record_id].values == {"payment_status": "current"}
