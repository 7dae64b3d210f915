"""Schema changes for imgseg (owned by the imgseg work).

A reserved slot in the migration chain so that parallel work never creates two heads.
Empty until that work needs a column or table; then fill upgrade()/downgrade() here.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
