"""Throw-away PostgreSQL databases for tests: one fresh database per test on the server that
RAYSIGHT_TEST_POSTGRES_URL names (an admin URL, e.g. the one .ci/run exports)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

DATABASE_BACKENDS = ["sqlite", "postgresql"]
URL_VARIABLE = "RAYSIGHT_TEST_POSTGRES_URL"


def postgres_admin_url() -> str | None:
    """The server to test on; skips without one locally, fails without one in CI."""
    url = os.environ.get(URL_VARIABLE)
    if url:
        return url
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{URL_VARIABLE} is not set: CI must test PostgreSQL (.ci/run starts one)")
    pytest.skip(f"PostgreSQL variant: set {URL_VARIABLE} (an admin URL) to run it")
    return None


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """Create an empty database, yield its SQLAlchemy URL, drop it (closing leftover sessions) after."""
    admin = make_url(postgres_admin_url())
    name = f"rs_test_{secrets.token_hex(6)}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield admin.set(database=name).render_as_string(hide_password=False)
        finally:
            with engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()
