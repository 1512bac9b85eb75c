"""SalesforceAdapter beyond the shared contract: per-record errors inside 200s, merges, Bulk 2.0,
matching rules, schema conflicts and FLS, list views, tasks, cadences — against the stand-in."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from connector.errors import FatalProviderError
from connector.ports import (
    CrmRef,
    CrmTask,
    CustomerKeys,
    Enrollment,
    FieldUpdate,
    MatchStatus,
    SegmentList,
    TaskCompletion,
    TaskKind,
)
from crm_adapters.salesforce import records
from crm_adapters.salesforce.adapter import SalesforceAdapter
from crm_adapters.salesforce.fields import API_NAMES, ID_FIELD, api_name

from salesforce_standin import MD, USER_ID
from salesforce_standin import make_client as make_sf_client

SEGMENTS = [SegmentList("high_risk", "Billing risk: High risk"),
            SegmentList("habitual_late", "Billing risk: Habitual late"),
            SegmentList("first_time_late", "Billing risk: First time late"),
            SegmentList("low_risk", "Billing risk: Low risk")]


@pytest.fixture
def adapter(salesforce_adapter) -> SalesforceAdapter:
    salesforce_adapter.ensure_schema()
    return salesforce_adapter


def _account(standin, **fields) -> CrmRef:
    return CrmRef("Account", standin.add("Account", Name=fields.pop("Name", "Practice"), **fields))


# -- fields ---------------------------------------------------------------------------------------


def test_api_names_follow_the_contract():
    assert ID_FIELD == "Dunning_Billing_Customer_Id__c"
    assert api_name("late_payments_12m") == "Dunning_Late_Payments_12m__c"
    assert all(len(n) - 3 <= 40 and "__" not in n[:-3] for n in API_NAMES.values())


def test_billing_id_is_a_unique_case_sensitive_external_id(adapter, sf_standin):
    field = sf_standin.metadata[("CustomField", f"Account.{ID_FIELD}")]
    assert {c: field.findtext(f"{{{MD}}}{c}") for c in ("externalId", "unique", "caseSensitive")} == {
        "externalId": "true", "unique": "true", "caseSensitive": "true"}


def test_new_fields_are_invisible_until_the_permission_set_is_assigned(salesforce_adapter, sf_standin):
    salesforce_adapter.ensure_schema()
    sf_standin.assignments.clear()  # as if the assignment had not happened
    sf_standin.records["PermissionSetAssignment"].clear()
    ref = _account(sf_standin)

    with pytest.raises(FatalProviderError) as info:
        salesforce_adapter.write_fields([FieldUpdate(ref, {"payment_status": "past_due"}, key="k")])
    assert info.value.category == "INVALID_FIELD"

    report = salesforce_adapter.ensure_schema()  # assigns again, idempotently
    assert "permission_set_assignment:Dunning_Connector_Integration" in report.created
    assert salesforce_adapter.write_fields([FieldUpdate(ref, {"payment_status": "past_due"}, key="k")]).ok == ["k"]


def test_a_conflicting_field_is_reported_and_left_alone(sf_standin, salesforce_adapter):
    # An admin made their own Text field with our name, not unique.
    existing = ET.fromstring(
        f'<metadata xmlns="{MD}"><fullName>Account.{ID_FIELD}</fullName><label>Billing id</label>'
        "<type>Text</type><length>80</length></metadata>")
    sf_standin.metadata[("CustomField", f"Account.{ID_FIELD}")] = existing

    report = salesforce_adapter.ensure_schema()

    assert any(ID_FIELD in p and "unique External ID" in p for p in report.problems)
    assert ID_FIELD not in report.created
    assert sf_standin.metadata[("CustomField", f"Account.{ID_FIELD}")] is existing


def test_missing_picklist_values_are_added_keeping_the_orgs_own(sf_standin, salesforce_adapter):
    name = API_NAMES["billing_provider"]
    sf_standin.metadata[("CustomField", f"Account.{name}")] = ET.fromstring(
        f'<metadata xmlns="{MD}"><fullName>Account.{name}</fullName><label>Billing provider</label>'
        "<type>Picklist</type><valueSet><restricted>true</restricted><valueSetDefinition>"
        "<sorted>false</sorted><value><fullName>stripe</fullName><default>false</default><label>Stripe</label></value>"
        "<value><fullName>paddle</fullName><default>false</default><label>Paddle</label></value>"
        "</valueSetDefinition></valueSet></metadata>")

    report = salesforce_adapter.ensure_schema()

    assert name in report.updated
    values = [v.findtext(f"{{{MD}}}fullName") for v in
              sf_standin.metadata[("CustomField", f"Account.{name}")].iter(f"{{{MD}}}value")]
    assert values == ["stripe", "paddle", "chargebee"]


# -- writes ---------------------------------------------------------------------------------------


def test_a_locked_row_is_retried_once_and_other_errors_are_recorded(adapter, sf_standin):
    locked, refused, fine = (_account(sf_standin) for _ in range(3))
    sf_standin.locked_once.add(locked.record_id)
    sf_standin.rules[refused.record_id] = "Billing fields are locked for this account type"

    report = adapter.write_fields([
        FieldUpdate(locked, {"days_past_due": "3"}, key="a"),
        FieldUpdate(refused, {"days_past_due": "3"}, key="b"),
        FieldUpdate(fine, {"days_past_due": "3"}, key="c"),
    ])

    assert sorted(report.ok) == ["a", "c"]
    assert [(f.key, f.category, f.retriable) for f in report.failed] == [
        ("b", "FIELD_CUSTOM_VALIDATION_EXCEPTION", False)]
    assert "locked for this account type" in report.failed[0].reason
    assert report.calls == 2  # the batch, then only the locked record again


def test_two_updates_of_one_record_are_merged_into_one_write(adapter, sf_standin):
    ref = _account(sf_standin)

    report = adapter.write_fields([FieldUpdate(ref, {"days_past_due": "3", "risk_score": "10"}, key="a"),
                                   FieldUpdate(ref, {"days_past_due": "4"}, key="b")])

    assert report.ok == ["a", "b"] and report.calls == 1
    assert adapter.read_fields([ref])[ref]["days_past_due"] == "4"
    assert adapter.read_fields([ref])[ref]["risk_score"] == "10"


def test_a_merged_account_is_written_on_the_survivor(adapter, sf_standin):
    survivor = _account(sf_standin, Name="Smile Dental")
    merged = _account(sf_standin, Name="Smile Dental (old)", IsDeleted=True,
                      MasterRecordId=survivor.record_id)
    gone = _account(sf_standin, IsDeleted=True)

    report = adapter.write_fields([FieldUpdate(merged, {"payment_status": "past_due"}, key="m"),
                                   FieldUpdate(gone, {"payment_status": "past_due"}, key="g")])

    assert report.ok == ["m"] and report.moved == {"m": survivor}
    assert adapter.read_fields([survivor])[survivor]["payment_status"] == "past_due"
    assert [(f.key, f.category, f.retriable) for f in report.failed] == [("g", "ENTITY_IS_DELETED", False)]


def test_large_drains_go_through_bulk_api_2(adapter, sf_standin, clock, monkeypatch):
    monkeypatch.setattr(records, "BULK_THRESHOLD", 3)
    monkeypatch.setattr(records, "BULK_CALLS", 0)
    refs = [_account(sf_standin) for _ in range(3)]
    sf_standin.rules[refs[1].record_id] = "Enter only letters"

    report = adapter.write_fields([
        FieldUpdate(refs[0], {"outstanding_amount": "35.200", "risk_reasons": ""}, key="a"),
        FieldUpdate(refs[1], {"outstanding_amount": "1"}, key="b"),
        FieldUpdate(refs[2], {"next_payment_retry_date": "2026-12-05"}, key="c"),
    ])

    assert sorted(report.ok) == ["a", "c"]
    assert [(f.key, f.category) for f in report.failed] == [("b", "FIELD_CUSTOM_VALIDATION_EXCEPTION")]
    assert not any("composite" in path for _, path in sf_standin.requests[-8:])
    assert adapter.read_fields([refs[0]])[refs[0]]["outstanding_amount"] == "35.2"
    assert report.calls >= 6


def test_bulk_is_chosen_only_when_it_makes_fewer_calls():
    assert not records.use_bulk(1999)
    assert records.use_bulk(2000)  # 10 Collections calls against about 7 for a Bulk job


def test_create_accounts_names_new_accounts_and_keeps_existing_names(adapter, sf_standin):
    existing = _account(sf_standin, Name="Smile Dental", Dunning_Billing_Customer_Id__c="cus_QaaaA1")

    report = adapter.create_accounts([
        FieldUpdate(existing, {"billing_customer_id": "cus_QaaaA1", "payment_status": "past_due"}, key="u1"),
        FieldUpdate(existing, {"billing_customer_id": "cus_QnewN1", "domain": "new.example"}, key="u2"),
    ])

    assert report.ok == ["u1", "u2"]
    accounts = sf_standin.records["Account"].values()
    assert sf_standin.records["Account"][existing.record_id]["Name"] == "Smile Dental"
    new = next(a for a in accounts if a.get(ID_FIELD) == "cus_QnewN1")
    assert new["Name"] == "cus_QnewN1" and new["Website"] == "new.example"


# -- matching -----------------------------------------------------------------------------------


def test_billing_id_matching_is_case_sensitive(adapter, sf_standin):
    _account(sf_standin, Dunning_Billing_Customer_Id__c="CUS_QAAAA1")

    result = adapter.match_accounts([CustomerKeys("cus_QaaaA1")])[0]

    assert result.status is MatchStatus.UNMATCHED


def test_a_merged_account_is_re_resolved_to_its_survivor(adapter, sf_standin):
    survivor = _account(sf_standin, Name="Smile Dental")
    _account(sf_standin, IsDeleted=True, MasterRecordId=survivor.record_id,
             Dunning_Billing_Customer_Id__c="cus_QaaaA1")

    result = adapter.match_accounts([CustomerKeys("cus_QaaaA1", "smile.example")])[0]

    assert (result.status, result.ref, result.matched_by) == (MatchStatus.MATCHED, survivor,
                                                             "billing_customer_id")
    assert "merged" in result.detail


def test_matching_by_contact_email_domain(adapter, sf_standin):
    account = _account(sf_standin, Name="Bright Smiles")  # no website
    sf_standin.add("Contact", AccountId=account.record_id, Email="billing@BrightSmiles.example")
    sf_standin.add("Contact", AccountId=None, Email="someone@orphans.example")

    results = adapter.match_accounts([CustomerKeys("cus_Qb", "brightsmiles.example"),
                                      CustomerKeys("cus_Qo", "orphans.example")])

    assert (results[0].status, results[0].ref, results[0].matched_by) == (
        MatchStatus.MATCHED, account, "domain")
    assert results[1].status is MatchStatus.UNMATCHED


def test_a_longer_domain_containing_ours_is_not_a_match(adapter, sf_standin):
    _account(sf_standin, Website="https://notsmile-dental.example")

    assert adapter.match_accounts([CustomerKeys("cus_Q1", "smile-dental.example")])[0].status \
        is MatchStatus.UNMATCHED


# -- list views ---------------------------------------------------------------------------------


def test_list_views_are_created_once_shared_and_repaired(adapter, sf_standin):
    first = adapter.ensure_segment_lists(SEGMENTS)
    second = adapter.ensure_segment_lists(SEGMENTS)

    assert sorted(first.created) == sorted(s.name for s in SEGMENTS)
    assert second.created == [] and second.updated == [] and len(second.unchanged) == 4
    assert set(first.list_ids) == {s.segment for s in SEGMENTS}
    view = sf_standin.metadata[("ListView", "Account.Dunning_High_Risk")]
    assert view.find(f"{{{MD}}}sharedTo/{{{MD}}}allInternalUsers") is not None
    assert view.findtext(f"{{{MD}}}filters/{{{MD}}}field") == API_NAMES["risk_segment"]
    assert view.findtext(f"{{{MD}}}filters/{{{MD}}}value") == "high_risk"

    view.find(f"{{{MD}}}filters/{{{MD}}}value").text = "low_risk"  # an admin edited the filter
    third = adapter.ensure_segment_lists(SEGMENTS)
    assert third.updated == ["Billing risk: High risk"]
    assert sf_standin.metadata[("ListView", "Account.Dunning_High_Risk")].findtext(
        f"{{{MD}}}filters/{{{MD}}}value") == "high_risk"


# -- tasks --------------------------------------------------------------------------------------


def _task(ref: CrmRef, key: str, owner: str | None) -> CrmTask:
    return CrmTask(key, ref, TaskKind.CALL, "Call: invoice 16 days past due", "Outstanding EUR 120.50",
                   "2026-12-04T09:00:00+10:00", owner_id=owner)


def test_call_task_fields_and_open_task_lookup(adapter, sf_standin):
    ref = _account(sf_standin)
    sf_standin.add("Task", WhatId=ref.record_id, Subject="Human task", Status="Not Started")

    report = adapter.create_tasks([_task(ref, "decision-1", USER_ID)])

    task = sf_standin.records["Task"][report.created["decision-1"]]
    assert {k: task[k] for k in ("WhatId", "OwnerId", "Priority", "ActivityDate", "TaskSubtype", "Status")} == {
        "WhatId": ref.record_id, "OwnerId": USER_ID, "Priority": "High",
        "ActivityDate": "2026-12-04",  # the local date, not the UTC one (2026-12-03T23:00Z)
        "TaskSubtype": "Call", "Status": "Not Started"}
    open_ = adapter.open_tasks([ref])[ref]
    assert [(t.ours, t.kind, t.key) for t in open_] == [(False, TaskKind.TODO, ""),
                                                         (True, TaskKind.CALL, "decision-1")]


def test_an_inactive_owner_falls_back(sf_standin, sf_tokens, clock, salesforce_adapter):
    salesforce_adapter.ensure_schema()
    fallback = sf_standin.add("User", Email="ops@acme.example", IsActive=True)
    inactive = sf_standin.add("User", Email="left@acme.example", IsActive=False)
    adapter = SalesforceAdapter(make_sf_client(sf_standin, sf_tokens, clock), user_id=USER_ID,
                                fallback_owner_id=fallback)
    ref = _account(sf_standin, OwnerId=inactive)

    owners = adapter.owners([adapter.record_owners([ref])[ref]])
    report = adapter.create_tasks([_task(ref, "d1", inactive)])

    assert owners[inactive].active is False
    assert sf_standin.records["Task"][report.created["d1"]]["OwnerId"] == fallback


def test_completing_a_task_adds_the_note_and_a_gone_task_is_reported(adapter, sf_standin):
    ref = _account(sf_standin)
    created = adapter.create_tasks([_task(ref, "d1", None)]).created["d1"]
    gone = sf_standin.add("Task", WhatId=ref.record_id, Subject="x", Status="Not Started")
    del sf_standin.records["Task"][gone]

    report = adapter.complete_tasks([TaskCompletion("c1", created, "Closed by dunning-connector: recovered"),
                                     TaskCompletion("c2", gone, "recovered")])
    again = adapter.complete_tasks([TaskCompletion("c1", created, "Closed by dunning-connector: recovered")])

    task = sf_standin.records["Task"][created]
    assert report.ok == ["c1"] and [f.key for f in report.failed] == ["c2"]
    assert task["Status"] == "Completed" and task["Description"].endswith("recovered")
    assert "[dunning-connector] ref:d1" in task["Description"]
    assert again.ok == ["c1"] and task["Description"].count("recovered") == 1
    assert adapter.open_tasks([ref])[ref] == []


# -- contacts and cadences -----------------------------------------------------------------------


def test_person_accounts_are_their_own_contact(adapter, sf_standin):
    business = _account(sf_standin)
    person = _account(sf_standin, IsPersonAccount=True)
    sf_standin.add("Contact", AccountId=business.record_id, Email="billing@smile.example")
    sf_standin.add("Contact", AccountId=person.record_id, Email="jane@home.example", IsPersonAccount=True)
    sf_standin.person_accounts = True

    contacts = adapter.record_contacts([business, person])

    assert contacts[person][0].contact_id == person.record_id
    assert contacts[business][0].contact_id.startswith("003")


def test_orgs_without_person_accounts_still_list_contacts(adapter, sf_standin):
    account = _account(sf_standin)
    sf_standin.add("Contact", AccountId=account.record_id, Email="billing@smile.example")

    assert [c.email for c in adapter.record_contacts([account])[account]] == ["billing@smile.example"]


def test_enroll_and_remove_from_cadences(adapter, sf_standin):
    contact = sf_standin.add("Contact", Email="billing@smile.example")
    other = sf_standin.add("Contact", Email="ap@ortho.example")
    sf_standin.enrolled[other] = "Gentle"

    report = adapter.enroll([Enrollment("e1", contact, "Gentle dunning", USER_ID, ""),
                             Enrollment("e2", other, "Gentle dunning", USER_ID, ""),
                             Enrollment("e3", contact, "", USER_ID, "")])

    assert list(report.created) == ["e1"]
    assert {f.key: f.category for f in report.failed} == {"e2": "already_enrolled", "e3": "no_sequence"}
    removed = adapter.unenroll([Enrollment("e1", contact, "Gentle dunning", USER_ID, "")])
    again = adapter.unenroll([Enrollment("e1", contact, "Gentle dunning", USER_ID, "")])
    assert removed.ok == ["e1"] and again.ok == ["e1"] and contact not in sf_standin.enrolled


def test_an_org_without_sales_engagement_is_a_missing_feature(adapter, sf_standin):
    sf_standin.cadences_enabled = False
    contact = sf_standin.add("Contact", Email="billing@smile.example")

    report = adapter.enroll([Enrollment("e1", contact, "Gentle dunning", USER_ID, "")])

    assert [(f.key, f.category, f.retriable) for f in report.failed] == [("e1", "missing_feature", False)]
