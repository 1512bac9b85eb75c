"""The Canvas card page in a real headless Chromium: the numbers it shows, an action, a refusal.

Salesforce POSTs the signed request from the record page; here a blank page posts the same form
to the app served on 127.0.0.1. Debian's chromium (`apt-get install -y chromium`) drives it.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select
from werkzeug.serving import make_server

from connector.storage.db import session_scope
from connector.storage.models import AuditLog

from card_signing import SF_ACCOUNT_ID, SF_ORG_ID, canvas_envelope, sign_canvas
from factories import make_installation

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium: apt-get install -y chromium")


@pytest.fixture
def served(app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()


def open_canvas(page, base: str, org_id: str, record_id: str = SF_ACCOUNT_ID) -> None:
    """Do what Salesforce does: POST signed_request to the Canvas app URL, in the browser."""
    signed = sign_canvas(canvas_envelope(org_id, record_id))
    page.set_content(
        f'<form method="post" action="{base}/cards/salesforce/canvas">'
        f'<input type="hidden" name="signed_request" value="{html.escape(signed)}"></form>'
    )
    with page.expect_navigation():
        page.evaluate("document.forms[0].submit()")


def test_card_page_shows_the_past_due_numbers(page, served, services, salesforce_past_due):
    expect = sync_api.expect
    open_canvas(page, served, SF_ORG_ID)
    expect(page.locator("[data-test=amount]")).to_have_text("120.50 GBP")
    expect(page.locator("[data-test=days]")).to_have_text("277")
    expect(page.locator("[data-test=attempts]")).to_have_text("1")
    expect(page.locator("[data-test=risk-score]")).to_have_text("60")
    expect(page.locator("[data-test=status]")).to_have_text("Past due")
    expect(page.locator("[data-test=reason]")).to_have_text("the card had insufficient funds")
    expect(page.locator("[data-test=next-retry]")).to_have_text("2026-03-04")
    expect(page.locator("[data-test=payment-link]")).to_contain_text("/pay/")
    expect(page.locator("[data-test=timeline] li").first).to_contain_text("Payment failed — 120.50 GBP, attempt 1")

    # An action: asked first, done only once confirmed, audited with the Salesforce user.
    page.fill("#pause-days", "5")
    page.click("[data-test=pause]")
    expect(page.locator("#confirm-text")).to_contain_text("for 5 days")
    page.click("[data-test=confirm-yes]")
    expect(page.locator("[data-test=action-result]")).to_have_text("Playbook paused until 2026-12-08.")
    expect(page.locator("[data-test=paused]")).to_have_text("Playbook paused until 2026-12-08")
    with session_scope(services.engine) as s:
        (audit,) = s.exec(select(AuditLog).where(AuditLog.action == "card.pause_playbook")).all()
        assert audit.actor == "support@dental.example"


def test_another_org_sees_nothing_of_this_record(page, served, services, salesforce_past_due):
    make_installation(services, crm="salesforce", external_id="00D5g000009OtHeRAA", name="Other org")
    open_canvas(page, served, "00D5g000009OtHeRAA")
    sync_api.expect(page.locator("#card-message")).to_contain_text("Not synced yet")
    assert page.locator("#card-story").is_hidden()
    assert "120.50" not in page.content()


def test_an_org_that_never_installed_is_refused(page, served, salesforce_past_due):
    open_canvas(page, served, "00D5g000001NoPeAAA")
    sync_api.expect(page.locator("[data-test=refused]")).to_have_text(
        "This Salesforce org has not installed the connector.")
    assert "120.50" not in page.content()
