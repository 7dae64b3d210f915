"""AutoSele tables and the model registry stage

Adds autosele_networks / autosele_data / autosele_trains / autosele_releases (specs/autosele-api.md)
and models.stage (a registry stage such as "released", which the native GET /models?stage= filters on).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _stamps() -> list[sa.Column]:
    return [sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.Column("updated_at", sa.DateTime(), nullable=False)]


def upgrade() -> None:
    op.create_table(
        "autosele_networks",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.String(64), nullable=False, unique=True),
        sa.Column("net_name", sa.String(255), nullable=False, unique=True),
        sa.Column("net_describe", sa.Text(), nullable=False),
        sa.Column("src_net", sa.String(255), nullable=False),
        sa.Column("plugin", sa.String(64), nullable=False),
        sa.Column("task_type", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        *_stamps(),
    )
    op.create_table(
        "autosele_data",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.String(64), nullable=False, unique=True),
        sa.Column("data_name", sa.String(255), nullable=False, unique=True),
        sa.Column("data_describe", sa.Text(), nullable=False),
        sa.Column("data_type", sa.String(32), nullable=False),
        sa.Column("sour_data", sa.Text(), nullable=False),
        sa.Column("train", sa.Float(), nullable=False),
        sa.Column("val", sa.Float(), nullable=False),
        sa.Column("test", sa.Float(), nullable=False),
        sa.Column("thread", sa.Integer(), nullable=False),
        sa.Column("l_value", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.String(64), nullable=False),
        sa.Column("version", sa.String(16), nullable=True),
        *_stamps(),
    )
    op.create_table(
        "autosele_trains",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.String(64), nullable=False, unique=True),
        sa.Column("task_name", sa.String(255), nullable=False),
        sa.Column("task_desc", sa.Text(), nullable=False),
        sa.Column("network", sa.String(255), nullable=True),
        sa.Column("data", sa.String(255), nullable=True),
        sa.Column("data_type", sa.String(32), nullable=True),
        sa.Column("category_num", sa.Integer(), nullable=True),
        sa.Column("num_epoch", sa.Integer(), nullable=True),
        sa.Column("batch_size", sa.Integer(), nullable=True),
        sa.Column("learning_rate", sa.Float(), nullable=True),
        sa.Column("steps", sa.String(255), nullable=True),
        sa.Column("gpus", sa.String(255), nullable=True),
        sa.Column("model_prefix", sa.String(255), nullable=True),
        sa.Column("weights", sa.String(255), nullable=True),
        sa.Column("start_date", sa.String(32), nullable=True),
        sa.Column("end_date", sa.String(32), nullable=True),
        sa.Column("train_config", sa.JSON(), nullable=False),
        sa.Column("data_config", sa.JSON(), nullable=False),
        sa.Column("label_map", sa.JSON(), nullable=True),
        sa.Column("job_id", sa.String(64), nullable=True),
        *_stamps(),
    )
    op.create_table(
        "autosele_releases",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.String(64), nullable=False, index=True),
        sa.Column("task_id", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("env", sa.String(255), nullable=False),
        sa.Column("adcode", sa.Integer(), nullable=True),
        sa.Column("desc", sa.Text(), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("time", sa.DateTime(), nullable=True),
        *_stamps(),
    )
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stage", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.drop_column("stage")
    for table in ("autosele_releases", "autosele_trains", "autosele_data", "autosele_networks"):
        op.drop_table(table)
