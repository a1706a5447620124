"""notices.resend_of_id: a resend points at the notice it copies

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notices") as batch:
        batch.add_column(sa.Column("resend_of_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_notices_resend_of_id", "notices", ["resend_of_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("notices") as batch:
        batch.drop_constraint("fk_notices_resend_of_id", type_="foreignkey")
        batch.drop_column("resend_of_id")
