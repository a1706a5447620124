"""trade deadlines and batch failure details / revocation

Revision ID: 0004d
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import notifier.models

revision = "0004d"
down_revision = "0004a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trade_states") as batch:
        batch.add_column(
            sa.Column("deadline_at", notifier.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("escalated_at", notifier.models.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("batches") as batch:
        batch.add_column(sa.Column("details", sa.JSON(), nullable=True))
        batch.add_column(
            sa.Column("revoked_at", notifier.models.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("batches") as batch:
        batch.drop_column("revoked_at")
        batch.drop_column("details")
    with op.batch_alter_table("trade_states") as batch:
        batch.drop_column("escalated_at")
        batch.drop_column("deadline_at")
