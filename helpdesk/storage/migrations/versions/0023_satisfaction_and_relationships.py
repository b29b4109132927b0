"""satisfaction on every channel and relationship signals: the recommend-to-a-friend score and
the comment of a rating on each ticket, and the tasks signals put on relationship managers' lists

Revision ID: 0023
Revises: 0024
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Plain ALTER TABLE: a batch rebuild of `tickets` on SQLite would cascade-delete messages.
    # `tickets.recommend_score` came with 0024 (the reports read it).
    op.add_column("tickets", sa.Column("recommend_at", When, nullable=True))
    op.add_column("tickets", sa.Column("satisfaction_comment", sa.Text(), nullable=True))
    op.create_table(
        "relationship_tasks",
        sa.Column("id", BigId, nullable=False),
        sa.Column("subject", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("customer_id", BigId, nullable=True),
        sa.Column("account_id", BigId, nullable=True),
        sa.Column("manager_id", BigId, nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("closed_at", When, nullable=True),
        sa.Column("closed_by", BigId, nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name="fk_relationship_tasks_customer_id_customers",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_relationship_tasks_account_id_accounts",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["manager_id"], ["agents.id"], name="fk_relationship_tasks_manager_id_agents"
        ),
        sa.ForeignKeyConstraint(
            ["closed_by"], ["agents.id"], name="fk_relationship_tasks_closed_by_agents"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_relationship_tasks"),
    )
    op.create_index(
        "ix_relationship_tasks_manager_status", "relationship_tasks", ["manager_id", "status"]
    )
    op.create_index("ix_relationship_tasks_customer_id", "relationship_tasks", ["customer_id"])
    op.create_index("ix_relationship_tasks_account_id", "relationship_tasks", ["account_id"])
    # One open task per customer (or account) and kind, whichever process finds it first.
    op.create_index(
        "uq_relationship_tasks_open",
        "relationship_tasks",
        ["subject", "kind"],
        unique=True,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    )


def downgrade() -> None:
    op.drop_table("relationship_tasks")
    op.drop_column("tickets", "satisfaction_comment")
    op.drop_column("tickets", "recommend_at")
