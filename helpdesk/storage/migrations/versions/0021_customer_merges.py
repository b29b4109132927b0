"""customer merges: the record of each merge of two customers (who, when, why, the source's
fields, the rows that moved) so that it can be undone, and the duplicate suggestions agents
dismissed

Revision ID: 0021
Revises: 0023
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "customer_merges",
        sa.Column("id", BigId, nullable=False),
        sa.Column("source_id", sa.BigInteger(), nullable=False),
        sa.Column("target_id", sa.BigInteger(), nullable=False),
        sa.Column("actor_type", sa.String(16), nullable=False),
        sa.Column("actor_id", BigId, nullable=True),
        sa.Column("at", When, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("source", sa.JSON(), nullable=False),
        sa.Column("filled", sa.JSON(), nullable=False),
        sa.Column("kept", sa.JSON(), nullable=False),
        sa.Column("undone_at", When, nullable=True),
        sa.Column("undone_by", BigId, nullable=True),
        sa.Column("restored_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["agents.id"],
            name="fk_customer_merges_actor_id_agents",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["undone_by"],
            ["agents.id"],
            name="fk_customer_merges_undone_by_agents",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_customer_merges"),
    )
    op.create_index("ix_customer_merges_source_id", "customer_merges", ["source_id"])
    op.create_index("ix_customer_merges_target_id", "customer_merges", ["target_id"])
    op.create_table(
        "customer_merge_rows",
        sa.Column("merge_id", BigId, nullable=False),
        sa.Column("table_name", sa.String(64), nullable=False),
        sa.Column("row_key", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["merge_id"],
            ["customer_merges.id"],
            name="fk_customer_merge_rows_merge_id_customer_merges",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("merge_id", "table_name", "row_key", name="pk_customer_merge_rows"),
    )
    op.create_table(
        "duplicate_dismissals",
        sa.Column("id", BigId, nullable=False),
        sa.Column("first_id", BigId, nullable=False),
        sa.Column("second_id", BigId, nullable=False),
        sa.Column("dismissed_by", BigId, nullable=True),
        sa.Column("at", When, nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["first_id"],
            ["customers.id"],
            name="fk_duplicate_dismissals_first_id_customers",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["second_id"],
            ["customers.id"],
            name="fk_duplicate_dismissals_second_id_customers",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["dismissed_by"],
            ["agents.id"],
            name="fk_duplicate_dismissals_dismissed_by_agents",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_duplicate_dismissals"),
        sa.UniqueConstraint(
            "first_id", "second_id", name="uq_duplicate_dismissals_first_id_second_id"
        ),
    )
    op.create_index("ix_duplicate_dismissals_first_id", "duplicate_dismissals", ["first_id"])
    op.create_index("ix_duplicate_dismissals_second_id", "duplicate_dismissals", ["second_id"])


def downgrade() -> None:
    op.drop_table("duplicate_dismissals")
    op.drop_table("customer_merge_rows")
    op.drop_table("customer_merges")
