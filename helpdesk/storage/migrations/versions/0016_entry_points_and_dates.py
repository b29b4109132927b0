"""a ticket keeps where its first message came in (routing matches an email's mailbox); an
email keeps a Date header that was not used as its time

Revision ID: 0016
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Tickets from before stay without one: rules naming a mailbox do not match them.
    # Plain ALTER TABLE: a batch rebuild of `tickets` on SQLite would cascade-delete its messages.
    op.add_column("tickets", sa.Column("entry_point", sa.String(64), nullable=True))
    op.create_table(
        "email_original_dates",
        sa.Column("message_id", BigId, nullable=False),
        sa.Column("header", sa.String(200), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name="fk_email_original_dates_message_id_messages",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", name="pk_email_original_dates"),
    )


def downgrade() -> None:
    op.drop_table("email_original_dates")
    op.drop_column("tickets", "entry_point")
