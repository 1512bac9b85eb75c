"""Shared fixtures: a fresh app and database per test, HTTP mocked with `responses`.

The database is SQLite in a temp dir, or PostgreSQL when TEST_DATABASE_URL is set (CI runs the
suite on both); each test gets an empty, freshly migrated schema.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import datetime

import pytest
import responses
from sqlalchemy import text
from sqlmodel import SQLModel

from app import create_app
from connector.config import load_settings
from connector.context import Services, get_services
from connector.crypto import SecretBox
from connector.storage.db import make_engine

from tests_clock import FIXED_NOW

TEST_KEY = "hG4FZr7h1XUkz0q1m8mD1w6F3bq4e2f5yq7Jr9o0ZkA="  # a Fernet key for tests only


def _create_schema(engine) -> None:
    """The schema of the models; tests/storage/test_migrations.py proves Alembic builds the same."""
    import connector.storage.models  # noqa: F401 - registers every table

    SQLModel.metadata.create_all(engine)


@pytest.fixture(scope="session")
def _migrated_template(tmp_path_factory) -> str:
    """Build the schema once per run: a SQLite file to copy, or the PostgreSQL schema itself."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        _create_schema(engine)
        engine.dispose()
        return url
    path = tmp_path_factory.mktemp("template") / "template.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    _create_schema(engine)
    engine.dispose()
    return str(path)


def _database_url(template: str, tmp_path) -> str:
    """An empty, migrated database for one test."""
    if template.startswith("postgresql"):
        engine = make_engine(template)
        with engine.begin() as conn:
            tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        engine.dispose()
        return template
    target = tmp_path / "test.sqlite"
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def settings(tmp_path, _migrated_template):
    return load_settings(
        {
            "mode": "test",
            "database_url": _database_url(_migrated_template, tmp_path),
            "secret_key": "test-secret-key",
            "encryption_key": TEST_KEY,
            "public_base_url": "https://connector.example.test",
            "hubspot_client_id": "test-client-id",
            "hubspot_client_secret": "test-client-secret",
        },
        environ={},
    )


@pytest.fixture
def services(settings) -> Iterator[Services]:
    engine = make_engine(settings.database_url)
    svc = Services(settings=settings, engine=engine, box=SecretBox(TEST_KEY), clock=lambda: FIXED_NOW)
    yield svc
    engine.dispose()


@pytest.fixture
def app(services):
    return create_app(services=services)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def engine(services):
    return services.engine


@pytest.fixture
def http() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def now() -> datetime:
    return FIXED_NOW


__all__ = ["get_services"]
