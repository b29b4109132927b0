"""Telegram channel (issue 4)

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("identities") as batch:
        batch.add_column(sa.Column("username", sa.String(length=64), nullable=True))
    op.create_table(
        "telegram_state",
        sa.Column("bot_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("next_offset", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("bot_id", name=op.f("pk_telegram_state")),
    )
    op.create_table(
        "telegram_skipped_updates",
        sa.Column("id", BigId, nullable=False),
        sa.Column("update_id", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telegram_skipped_updates")),
    )
    op.create_index(
        op.f("ix_telegram_skipped_updates_at"), "telegram_skipped_updates", ["at"], unique=False
    )
    op.create_table(
        "telegram_message_edits",
        sa.Column("message_id", BigId, nullable=False),
        sa.Column("original_id", BigId, nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_telegram_message_edits_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["original_id"],
            ["messages.id"],
            name=op.f("fk_telegram_message_edits_original_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_telegram_message_edits")),
    )
    op.create_index(
        op.f("ix_telegram_message_edits_original_id"),
        "telegram_message_edits",
        ["original_id"],
        unique=False,
    )
    op.create_table(
        "telegram_link_codes",
        sa.Column("id", BigId, nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("customer_id", BigId, nullable=False),
        sa.Column("created_by", BigId, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_telegram_link_codes_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["agents.id"], name=op.f("fk_telegram_link_codes_created_by_agents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telegram_link_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_telegram_link_codes_code_hash")),
    )


def downgrade() -> None:
    op.drop_table("telegram_link_codes")
    op.drop_index(op.f("ix_telegram_message_edits_original_id"), "telegram_message_edits")
    op.drop_table("telegram_message_edits")
    op.drop_index(op.f("ix_telegram_skipped_updates_at"), "telegram_skipped_updates")
    op.drop_table("telegram_skipped_updates")
    op.drop_table("telegram_state")
    with op.batch_alter_table("identities") as batch:
        batch.drop_column("username")
