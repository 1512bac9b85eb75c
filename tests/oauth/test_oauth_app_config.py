"""The HubSpot project files and the one scope list the install URL is built from."""

from __future__ import annotations

import json
from pathlib import Path

from oauth_testkit import query

from oauth.hubspot import APP_CONFIG_PATH, authorize_url, callback_url, load_app_config

PROJECT = APP_CONFIG_PATH.parents[2]


def test_project_targets_a_supported_platform_version():
    project = json.loads((PROJECT / "hsproject.json").read_text())
    # Marketplace listings need 2025.2 or 2026.03 from 2026-11-02 (reference/hubspot.md §0).
    assert project["platformVersion"] == "2026.03"
    assert (PROJECT / project["srcDir"] / "app" / "app-hsmeta.json") == APP_CONFIG_PATH


def test_app_is_a_marketplace_oauth_app_with_both_redirect_urls():
    config = load_app_config()
    assert config.distribution == "marketplace"
    assert config.auth_type == "oauth"
    assert "http://localhost:8000/oauth/hubspot/callback" in config.redirect_urls
    assert any(
        url.startswith("https://") and url.endswith("/oauth/hubspot/callback")
        for url in config.redirect_urls
    )


def test_required_scopes_cover_every_feature_and_sequences_are_optional():
    config = load_app_config()
    required = set(config.required_scopes)
    assert {
        "oauth",
        "crm.objects.companies.read",
        "crm.objects.companies.write",
        "crm.schemas.companies.write",
        "crm.objects.contacts.read",
        "crm.objects.contacts.write",  # tasks are guarded by the contacts scopes
        "crm.lists.read",
        "crm.lists.write",
        "crm.objects.owners.read",
    } <= required
    # Sales/Service Hub Professional only: must not block Free and Starter installs.
    sequence_scopes = {"automation.sequences.read", "automation.sequences.enrollments.write"}
    assert sequence_scopes <= set(config.optional_scopes)
    assert not sequence_scopes & required


def test_authorize_url_sends_exactly_the_scopes_of_app_hsmeta(settings):
    raw = json.loads(Path(APP_CONFIG_PATH).read_text())["config"]["auth"]
    url = authorize_url(settings, "the-state")
    params = query(url)
    assert url.startswith("https://app.hubspot.com/oauth/authorize?")
    assert params["scope"].split(" ") == raw["requiredScopes"]
    assert params["optional_scope"].split(" ") == raw["optionalScopes"]
    assert "%20" in url and "+" not in url  # space-separated, encoded like the official client
    assert params["client_id"] == "test-client-id"
    assert params["redirect_uri"] == callback_url(settings) == "https://connector.example.test/oauth/hubspot/callback"
    assert params["state"] == "the-state"


def test_a_different_app_config_changes_the_url(tmp_path, settings):
    raw = json.loads(Path(APP_CONFIG_PATH).read_text())
    raw["config"]["auth"]["requiredScopes"] = ["oauth", "crm.objects.companies.read"]
    raw["config"]["auth"]["optionalScopes"] = []
    other = tmp_path / "app-hsmeta.json"
    other.write_text(json.dumps(raw))
    params = query(authorize_url(settings, "s", load_app_config(other)))
    assert params["scope"] == "oauth crm.objects.companies.read"
    assert "optional_scope" not in params
