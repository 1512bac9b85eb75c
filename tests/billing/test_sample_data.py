"""The bundled sample data: Stripe-shaped events, time shifting, and scenario coverage."""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import pytest

from connector.sample_data.loader import (
    STRIPE_NESTED_TIMESTAMP_KEYS,
    STRIPE_TIMESTAMP_KEYS,
    load_sample_events,
    load_sandbox_companies,
    sample_anchor,
    sample_anchor_epoch,
)

ROOT = Path(__file__).resolve().parents[2]
BASIL = "2025-08-27.basil"
OLDER = "2024-06-20"
HARD_DECLINES = {"expired_card", "lost_card", "fraudulent", "incorrect_cvc", "authentication_required"}


@pytest.fixture(scope="module")
def raw() -> dict:
    text = resources.files("connector.sample_data").joinpath("stripe_events.json").read_text("utf-8")
    return json.loads(text)


@pytest.fixture(scope="module")
def events(raw) -> list[dict]:
    return raw["events"]  # as generated, read without the loader


def _customer_of(event: dict) -> str | None:
    obj = event["data"]["object"]
    return obj["id"] if obj["object"] == "customer" else obj.get("customer")


def _of_type(events: list[dict], type_: str) -> list[dict]:
    return [e["data"]["object"] for e in events if e["type"] == type_]


# --- the file -----------------------------------------------------------------------------------


def test_file_is_modest_and_anchor_is_utc(raw):
    path = resources.files("connector.sample_data").joinpath("stripe_events.json")
    assert len(path.read_bytes()) < 600_000
    assert sample_anchor() == datetime.fromtimestamp(raw["anchor"], UTC)
    assert sample_anchor().tzinfo is not None


def test_generator_reproduces_the_committed_files(monkeypatch):
    # The JSON is generated, never hand-edited: rerun bench/make_sample_events.py after changes.
    spec = importlib.util.spec_from_file_location("make_sample_events", ROOT / "bench" / "make_sample_events.py")
    assert spec and spec.loader
    gen = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, gen)  # dataclasses look their module up there
    spec.loader.exec_module(gen)
    doc, companies = gen.build()
    assert gen.render_events(doc) == gen.EVENTS_PATH.read_text("utf-8")
    assert gen.render_companies(companies) == gen.COMPANIES_PATH.read_text("utf-8")


def test_every_event_has_the_stripe_envelope(events):
    ids = set()
    for e in events:
        assert e["id"].startswith("evt_") and e["id"] not in ids
        ids.add(e["id"])
        assert e["object"] == "event"
        assert e["api_version"] in {BASIL, OLDER}
        assert isinstance(e["created"], int)
        assert isinstance(e["data"]["object"], dict) and e["data"]["object"]["object"]
        assert e["livemode"] is False and e["data"]["object"].get("livemode", False) is False
        assert isinstance(e["pending_webhooks"], int)
        assert set(e["request"]) == {"id", "idempotency_key"}
        assert isinstance(e["type"], str)


def test_events_are_sorted_and_span_about_thirteen_months(events, raw):
    created = [e["created"] for e in events]
    assert created == sorted(created)
    anchor = raw["anchor"]
    assert max(created) <= anchor
    assert timedelta(days=365) < timedelta(seconds=anchor - min(created)) < timedelta(days=410)


# --- shifting -----------------------------------------------------------------------------------


def test_loading_at_the_anchor_changes_nothing(events):
    assert load_sample_events(sample_anchor()) == events


def test_shifting_moves_created_by_exactly_the_delta_and_keeps_order(events):
    now = datetime(2031, 6, 15, 8, 30, 45, tzinfo=UTC)
    delta = int(now.timestamp()) - sample_anchor_epoch()
    shifted = load_sample_events(now)
    assert [e["id"] for e in shifted] == [e["id"] for e in events]
    assert all(s["created"] - e["created"] == delta for s, e in zip(shifted, events, strict=True))


def test_shifting_moves_nested_timestamps_and_nothing_else(events):
    delta = 10 * 86_400
    shifted = load_sample_events(sample_anchor() + timedelta(seconds=delta))
    failed = next(i for i, e in enumerate(events) if e["type"] == "invoice.payment_failed"
                  and e["data"]["object"]["next_payment_attempt"])
    before, after = events[failed]["data"]["object"], shifted[failed]["data"]["object"]
    assert after["next_payment_attempt"] == before["next_payment_attempt"] + delta
    assert after["status_transitions"]["finalized_at"] == before["status_transitions"]["finalized_at"] + delta
    assert after["period_start"] == before["period_start"] + delta
    assert after["payments"]["data"][0]["created"] == before["payments"]["data"][0]["created"] + delta
    assert after["status_transitions"]["paid_at"] is None
    for key in ("amount_due", "amount_remaining", "attempt_count", "attempted", "total"):
        assert after[key] == before[key]
    sub_i = next(i for i, e in enumerate(events) if e["type"] == "customer.subscription.updated"
                 and e["api_version"] == BASIL)
    item_before = events[sub_i]["data"]["object"]["items"]["data"][0]
    item_after = shifted[sub_i]["data"]["object"]["items"]["data"][0]
    assert item_after["current_period_end"] == item_before["current_period_end"] + delta
    assert item_after["price"]["unit_amount"] == item_before["price"]["unit_amount"]
    charge_i = next(i for i, e in enumerate(events) if e["type"] == "charge.failed")
    card = shifted[charge_i]["data"]["object"]["payment_method_details"]["card"]
    assert card["exp_year"] == events[charge_i]["data"]["object"]["payment_method_details"]["card"]["exp_year"]


def test_every_timestamp_in_the_file_is_under_a_listed_key(raw):
    # A generator change that adds a timestamp field the loader doesn't know would leave it stale.
    unlisted: list[str] = []

    def walk(value, key, parent):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, k, key)
        elif isinstance(value, list):
            for v in value:
                walk(v, key, parent)
        elif isinstance(value, int) and not isinstance(value, bool) and value > 1_000_000_000:
            listed = key in STRIPE_TIMESTAMP_KEYS or key in STRIPE_NESTED_TIMESTAMP_KEYS.get(parent, ())
            if not listed:
                unlisted.append(f"{parent}.{key}")

    walk(raw["events"], None, None)
    assert unlisted == []


def test_each_call_returns_fresh_copies():
    first = load_sample_events(sample_anchor())
    pristine = copy.deepcopy(first[0])
    first[0]["data"]["object"]["id"] = "mutated"
    first[0]["created"] = 0
    assert load_sample_events(sample_anchor())[0] == pristine
    companies = load_sandbox_companies()
    companies[0]["properties"]["name"] = "mutated"
    assert load_sandbox_companies()[0]["properties"]["name"] != "mutated"


def test_naive_now_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        load_sample_events(datetime(2026, 12, 1, 12, 0))  # noqa: DTZ001 - the point of the test


# --- content ------------------------------------------------------------------------------------

REQUIRED_TYPES = {
    "invoice.paid", "invoice.payment_failed", "invoice.payment_action_required", "invoice.finalized",
    "invoice.marked_uncollectible", "invoice.voided", "charge.failed", "payment_intent.payment_failed",
    "charge.refunded", "charge.dispute.created", "customer.subscription.created",
    "customer.subscription.updated", "customer.subscription.deleted", "customer.created",
    "customer.updated", "customer.deleted",
}


def test_event_types_cover_the_dunning_cases(events):
    assert {e["type"] for e in events} >= REQUIRED_TYPES


def test_customers_and_currencies(events):
    customers = {_customer_of(e) for e in events} - {None}
    assert len(customers) >= 30 and all(c.startswith("cus_") for c in customers)
    currencies = {e["data"]["object"]["currency"] for e in events if "currency" in e["data"]["object"]}
    assert {"usd", "eur", "gbp", "jpy", "kwd"} <= currencies
    assert len(currencies) >= 5
    collection = {o["collection_method"] for o in _of_type(events, "invoice.paid")}
    assert collection == {"charge_automatically", "send_invoice"}


def test_payload_shape_follows_the_api_version(events):
    versions = defaultdict(set)
    for e in events:
        versions[_customer_of(e)].add(e["api_version"])
        obj = e["data"]["object"]
        if obj["object"] == "invoice":
            if e["api_version"] == BASIL:
                assert not {"charge", "payment_intent", "paid", "subscription"} & obj.keys()
                assert obj["parent"]["subscription_details"]["subscription"].startswith("sub_")
                assert obj["payments"]["object"] == "list"
            else:
                assert {"charge", "payment_intent", "paid", "subscription"} <= obj.keys()
                assert "parent" not in obj and "payments" not in obj
        if obj["object"] in ("charge", "payment_intent"):
            assert ("invoice" in obj) == (e["api_version"] == OLDER)
        if obj["object"] == "subscription":
            item = obj["items"]["data"][0]
            assert ("current_period_end" in item) == (e["api_version"] == BASIL)
            assert ("current_period_end" in obj) == (e["api_version"] == OLDER)
    versions.pop(None, None)  # the dispute names no customer
    assert all(len(v) == 1 for v in versions.values())  # one customer, one account, one version
    older = [c for c, v in versions.items() if v == {OLDER}]
    assert 2 <= len(older) < len(versions) / 2


def test_decline_codes_and_advice(events):
    errors = [o["last_payment_error"] for o in _of_type(events, "payment_intent.payment_failed")]
    codes = {err["decline_code"] or err["code"] for err in errors}
    assert {"insufficient_funds", "expired_card", "generic_decline", "do_not_honor", "lost_card",
            "fraudulent", "authentication_required", "incorrect_cvc", "processing_error"} <= codes
    assert any(err.get("advice_code") == "do_not_try_again" for err in errors)
    charges = {o["id"]: o for o in _of_type(events, "charge.failed")}
    assert all(err["charge"] in charges for err in errors)  # each failed PI names its failed charge
    assert all(c["status"] == "failed" and c["failure_code"] for c in charges.values())


def _invoice_history(events: list[dict]) -> dict[str, list[tuple[str, dict]]]:
    history: dict[str, list[tuple[str, dict]]] = defaultdict(list)
    for e in events:
        if e["data"]["object"]["object"] == "invoice":
            history[e["data"]["object"]["id"]].append((e["type"], e["data"]["object"]))
    return history


def test_retries_rise_then_stop(events):
    exhausted = []
    for steps in _invoice_history(events).values():
        failures = [o for t, o in steps if t == "invoice.payment_failed"]
        if len(failures) >= 4:
            assert [o["attempt_count"] for o in failures] == list(range(1, len(failures) + 1))
            assert all(o["next_payment_attempt"] for o in failures[:-1])
            assert failures[-1]["next_payment_attempt"] is None
            exhausted.append(steps[-1][0])
    # retries exhausted -> one invoice marked uncollectible, one left open (subscription canceled)
    assert sorted(exhausted) == ["invoice.marked_uncollectible", "invoice.payment_failed"]
    deleted = _of_type(events, "customer.subscription.deleted")
    assert any(s["cancellation_details"]["reason"] == "payment_failed" and s["status"] == "canceled"
               for s in deleted)


def test_recoveries_void_and_overdue_send_invoice(events, raw):
    history = _invoice_history(events)
    recovered = [i for i, steps in history.items()
                 if [t for t, _ in steps][-1] == "invoice.paid"
                 and any(t == "invoice.payment_failed" for t, _ in steps)]
    assert len(recovered) >= 5
    assert len(_of_type(events, "invoice.voided")) == 1
    overdue = [steps[-1][1] for steps in history.values()
               if steps[-1][1]["collection_method"] == "send_invoice" and steps[-1][1]["status"] == "open"
               and steps[-1][1]["due_date"] < raw["anchor"] - 7 * 86_400]
    assert len(overdue) == 1


def test_habitual_and_long_running_customers(events, raw):
    anchor = raw["anchor"]
    episodes = defaultdict(set)  # customer -> invoices that failed within 365 days
    for o in _of_type(events, "invoice.payment_failed"):
        if o["billing_reason"] != "subscription_create" and o["created"] > anchor - 365 * 86_400:
            episodes[o["customer"]].add(o["id"])
    assert max(len(v) for v in episodes.values()) >= 4  # 3 earlier episodes + the open one

    history = _invoice_history(events)
    declines = {o["id"]: o["last_payment_error"] for o in _of_type(events, "payment_intent.payment_failed")}
    pi_code = {pi: err["decline_code"] for pi, err in declines.items()}
    long_running = []
    for steps in history.values():
        last_type, last = steps[-1]
        first_fail = next((o for t, o in steps if t == "invoice.payment_failed"), None)
        if last_type == "invoice.payment_failed" and last["next_payment_attempt"] is None and first_fail:
            days = (anchor - first_fail["created"]) / 86_400
            pi = last["payments"]["data"][0]["payment"]["payment_intent"] if "payments" in last else None
            if days >= 19 and pi_code.get(pi) in HARD_DECLINES:
                long_running.append(last["customer"])
    assert long_running


def test_incomplete_first_invoice_dispute_refund_email_change_and_deletion(events):
    created = _of_type(events, "customer.subscription.created")
    incomplete = {s["customer"] for s in created if s["status"] == "incomplete"}
    first_failures = [o for o in _of_type(events, "invoice.payment_failed")
                      if o["billing_reason"] == "subscription_create"]
    assert incomplete and {o["customer"] for o in first_failures} == incomplete
    assert _of_type(events, "charge.dispute.created")[0]["charge"].startswith("ch_")
    refunded = _of_type(events, "charge.refunded")[0]
    assert 0 < refunded["amount_refunded"] < refunded["amount"]
    email_changes = [e for e in events if e["type"] == "customer.updated"
                     and "email" in e["data"].get("previous_attributes", {})]
    assert email_changes
    change = email_changes[0]
    assert change["data"]["previous_attributes"]["email"].endswith("@gmail.com")
    assert not change["data"]["object"]["email"].endswith("@gmail.com")
    assert len(_of_type(events, "customer.deleted")) == 1


# --- emails and the sandbox companies ------------------------------------------------------------


def _emails(events: list[dict]) -> dict[str, str]:
    emails: dict[str, str] = {}
    for e in events:
        obj = e["data"]["object"]
        if obj["object"] == "customer":
            emails[obj["id"]] = obj["email"]
        elif obj["object"] == "invoice":
            emails.setdefault(obj["customer"], obj["customer_email"])
    return emails


def test_emails_free_mail_and_shared_domain(events):
    emails = _emails(events)
    domains = defaultdict(list)
    for customer, email in emails.items():
        domains[email.rsplit("@", 1)[1]].append(customer)
    assert len(domains["gmail.com"]) >= 2
    assert any(len(cs) == 2 for d, cs in domains.items() if d != "gmail.com")
    assert all(d == "gmail.com" or d.endswith(".example") for d in domains)


def test_sandbox_companies_are_hubspot_shaped_and_match_most_customers(events):
    companies = load_sandbox_companies()
    assert 28 <= len(companies) <= 40
    for company in companies:
        props = company["properties"]
        assert set(props) == {"name", "domain", "hs_object_id", "hubspot_owner_id"}
        assert company["id"] == props["hs_object_id"] and company["id"].isdigit()
        assert props["hubspot_owner_id"].isdigit()
    company_domains = [c["properties"]["domain"] for c in companies]
    assert len(set(company_domains)) == len(company_domains)
    customer_domains = {email.rsplit("@", 1)[1] for email in _emails(events).values()}
    matched = customer_domains & set(company_domains)
    assert len(matched) >= 25
    assert customer_domains - set(company_domains) - {"gmail.com"}  # some have no company on purpose
