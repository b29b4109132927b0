"""reports: the recommend-to-a-friend answer (0-10) on a ticket, which the recommend score
reads; an index of agents' replies by ticket, for first-contact resolution

Revision ID: 0024
Revises: 0017
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out: a migration never imports the models, which move on.
AGENT_REPLY = "direction = 'out' AND author_type = 'agent'"


def upgrade() -> None:
    # Plain ALTER TABLE: a batch rebuild of `tickets` on SQLite would cascade-delete its messages.
    op.add_column("tickets", sa.Column("recommend_score", sa.Integer(), nullable=True))
    # Partial: only agents' replies, so a customer's message costs no index entry. Counting a
    # ticket's replies reads this index alone, not every message of every ticket.
    op.create_index(
        "ix_messages_agent_replies",
        "messages",
        ["ticket_id"],
        postgresql_where=sa.text(AGENT_REPLY),
        sqlite_where=sa.text(AGENT_REPLY),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_agent_replies", "messages")
    op.drop_column("tickets", "recommend_score")
