"""a partial index on pending notices: a worker task also takes other due notices (issue 8)

Revision ID: 0005f_pending
Revises: 0005e_fanout
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005f_pending"
down_revision = "0005e_fanout"
branch_labels = None
depends_on = None

_PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.create_index(
        "ix_notices_pending",
        "notices",
        ["id"],
        sqlite_where=_PENDING,
        postgresql_where=_PENDING,
    )


def downgrade() -> None:
    op.drop_index("ix_notices_pending", "notices")
