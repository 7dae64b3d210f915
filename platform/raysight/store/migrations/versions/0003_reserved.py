"""Schema changes for training jobs and models (owned by the training work).

A reserved slot in the migration chain so that parallel work never creates two heads.
Empty until that work needs a column or table; then fill upgrade()/downgrade() here.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
