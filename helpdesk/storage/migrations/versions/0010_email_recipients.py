"""email participants get a role: copied on replies, a request an agent decides, or removed

Existing participants were all copied on replies and stay so.

Revision ID: 0010
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("email_participants") as batch:
        batch.add_column(sa.Column("role", sa.String(16), nullable=False, server_default="copied"))


def downgrade() -> None:
    with op.batch_alter_table("email_participants") as batch:
        batch.drop_column("role")
