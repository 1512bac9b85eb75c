"""The dashboard in headless Chromium (issue 5 point 6): loads with data, saves and refuses
settings, runs a reconcile from its button, and draws the numbers the formulas give."""

from __future__ import annotations

import dataclasses
import json
import re
from urllib.parse import parse_qs

import pytest
import responses
from playwright.sync_api import Page, expect
from sqlmodel import select

from connector import api_budget, reconcile_runs
from connector.storage.db import session_scope
from connector.storage.models import BillingConnection, CustomerBilling, Installation
from crm_adapters.fake import FakeCrmAdapter

from admin_testkit import seed_dataset
from factories import make_installation, make_stripe_connection
from recovery_dataset import NOVEMBER_USD
from tests_clock import FIXED_NOW

ADMIN = "ops.admin@acme-billing.com"


@pytest.fixture(autouse=True)
def _fresh_process_state():
    api_budget.forget()
    reconcile_runs.forget_all()
    yield
    reconcile_runs.forget_all(join_timeout=30)


@pytest.fixture
def crm():
    return FakeCrmAdapter()


@pytest.fixture
def installation(services, crm):
    """The known data set, live, with cus_G linked to a CRM record an account manager edited."""
    iid = make_installation(services, preview=False, name="Acme Dental Software")
    conn = make_stripe_connection(services, iid)
    ref = crm.add_record(domain="lakeside.example", name="Lakeside Smiles")
    rows = seed_dataset(services, iid, conn, FIXED_NOW, matched={"cus_G": ref.record_id})
    with session_scope(services.engine) as s:
        g = s.get(CustomerBilling, rows["cus_G"])
        g.crm_values = dict(g.desired)  # written earlier…
        s.add(g)
    crm.records[ref.record_id].values.update({**g.desired, "payment_status": "current"})  # …then edited
    services.adapter_factory = lambda _iid: crm
    return iid


def _session_cookie(app, installation_id: int) -> str:
    """What the OAuth callback sets: the installing CRM user's signed session, with a CSRF token."""
    serializer = app.session_interface.get_signing_serializer(app)
    return serializer.dumps({"admin": {"installation_id": installation_id, "user": ADMIN},
                             "csrf": "browser-csrf-token"})


@pytest.fixture
def page(browser, app, live_server, installation) -> Page:
    context = browser.new_context(viewport={"width": 1360, "height": 900}, base_url=live_server)
    context.add_cookies([{"name": "session", "value": _session_cookie(app, installation), "url": live_server,
                          "httpOnly": True}])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(15_000)
    yield page
    context.close()
    assert errors == [], errors


def _open(page: Page, fragment: str = "") -> None:
    page.goto("/" + fragment)
    expect(page.locator("body")).to_have_attribute("data-loaded", re.compile(r"\d+"))


def test_dashboard_loads_with_data(page, artifacts):
    _open(page)
    expect(page.locator("#who")).to_have_text(f"Signed in: {ADMIN}")
    expect(page.locator("#installation-card h2")).to_have_text("Acme Dental Software")
    expect(page.locator("#installation-picker")).to_be_hidden()  # one installation: no selector
    # Health: seven of eight customers have no CRM record → degraded, with its reason.
    expect(page.locator("#health-badge")).to_have_text("degraded")
    expect(page.locator("#health-state .reason")).to_have_text("7 of 8 customers have no CRM record.")
    expect(page.locator("#health-figures")).to_contain_text("Last billing webhook")
    # Accounts by segment: every account once.
    bars = page.locator("#segments-chart g.bar")
    expect(bars).to_have_count(4)
    total = sum(int(float(bars.nth(i).get_attribute("data-value"))) for i in range(4))
    assert total == 8
    expect(page.locator("#unmatched-count")).to_have_text("7")
    # Recovery over the default 90 days: the November episodes.
    expect(page.locator("#tile-recovery-rate .tile-value")).to_have_text("50.0%")

    shot = artifacts / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nscreenshot: {shot}")  # noqa: T201

    page.click("text=Accounts")
    expect(page.locator("#accounts tr")).to_have_count(9)  # header + 8 customers
    page.click("a[data-tab=unmatched]")
    expect(page.locator("#unmatched tr")).to_have_count(8)
    expect(page.locator("#unmatched")).to_contain_text("cus_B")
    decisions_tab = page.locator("a[data-tab=decisions]")
    if decisions_tab.is_visible():  # the playbook's feed, when that part is installed
        decisions_tab.click()
        expect(page.locator("#decisions")).to_be_visible()


def test_the_charts_show_what_the_formulas_give(page):
    _open(page)
    page.select_option("#period-select", "month")
    page.fill("#period-month", "2026-11")
    page.dispatch_event("#period-month", "change")
    expect(page.locator("#recovery-period")).to_contain_text("2026-11-01 to 2026-11-30 (30 days)")
    page.select_option("#currency-select", "USD")

    tiles = {
        "recovery-rate": ("50.0%", "3 / 6 = 50.0%"),
        "recovery-rate-amount": ("60.8%", "USD 480.00 / USD 790.00 = 60.8%"),
        "recovered-amount": ("USD 480.00", "3 episodes recovered: USD 480.00"),
        "dso": ("7.2 days", "USD 120.00 / USD 500.00 × 30 days = 7.2 days"),
        "churn": ("25.0%", "1 / 4 = 25.0%"),
    }
    for name, (value, worked) in tiles.items():
        expect(page.locator(f"#tile-{name} .tile-value")).to_have_text(value)
        expect(page.locator(f"#tile-{name} .worked")).to_have_text(worked)
    expect(page.locator("#tile-dso .formula")).to_have_text(
        "receivables open at period end / amount billed in the period × days in the period")

    def drawn(chart: str) -> dict[str, tuple[str, str]]:
        out = {}
        for g in page.locator(f"#{chart} g.bar").all():
            out[g.get_attribute("data-label")] = (g.get_attribute("data-value"), g.locator("text.value").text_content())
        return out

    weeks = drawn("chart-week")
    assert list(weeks) == list(NOVEMBER_USD["by_week"])
    for week, (ended, recovered) in NOVEMBER_USD["by_week"].items():
        value, text = weeks[week]
        if ended:
            assert float(value) == pytest.approx(recovered / ended)
            assert text == f"{recovered / ended * 100:.1f}%"
        else:
            assert (value, text) == ("", "–")
    segments = drawn("chart-segment")
    for segment, (ended, recovered) in NOVEMBER_USD["by_segment"].items():
        value, text = segments[segment]
        assert float(value) == pytest.approx(recovered / ended)
        assert text.startswith(f"{recovered / ended * 100:.1f}% · {recovered}/{ended}")
    reasons = drawn("chart-reason")
    assert list(reasons) == list(NOVEMBER_USD["by_reason"])
    for reason, (ended, recovered) in NOVEMBER_USD["by_reason"].items():
        assert reasons[reason][1].startswith(f"{recovered / ended * 100:.1f}% · {recovered}/{ended}")


def test_a_setting_is_saved_and_a_bad_one_refused(page, services, installation):
    _open(page, "#settings")
    field = page.locator("#risk-high_risk_threshold")
    expect(field).to_have_value("70")
    field.fill("15")
    page.click("#settings-save")
    message = page.locator("#settings-message")
    expect(message).to_have_class(re.compile(r"\bok\b"))
    expect(message).to_contain_text("Settings saved.")
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-loaded", re.compile(r"\d+"))
    expect(page.locator("#risk-high_risk_threshold")).to_have_value("15")

    page.locator("#risk-high_risk_threshold").fill("150")
    page.locator("#playbook-working_hour").fill("8")
    page.click("#settings-save")
    expect(message).to_have_class(re.compile(r"\berror\b"))
    expect(message).to_have_text("Not saved: risk: high_risk_threshold: must be at most 100 (the score's "
                                 "maximum) The previous settings are still in force.")
    with session_scope(services.engine) as s:
        inst = s.get(Installation, installation)
        assert inst.settings["risk"]["high_risk_threshold"] == 15
        assert inst.settings["playbook"].get("working_hour", 9) == 9  # nothing of the refused save


def test_a_reconcile_started_from_the_page_runs_and_shows_its_result(page, services, installation, crm, http):
    # The reconciler asks Stripe's Events API for missed events: none were missed.
    http.get(re.compile(r"https://api\.stripe\.com/v1/events.*"),
             json={"object": "list", "url": "/v1/events", "has_more": False, "data": []})
    _open(page)
    expect(page.locator("#health-figures")).to_contain_text("no reconcile yet")
    page.click("#reconcile-button")
    result = page.locator("#reconcile-result")
    expect(result).to_have_class(re.compile(r"\bok\b"))
    expect(result).to_contain_text("1 drifted values found in 1 records, 1 healed")
    expect(page.locator("#health-figures")).to_contain_text("1 found, 1 healed")
    record = next(iter(crm.records.values()))
    assert record.values["payment_status"] == "past_due"  # the account manager's edit was healed
    with session_scope(services.engine) as s:
        g = s.exec(select(CustomerBilling).where(CustomerBilling.customer_id == "cus_G")).one()
        assert g.crm_values["payment_status"] == "past_due"


def test_stripe_is_reconnected_from_the_page_with_a_new_key(page, services, installation, http):
    def reply(request):
        url = parse_qs(request.body)["url"][0]
        return 200, {}, json.dumps({"id": "we_1NewEndpoint", "object": "webhook_endpoint", "livemode": True,
                                    "secret": "whsec_fromStripe", "status": "enabled", "url": url})

    http.add_callback(responses.POST, "https://api.stripe.com/v1/webhook_endpoints", callback=reply)
    _open(page, "#settings")
    listed = page.locator("#billing-connections")
    expect(listed).to_contain_text("Stripe")
    expect(listed).to_contain_text("/webhooks/stripe/tok_conn_abc")
    expect(page.locator("#chargebee-form")).to_be_hidden()  # one billing connection per installation
    expect(page.locator("#stripe-legend")).to_have_text("Reconnect Stripe (a new key)")

    page.fill("#stripe-api_key", "rk_live_51NewKeyFromTheAdmin")
    page.click("#stripe-connect")

    expect(page.locator("#billing-message")).to_have_class(re.compile(r"\bok\b"))
    expect(page.locator("#billing-message")).to_contain_text("Stripe (live) connected")
    expect(page.locator("#billing-result")).to_contain_text("/webhooks/stripe/tok_conn_abc")
    expect(page.locator("#stripe-api_key")).to_have_value("")  # the key does not linger in the page
    expect(listed).to_contain_text("live")
    with session_scope(services.engine) as s:
        conn = s.exec(select(BillingConnection)).one()
        assert conn.mode == "live" and services.box.decrypt(conn.api_key_enc) == "rk_live_51NewKeyFromTheAdmin"


def test_a_refused_key_is_shown_and_nothing_changes(page, services, installation, http):
    http.add(responses.POST, "https://api.stripe.com/v1/webhook_endpoints", status=401,
             json={"error": {"type": "invalid_request_error", "message": "Invalid API Key provided: rk_live_****mine"}})
    _open(page, "#settings")
    page.fill("#stripe-api_key", "rk_live_51NotMine")
    page.click("#stripe-connect")
    expect(page.locator("#billing-message")).to_have_class(re.compile(r"\berror\b"))
    expect(page.locator("#billing-message")).to_contain_text("Not connected:")
    with session_scope(services.engine) as s:
        assert s.exec(select(BillingConnection)).one().mode == "test"


def test_card_expiry_pre_dunning_and_the_country_are_set_on_the_page(page, services, installation):
    _open(page)
    expect(page.locator("#card-expiry-figures")).to_contain_text("Turn on card-expiry pre-dunning")
    page.click("a[data-tab=settings]")
    page.check("#playbook-card_expiry_reminder")
    page.fill("#playbook-card_update_sequence_id", "58204117")
    page.fill("#calendar-country", "DE")
    page.click("#settings-save")
    expect(page.locator("#settings-message")).to_have_class(re.compile(r"\bok\b"))
    with session_scope(services.engine) as s:
        inst = s.get(Installation, installation)
        assert inst.country == "DE"
        assert inst.settings["playbook"]["card_expiry_reminder"] is True
        assert inst.settings["playbook"]["card_update_sequence_id"] == "58204117"
    page.click("a[data-tab=overview]")
    expect(page.locator('#card-expiry-figures dd[data-figure="Cards caught before they failed"]')).to_have_text("0")


def test_the_installation_selector_with_the_admin_token(browser, services, live_server, installation):
    """Automation's admin token sees every installation; the page offers a selector."""
    other = make_installation(services, external_id="5151", name="Beta Orthodontics", preview=True)
    services.settings = dataclasses.replace(services.settings, admin_token="adm-test-token-0123456789")
    context = browser.new_context(base_url=live_server,
                                  extra_http_headers={"Authorization": "Bearer adm-test-token-0123456789"})
    page = context.new_page()
    try:
        page.goto("/")
        expect(page.locator("body")).to_have_attribute("data-loaded", str(installation))
        expect(page.locator("#installation-picker")).to_be_visible()
        page.select_option("#installation-select", str(other))
        expect(page.locator("body")).to_have_attribute("data-loaded", str(other))
        expect(page.locator("#installation-card h2")).to_have_text("Beta Orthodontics")
        expect(page.locator("#health-state .reason")).to_have_text(
            "No billing account is connected yet: connect Stripe to start.")
        expect(page.locator("#recovery-tiles")).to_have_text("No billing history yet.")
    finally:
        context.close()
