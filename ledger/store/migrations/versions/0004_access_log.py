"""the access log: leaves, subtree hashes, checkpoints, emergency reviews

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 08:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    head = op.create_table(
        "log_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("hashed", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(head, [{"id": 1, "size": 0, "hashed": 0}])
    op.create_table(
        "access_log",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("resident", sa.String(length=42), nullable=False),
        sa.Column("resident_seq", sa.BigInteger(), nullable=False),
        sa.Column("leaf", sa.LargeBinary(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(), nullable=False),
        sa.Column("time", sa.BigInteger(), nullable=False),
        sa.Column("accessor", sa.String(length=42), nullable=False),
        sa.Column("organisation", sa.String(length=66), nullable=True),
        sa.Column("record_id", sa.String(length=66), nullable=True),
        sa.Column("action", sa.String(length=12), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("basis", sa.String(length=12), nullable=True),
        sa.Column("grant_id", sa.String(length=66), nullable=True),
        sa.Column("disclose_on", sa.String(length=10), nullable=True),
        sa.Column("justification", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("resident", "resident_seq", name="uq_access_log_resident_seq"),
    )
    with op.batch_alter_table("access_log", schema=None) as batch_op:
        batch_op.create_index("ix_access_log_org_time", ["organisation", "time"], unique=False)
        batch_op.create_index("ix_access_log_time", ["time"], unique=False)
        batch_op.create_index("ix_access_log_record", ["record_id"], unique=False)
    op.create_table(
        "log_nodes",
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("idx", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx"),
    )
    op.create_table(
        "log_checkpoints",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root", sa.String(length=66), nullable=False),
        sa.Column("prev_size", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("anchored_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("chain_index", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("size"),
        sa.UniqueConstraint("tx_hash"),
    )
    op.create_table(
        "emergency_reviews",
        sa.Column("access_seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("decision", sa.String(length=10), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("reviewer", sa.String(length=42), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(length=132), nullable=False),
        sa.Column("review_seq", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("access_seq"),
    )


def downgrade() -> None:
    op.drop_table("emergency_reviews")
    op.drop_table("log_checkpoints")
    op.drop_table("log_nodes")
    with op.batch_alter_table("access_log", schema=None) as batch_op:
        batch_op.drop_index("ix_access_log_record")
        batch_op.drop_index("ix_access_log_time")
        batch_op.drop_index("ix_access_log_org_time")
    op.drop_table("access_log")
    op.drop_table("log_head")
