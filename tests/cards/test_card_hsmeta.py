"""The HubSpot app card's configuration: valid per HubSpot's app card reference, and consistent
with the app (entry point present, backend URL permitted for hubspot.fetch)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "hubspot-app" / "src" / "app"
CARDS = APP / "cards"
SCHEMA = json.loads((Path(__file__).parent / "schemas" / "app-card-hsmeta.schema.json").read_text())
CARD_FILES = sorted(CARDS.glob("*-hsmeta.json"))


def _validator() -> Draft202012Validator:
    Draft202012Validator.check_schema(SCHEMA)
    return Draft202012Validator(SCHEMA)


def test_there_is_a_card():
    assert [p.name for p in CARD_FILES] == ["payment-status-hsmeta.json"]


@pytest.mark.parametrize("path", CARD_FILES, ids=lambda p: p.name)
def test_card_config_is_valid(path):
    card = json.loads(path.read_text())
    errors = [e.message for e in _validator().iter_errors(card)]
    assert errors == []
    assert (APP.parent / card["config"]["entrypoint"].lstrip("/")).is_file()
    assert card["config"]["objectTypes"] == ["companies"]  # the §3 fields live on companies


def test_the_schema_refuses_what_hubspot_would():
    card = json.loads(CARD_FILES[0].read_text())
    bad = {**card, "config": {**card["config"], "location": "crm.record.middle", "objectTypes": []}}
    assert len(list(_validator().iter_errors(bad))) == 2
    assert list(_validator().iter_errors({"uid": "x", "type": "card", "config": {"name": "x"}}))


def test_uids_are_unique_across_the_app():
    uids = [json.loads(p.read_text())["uid"] for p in APP.rglob("*-hsmeta.json") if "node_modules" not in p.parts]
    assert len(uids) == len(set(uids))


def test_the_backend_the_card_calls_is_permitted_for_hubspot_fetch():
    base = re.search(r'CONNECTOR_BASE_URL = "([^"]+)"', (CARDS / "config.js").read_text()).group(1)
    assert base.startswith("https://")  # hubspot.fetch refuses http and localhost
    permitted = json.loads((APP / "app-hsmeta.json").read_text())["config"]["permittedUrls"]["fetch"]
    story = f"{base}/cards/hubspot/story"
    assert any(story.startswith(p.rstrip("/") + "/") or story == p for p in permitted), permitted


def test_the_lock_file_is_there_for_npm_ci():
    lock = json.loads((CARDS / "package-lock.json").read_text())
    assert lock["packages"][""]["dependencies"]["@hubspot/ui-extensions"] == "0.17.0"
