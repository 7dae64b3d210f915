"""dataset prepare lock and skipped counts

Adds datasets.prepare_owner / prepare_started_at (the "preparing" lock that a dead or stuck
prepare cannot hold forever) and dataset_versions.skipped (unusable items left out of a version).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prepare_owner", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("prepare_started_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("dataset_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("skipped", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("dataset_versions", schema=None) as batch_op:
        batch_op.drop_column("skipped")
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.drop_column("prepare_started_at")
        batch_op.drop_column("prepare_owner")
