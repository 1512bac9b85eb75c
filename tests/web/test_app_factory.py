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


def test_production_without_public_base_url_refuses_to_start():
    # The default loopback URL would end up in every payment link written to the CRM.
    with pytest.raises(ConfigError, match="PUBLIC_BASE_URL"):
        load_settings(
            {"mode": "production"},
            environ={"SECRET_KEY": "x", "DUNNING_ENCRYPTION_KEY": "k"},
        )


def test_production_with_all_three_starts():
    settings = load_settings(
        {"mode": "production"},
        environ={
            "SECRET_KEY": "x",
            "DUNNING_ENCRYPTION_KEY": "k",
            "PUBLIC_BASE_URL": "https://dunning.example.com",
        },
    )
    assert settings.public_base_url == "https://dunning.example.com"


@pytest.mark.parametrize("url", ["dunning.example.com", "ftp://x.example", "https://x.example/?a=1"])
def test_a_malformed_public_base_url_is_refused(url):
    with pytest.raises(ConfigError, match="PUBLIC_BASE_URL"):
        load_settings({"mode": "demo"}, environ={"PUBLIC_BASE_URL": url})


def test_demo_defaults_to_the_local_server():
    assert load_settings({"mode": "demo"}, environ={}).public_base_url == "http://127.0.0.1:8000"


def test_demo_mode_starts_without_keys(tmp_path):
    app = create_app({"mode": "demo", "database_url": f"sqlite:///{tmp_path}/d.sqlite"})
    assert app.test_client().get("/healthz").status_code == 200


def test_unknown_mode_is_refused():
    with pytest.raises(ConfigError, match="DUNNING_MODE"):
        load_settings({"mode": "staging"}, environ={})


def test_the_admin_session_cookie_is_lax_and_secure_behind_https(tmp_path):
    from app import create_app

    app = create_app({"mode": "production", "secret_key": "k", "encryption_key": _fernet_key(),
                      "public_base_url": "https://dunning.example.com",
                      "database_url": f"sqlite:///{tmp_path}/p.sqlite"})
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()
