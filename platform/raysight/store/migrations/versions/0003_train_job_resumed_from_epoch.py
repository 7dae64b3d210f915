"""train_jobs.resumed_from_epoch: the epoch the job's last resume continued from (0: it had no checkpoint
and restarted from the beginning; NULL: never resumed).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("train_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resumed_from_epoch", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("train_jobs", schema=None) as batch_op:
        batch_op.drop_column("resumed_from_epoch")
