"""PaddleX dialect records (paddlex_records): datasets, projects, tasks and model records of the dialect,
numbered per kind and mapped onto the core's datasets, training jobs and models.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "paddlex_records",
        sa.Column("code", sa.String(length=16), primary_key=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("desc", sa.Text(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("parent", sa.String(length=16), nullable=True),
        sa.Column("ref", sa.String(length=64), nullable=True),
        sa.Column("attrs", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("kind", "number"),
    )
    op.create_index("ix_paddlex_records_kind", "paddlex_records", ["kind"])
    op.create_index("ix_paddlex_records_parent", "paddlex_records", ["parent"])


def downgrade() -> None:
    op.drop_index("ix_paddlex_records_parent", table_name="paddlex_records")
    op.drop_index("ix_paddlex_records_kind", table_name="paddlex_records")
    op.drop_table("paddlex_records")
