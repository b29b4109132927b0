"""accounts: server-side sessions, the login throttle, one team per name whatever its case,
and the secret key shared through the database

Teams whose names differ only in case (made by `agent add --team support` beside "Support")
keep their members and tickets; the later ones are renamed "<name> (<id>)" so that an admin can
see and merge them.

Revision ID: 0009
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agent_sessions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("agent_id", sa.BigInteger(), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name="fk_agent_sessions_agent_id_agents",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_agent_sessions"),
        sa.UniqueConstraint("token_hash", name="uq_agent_sessions_token_hash"),
    )
    op.create_index("ix_agent_sessions_agent_id", "agent_sessions", ["agent_id"])
    op.create_index("ix_agent_sessions_expires_at", "agent_sessions", ["expires_at"])
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_login_attempts"),
    )
    op.create_index("ix_login_attempts_at", "login_attempts", ["at"])
    op.create_index("ix_login_attempts_email_address", "login_attempts", ["email", "address", "at"])
    op.create_index("ix_login_attempts_address_at", "login_attempts", ["address", "at"])
    op.create_table(
        "stored_secrets",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_stored_secrets"),
    )
    _fold_team_names()


def _fold_team_names() -> None:
    op.add_column("teams", sa.Column("name_key", sa.String(100), nullable=True))
    teams = sa.table("teams", sa.column("id"), sa.column("name"), sa.column("name_key"))
    connection = op.get_bind()
    seen: set[str] = set()
    for team_id, name in connection.execute(sa.select(teams.c.id, teams.c.name).order_by("id")):
        key = name.strip().casefold()
        if key in seen:
            name = f"{name} ({team_id})"
            key = name.strip().casefold()
        seen.add(key)
        connection.execute(
            teams.update().where(teams.c.id == team_id).values(name=name, name_key=key)
        )
    # On SQLite, NOT NULL means rebuilding the table, and dropping the old one fails while
    # team_members and tickets point at it (foreign keys are on, and cannot be turned off inside
    # the migration's transaction); the column stays nullable there and the models always set it.
    if connection.dialect.name != "sqlite":
        op.alter_column("teams", "name_key", existing_type=sa.String(100), nullable=False)
    op.create_index("uq_teams_name_key", "teams", ["name_key"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_teams_name_key", table_name="teams")
    with op.batch_alter_table("teams") as batch:
        batch.drop_column("name_key")
    op.drop_table("stored_secrets")
    op.drop_index("ix_login_attempts_address_at", table_name="login_attempts")
    op.drop_index("ix_login_attempts_email_address", table_name="login_attempts")
    op.drop_index("ix_login_attempts_at", table_name="login_attempts")
    op.drop_table("login_attempts")
    op.drop_index("ix_agent_sessions_expires_at", table_name="agent_sessions")
    op.drop_index("ix_agent_sessions_agent_id", table_name="agent_sessions")
    op.drop_table("agent_sessions")
