"""conversation: payloads, quick replies, handover and satisfaction

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("handed_over_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("satisfaction", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("satisfaction_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("payload", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("quick_replies", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("quick_replies")
        batch.drop_column("payload")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("satisfaction_at")
        batch.drop_column("satisfaction")
        batch.drop_column("handed_over_at")
