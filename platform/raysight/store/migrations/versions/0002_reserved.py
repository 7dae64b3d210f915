"""Schema changes for datasets and annotations (owned by the dataset work).

A reserved slot in the migration chain so that parallel work never creates two heads.
Empty until that work needs a column or table; then fill upgrade()/downgrade() here.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
