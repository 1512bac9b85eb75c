"""The story's parts that the view tests do not pin: the playbook ledger and the next step."""

from __future__ import annotations

from datetime import date

import pytest

from connector.cards import next_step
from connector.domain.fields import FailureReason, PaymentStatus, Segment
from connector.domain.state import CollectionMethod, CustomerState, Episode
from connector.storage import models
from connector.storage.db import session_scope

from card_signing import COMPANY_ID, hubspot_fetch

STORY = "/cards/hubspot/story"
Decision = getattr(models, "PlaybookDecision", None)


@pytest.mark.skipif(Decision is None, reason="the playbook ledger (issue 3) is not in the models")
def test_the_card_shows_what_the_playbook_did_in_this_episode(client, services, hubspot_past_due):
    def decision(kind, status, episode_start, **extra):
        return Decision(installation_id=hubspot_past_due["installation_id"], customer_row_id=hubspot_past_due["row_id"],
                        episode_start=episode_start, touch_point="day_0", kind=kind, status=status,
                        day=episode_start, **extra)

    with session_scope(services.engine) as s:
        s.add(decision("call_task", "applied", date(2025, 6, 2), why="an older episode"))
        s.add(decision("call_task", "applied", date(2026, 3, 1), why="high risk", crm_task_id="555"))
        s.add(decision("enroll", "failed", date(2026, 3, 1), why="first time late", result="no Sales seat"))
    story = hubspot_fetch(client, STORY, {"objectId": COMPANY_ID}).get_json()
    shown = {(d["what"], d["state"], d["why"], d["result"]) for d in story["playbook"]}
    assert shown == {("CALL task for the owner", "open", "high risk", ""),
                     ("Sequence enrollment", "failed", "first time late", "no Sales seat")}


def test_no_ledger_rows_means_nothing_shown(client, hubspot_past_due):
    assert hubspot_fetch(client, STORY, {"objectId": COMPANY_ID}).get_json()["playbook"] == []


def _in_episode(reason: FailureReason | None, **over) -> CustomerState:
    episode = Episode(start=date(2026, 11, 20), collection_method=CollectionMethod.CHARGE_AUTOMATICALLY)
    fields = {"customer_id": "cus_1", "payment_status": PaymentStatus.PAST_DUE, "days_past_due": 13,
              "current_episode": episode, "failed_payment_attempts": 1, "episode_failure_reason": reason}
    return CustomerState(**{**fields, **over})


@pytest.mark.parametrize(
    ("state", "segment", "reason", "starts"),
    [
        (_in_episode(FailureReason.EXPIRED_CARD), Segment.HIGH_RISK, FailureReason.EXPIRED_CARD,
         "Call the customer today. Send the card-update link"),
        (_in_episode(FailureReason.INCORRECT_CARD_DETAILS), Segment.FIRST_TIME_LATE,
         FailureReason.INCORRECT_CARD_DETAILS, "Send the card-update link"),
        (_in_episode(FailureReason.AUTHENTICATION_REQUIRED), Segment.FIRST_TIME_LATE,
         FailureReason.AUTHENTICATION_REQUIRED, "Send the payment link: the bank needs"),
        (_in_episode(FailureReason.DO_NOT_RETRY), Segment.HABITUAL_LATE, FailureReason.DO_NOT_RETRY,
         "Ask for a different card"),
        (_in_episode(FailureReason.CARD_DECLINED), Segment.FIRST_TIME_LATE, FailureReason.CARD_DECLINED,
         "Send the payment link and ask when"),
        (CustomerState(customer_id="c"), Segment.LOW_RISK, None, "Nothing to chase"),
        (CustomerState(customer_id="c", open_disputes=1), Segment.LOW_RISK, None, "A payment is disputed"),
        (CustomerState(customer_id="c", payment_status=PaymentStatus.UNCOLLECTIBLE), Segment.HIGH_RISK, None,
         "The billing provider gave up"),
    ],
)
def test_next_step_follows_the_failure_and_the_segment(state, segment, reason, starts):
    assert next_step(state, segment, reason).startswith(starts)
