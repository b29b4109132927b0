"""consent and erasure: every grant and withdrawal of consent to proactive messages, per
customer and channel; when a customer's personal data was erased; when a ticket's content was
erased (by that erasure or by the retention setting); an index on outbox_items.message_id

Revision ID: 0022
Revises: 0020
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "customer_consents",
        sa.Column("id", BigId, nullable=False),
        sa.Column("customer_id", BigId, nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("at", When, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("agent_id", BigId, nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name="fk_customer_consents_customer_id_customers",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name="fk_customer_consents_agent_id_agents",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_customer_consents"),
    )
    op.create_index(
        "ix_customer_consents_customer_channel", "customer_consents", ["customer_id", "channel"]
    )
    # Plain ALTER TABLE: a batch rebuild of `customers` or `tickets` on SQLite would cascade.
    op.add_column("customers", sa.Column("erased_at", When, nullable=True))
    op.add_column("tickets", sa.Column("content_erased_at", When, nullable=True))
    op.create_index("ix_tickets_content_erased_at", "tickets", ["content_erased_at"])
    # Erasure and retention find each message's delivery job.
    op.create_index("ix_outbox_items_message_id", "outbox_items", ["message_id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_items_message_id", "outbox_items")
    op.drop_index("ix_tickets_content_erased_at", "tickets")
    op.drop_column("tickets", "content_erased_at")
    op.drop_column("customers", "erased_at")
    op.drop_index("ix_customer_consents_customer_channel", "customer_consents")
    op.drop_table("customer_consents")
