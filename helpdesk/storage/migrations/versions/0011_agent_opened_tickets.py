"""tickets agents open: touch points' durations, merged tickets pointing to their survivor

`messages.duration_seconds` holds how long a phone call or a visit lasted (NULL for everything
else); `tickets.merged_into_id` names the ticket a merged one now lives in.

Revision ID: 0011
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE, not batch mode: on SQLite a batch rebuilds the table, and dropping the old
# `tickets` with foreign keys on deletes every message, note and audit entry of it (cascade).
# SQLite keeps the new column without a foreign key; the models and the code keep it valid.


def upgrade() -> None:
    op.add_column("messages", sa.Column("duration_seconds", sa.Integer(), nullable=True))
    op.add_column(
        "tickets",
        sa.Column("merged_into_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite")),
    )
    if op.get_bind().dialect.name != "sqlite":
        op.create_foreign_key(
            "fk_tickets_merged_into_id_tickets", "tickets", "tickets", ["merged_into_id"], ["id"]
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint("fk_tickets_merged_into_id_tickets", "tickets", type_="foreignkey")
    op.drop_column("tickets", "merged_into_id")
    op.drop_column("messages", "duration_seconds")
