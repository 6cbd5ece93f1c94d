"""consent_requests: a department asks a resident for a grant; the resident's answer

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 12:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consent_requests",
        sa.Column("request_id", sa.String(length=66), nullable=False),
        sa.Column("resident", sa.String(length=42), nullable=False),
        sa.Column("department", sa.String(length=66), nullable=False),
        sa.Column("office", sa.String(length=66), nullable=False),
        sa.Column("officer", sa.String(length=42), nullable=False),
        sa.Column("categories", sa.BigInteger(), nullable=False),
        sa.Column("purpose", sa.Integer(), nullable=False),
        sa.Column("legal_basis", sa.Integer(), nullable=False),
        sa.Column("valid_until", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("asked_at", sa.BigInteger(), nullable=False),
        sa.Column("answer_by", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("decided_at", sa.BigInteger(), nullable=True),
        sa.Column("decided_by", sa.String(length=42), nullable=True),
        sa.Column("relayer", sa.String(length=42), nullable=True),
        sa.Column("decline_reason", sa.Text(), nullable=True),
        sa.Column("grant_id", sa.String(length=66), nullable=True),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("seal", sa.LargeBinary(), nullable=True),
        sa.CheckConstraint("status IN ('waiting', 'approved', 'declined')", name="ck_consent_requests_status"),
        sa.PrimaryKeyConstraint("request_id"),
        sa.UniqueConstraint("grant_id"),
    )
    op.create_index("ix_consent_requests_resident", "consent_requests", ["resident"])
    op.create_index("ix_consent_requests_department", "consent_requests", ["department"])
    op.create_index("ix_consent_requests_office", "consent_requests", ["office"])
    op.create_index("ix_consent_requests_asked_at", "consent_requests", ["asked_at"])
    op.create_index("ix_consent_requests_resident_status", "consent_requests", ["resident", "status"])


def downgrade() -> None:
    op.drop_index("ix_consent_requests_resident_status", table_name="consent_requests")
    op.drop_index("ix_consent_requests_asked_at", table_name="consent_requests")
    op.drop_index("ix_consent_requests_office", table_name="consent_requests")
    op.drop_index("ix_consent_requests_department", table_name="consent_requests")
    op.drop_index("ix_consent_requests_resident", table_name="consent_requests")
    op.drop_table("consent_requests")
