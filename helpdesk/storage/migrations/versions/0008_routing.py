"""routing: agents' routing profiles, team strategies, relationship managers and handovers,
rules, the holding queue and the routing decisions; indexes for counting
agents' loads and reading their teams

Revision ID: 0008
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def _enum(*values: str, name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=16)


def upgrade() -> None:
    op.create_table(
        "routing_profiles",
        sa.Column("agent_id", BigId, nullable=False),
        sa.Column("skills", sa.JSON(), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("channel_weights", sa.JSON(), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("presence", _enum("online", "away", "offline", name="presence"), nullable=False),
        sa.Column("heartbeat_at", When, nullable=True),
        sa.Column("offline_since", When, nullable=True),
        sa.Column("released_at", When, nullable=True),
        sa.Column("shift_start", sa.String(5), nullable=True),
        sa.Column("shift_end", sa.String(5), nullable=True),
        sa.Column("shift_timezone", sa.String(64), nullable=False),
        sa.Column("load", sa.Integer(), nullable=False),
        sa.Column("last_assigned_at", When, nullable=True),
        sa.Column("updated_at", When, nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name="fk_routing_profiles_agent_id_agents",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agent_id", name="pk_routing_profiles"),
    )
    op.create_table(
        "team_routing",
        sa.Column("team_id", BigId, nullable=False),
        sa.Column(
            "strategy",
            _enum("least_loaded", "round_robin", "weighted", name="strategy"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name="fk_team_routing_team_id_teams", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("team_id", name="pk_team_routing"),
    )
    op.create_table(
        "customer_managers",
        sa.Column("customer_id", BigId, nullable=False),
        sa.Column("manager_id", BigId, nullable=True),
        sa.Column("backup_id", BigId, nullable=True),
        sa.Column("key_account", sa.Boolean(), nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name="fk_customer_managers_customer_id_customers",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["manager_id"], ["agents.id"], name="fk_customer_managers_manager_id_agents"
        ),
        sa.ForeignKeyConstraint(
            ["backup_id"], ["agents.id"], name="fk_customer_managers_backup_id_agents"
        ),
        sa.PrimaryKeyConstraint("customer_id", name="pk_customer_managers"),
    )
    op.create_index("ix_customer_managers_manager_id", "customer_managers", ["manager_id"])
    op.create_index("ix_customer_managers_backup_id", "customer_managers", ["backup_id"])
    op.create_table(
        "portfolio_handovers",
        sa.Column("id", BigId, nullable=False),
        sa.Column("from_agent_id", BigId, nullable=False),
        sa.Column("to_agent_id", BigId, nullable=False),
        sa.Column("by_agent_id", BigId, nullable=True),
        sa.Column("customer_ids", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("at", When, nullable=False),
        sa.ForeignKeyConstraint(
            ["from_agent_id"], ["agents.id"], name="fk_portfolio_handovers_from_agent_id_agents"
        ),
        sa.ForeignKeyConstraint(
            ["to_agent_id"], ["agents.id"], name="fk_portfolio_handovers_to_agent_id_agents"
        ),
        sa.ForeignKeyConstraint(
            ["by_agent_id"], ["agents.id"], name="fk_portfolio_handovers_by_agent_id_agents"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_portfolio_handovers"),
    )
    op.create_table(
        "routing_rules",
        sa.Column("id", BigId, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("team_id", BigId, nullable=True),
        sa.Column("skills", sa.JSON(), nullable=False),
        sa.Column("priority", sa.String(16), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name="fk_routing_rules_team_id_teams", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_routing_rules"),
    )
    op.create_table(
        "routing_holds",
        sa.Column("ticket_id", BigId, nullable=False),
        sa.Column("urgency", sa.Integer(), nullable=False),
        sa.Column("held_since", When, nullable=False),
        sa.Column("team_id", BigId, nullable=True),
        sa.Column("wait_for_id", BigId, nullable=True),
        sa.Column("wait_until", When, nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name="fk_routing_holds_ticket_id_tickets",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name="fk_routing_holds_team_id_teams", ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["wait_for_id"], ["agents.id"], name="fk_routing_holds_wait_for_id_agents"
        ),
        sa.PrimaryKeyConstraint("ticket_id", name="pk_routing_holds"),
    )
    op.create_index("ix_routing_holds_order", "routing_holds", ["urgency", "held_since"])
    op.create_table(
        "routing_decisions",
        sa.Column("id", BigId, nullable=False),
        sa.Column("ticket_id", BigId, nullable=False),
        sa.Column("at", When, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("agent_id", BigId, nullable=True),
        sa.Column("actor_id", BigId, nullable=True),
        sa.Column("trigger", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name="fk_routing_decisions_ticket_id_tickets",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name="fk_routing_decisions_agent_id_agents"
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["agents.id"], name="fk_routing_decisions_actor_id_agents"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_routing_decisions"),
    )
    op.create_index("ix_routing_decisions_ticket", "routing_decisions", ["ticket_id", "id"])
    op.create_index("ix_tickets_assignee_load", "tickets", ["assignee_id", "status", "channel"])
    op.create_index("ix_team_members_agent_id", "team_members", ["agent_id"])


def downgrade() -> None:
    op.drop_index("ix_team_members_agent_id", table_name="team_members")
    op.drop_index("ix_tickets_assignee_load", table_name="tickets")
    op.drop_index("ix_routing_decisions_ticket", table_name="routing_decisions")
    op.drop_table("routing_decisions")
    op.drop_index("ix_routing_holds_order", table_name="routing_holds")
    op.drop_table("routing_holds")
    op.drop_table("routing_rules")
    op.drop_table("portfolio_handovers")
    op.drop_index("ix_customer_managers_backup_id", table_name="customer_managers")
    op.drop_index("ix_customer_managers_manager_id", table_name="customer_managers")
    op.drop_table("customer_managers")
    op.drop_table("team_routing")
    op.drop_table("routing_profiles")
