"""the answer bot's decisions (issue 13): what it did on each message and the signals behind it

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "kb_bot_decisions",
        sa.Column("id", BigId, nullable=False),
        sa.Column("ticket_id", BigId, nullable=False),
        sa.Column("message_id", BigId, nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("article_id", BigId, nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("signals", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("draft_article_id", BigId, nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_kb_bot_decisions"),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name="fk_kb_bot_decisions_ticket_id_tickets",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name="fk_kb_bot_decisions_message_id_messages",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["kb_articles.id"],
            name="fk_kb_bot_decisions_article_id_kb_articles",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["draft_article_id"],
            ["kb_articles.id"],
            name="fk_kb_bot_decisions_draft_article_id_kb_articles",
            ondelete="SET NULL",
        ),
    )
    op.create_index("ix_kb_bot_decisions_ticket_id", "kb_bot_decisions", ["ticket_id"])
    op.create_index("ix_kb_bot_decisions_kind", "kb_bot_decisions", ["kind"])
    op.create_index("ix_kb_bot_decisions_created_at", "kb_bot_decisions", ["created_at"])


def downgrade() -> None:
    op.drop_table("kb_bot_decisions")
