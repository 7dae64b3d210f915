"""Persistence: SQLAlchemy 2 models, sessions and Alembic migrations."""

from raysight.store.db import Database

__all__ = ["Database"]
