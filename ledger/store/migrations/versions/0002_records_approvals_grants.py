"""records, approvals, grants

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 06:09:59.758504
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chain_grants",
        sa.Column("grant_id", sa.String(length=66), nullable=False),
        sa.Column("resident", sa.String(length=42), nullable=False),
        sa.Column("department", sa.String(length=66), nullable=False),
        sa.Column("categories", sa.BigInteger(), nullable=False),
        sa.Column("purpose", sa.Integer(), nullable=False),
        sa.Column("legal_basis", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.BigInteger(), nullable=False),
        sa.Column("valid_until", sa.BigInteger(), nullable=False),
        sa.Column("terms_hash", sa.String(length=66), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("relayer", sa.String(length=42), nullable=True),
        sa.Column("issued_block", sa.BigInteger(), nullable=False),
        sa.Column("issued_tx", sa.String(length=66), nullable=False),
        sa.Column("status_block", sa.BigInteger(), nullable=False),
        sa.Column("status_tx", sa.String(length=66), nullable=False),
        sa.PrimaryKeyConstraint("grant_id"),
    )
    with op.batch_alter_table("chain_grants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chain_grants_department"), ["department"], unique=False)
        batch_op.create_index(batch_op.f("ix_chain_grants_resident"), ["resident"], unique=False)

    op.create_table(
        "chain_record_versions",
        sa.Column("record_id", sa.String(length=66), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=66), nullable=False),
        sa.Column("prev_hash", sa.String(length=66), nullable=False),
        sa.Column("committee_id", sa.String(length=66), nullable=False),
        sa.Column("subject", sa.String(length=42), nullable=False),
        sa.Column("category", sa.Integer(), nullable=False),
        sa.Column("committer", sa.String(length=42), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("certified_tx", sa.String(length=66), nullable=True),
        sa.Column("signers", sa.Text(), nullable=True),
        sa.Column("erased", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("record_id", "version"),
    )
    with op.batch_alter_table("chain_record_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chain_record_versions_committee_id"), ["committee_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_chain_record_versions_subject"), ["subject"], unique=False)

    op.create_table(
        "grants",
        sa.Column("grant_id", sa.String(length=66), nullable=False),
        sa.Column("resident", sa.String(length=42), nullable=False),
        sa.Column("department", sa.String(length=66), nullable=False),
        sa.Column("categories", sa.BigInteger(), nullable=False),
        sa.Column("purpose", sa.Integer(), nullable=False),
        sa.Column("legal_basis", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.BigInteger(), nullable=False),
        sa.Column("valid_until", sa.BigInteger(), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.Column("terms_hash", sa.String(length=66), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("relayer", sa.String(length=42), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("status_tx", sa.String(length=66), nullable=True),
        sa.PrimaryKeyConstraint("grant_id"),
    )
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_grants_department"), ["department"], unique=False)
        batch_op.create_index(batch_op.f("ix_grants_resident"), ["resident"], unique=False)

    op.create_table(
        "records",
        sa.Column("record_id", sa.String(length=66), nullable=False),
        sa.Column("committee_id", sa.String(length=66), nullable=False),
        sa.Column("subject", sa.String(length=42), nullable=False),
        sa.Column("category", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=42), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("erase_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("record_id"),
    )
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_records_committee_id"), ["committee_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_records_subject"), ["subject"], unique=False)

    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("record_id", sa.String(length=66), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=66), nullable=False),
        sa.Column("signer", sa.String(length=42), nullable=False),
        sa.Column("signature", sa.String(length=132), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["records.record_id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("record_id", "version", "signer", name="uq_approvals_signer"),
    )
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_approvals_record_id"), ["record_id"], unique=False)

    op.create_table(
        "record_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("record_id", sa.String(length=66), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column("salt", sa.String(length=66), nullable=True),
        sa.Column("content_hash", sa.String(length=66), nullable=False),
        sa.Column("prev_hash", sa.String(length=66), nullable=False),
        sa.Column("created_by", sa.String(length=42), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["records.record_id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("record_id", "version", name="uq_record_versions_version"),
    )
    with op.batch_alter_table("record_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_record_versions_record_id"), ["record_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("record_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_record_versions_record_id"))

    op.drop_table("record_versions")
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_approvals_record_id"))

    op.drop_table("approvals")
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_records_subject"))
        batch_op.drop_index(batch_op.f("ix_records_committee_id"))

    op.drop_table("records")
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grants_resident"))
        batch_op.drop_index(batch_op.f("ix_grants_department"))

    op.drop_table("grants")
    with op.batch_alter_table("chain_record_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chain_record_versions_subject"))
        batch_op.drop_index(batch_op.f("ix_chain_record_versions_committee_id"))

    op.drop_table("chain_record_versions")
    with op.batch_alter_table("chain_grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chain_grants_resident"))
        batch_op.drop_index(batch_op.f("ix_chain_grants_department"))

    op.drop_table("chain_grants")
