"""the trust boundary: seals on the rows the chain cannot vouch for; integrity check runs

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 10:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SEALED = ("accounts", "org_profiles", "web_users", "api_tokens", "access_log", "log_head")


def upgrade() -> None:
    for table in SEALED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("seal", sa.LargeBinary(), nullable=True))
    op.create_table(
        "verify_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=False),
        sa.Column("by", sa.String(length=66), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("seal", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_verify_runs_at", "verify_runs", ["at"])


def downgrade() -> None:
    op.drop_index("ix_verify_runs_at", table_name="verify_runs")
    op.drop_table("verify_runs")
    for table in reversed(SEALED):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("seal")
