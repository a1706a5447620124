"""named API keys (prefix, revocation) and service heartbeats for /readyz

Revision ID: 0005b_ops
Revises: 0005a_acks
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import notifier.models

revision = "0005b_ops"
down_revision = "0005a_acks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("key_prefix", sa.String(length=16), nullable=True))
        batch.add_column(
            sa.Column("revoked_at", notifier.models.UTCDateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "heartbeats",
        sa.Column("name", sa.String(length=40), primary_key=True),
        sa.Column("seen_at", notifier.models.UTCDateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("heartbeats")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("revoked_at")
        batch.drop_column("key_prefix")
