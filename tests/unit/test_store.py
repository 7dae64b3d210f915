from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text

from raysight.store import Database
from raysight.store.db import alembic_config

pytestmark = pytest.mark.databases  # SQLite and PostgreSQL (tests/postgres.py)


@pytest.fixture
def url(tmp_path: Path, database_url: str | None) -> str:
    """An empty database: a SQLite file, or a fresh PostgreSQL database."""
    return database_url or f"sqlite:///{tmp_path / 'r.db'}"


def test_fresh_database_reaches_head_in_wal_mode(url: str) -> None:
    db = Database(url)
    db.upgrade()
    tables = set(inspect(db.engine).get_table_names())
    assert {"datasets", "dataset_versions", "annotation_tasks", "annotation_items", "train_jobs", "models",
            "tasks", "alembic_version"} <= tables
    if db.engine.dialect.name == "sqlite":
        with db.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    db.dispose()


def test_existing_workspace_upgrades_in_place_keeping_rows(url: str) -> None:
    db = Database(url)
    with db.engine.begin() as conn:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(text(
            "INSERT INTO datasets (id, filename, size, status, description, tags, created_at, updated_at) "
            "VALUES ('ds_old', 'old.zip', 10, 'uploaded', '', '[]', '2024-01-01', '2024-01-01')"
        ))
    db.upgrade()
    db.upgrade()  # idempotent
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT filename FROM datasets WHERE id='ds_old'")).scalar() == "old.zip"
        head = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    script_heads = __import__("alembic.script", fromlist=["ScriptDirectory"]).ScriptDirectory.from_config(
        alembic_config(url)).get_heads()
    assert [head] == script_heads


def test_session_rolls_back_on_error(url: str) -> None:
    from raysight.store.models import Dataset

    db = Database(url)
    db.upgrade()
    try:
        with db.session() as s:
            s.add(Dataset(id="ds1", filename="a.zip"))
            s.flush()
            raise RuntimeError("abort")
    except RuntimeError:
        pass
    with db.session() as s:
        assert s.get(Dataset, "ds1") is None


def test_migrations_go_down_to_base_and_up_again(url: str) -> None:
    db = Database(url)
    db.upgrade()
    with db.engine.begin() as conn:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    db.upgrade()
    assert "train_jobs" in inspect(db.engine).get_table_names()
    db.dispose()
