"""worker failover: leases of the jobs only one worker may do at a time

``worker_leases`` holds one row per job (``anchoring``): the worker holding it (host:pid:random)
and when it was taken, last renewed and expires, in milliseconds since the epoch (UTC). See
ledger/lease.py.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-16 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "worker_leases",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("acquired_at", sa.BigInteger(), nullable=False),
        sa.Column("renewed_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("worker_leases")
