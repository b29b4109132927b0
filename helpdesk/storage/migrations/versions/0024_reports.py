"""reports: the recommend-to-a-friend answer (0-10) on a ticket, which the recommend score
reads

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


def upgrade() -> None:
    # Plain ALTER TABLE: a batch rebuild of `tickets` on SQLite would cascade-delete its messages.
    op.add_column("tickets", sa.Column("recommend_score", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("tickets", "recommend_score")
