"""email channel (issue 3): checkpoints, references, participants, quarantine, auto-acks

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "email_checkpoints",
        sa.Column("mailbox", sa.String(length=64), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.Column("last_import_at", WHEN, nullable=True),
        sa.PrimaryKeyConstraint("mailbox", name=op.f("pk_email_checkpoints")),
    )
    op.create_table(
        "email_references",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("rfc_message_id", sa.String(length=255), nullable=False),
        sa.Column("ticket_id", BIG_ID, nullable=False),
        sa.Column("message_id", BIG_ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_email_references_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_email_references_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_references")),
    )
    op.create_index(
        op.f("ix_email_references_rfc_message_id"), "email_references", ["rfc_message_id"]
    )
    op.create_table(
        "email_participants",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("ticket_id", BIG_ID, nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_email_participants_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_participants")),
        sa.UniqueConstraint(
            "ticket_id", "address", name=op.f("uq_email_participants_ticket_id_address")
        ),
    )
    op.create_table(
        "email_quarantine",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("mailbox", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("reimported_at", WHEN, nullable=True),
        sa.Column("message_id", BIG_ID, nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_email_quarantine_message_id_messages"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_quarantine")),
        sa.UniqueConstraint("mailbox", "sha256", name=op.f("uq_email_quarantine_mailbox_sha256")),
    )
    op.create_table(
        "email_auto_acks",
        sa.Column("ticket_id", BIG_ID, nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("sent_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_email_auto_acks_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_email_auto_acks")),
    )
    op.create_index(op.f("ix_email_auto_acks_address"), "email_auto_acks", ["address"])


def downgrade() -> None:
    op.drop_index(op.f("ix_email_auto_acks_address"), table_name="email_auto_acks")
    op.drop_table("email_auto_acks")
    op.drop_table("email_quarantine")
    op.drop_table("email_participants")
    op.drop_index(op.f("ix_email_references_rfc_message_id"), table_name="email_references")
    op.drop_table("email_references")
    op.drop_table("email_checkpoints")
