"""Schema changes for inference (owned by the serving work).

A reserved slot in the migration chain so that parallel work never creates two heads.
Empty until that work needs a column or table; then fill upgrade()/downgrade() here.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
