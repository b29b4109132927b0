"""attachment bytes in the database, so every process sharing it can read them

Files written by earlier versions stay in `<data_dir>/attachments`; the store reads a file from
there when its row is missing and copies it in (see `helpdesk/storage/attachments.py`).
Downgrading drops the table: files received after the upgrade exist only in it.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "attachment_blobs",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name="pk_attachment_blobs"),
    )


def downgrade() -> None:
    op.drop_table("attachment_blobs")
