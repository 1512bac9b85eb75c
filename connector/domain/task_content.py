"""Subjects and bodies of the tasks the playbook creates (PRODUCT.md §6), in plain words.

A CALL task gives the owner everything for the call: amount, days past due, why the payment
failed, attempts, the payment link and an opening line. Card problems take the card-update path:
the link leads, framed as "update the card", not "please pay".
"""

from __future__ import annotations

from dataclasses import dataclass

from connector.domain.failure_reasons import CARD_UPDATE_REASONS, reason_in_words
from connector.domain.fields import FailureReason
from connector.domain.money import format_minor
from connector.domain.state import CustomerState, Outcome

SUBJECT_MAX = 200  # HubSpot hs_task_subject is a single-line text; keep it short


@dataclass(frozen=True)
class TaskContent:
    subject: str
    body: str


def format_amount(amount_minor: int, exponent: int, currency: str) -> str:
    """"GBP 120.50"; "JPY 5000"; "" when nothing was ever billed."""
    if not currency:
        return ""
    return f"{currency.upper()} {format_minor(amount_minor, exponent)}"


def is_card_update(reason: FailureReason | None) -> bool:
    return reason in CARD_UPDATE_REASONS


def _who(state: CustomerState) -> str:
    return state.name or state.customer_id


def _days(n: int) -> str:
    return f"{n} day{'' if n == 1 else 's'}"


def call_task(state: CustomerState, reason: FailureReason | None, payment_link: str | None
              ) -> TaskContent:
    """The CALL task for a high-risk account."""
    amount = format_amount(state.outstanding_minor, state.currency_exponent, state.currency)
    who = _who(state)
    card = is_card_update(reason)
    subject = (f"Call {who}: card needs updating, {amount} overdue" if card
               else f"Call {who}: {amount} overdue for {_days(state.days_past_due)}")
    lines = []
    if card and payment_link:
        lines.append(f"Card update link (send this first): {payment_link}")
    lines += [
        f"Amount owed: {amount or 'unknown'}",
        f"Days past due: {state.days_past_due}",
        f"Why the payment failed: {reason_in_words(reason) if reason else 'the invoice was not paid by its due date'}",
        f"Failed payment attempts: {state.failed_payment_attempts}",
    ]
    if state.next_payment_retry_date:
        lines.append(f"Next automatic retry: {state.next_payment_retry_date.isoformat()}")
    else:
        lines.append("Next automatic retry: none scheduled")
    if payment_link and not card:
        lines.append(f"Payment link: {payment_link}")
    lines += ["", f"Suggested opening: {opening_line(state, reason, payment_link)}"]
    return TaskContent(subject[:SUBJECT_MAX], "\n".join(lines))


def opening_line(state: CustomerState, reason: FailureReason | None, payment_link: str | None) -> str:
    """A friendly first sentence for the call, shaped by why the payment failed."""
    amount = format_amount(state.outstanding_minor, state.currency_exponent, state.currency)
    link = " I can send you a secure link right now." if payment_link else ""
    if is_card_update(reason):
        return (f"Hi, I'm calling because the card we have on file for your account "
                f"{'has expired' if reason is FailureReason.EXPIRED_CARD else 'was not accepted'}, "
                f"so your {amount} payment didn't go through. Updating it takes a minute.{link}")
    if reason is FailureReason.INSUFFICIENT_FUNDS:
        return (f"Hi, I'm calling about your {amount} payment that didn't go through. Would another "
                f"card or a different date suit you better?{link}")
    if reason is FailureReason.AUTHENTICATION_REQUIRED:
        return (f"Hi, your bank asked you to confirm the {amount} payment and it hasn't been "
                f"confirmed yet. It only takes a moment.{link}")
    return f"Hi, I'm calling about your {amount} payment that is {_days(state.days_past_due)} overdue. " \
           f"Is there anything holding it up on your side?{link}"


_TODO_TITLES = {
    "no_billing_contact": "Pick the billing contact for {who}",
    "no_sequence": "Follow up on the late payment of {who} (no sequence set)",
    "no_sequence_scopes": "Follow up on the late payment of {who} (sequences not connected)",
    "no_sender": "Follow up on the late payment of {who} (no sequence sender)",
    "crm_refused": "Follow up on the late payment of {who} (sequence enrollment refused)",
    "card_expiring": "Card expiring: ask {who} to update their card",
}


def card_expiring_task(card_words: str, state: CustomerState, payment_link: str | None,
                       why: str) -> TaskContent:
    """A TODO task for the owner: reach the customer before the renewal fails on the card."""
    lines = [f"Why this task: {why}",
             f"The customer's {card_words}. Ask them to update the card before the renewal "
             "is charged, so the payment does not fail."]
    if payment_link:
        lines.insert(0, f"Card update link (send this first): {payment_link}")
    return TaskContent(todo_subject("card_expiring", state), "\n".join(lines))


def todo_subject(reason: str, state: CustomerState) -> str:
    """The TODO subject for one reason: stable, so an open one of the same reason is found again."""
    return _TODO_TITLES[reason].format(who=_who(state))[:SUBJECT_MAX]


def todo_task(reason: str, detail: str, state: CustomerState, failure: FailureReason | None,
              payment_link: str | None) -> TaskContent:
    """A TODO task asking the owner to act where the connector could not enroll."""
    amount = format_amount(state.outstanding_minor, state.currency_exponent, state.currency)
    card = is_card_update(failure)
    lines = [f"Why this task: {detail}"]
    if reason == "no_billing_contact":
        lines.append("Associate the billing contact with the company (or give one contact the "
                     "billing email) so the next reminder reaches the right person.")
    else:
        lines.append("Please email the customer yourself"
                     + (" and ask them to update their card." if card else " about the late payment."))
    if card and payment_link:
        lines.insert(0, f"Card update link (send this first): {payment_link}")
    lines += [f"Amount owed: {amount or 'unknown'}", f"Days past due: {state.days_past_due}"]
    if failure:
        lines.append(f"Why the payment failed: {reason_in_words(failure)}")
    if payment_link and not card:
        lines.append(f"Payment link: {payment_link}")
    return TaskContent(todo_subject(reason, state), "\n".join(lines))


_OUTCOME_WORDS = {
    Outcome.RECOVERED: "payment recovered",
    Outcome.WRITTEN_OFF: "written off",
    Outcome.CANCELED: "subscription canceled for non-payment",
    Outcome.UNCOLLECTIBLE: "marked uncollectible by the billing provider",
}


def completion_note(outcome: Outcome | None) -> str:
    """The note on a CALL task the connector closes when the episode ends."""
    words = _OUTCOME_WORDS.get(outcome, "episode ended") if outcome else "episode ended"
    return f"Closed by dunning-connector: {words}."
