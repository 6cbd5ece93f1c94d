"""rights_requests: residents' requests to correct or delete a record, or objecting to a use of
their data (ledger.rights), with the decision on each

Personal data of the request (the field, the value proposed, the comment, the reason of a
decision) stays here, never on chain; each decision is also a signed statement and a leaf of
the access log, which ``gridledger verify`` checks the row against.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 12:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rights_requests",
        sa.Column("request_id", sa.String(length=66), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("resident", sa.String(length=42), nullable=False),
        sa.Column("record_id", sa.String(length=66), nullable=True),
        sa.Column("category", sa.Integer(), nullable=True),
        sa.Column("committee_id", sa.String(length=66), nullable=True),
        sa.Column("office_id", sa.String(length=66), nullable=True),
        sa.Column("access_seq", sa.BigInteger(), nullable=True),
        sa.Column("field", sa.String(length=64), nullable=True),
        sa.Column("proposed", sa.Text(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("asked_by", sa.String(length=42), nullable=False),
        sa.Column("asked_at", sa.BigInteger(), nullable=False),
        sa.Column("due_at", sa.BigInteger(), nullable=False),
        sa.Column("draft_version", sa.Integer(), nullable=True),
        sa.Column("drafted_by", sa.String(length=42), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("basis", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("decider", sa.String(length=42), nullable=True),
        sa.Column("decided_at", sa.BigInteger(), nullable=True),
        sa.Column("statement", sa.Text(), nullable=True),
        sa.Column("signature", sa.String(length=132), nullable=True),
        sa.Column("decision_seq", sa.BigInteger(), nullable=True),
        sa.Column("seal", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("request_id"),
        sa.UniqueConstraint("decision_seq", name="uq_rights_requests_decision_seq"),
    )
    op.create_index("ix_rights_requests_resident", "rights_requests", ["resident"])
    op.create_index("ix_rights_requests_record_id", "rights_requests", ["record_id"])
    op.create_index("ix_rights_requests_status_due", "rights_requests", ["status", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_rights_requests_status_due", table_name="rights_requests")
    op.drop_index("ix_rights_requests_record_id", table_name="rights_requests")
    op.drop_index("ix_rights_requests_resident", table_name="rights_requests")
    op.drop_table("rights_requests")
