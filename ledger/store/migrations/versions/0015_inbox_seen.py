"""inbox_seen: which items of a resident's inbox the resident has read (ledger.inbox)

The inbox's items are derived from the access log and the chain and are not stored; only the
resident's read marks are, one sealed row per item read.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 12:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox_seen",
        sa.Column("resident", sa.String(length=42), nullable=False),
        sa.Column("item_key", sa.String(length=80), nullable=False),
        sa.Column("seen_at", sa.BigInteger(), nullable=False),
        sa.Column("seal", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("resident", "item_key"),
    )


def downgrade() -> None:
    op.drop_table("inbox_seen")
