"""who the chat customer is: email addresses given in the chat without proof (claims), the
codes mailed to prove them, and the sends counted to limit them

Revision ID: 0020
Revises: 0021
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "email_claims",
        sa.Column("id", BigId, nullable=False),
        sa.Column("customer_id", BigId, nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=True),
        sa.Column("code_expires_at", When, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name="fk_email_claims_customer_id_customers",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_email_claims"),
        sa.UniqueConstraint("customer_id", "address", name="uq_email_claims_customer_id_address"),
    )
    op.create_index("ix_email_claims_address", "email_claims", ["address"])
    op.create_table(
        "email_code_sends",
        sa.Column("id", BigId, nullable=False),
        sa.Column("requester", sa.String(100), nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("sent_at", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_email_code_sends"),
    )
    op.create_index(
        "ix_email_code_sends_requester_sent_at", "email_code_sends", ["requester", "sent_at"]
    )
    op.create_index(
        "ix_email_code_sends_address_sent_at", "email_code_sends", ["address", "sent_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_email_code_sends_address_sent_at", "email_code_sends")
    op.drop_index("ix_email_code_sends_requester_sent_at", "email_code_sends")
    op.drop_table("email_code_sends")
    op.drop_index("ix_email_claims_address", "email_claims")
    op.drop_table("email_claims")
