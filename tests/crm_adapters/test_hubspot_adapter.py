"""HubSpotAdapter against HubSpot-shaped answers: request bodies, 207, whole-batch 400/409,
schema reconciliation, matching requests."""

from __future__ import annotations

import json

import pytest

from connector.domain.fields import FIELD_NAMES, FIELDS, PaymentStatus
from connector.errors import TransientProviderError
from connector.ports import CrmRef, CustomerKeys, FieldUpdate, MatchStatus
from crm_adapters.hubspot import paths
from crm_adapters.hubspot.adapter import HubSpotAdapter
from crm_adapters.hubspot.client import HubSpotApiError
from crm_adapters.hubspot.properties import GROUP_NAME, ID_PROPERTY, property_definition

from hubspot_standin import BASE_URL, make_client, payload

UPDATE_URL = BASE_URL + paths.objects_batch_update()
UPSERT_URL = BASE_URL + paths.objects_batch_upsert()
READ_URL = BASE_URL + paths.objects_batch_read()
SEARCH_URL = BASE_URL + paths.objects_search()
PROPS_URL = BASE_URL + paths.properties()
GROUP_URL = BASE_URL + paths.property_group(GROUP_NAME)


@pytest.fixture
def adapter(clock) -> HubSpotAdapter:
    return HubSpotAdapter(make_client(clock))


def _ref(record_id: str) -> CrmRef:
    return CrmRef("companies", record_id)


def _body(call) -> dict:
    return json.loads(call.request.body)


def _ok(inputs: list[dict]) -> dict:
    return {"status": "COMPLETE", "results": [{"id": i["id"], "properties": {}} for i in inputs]}


# -- paths and versions ---------------------------------------------------------------------


def test_paths_use_date_versions():
    assert paths.objects_batch_update() == "/crm/objects/2026-09/companies/batch/update"
    assert paths.objects_search() == "/crm/objects/2026-09/companies/search"
    assert paths.properties_batch_create() == "/crm/properties/2026-09/companies/batch/create"
    assert paths.oauth_token() == "/oauth/2026-03/token"
    assert paths.DEFAULT_BASE_URL == "https://api.hubapi.com"


# -- write_fields ---------------------------------------------------------------------------


def test_write_encodes_values_as_hubspot_strings_with_trace_ids(http, adapter):
    http.post(UPDATE_URL, json=_ok([{"id": "18001"}]))

    report = adapter.write_fields([FieldUpdate(_ref("18001"), {
        "payment_status": PaymentStatus.PAST_DUE.value,
        "days_past_due": "16",
        "outstanding_amount": "35.200",
        "next_payment_retry_date": "2026-12-05",
        "billing_updated_at": "2026-12-03T16:00:00+01:00",
        "risk_reasons": "",
    }, key="outbox-7")])

    sent = _body(http.calls[0])["inputs"]
    assert sent == [{"id": "18001", "objectWriteTraceId": "outbox-7", "properties": {
        "dunning_payment_status": "past_due",
        "dunning_days_past_due": "16",
        "dunning_outstanding_amount": "35.2",
        "dunning_next_payment_retry_date": "2026-12-05",
        "dunning_billing_updated_at": "2026-12-03T15:00:00.000Z",
        "dunning_risk_reasons": "",
    }}]
    assert report.ok == ["outbox-7"] and report.calls == 1


def test_values_hubspot_would_refuse_are_reported_and_never_sent(http, adapter):
    http.post(UPDATE_URL, json=_ok([{"id": "18001"}]))

    report = adapter.write_fields([
        FieldUpdate(_ref("18001"), {"payment_status": "late"}, key="bad-enum"),
        FieldUpdate(_ref("18002"), {"first_failed_payment_date": "2026-12-03T10:00:00Z"}, key="bad-date"),
        FieldUpdate(_ref("18003"), {"unknown_field": "x"}, key="bad-name"),
        FieldUpdate(_ref("18001"), {"days_past_due": "3"}, key="good"),
    ])

    assert [i["objectWriteTraceId"] for i in _body(http.calls[0])["inputs"]] == ["good"]
    assert report.ok == ["good"]
    assert {f.key: f.category for f in report.failed} == {
        "bad-enum": "INVALID_VALUE", "bad-date": "INVALID_VALUE", "bad-name": "INVALID_VALUE"}


def test_batches_hold_at_most_100_inputs(http, adapter):
    updates = [FieldUpdate(_ref(str(18000 + i)), {"days_past_due": "1"}, key=f"k{i}") for i in range(205)]
    for _ in range(3):
        http.post(UPDATE_URL, json={"status": "COMPLETE", "results": []})

    report = adapter.write_fields(updates)

    assert [len(_body(c)["inputs"]) for c in http.calls] == [100, 100, 5]
    assert report.calls == 3 and len(report.ok) == 205


def test_the_same_record_twice_goes_to_separate_batches_in_order(http, adapter):
    http.post(UPDATE_URL, json={"status": "COMPLETE", "results": []})
    http.post(UPDATE_URL, json={"status": "COMPLETE", "results": []})

    adapter.write_fields([
        FieldUpdate(_ref("18001"), {"days_past_due": "1"}, key="a"),
        FieldUpdate(_ref("18002"), {"days_past_due": "1"}, key="b"),
        FieldUpdate(_ref("18001"), {"days_past_due": "2"}, key="c"),
    ])

    assert [[i["objectWriteTraceId"] for i in _body(c)["inputs"]] for c in http.calls] == [["a", "b"], ["c"]]


def test_empty_or_repeated_keys_get_their_own_trace_ids(http, adapter):
    http.post(UPDATE_URL, json={"status": "COMPLETE", "results": []})

    adapter.write_fields([FieldUpdate(_ref("18001"), {"days_past_due": "1"}, key=""),
                          FieldUpdate(_ref("18002"), {"days_past_due": "1"}, key="")])

    assert [i["objectWriteTraceId"] for i in _body(http.calls[0])["inputs"]] == ["input-0", "input-1"]


def test_207_maps_each_error_back_by_trace_id(http, adapter):
    http.post(UPDATE_URL, status=207, json=payload("batch_update_207_validation.json"))

    report = adapter.write_fields([
        FieldUpdate(_ref("18001"), {"payment_status": "past_due"}, key="outbox-1"),
        FieldUpdate(_ref("18002"), {"risk_reasons": "Card expired 3x"}, key="outbox-2"),
    ])

    assert report.ok == ["outbox-1"]
    [failed] = report.failed
    assert (failed.key, failed.category, failed.retriable) == ("outbox-2", "VALIDATION_ERROR", False)
    assert "Enter only letters" in failed.reason
    assert len(http.calls) == 1  # a validation refusal is reported, not retried


def test_207_retriable_category_is_marked_retriable(http, adapter):
    body = payload("batch_update_207_validation.json")
    body["errors"][0]["category"] = "RATE_LIMITS"
    http.post(UPDATE_URL, status=207, json=body)

    report = adapter.write_fields([
        FieldUpdate(_ref("18001"), {"payment_status": "past_due"}, key="outbox-1"),
        FieldUpdate(_ref("18002"), {"risk_reasons": "x"}, key="outbox-2"),
    ])

    assert [(f.key, f.retriable) for f in report.failed] == [("outbox-2", True)]


def test_207_input_neither_listed_nor_named_is_retried_later(http, adapter):
    body = payload("batch_update_207_validation.json")
    body["errors"][0]["context"] = {}
    body["errors"][0]["errors"] = []
    http.post(UPDATE_URL, status=207, json=body)

    report = adapter.write_fields([
        FieldUpdate(_ref("18001"), {"payment_status": "past_due"}, key="outbox-1"),
        FieldUpdate(_ref("18002"), {"risk_reasons": "x"}, key="outbox-2"),
    ])

    assert report.ok == ["outbox-1"]
    assert [(f.key, f.retriable) for f in report.failed] == [("outbox-2", True)]


def test_whole_batch_400_naming_no_input_is_bisected(http, adapter):
    updates = [FieldUpdate(_ref(str(18001 + i)), {"days_past_due": "1"}, key=f"k{i}") for i in range(4)]

    def answer(request):
        ids = [i["id"] for i in json.loads(request.body)["inputs"]]
        if "18003" in ids:
            return 400, {}, json.dumps(payload("batch_update_400_validation.json"))
        return 200, {}, json.dumps({"status": "COMPLETE", "results": [{"id": i} for i in ids]})

    http.add_callback("POST", UPDATE_URL, callback=answer)

    report = adapter.write_fields(updates)

    # [1,2,3,4] → 400; [1,2] ok; [3,4] → 400; [3] → 400 (recorded); [4] ok
    assert [[i["id"] for i in _body(c)["inputs"]] for c in http.calls] == [
        ["18001", "18002", "18003", "18004"], ["18001", "18002"], ["18003", "18004"],
        ["18003"], ["18004"]]
    assert report.calls == 5
    assert sorted(report.ok) == ["k0", "k1", "k3"]
    assert [(f.key, f.category, f.retriable) for f in report.failed] == [("k2", "VALIDATION_ERROR", False)]


def test_whole_batch_400_naming_an_input_in_context_skips_it_and_writes_the_rest(http, adapter):
    http.post(UPDATE_URL, status=400, json=payload("batch_update_400_duplicate_ids.json"))
    http.post(UPDATE_URL, json={"status": "COMPLETE", "results": [{"id": "18001"}, {"id": "18004"}]})

    report = adapter.write_fields([
        FieldUpdate(_ref("18001"), {"days_past_due": "1"}, key="a"),
        FieldUpdate(_ref("18002"), {"days_past_due": "1"}, key="b"),
        FieldUpdate(_ref("18004"), {"days_past_due": "1"}, key="c"),
    ])

    assert [i["id"] for i in _body(http.calls[1])["inputs"]] == ["18001", "18004"]
    assert report.calls == 2 and report.ok == ["a", "c"] and [f.key for f in report.failed] == ["b"]


def test_upsert_409_naming_the_billing_id_in_its_message(http, adapter):
    http.post(UPSERT_URL, status=409, json=payload("batch_upsert_409_conflict.json"))
    http.post(UPSERT_URL, json={"status": "COMPLETE", "results": [
        {"id": "18090", "new": True, "properties": {ID_PROPERTY: "cus_QnewN1"}}]})

    report = adapter.create_accounts([
        FieldUpdate(_ref(""), {"billing_customer_id": "cus_QdupX7"}, key="dup"),
        FieldUpdate(_ref(""), {"billing_customer_id": "cus_QnewN1", "name": "New Practice"}, key="new"),
    ])

    first = _body(http.calls[0])["inputs"]
    assert first[0] == {"id": "cus_QdupX7", "idProperty": ID_PROPERTY, "objectWriteTraceId": "dup",
                        "properties": {ID_PROPERTY: "cus_QdupX7"}}
    assert first[1]["properties"]["name"] == "New Practice"
    assert [i["id"] for i in _body(http.calls[1])["inputs"]] == ["cus_QnewN1"]
    assert report.ok == ["new"]
    assert [(f.key, f.category) for f in report.failed] == [("dup", "CONFLICT")]


def test_a_schema_error_fails_the_call_instead_of_bisecting(http, adapter):
    http.post(UPDATE_URL, status=400, json=payload("batch_update_400_property_missing.json"))

    with pytest.raises(HubSpotApiError):
        adapter.write_fields([FieldUpdate(_ref(str(18001 + i)), {"payment_status": "current"}, key=str(i))
                              for i in range(8)])

    assert len(http.calls) == 1


def test_outage_before_anything_is_written_raises(http, adapter, clock):
    for _ in range(5):
        http.post(UPDATE_URL, status=503, json={"status": "error", "category": "SERVICE_UNAVAILABLE"})

    with pytest.raises(TransientProviderError):
        adapter.write_fields([FieldUpdate(_ref("18001"), {"days_past_due": "1"}, key="a")])


def test_outage_after_a_batch_went_through_reports_the_rest_retriable(http, clock):
    adapter = HubSpotAdapter(make_client(clock, max_retries=0))
    updates = [FieldUpdate(_ref(str(18000 + i)), {"days_past_due": "1"}, key=f"k{i}") for i in range(150)]
    http.post(UPDATE_URL, json={"status": "COMPLETE", "results": []})
    http.post(UPDATE_URL, status=503, json={"status": "error"})

    report = adapter.write_fields(updates)

    assert len(report.ok) == 100
    assert len(report.failed) == 50 and all(f.retriable for f in report.failed)


# -- read_fields ----------------------------------------------------------------------------


def test_read_fields_asks_for_every_property_and_decodes(http, adapter):
    http.post(READ_URL, status=207, json={"status": "COMPLETE", "results": [{
        "id": "18001", "properties": {
            "dunning_outstanding_amount": "5000", "dunning_next_payment_retry_date": "1764806400000",
            "dunning_billing_updated_at": "2026-12-03T15:00:00.000Z", "dunning_risk_score": None,
            "hs_object_id": "18001"}}],
        "errors": [{"status": "error", "category": "OBJECT_NOT_FOUND", "message": "Could not get some "
                    "COMPANY objects, they may be deleted or not exist. Check that ids are valid.",
                    "context": {"ids": ["18002"]}}]})

    read = adapter.read_fields([_ref("18001"), _ref("18002")])

    body = _body(http.calls[0])
    assert "idProperty" not in body
    assert body["properties"] == [f"dunning_{f.name}" for f in FIELDS]
    assert list(read) == [_ref("18001")]
    values = read[_ref("18001")]
    assert set(values) == set(FIELD_NAMES)
    assert values["next_payment_retry_date"] == "2025-12-04"
    assert values["billing_updated_at"] == "2026-12-03T15:00:00Z"
    assert values["risk_score"] == ""


# -- match_accounts -------------------------------------------------------------------------


def test_match_reads_by_unique_property_then_searches_domains(http, adapter):
    http.post(READ_URL, status=207, json=payload("batch_read_by_billing_id_207.json"))
    http.post(SEARCH_URL, json=payload("search_companies_by_domain.json"))

    results = adapter.match_accounts([
        CustomerKeys("cus_QaaaA1", "smile-dental.example"),
        CustomerKeys("cus_QbbbB2", "brightsmiles.example"),
        CustomerKeys("cus_QcccC3", "ortho-partners.example"),
        CustomerKeys("cus_QdddD4", "gmail.com"),
    ])

    read = _body(http.calls[0])
    assert read["idProperty"] == ID_PROPERTY
    assert [i["id"] for i in read["inputs"]] == ["cus_QaaaA1", "cus_QbbbB2", "cus_QcccC3", "cus_QdddD4"]
    search = _body(http.calls[1])
    [flt] = search["filterGroups"][0]["filters"]
    assert (flt["propertyName"], flt["operator"]) == ("domain", "IN")
    assert sorted(flt["values"]) == ["brightsmiles.example", "ortho-partners.example",
                                     "www.brightsmiles.example", "www.ortho-partners.example"]
    assert [(r.status, r.ref) for r in results] == [
        (MatchStatus.MATCHED, _ref("18001")),
        (MatchStatus.MATCHED, _ref("18002")),
        (MatchStatus.CONFLICT, _ref("18003")),
        (MatchStatus.UNMATCHED, None),
    ]


def test_match_with_only_free_mail_domains_makes_no_search(http, adapter):
    http.post(READ_URL, status=404, json={"status": "error", "category": "OBJECT_NOT_FOUND",
                                          "message": "Could not get some COMPANY objects"})

    results = adapter.match_accounts([CustomerKeys("cus_Q1", "dr.jones@gmail.com"),
                                      CustomerKeys("cus_Q2", "yahoo.co.uk")])

    assert len(http.calls) == 1
    assert [r.status for r in results] == [MatchStatus.UNMATCHED, MatchStatus.UNMATCHED]


def test_match_survives_odd_records(http, adapter):
    http.post(READ_URL, json={"status": "COMPLETE", "results": [
        {"properties": {ID_PROPERTY: "cus_Q1"}}, "junk", {"id": "5", "properties": None}]})
    http.post(SEARCH_URL, json={"results": [
        {"id": "7", "properties": {"domain": None}}, {"properties": {"domain": "odd.example"}},
        {"id": "8"}, None, {"id": "9", "properties": {"domain": "ODD.example"}}]})

    results = adapter.match_accounts([CustomerKeys("cus_Q1", "odd.example")])

    assert [(r.status, r.ref) for r in results] == [(MatchStatus.MATCHED, _ref("9"))]


def test_match_pages_through_search_results(http, adapter):
    http.post(READ_URL, json={"status": "COMPLETE", "results": []})
    http.post(SEARCH_URL, json={"total": 2, "results": [
        {"id": "1", "properties": {"domain": "twin.example"}}], "paging": {"next": {"after": "1"}}})
    http.post(SEARCH_URL, json={"total": 2, "results": [
        {"id": "2", "properties": {"domain": "twin.example"}}]})

    [result] = adapter.match_accounts([CustomerKeys("cus_Q1", "twin.example")])

    assert _body(http.calls[2])["after"] == "1"
    assert result.status is MatchStatus.AMBIGUOUS


# -- ensure_schema --------------------------------------------------------------------------


def _existing(*props: dict) -> dict:
    return {"results": [{"name": "name", "type": "string", "fieldType": "text"}, *props]}


def test_ensure_schema_creates_group_unique_property_alone_and_the_rest_in_one_batch(http, adapter):
    http.get(GROUP_URL, status=404, json={"status": "error", "category": "OBJECT_NOT_FOUND",
                                          "message": "not found"})
    http.post(BASE_URL + paths.property_groups(), status=201, json={"name": GROUP_NAME})
    http.get(PROPS_URL, json=_existing())
    http.post(PROPS_URL, status=201, json={"name": ID_PROPERTY})
    http.post(BASE_URL + paths.properties_batch_create(), status=201, json={"status": "COMPLETE",
              "results": [property_definition(f) for f in FIELDS if not f.unique]})

    report = adapter.ensure_schema()

    assert _body(http.calls[1]) == {"name": "dunning", "label": "Billing & dunning", "displayOrder": -1}
    unique = _body(http.calls[3])
    assert (unique["name"], unique["hasUniqueValue"], unique["type"], unique["fieldType"]) == (
        ID_PROPERTY, True, "string", "text")
    batch = {p["name"]: p for p in _body(http.calls[4])["inputs"]}
    assert len(batch) == len(FIELDS) - 1
    assert all(p["groupName"] == "dunning" for p in batch.values())
    assert (batch["dunning_payment_status"]["type"], batch["dunning_payment_status"]["fieldType"]) == (
        "enumeration", "select")
    assert [o["value"] for o in batch["dunning_payment_status"]["options"]] == [
        "current", "past_due", "uncollectible", "canceled"]
    assert (batch["dunning_days_past_due"]["type"], batch["dunning_days_past_due"]["fieldType"]) == (
        "number", "number")
    assert (batch["dunning_next_payment_retry_date"]["type"],
            batch["dunning_next_payment_retry_date"]["fieldType"]) == ("date", "date")
    assert (batch["dunning_billing_updated_at"]["type"],
            batch["dunning_billing_updated_at"]["fieldType"]) == ("datetime", "date")
    assert report.ok and len(report.created) == len(FIELDS) + 1


def test_ensure_schema_reports_conflicts_and_overwrites_nothing(http, adapter):
    http.get(GROUP_URL, json={"name": GROUP_NAME})
    existing = [property_definition(f) for f in FIELDS]
    for p in existing:
        if p["name"] == "dunning_days_past_due":
            p.update(type="string", fieldType="text")
        if p["name"] == ID_PROPERTY:
            p["hasUniqueValue"] = False
        if p["name"] == "dunning_risk_segment":
            p["options"] = [o for o in p["options"] if o["value"] != "high_risk"]
            p["options"].append({"label": "VIP", "value": "vip", "hidden": False, "displayOrder": 9})
    http.get(PROPS_URL, json=_existing(*existing))
    http.patch(BASE_URL + paths.property_by_name("dunning_risk_segment"), json={})

    report = adapter.ensure_schema()

    assert len(report.problems) == 2
    assert any("dunning_days_past_due" in p and "'string'" in p for p in report.problems)
    assert any(ID_PROPERTY in p and "unique" in p for p in report.problems)
    assert report.updated == ["dunning_risk_segment"]
    options = _body(http.calls[2])["options"]
    assert [o["value"] for o in options] == ["low_risk", "first_time_late", "habitual_late", "vip", "high_risk"]
    assert [c.request.method for c in http.calls] == ["GET", "GET", "PATCH"]  # nothing else written


def test_ensure_schema_reports_no_unique_slot_left_and_creates_the_rest(http, adapter):
    http.get(GROUP_URL, json={"name": GROUP_NAME})
    http.get(PROPS_URL, json=_existing())
    http.post(PROPS_URL, status=400, json=payload("property_unique_limit_400.json"))
    http.post(BASE_URL + paths.properties_batch_create(), status=201, json={"status": "COMPLETE",
              "results": [property_definition(f) for f in FIELDS if not f.unique]})

    report = adapter.ensure_schema()

    [problem] = report.problems
    assert ID_PROPERTY in problem and "10 unique" in problem
    assert len(report.created) == len(FIELDS) - 1


def test_ensure_schema_learns_which_definition_a_whole_batch_400_refused(http, adapter):
    http.get(GROUP_URL, json={"name": GROUP_NAME})
    existing = [property_definition(f) for f in FIELDS if f.name in ("billing_customer_id",)]
    http.get(PROPS_URL, json=_existing(*existing))
    http.post(BASE_URL + paths.properties_batch_create(), status=400,
              json={"status": "error", "category": "VALIDATION_ERROR", "message": "invalid input"})

    def single(request):
        name = json.loads(request.body)["name"]
        if name == "dunning_risk_reasons":
            return 400, {}, json.dumps({"status": "error", "category": "VALIDATION_ERROR",
                                        "message": "Property label already used"})
        return 201, {}, request.body

    http.add_callback("POST", PROPS_URL, callback=single)

    report = adapter.ensure_schema()

    assert [p.split(":")[0] for p in report.problems] == ["dunning_risk_reasons"]
    assert len(report.created) == len(FIELDS) - 2


def test_ensure_schema_207_rechecks_what_exists(http, adapter):
    http.get(GROUP_URL, json={"name": GROUP_NAME})
    unique = [property_definition(f) for f in FIELDS if f.unique]
    http.get(PROPS_URL, json=_existing(*unique))
    others = [property_definition(f) for f in FIELDS if not f.unique]
    http.post(BASE_URL + paths.properties_batch_create(), status=207, json={
        "status": "COMPLETE", "results": others[1:], "numErrors": 1,
        "errors": [{"status": "error", "category": "VALIDATION_ERROR",
                    "message": f"Property {others[0]['name']} could not be created: label in use"}]})
    http.get(PROPS_URL, json=_existing(*unique, *others[1:]))

    report = adapter.ensure_schema()

    assert [p.split(":")[0] for p in report.problems] == [others[0]["name"]]
    assert "label in use" in report.problems[0]
    assert len(report.created) == len(others) - 1


def test_build_hubspot_adapter_shares_the_portals_limiters():
    from crm_adapters import build_hubspot_adapter

    one = build_hubspot_adapter(portal_id=424242, token=lambda: "t")
    two = build_hubspot_adapter(portal_id="424242", token=lambda: "t", base_url="http://127.0.0.1:9")

    assert one._client._limiter is two._client._limiter
    assert one._client._search_limiter is two._client._search_limiter
    assert two._client.base_url == "http://127.0.0.1:9"
    assert one._client.base_url == "https://api.hubapi.com"
