"""service levels: durable SLA timers and the escalations they raise; complaints' remedies
and root causes, and the detector's suggestions

Revision ID: 0015
Revises: 0016
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sla_timers",
        sa.Column("id", BigId, nullable=False),
        sa.Column("ticket_id", BigId, nullable=False),
        sa.Column("metric", sa.String(16), nullable=False),
        sa.Column("policy", sa.String(64), nullable=False),
        sa.Column("calendar", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("target_seconds", sa.Float(), nullable=False),
        sa.Column("used_seconds", sa.Float(), nullable=False),
        sa.Column("started_at", When, nullable=False),
        sa.Column("resumed_at", When, nullable=True),
        sa.Column("due_at", When, nullable=True),
        sa.Column("next_fire_at", When, nullable=True),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("breached_at", When, nullable=True),
        sa.Column("reassure_at", When, nullable=True),
        sa.Column("reassured_at", When, nullable=True),
        sa.Column("ended_at", When, nullable=True),
        sa.Column("updated_at", When, nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name="fk_sla_timers_ticket_id_tickets",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sla_timers"),
    )
    op.create_index("ix_sla_timers_next_fire_at", "sla_timers", ["next_fire_at"])
    op.create_index("ix_sla_timers_ticket_id_metric", "sla_timers", ["ticket_id", "metric"])
    op.create_index("ix_sla_timers_reassure_at", "sla_timers", ["reassure_at"])
    op.create_table(
        "sla_escalations",
        sa.Column("id", BigId, nullable=False),
        sa.Column("ticket_id", BigId, nullable=False),
        sa.Column("timer_id", BigId, nullable=True),
        sa.Column("level", sa.String(24), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("raised_at", When, nullable=False),
        sa.Column("notify_after", When, nullable=True),
        sa.Column("notified_at", When, nullable=True),
        sa.Column("acknowledged_at", When, nullable=True),
        sa.Column("acknowledged_by", BigId, nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name="fk_sla_escalations_ticket_id_tickets",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["timer_id"],
            ["sla_timers.id"],
            name="fk_sla_escalations_timer_id_sla_timers",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["acknowledged_by"], ["agents.id"], name="fk_sla_escalations_acknowledged_by_agents"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sla_escalations"),
    )
    op.create_index("ix_sla_escalations_ticket_id", "sla_escalations", ["ticket_id"])
    op.create_index("ix_sla_escalations_notify_after", "sla_escalations", ["notify_after"])

    op.create_table(
        "complaint_resolutions",
        sa.Column("id", BigId, nullable=False),
        sa.Column("ticket_id", BigId, nullable=False),
        sa.Column("root_cause", sa.String(100), nullable=False),
        sa.Column("remedy", sa.Text(), nullable=False),
        sa.Column("resolved_by", BigId, nullable=True),
        sa.Column("resolved_at", When, nullable=False),
        sa.Column("follow_up_at", When, nullable=True),
        sa.Column("follow_up_sent_at", When, nullable=True),
        sa.Column("follow_up_answer", sa.String(8), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name="fk_complaint_resolutions_ticket_id_tickets",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by"], ["agents.id"], name="fk_complaint_resolutions_resolved_by_agents"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_complaint_resolutions"),
    )
    op.create_index("ix_complaint_resolutions_ticket_id", "complaint_resolutions", ["ticket_id"])
    op.create_index(
        "ix_complaint_resolutions_follow_up_at", "complaint_resolutions", ["follow_up_at"]
    )
    op.create_table(
        "complaint_suggestions",
        sa.Column("id", BigId, nullable=False),
        sa.Column("ticket_id", BigId, nullable=False),
        sa.Column("message_id", BigId, nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("decided_at", When, nullable=True),
        sa.Column("decided_by", BigId, nullable=True),
        sa.Column("confirmed", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name="fk_complaint_suggestions_ticket_id_tickets",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name="fk_complaint_suggestions_message_id_messages",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["agents.id"], name="fk_complaint_suggestions_decided_by_agents"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_complaint_suggestions"),
    )
    op.create_index("ix_complaint_suggestions_ticket_id", "complaint_suggestions", ["ticket_id"])


def downgrade() -> None:
    op.drop_table("complaint_suggestions")
    op.drop_table("complaint_resolutions")
    op.drop_table("sla_escalations")
    op.drop_table("sla_timers")
