"""Truthful delivery: why a delivery was skipped, disabled channels, channel outages

Revision ID: 0004a
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from notifier.models import UTCDateTime

revision = "0004a"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("status_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("channels") as batch:
        batch.add_column(sa.Column("disabled_at", UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("disabled_reason", sa.Text(), nullable=True))
    op.create_table(
        "channel_outages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "channel_id",
            sa.Integer(),
            sa.ForeignKey("channels.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("opened_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("notices_failed", sa.Integer(), nullable=False),
        sa.Column("escalation_id", sa.Integer(), sa.ForeignKey("notices.id"), nullable=True),
    )
    op.create_index("ix_channel_outages_open", "channel_outages", ["channel_id", "closed_at"])


def downgrade() -> None:
    op.drop_index("ix_channel_outages_open", table_name="channel_outages")
    op.drop_table("channel_outages")
    with op.batch_alter_table("channels") as batch:
        batch.drop_column("disabled_reason")
        batch.drop_column("disabled_at")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("status_reason")
