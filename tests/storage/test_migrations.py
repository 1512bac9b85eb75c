"""Alembic's migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import os

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import SQLModel

import connector.storage.models  # noqa: F401 - registers every table
from connector.storage.db import make_engine, upgrade_schema


def _fresh_url(tmp_path) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp_path}/migrated.sqlite"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS migcheck CASCADE"))
        conn.execute(text("CREATE SCHEMA migcheck"))
    engine.dispose()
    return url + ("&" if "?" in url else "?") + "options=-csearch_path%3Dmigcheck"


def test_migrations_match_the_models(tmp_path):
    engine = make_engine(_fresh_url(tmp_path))
    upgrade_schema(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                SQLModel.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations differ; add a migration: {diff}"


def test_upgrade_is_idempotent(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/twice.sqlite")
    upgrade_schema(engine)
    upgrade_schema(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM installation")).scalar() == 0
    engine.dispose()
