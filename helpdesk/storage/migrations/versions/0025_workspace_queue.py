"""the workspace's queue: running SLA timers read in due order

Revision ID: 0025
Revises: 0017
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0025"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_sla_timers_status_due_at", "sla_timers", ["status", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_sla_timers_status_due_at", table_name="sla_timers")
