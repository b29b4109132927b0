"""the durable event log, reaction checkpoints and failures; acknowledgements move to the core

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", BigId, nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    op.create_index("ix_events_created_at", "events", ["created_at"])
    op.create_table(
        "reaction_checkpoints",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("last_event_id", BigId, nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_reaction_checkpoints"),
    )
    op.create_table(
        "reaction_failures",
        sa.Column("id", BigId, nullable=False),
        sa.Column("reaction", sa.String(64), nullable=False),
        sa.Column("event_id", BigId, nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("at", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reaction_failures"),
    )
    op.create_index("ix_reaction_failures_reaction", "reaction_failures", ["reaction"])
    op.create_table(
        "acknowledgements",
        sa.Column("ticket_id", BigId, nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("sent_at", When, nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name="fk_acknowledgements_ticket_id_tickets",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ticket_id", name="pk_acknowledgements"),
    )
    op.create_index("ix_acknowledgements_address", "acknowledgements", ["address"])
    op.execute(
        "INSERT INTO acknowledgements (ticket_id, channel, address, sent_at) "
        "SELECT ticket_id, 'email', address, sent_at FROM email_auto_acks"
    )
    op.drop_index("ix_email_auto_acks_address", table_name="email_auto_acks")
    op.drop_table("email_auto_acks")


def downgrade() -> None:
    op.create_table(
        "email_auto_acks",
        sa.Column("ticket_id", BigId, nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("sent_at", When, nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name="fk_email_auto_acks_ticket_id_tickets",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ticket_id", name="pk_email_auto_acks"),
    )
    op.create_index("ix_email_auto_acks_address", "email_auto_acks", ["address"])
    op.execute(
        "INSERT INTO email_auto_acks (ticket_id, address, sent_at) "
        "SELECT ticket_id, address, sent_at FROM acknowledgements WHERE channel = 'email'"
    )
    op.drop_index("ix_acknowledgements_address", table_name="acknowledgements")
    op.drop_table("acknowledgements")
    op.drop_index("ix_reaction_failures_reaction", table_name="reaction_failures")
    op.drop_table("reaction_failures")
    op.drop_table("reaction_checkpoints")
    op.drop_index("ix_events_created_at", table_name="events")
    op.drop_table("events")
