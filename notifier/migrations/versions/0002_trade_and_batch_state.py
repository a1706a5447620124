"""trade lane / batch / status, and the batches table

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import notifier.models

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trade_states") as batch:
        batch.add_column(sa.Column("client_id", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("layer", sa.String(length=2), nullable=True))
        batch.add_column(sa.Column("batch_id", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("status", sa.String(length=16), nullable=True))
        batch.create_index("ix_trade_states_batch_id", ["batch_id"], unique=False)
    op.create_table(
        "batches",
        sa.Column("batch_id", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("batch_end_at", notifier.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("final_at", notifier.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("rolled_to_batch_id", sa.String(length=128), nullable=True),
        sa.Column("last_event_pk", sa.Integer(), nullable=True),
        sa.Column("updated_at", notifier.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["last_event_pk"], ["events.id"]),
        sa.PrimaryKeyConstraint("batch_id"),
    )


def downgrade() -> None:
    op.drop_table("batches")
    with op.batch_alter_table("trade_states") as batch:
        batch.drop_index("ix_trade_states_batch_id")
        for name in ("status", "batch_id", "layer", "client_id"):
            batch.drop_column(name)
