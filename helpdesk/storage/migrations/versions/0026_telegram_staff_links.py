"""staff link their Telegram account (a one-time code from the API) to get escalation notices
there

Revision ID: 0026
Revises: 0017
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "telegram_staff_links",
        sa.Column("agent_id", BigId, nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("linked_at", When, nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name="fk_telegram_staff_links_agent_id_agents",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agent_id", name="pk_telegram_staff_links"),
    )
    op.create_index("ix_telegram_staff_links_user_id", "telegram_staff_links", ["user_id"])
    op.create_table(
        "telegram_staff_codes",
        sa.Column("id", BigId, nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("agent_id", BigId, nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("expires_at", When, nullable=False),
        sa.Column("used_at", When, nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name="fk_telegram_staff_codes_agent_id_agents",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_telegram_staff_codes"),
        sa.UniqueConstraint("code_hash", name="uq_telegram_staff_codes_code_hash"),
    )


def downgrade() -> None:
    op.drop_table("telegram_staff_codes")
    op.drop_index("ix_telegram_staff_links_user_id", "telegram_staff_links")
    op.drop_table("telegram_staff_links")
