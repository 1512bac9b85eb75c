from __future__ import annotations

import pytest

from app import create_app
from connector.config import ConfigError, load_settings


def test_healthz_answers(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok"}


def test_production_without_encryption_key_refuses_to_start():
    with pytest.raises(ConfigError, match="DUNNING_ENCRYPTION_KEY"):
        load_settings({"mode": "production"}, environ={"SECRET_KEY": "x"})


def test_demo_mode_starts_without_keys(tmp_path):
    app = create_app({"mode": "demo", "database_url": f"sqlite:///{tmp_path}/d.sqlite"})
    assert app.test_client().get("/healthz").status_code == 200


def test_unknown_mode_is_refused():
    with pytest.raises(ConfigError, match="DUNNING_MODE"):
        load_settings({"mode": "staging"}, environ={})
