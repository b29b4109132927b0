"""hardening (issue 11): revoked chat visitors; one knowledge-base vote per agent per article

Revision ID: 0013
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "webchat_revocations",
        sa.Column("visitor", sa.String(64), nullable=False),
        sa.Column("revoked_at", When, nullable=False),
        sa.Column("revoked_by", BigId, nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["revoked_by"],
            ["agents.id"],
            name="fk_webchat_revocations_revoked_by_agents",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("visitor", name="pk_webchat_revocations"),
    )
    op.create_table(
        "kb_article_votes",
        sa.Column("article_id", BigId, nullable=False),
        sa.Column("agent_id", BigId, nullable=False),
        sa.Column("helpful", sa.Boolean(), nullable=False),
        sa.Column("voted_at", When, nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["kb_articles.id"],
            name="fk_kb_article_votes_article_id_kb_articles",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name="fk_kb_article_votes_agent_id_agents",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("article_id", "agent_id", name="pk_kb_article_votes"),
    )


def downgrade() -> None:
    op.drop_table("kb_article_votes")
    op.drop_table("webchat_revocations")
