"""Odd input to the admin API answers a clear 4xx, never a 500 (found by probing the demo)."""

from __future__ import annotations

import pytest

from factories import make_installation

HUGE = "99999999999999999999999"


@pytest.fixture
def admin(client, services):
    inst = make_installation(services)
    with client.session_transaction() as sess:
        sess["admin"] = {"installation_id": inst, "user": "ops@acme.example"}
        sess["csrf"] = "csrf-1"
    return inst


@pytest.fixture
def token_admin(services):
    """The admin token sees every installation, so an id is checked only against the database."""
    import dataclasses

    from app import create_app

    services.settings = dataclasses.replace(services.settings, admin_token="ops-token")
    make_installation(services)
    client = create_app(services=services).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = "Bearer ops-token"
    return client


@pytest.mark.parametrize("path", ["accounts", "writes", "health", "settings", "decisions",
                                  "playbook-settings", "card-expiry", "reconcile"])
def test_ids_beyond_the_database_range_are_404(token_admin, path):
    assert token_admin.get(f"/api/installations/{HUGE}/{path}").status_code == 404


def test_unknown_installation_writes_is_404(token_admin):
    assert token_admin.get("/api/installations/777/writes").status_code == 404


@pytest.mark.parametrize("body", ["[1, 2]", '"x"', "3"], ids=["list", "string", "number"])
@pytest.mark.parametrize("provider", ["stripe", "chargebee"])
def test_connect_with_a_json_body_that_is_not_an_object_is_400(client, admin, provider, body):
    resp = client.post(f"/api/installations/{admin}/{provider}", data=body,
                       headers={"Content-Type": "application/json", "X-CSRF-Token": "csrf-1"})
    assert resp.status_code == 400


@pytest.mark.parametrize("secret", [5, ["whsec_a"]], ids=["number", "list"])
def test_endpoint_secret_of_the_wrong_type_is_400(client, admin, secret):
    resp = client.post(f"/api/installations/{admin}/stripe", json={"api_key": "sk_test_1", "endpoint_secret": secret},
                       headers={"X-CSRF-Token": "csrf-1"})
    assert resp.status_code == 400


def test_disconnect_with_a_json_list_or_a_huge_id_is_a_4xx(token_admin):
    assert token_admin.post("/oauth/hubspot/disconnect", json=[1]).status_code == 400
    assert token_admin.post("/oauth/hubspot/disconnect", data={"installation_id": HUGE}).status_code == 404
    assert token_admin.post("/oauth/salesforce/disconnect", data={"installation_id": HUGE}).status_code == 404


def test_a_negative_limit_still_caps_the_rows(token_admin, services):
    from connector.storage.db import session_scope
    from connector.storage.models import CustomerBilling

    from factories import make_stripe_connection

    conn = make_stripe_connection(services, 1)
    with session_scope(services.engine) as s:
        for n in range(3):
            s.add(CustomerBilling(installation_id=1, connection_id=conn, customer_id=f"cus_{n}"))
    resp = token_admin.get("/api/installations/1/accounts?limit=-1")
    assert resp.status_code == 200 and len(resp.get_json()["accounts"]) == 1
    assert token_admin.get("/api/installations/1/decisions?limit=-5").status_code == 200


@pytest.mark.parametrize("period", ["0000-01", "9999-Q4"])
def test_recovery_period_out_of_range_is_400(token_admin, period):
    assert token_admin.get(f"/api/installations/1/recovery?period={period}").status_code == 400


@pytest.mark.parametrize("argv", [["reconcile", HUGE], ["backfill", HUGE], ["reconcile", "0"], ["backfill", "x"]])
def test_cli_refuses_ids_that_cannot_exist_with_a_usage_error(argv, capsys):
    from connector.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "installation_id" in err or "connection_id" in err
