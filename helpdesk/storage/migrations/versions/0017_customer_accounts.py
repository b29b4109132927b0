"""customers and accounts: companies with contacts, a value per account and customer, tiers
computed from it with a manual override and a record of every change, identities that may be
unverified (an email typed into the chat), and references that make imports idempotent

Revision ID: 0017
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", BigId, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("name_key", sa.String(200), nullable=False),
        sa.Column("external_ref", sa.String(100), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("tier", sa.String(16), nullable=True),
        sa.Column("tier_override", sa.String(16), nullable=True),
        sa.Column("manager_id", BigId, nullable=True),
        sa.Column("backup_id", BigId, nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sa.ForeignKeyConstraint(
            ["manager_id"], ["agents.id"], name="fk_accounts_manager_id_agents"
        ),
        sa.ForeignKeyConstraint(["backup_id"], ["agents.id"], name="fk_accounts_backup_id_agents"),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
        sa.UniqueConstraint("name_key", name="uq_accounts_name_key"),
        sa.UniqueConstraint("external_ref", name="uq_accounts_external_ref"),
    )
    op.create_index("ix_accounts_manager_id", "accounts", ["manager_id"])
    # Plain ALTER TABLE: a batch rebuild of `customers` on SQLite would cascade-delete identities.
    # SQLite keeps the new column without a foreign key; the code sets it to NULL on delete.
    op.add_column("customers", sa.Column("account_id", BigId, nullable=True))
    if op.get_bind().dialect.name != "sqlite":
        op.create_foreign_key(
            "fk_customers_account_id_accounts",
            "customers",
            "accounts",
            ["account_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.add_column("customers", sa.Column("value", sa.Float(), nullable=True))
    op.add_column("customers", sa.Column("tier_override", sa.String(16), nullable=True))
    op.add_column("customers", sa.Column("external_ref", sa.String(100), nullable=True))
    op.add_column("customers", sa.Column("phone", sa.String(40), nullable=True))
    op.create_index("ix_customers_account_id", "customers", ["account_id"])
    op.create_index("ix_customers_external_ref", "customers", ["external_ref"], unique=True)
    op.add_column(
        "identities",
        sa.Column("verified", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    op.create_table(
        "tier_changes",
        sa.Column("id", BigId, nullable=False),
        sa.Column("customer_id", BigId, nullable=True),
        sa.Column("account_id", BigId, nullable=True),
        sa.Column("from_tier", sa.String(16), nullable=True),
        sa.Column("to_tier", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor_id", BigId, nullable=True),
        sa.Column("at", When, nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name="fk_tier_changes_customer_id_customers",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_tier_changes_account_id_accounts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_tier_changes"),
    )
    op.create_index("ix_tier_changes_customer_id", "tier_changes", ["customer_id"])
    op.create_index("ix_tier_changes_account_id", "tier_changes", ["account_id"])


def downgrade() -> None:
    op.drop_table("tier_changes")
    op.drop_column("identities", "verified")
    op.drop_index("ix_customers_external_ref", "customers")
    op.drop_index("ix_customers_account_id", "customers")
    for column in ("phone", "external_ref", "tier_override", "value"):
        op.drop_column("customers", column)
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint("fk_customers_account_id_accounts", "customers", type_="foreignkey")
    op.drop_column("customers", "account_id")
    op.drop_index("ix_accounts_manager_id", "accounts")
    op.drop_table("accounts")
