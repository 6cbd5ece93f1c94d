"""restores and the access log's gaps: what a restore from a backup could not bring back

``restores`` keeps each ``gridledger restore`` (the backup's chain head and the chain's head
at the restore: the blocks whose off-chain rows are lost); ``log_gaps`` the events anchored on
chain but lost with it, so the log goes on numbering after them. Both sealed.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 18:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "restores",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("backup_at", sa.BigInteger(), nullable=False),
        sa.Column("backup_block", sa.BigInteger(), nullable=False),
        sa.Column("restored_block", sa.BigInteger(), nullable=False),
        sa.Column("log_size", sa.BigInteger(), nullable=False),
        sa.Column("resumed_at", sa.BigInteger(), nullable=False),
        sa.Column("manifest_sha256", sa.String(length=64), nullable=False),
        sa.Column("seal", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "log_gaps",
        sa.Column("start_seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("end_seq", sa.BigInteger(), nullable=False),
        sa.Column("restore_id", sa.Integer(), nullable=False),
        sa.Column("checkpoint_index", sa.BigInteger(), nullable=False),
        sa.Column("checkpoint_tx", sa.String(length=66), nullable=False),
        sa.Column("seal", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["restore_id"], ["restores.id"]),
        sa.PrimaryKeyConstraint("start_seq"),
    )
    op.create_index("ix_log_gaps_restore_id", "log_gaps", ["restore_id"])


def downgrade() -> None:
    op.drop_index("ix_log_gaps_restore_id", table_name="log_gaps")
    op.drop_table("log_gaps")
    op.drop_table("restores")
