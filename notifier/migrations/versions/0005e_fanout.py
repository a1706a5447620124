"""batch fan-out cursor: per-trade notices of a batch event written by the worker

Revision ID: 0005e_fanout
Revises: 0005b_ops
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import notifier.models

revision = "0005e_fanout"
down_revision = "0005b_ops"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batch_fanouts",
        sa.Column("event_pk", sa.Integer(), sa.ForeignKey("events.id"), primary_key=True),
        sa.Column("batch_id", sa.String(128), nullable=False),
        sa.Column("cursor", sa.String(128), nullable=True),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("notice_count", sa.Integer(), nullable=False),
        sa.Column("created_at", notifier.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", notifier.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("done_at", notifier.models.UTCDateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_batch_fanouts_batch_id", "batch_fanouts", ["batch_id"])
    op.create_index("ix_batch_fanouts_done_at", "batch_fanouts", ["done_at"])


def downgrade() -> None:
    op.drop_index("ix_batch_fanouts_done_at", "batch_fanouts")
    op.drop_index("ix_batch_fanouts_batch_id", "batch_fanouts")
    op.drop_table("batch_fanouts")
