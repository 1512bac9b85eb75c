"""The card endpoints: signed requests, the tenant owning the record, the story, the actions."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlmodel import select

from connector.playbook_runner import playbook_paused
from connector.storage.db import session_scope
from connector.storage.models import AuditLog, CustomerBilling, OutboxItem

from card_signing import (
    BASE,
    COMPANY_ID,
    SF_ACCOUNT_ID,
    SF_ORG_ID,
    canvas_envelope,
    hubspot_fetch,
    hubspot_query,
    sign_canvas,
)
from tests_clock import FIXED_NOW

STORY = "/cards/hubspot/story"


def _audits(services) -> list[AuditLog]:
    with session_scope(services.engine) as s:
        return list(s.exec(select(AuditLog).where(AuditLog.action.startswith("card."))))


def _row(services, row_id) -> CustomerBilling:
    with session_scope(services.engine) as s:
        return s.get(CustomerBilling, row_id)


# ---------------------------------------------------------------------------------------------
# HubSpot: the story


def test_signed_request_gets_the_past_due_story(client, hubspot_past_due):
    resp = hubspot_fetch(client, STORY, {"objectId": COMPANY_ID})
    assert resp.status_code == 200
    story = resp.get_json()
    assert story["synced"] is True and story["record_id"] == COMPANY_ID
    assert (story["status"], story["amount"], story["currency"]) == ("past_due", "120.50", "GBP")
    assert story["amount_display"] == "120.50 GBP"
    assert story["days_past_due"] == 277  # 2026-03-01 → 2026-12-03, Europe/London
    assert story["attempts"] == 1
    assert story["failure_reason"] == "insufficient_funds"
    assert story["failure_reason_words"] == "the card had insufficient funds"
    assert story["risk"]["score"] == 60
    assert [r["points"] for r in story["risk"]["reasons"]] == [45, 10, 5]
    assert story["payment_link"].startswith(f"{BASE}/pay/")
    assert story["next_step"].startswith("Agree when funds will be there")
    assert [e["type"] for e in story["timeline"]] == [
        "invoice.payment_failed", "charge.failed", "invoice.finalized"]  # newest first
    assert story["timeline"][0]["detail"] == "120.50 GBP, attempt 1"
    assert story["playbook_paused_until"] is None
    assert resp.headers["Cache-Control"] == "no-store"


def test_a_signature_over_the_url_without_the_query_is_accepted_too(client, hubspot_past_due, caplog):
    caplog.set_level(logging.INFO, logger="connector.views.cards")
    resp = hubspot_fetch(client, STORY, {"objectId": COMPANY_ID, "portalId": 4242}, sign_query=False)
    assert resp.status_code == 200
    assert "uri_form=without_query" in caplog.text


def test_without_a_signed_query_the_portal_must_be_in_the_signed_body(client, hubspot_past_due):
    # The query (portalId, userEmail) is not covered then: the card sends both in the body too.
    resp = hubspot_fetch(client, STORY, {"objectId": COMPANY_ID}, sign_query=False)
    assert resp.status_code == 403


def test_a_request_signed_without_its_query_cannot_be_replayed_for_another_portal(
        client, services, hubspot_past_due, other_portal):
    body = {"objectId": COMPANY_ID, "portalId": 4242, "userId": "77001", "userEmail": "agent@acme.example",
            "confirm": True, "days": 30}
    forged = hubspot_query(5151, email="mallory@evil.example")
    resp = hubspot_fetch(client, "/cards/hubspot/actions/pause_playbook", body, query=forged, sign_query=False)
    assert resp.status_code == 403
    assert _audits(services) == []
    # Replayed for its own portal with another viewer in the query: refused too.
    mallory = hubspot_query(4242, email="mallory@evil.example")
    resp = hubspot_fetch(client, "/cards/hubspot/actions/pause_playbook", body, query=mallory, sign_query=False)
    assert resp.status_code == 403
    assert _audits(services) == []
    # A body naming a colleague while HubSpot's proxy names the real viewer: refused.
    posing = {**body, "userEmail": "colleague@acme.example"}
    resp = hubspot_fetch(client, "/cards/hubspot/actions/pause_playbook", posing, sign_query=False)
    assert resp.status_code == 403
    # The real request: body and query agree, and the audit names the viewer.
    resp = hubspot_fetch(client, "/cards/hubspot/actions/pause_playbook", body, sign_query=False)
    assert resp.status_code == 200
    (audit,) = _audits(services)
    assert audit.actor == "agent@acme.example"


def test_a_company_that_is_not_synced_gets_not_synced_yet(client, hubspot_past_due):
    resp = hubspot_fetch(client, STORY, {"objectId": "12345"})
    assert resp.status_code == 404
    body = resp.get_json()
    assert body["synced"] is False and body["message"].startswith("Not synced yet")


def test_another_portal_validly_signed_gets_nothing_of_this_record(client, hubspot_past_due, other_portal):
    resp = hubspot_fetch(client, STORY, {"objectId": COMPANY_ID}, portal_id=5151)
    assert resp.status_code == 404
    body = resp.get_json()
    assert body == {"synced": False, "crm": "hubspot", "record_id": COMPANY_ID, "message": body["message"]}
    assert "120.50" not in resp.get_data(as_text=True)


def test_a_portal_that_never_installed_is_refused(client, hubspot_past_due):
    resp = hubspot_fetch(client, STORY, {"objectId": COMPANY_ID}, portal_id=6161)
    assert resp.status_code == 403


def test_a_disconnected_portal_is_refused(client, services, hubspot_past_due):
    with session_scope(services.engine) as s:
        from connector.storage.models import Installation

        inst = s.get(Installation, hubspot_past_due["installation_id"])
        inst.status = "disconnected"
        s.add(inst)
    assert hubspot_fetch(client, STORY, {"objectId": COMPANY_ID}).status_code == 403


def test_a_portal_id_smuggled_ahead_of_hubspots_is_refused(client, hubspot_past_due, other_portal):
    # A viewer in portal 5151 calls hubspot.fetch with ?portalId=4242; the proxy appends its own.
    query = "portalId=4242&" + hubspot_query(5151)
    resp = hubspot_fetch(client, STORY, {"objectId": COMPANY_ID}, query=query)
    assert resp.status_code == 400
    assert "120.50" not in resp.get_data(as_text=True)


def test_a_portal_in_the_body_must_be_the_signed_one(client, hubspot_past_due, other_portal):
    resp = hubspot_fetch(client, STORY, {"objectId": COMPANY_ID, "portalId": 4242}, portal_id=5151)
    assert resp.status_code == 403


def test_bad_signature_is_refused_and_the_received_uri_logged(client, hubspot_past_due, caplog):
    caplog.set_level(logging.WARNING, logger="connector.views.cards")
    resp = hubspot_fetch(client, STORY, {"objectId": COMPANY_ID}, secret="another-apps-secret")
    assert resp.status_code == 401
    line = next(r.getMessage() for r in caplog.records if "card.hubspot.refused" in r.getMessage())
    assert f"uri={BASE}{STORY}?userId=77001&userEmail=[redacted]&portalId=4242" in line
    assert "agent" not in line  # the viewer's email stays out of the log


def test_stale_request_is_refused(client, hubspot_past_due):
    old = int((FIXED_NOW - timedelta(minutes=6)).timestamp() * 1000)
    assert hubspot_fetch(client, STORY, {"objectId": COMPANY_ID}, timestamp_ms=old).status_code == 401


def test_unsigned_request_is_refused(client, hubspot_past_due):
    resp = client.post(f"{STORY}?{hubspot_query(4242)}", json={"objectId": COMPANY_ID})
    assert resp.status_code == 401


def test_the_dispute_shows_on_the_card(client, services, hubspot_past_due):
    from factories import post_stripe, stripe_event

    # The charge expanded names the customer; the stored event itself names none.
    event = stripe_event("charge.dispute.created")
    event["data"]["object"]["charge"] = {"id": "ch_3QyA1cHOQNg4XnOM1a9Bcd", "object": "charge",
                                         "customer": "cus_Rk4hJ2x9WcN7Qa"}
    assert post_stripe(client, event).status_code == 200
    story = hubspot_fetch(client, STORY, {"objectId": COMPANY_ID}).get_json()
    assert story["open_disputes"] == 1
    dispute = story["timeline"][0]
    assert (dispute["title"], dispute["kind"]) == ("Dispute opened", "dispute")
    assert dispute["detail"] == "120.50 GBP, reason: fraudulent, status: needs response"


# ---------------------------------------------------------------------------------------------
# HubSpot: actions


def test_an_action_needs_the_confirmation(client, services, hubspot_past_due):
    resp = hubspot_fetch(client, "/cards/hubspot/actions/send_payment_link", {"objectId": COMPANY_ID})
    assert resp.status_code == 400
    assert _audits(services) == []


def test_send_payment_link_is_recorded_with_who(client, services, hubspot_past_due):
    resp = hubspot_fetch(client, "/cards/hubspot/actions/send_payment_link",
                         {"objectId": COMPANY_ID, "confirm": True})
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["payment_link"].startswith(f"{BASE}/pay/")
    assert body["mailto"].startswith("mailto:accounts%40brightsmile-dental.co.uk?subject=")
    draft = parse_qs(urlsplit(body["mailto"]).query)
    assert body["payment_link"] in draft["body"][0]
    (audit,) = _audits(services)
    assert (audit.action, audit.actor) == ("card.send_payment_link", "agent@acme.example")
    assert audit.detail["crm_user_id"] == "77001" and audit.detail["customer_row_id"] == hubspot_past_due["row_id"]


def test_pause_playbook_sets_the_pause_and_the_card_shows_it(client, services, hubspot_past_due):
    resp = hubspot_fetch(client, "/cards/hubspot/actions/pause_playbook",
                         {"objectId": COMPANY_ID, "confirm": True, "days": 14})
    assert resp.status_code == 200
    row = _row(services, hubspot_past_due["row_id"])
    assert playbook_paused(row, FIXED_NOW + timedelta(days=13, hours=23))
    assert not playbook_paused(row, FIXED_NOW + timedelta(days=14))
    story = hubspot_fetch(client, STORY, {"objectId": COMPANY_ID}).get_json()
    assert story["playbook_paused_until"] == "2026-12-17T15:00:00+00:00"
    (audit,) = _audits(services)
    assert audit.action == "card.pause_playbook" and audit.detail["days"] == 14


@pytest.mark.parametrize("days", [0, 91, "7", True, None, 2.5])
def test_pause_refuses_a_bad_number_of_days(client, services, hubspot_past_due, days):
    resp = hubspot_fetch(client, "/cards/hubspot/actions/pause_playbook",
                         {"objectId": COMPANY_ID, "confirm": True, "days": days})
    assert resp.status_code == 400
    assert _row(services, hubspot_past_due["row_id"]).playbook_paused_until is None
    assert _audits(services) == []


def test_resync_queues_a_full_write(client, services, hubspot_past_due):
    row_id = hubspot_past_due["row_id"]
    with session_scope(services.engine) as s:
        row = s.get(CustomerBilling, row_id)
        row.crm_values = dict(row.desired)  # as if written; the CRM value was then edited by hand
        s.add(row)
        for item in s.exec(select(OutboxItem)):
            item.status = "done"
            s.add(item)
    resp = hubspot_fetch(client, "/cards/hubspot/actions/resync", {"objectId": COMPANY_ID, "confirm": True})
    assert resp.status_code == 200
    with session_scope(services.engine) as s:
        pending = s.exec(select(OutboxItem).where(OutboxItem.status == "pending")).all()
        assert [i.customer_row_id for i in pending] == [row_id]
        assert s.get(CustomerBilling, row_id).crm_values == {}
    assert [a.action for a in _audits(services)] == ["card.resync"]


def test_unknown_action_is_404(client, services, hubspot_past_due):
    resp = hubspot_fetch(client, "/cards/hubspot/actions/delete_everything", {"objectId": COMPANY_ID, "confirm": True})
    assert resp.status_code == 404


def test_another_portal_cannot_act_on_this_record(client, services, hubspot_past_due, other_portal):
    resp = hubspot_fetch(client, "/cards/hubspot/actions/pause_playbook",
                         {"objectId": COMPANY_ID, "confirm": True, "days": 7}, portal_id=5151)
    assert resp.status_code == 404
    assert _row(services, hubspot_past_due["row_id"]).playbook_paused_until is None
    assert _audits(services) == []


# ---------------------------------------------------------------------------------------------
# Salesforce Canvas


def _canvas(client, org_id=SF_ORG_ID, record_id=SF_ACCOUNT_ID, secret=None):
    envelope = canvas_envelope(org_id, record_id)
    signed = sign_canvas(envelope, secret) if secret else sign_canvas(envelope)
    return client.post("/cards/salesforce/canvas", data={"signed_request": signed})


def _token(resp) -> str:
    match = re.search(r'"token": "([^"]+)"', resp.get_data(as_text=True))
    assert match, "no card token in the page"
    return match.group(1)


def test_canvas_renders_the_card_page_with_a_token(client, salesforce_past_due):
    resp = _canvas(client)
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    assert "frame-ancestors" in resp.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in resp.headers
    story = client.get("/cards/story", headers={"X-Card-Token": _token(resp)}).get_json()
    assert (story["crm"], story["record_id"], story["amount_display"], story["days_past_due"]) == (
        "salesforce", SF_ACCOUNT_ID, "120.50 GBP", 277)


def test_canvas_record_id_in_15_characters_finds_the_account(client, salesforce_past_due):
    resp = _canvas(client, record_id=SF_ACCOUNT_ID[:15])
    assert client.get("/cards/story", headers={"X-Card-Token": _token(resp)}).status_code == 200


def test_another_org_validly_signed_gets_nothing_of_this_record(client, services, salesforce_past_due):
    from factories import make_installation

    make_installation(services, crm="salesforce", external_id="00D5g000009OtHeRAA", name="Other org")
    resp = _canvas(client, org_id="00D5g000009OtHeRAA")
    assert resp.status_code == 200
    story = client.get("/cards/story", headers={"X-Card-Token": _token(resp)})
    assert story.status_code == 404 and story.get_json()["synced"] is False
    action = client.post("/cards/actions/resync", json={"confirm": True}, headers={"X-Card-Token": _token(resp)})
    assert action.status_code == 404
    assert _audits(services) == []


def test_an_org_that_never_installed_is_refused(client, salesforce_past_due):
    resp = _canvas(client, org_id="00D5g000001NoPeAAA")
    assert resp.status_code == 403
    assert "token" not in resp.get_data(as_text=True)


def test_canvas_signed_with_another_secret_is_refused(client, salesforce_past_due):
    assert _canvas(client, secret="not-our-consumer-secret").status_code == 401


def test_card_token_is_required_and_cannot_be_forged(client, salesforce_past_due):
    token = _token(_canvas(client))
    assert client.get("/cards/story").status_code == 401
    # Change one character well inside the signature: the last one of a Base64 string carries
    # padding bits that may decode the same, which made this test fail now and then.
    i = len(token) - 10
    forged = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]
    assert client.get("/cards/story", headers={"X-Card-Token": forged}).status_code == 401


def test_canvas_action_is_audited_with_the_salesforce_user(client, services, salesforce_past_due):
    token = _token(_canvas(client))
    resp = client.post("/cards/actions/pause_playbook", json={"confirm": True, "days": 3},
                       headers={"X-Card-Token": token})
    assert resp.status_code == 200
    (audit,) = _audits(services)
    assert (audit.action, audit.actor, audit.installation_id) == (
        "card.pause_playbook", "support@dental.example", salesforce_past_due["installation_id"])
