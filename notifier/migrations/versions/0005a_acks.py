"""acknowledgements, affirmation deadlines and status webhooks

Revision ID: 0005a_acks
Revises: 0004d
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import notifier.models

revision = "0005a_acks"
down_revision = "0004d"
branch_labels = None
depends_on = None


def _time(name: str) -> sa.Column[object]:
    return sa.Column(name, notifier.models.UTCDateTime(timezone=True), nullable=True)


def upgrade() -> None:
    with op.batch_alter_table("notices") as batch:
        batch.add_column(_time("affirm_by"))
        batch.add_column(_time("affirm_escalated_at"))
        batch.add_column(_time("acked_at"))
    op.create_table(
        "status_webhooks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("url_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("url_display", sa.Text(), nullable=False),
        sa.Column("secret_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("created_at", notifier.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", notifier.models.UTCDateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("status_webhooks")
    with op.batch_alter_table("notices") as batch:
        batch.drop_column("acked_at")
        batch.drop_column("affirm_escalated_at")
        batch.drop_column("affirm_by")
