"""resident_hints: each resident's ID number and address, masked, for lists (ledger.hints)

Filled from the newest stored version of each identity and residence record not erased, as
``Records`` fills it from now on. The masking rules are a frozen copy of
:func:`ledger.hints.mask_id_number` and :func:`ledger.hints.mask_address` (a test checks that
they agree).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 07:20:00
"""

import json
import re
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

IDENTITY, RESIDENCE = 0, 2
_BUILDING = re.compile(r"^(.*?[0-9０-９一二三四五六七八九十百]+\s*(?:号楼|幢|栋|座))")
_NUMBER = re.compile(r"^(.*?[0-9０-９]+\s*号)")
_FIRST_DIGIT = re.compile(r"[0-9０-９]")


def _mask_id_number(text: str | None) -> str:
    value = re.sub(r"\s+", "", text or "").upper()
    if len(value) == 18 and value[:17].isdigit() and (value[17].isdigit() or value[17] == "X"):
        return value[:6] + "*" * 8 + value[-4:]
    if len(value) == 15 and value.isdigit():
        return value[:6] + "*" * 6 + value[-3:]
    return "*" * min(len(value), 18)


def _mask_address(text: str | None) -> str:
    value = re.sub(r"\s+", " ", text or "").strip()
    for rule in (_BUILDING, _NUMBER):
        found = rule.match(value)
        if found:
            return found.group(1).strip()[:200]
    digit = _FIRST_DIGIT.search(value)
    return (value[: digit.start()] if digit else value).strip(" -,，、")[:200]


_records = sa.table(
    "records",
    sa.column("record_id", sa.String),
    sa.column("subject", sa.String),
    sa.column("category", sa.Integer),
    sa.column("erased_at", sa.DateTime),
)
_versions = sa.table(
    "record_versions",
    sa.column("id", sa.Integer),
    sa.column("record_id", sa.String),
    sa.column("version", sa.Integer),
    sa.column("content", sa.Text),
)


def upgrade() -> None:
    hints = op.create_table(
        "resident_hints",
        sa.Column("resident", sa.String(length=42), nullable=False),
        sa.Column("id_number_masked", sa.String(length=18), nullable=True),
        sa.Column("id_record_id", sa.String(length=66), nullable=True),
        sa.Column("id_version", sa.Integer(), nullable=True),
        sa.Column("address_masked", sa.String(length=200), nullable=True),
        sa.Column("address_record_id", sa.String(length=66), nullable=True),
        sa.Column("address_version", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("resident"),
    )
    op.create_index("ix_resident_hints_id_record_id", "resident_hints", ["id_record_id"])
    op.create_index("ix_resident_hints_address_record_id", "resident_hints", ["address_record_id"])
    db = op.get_bind()
    rows = db.execute(
        sa.select(
            _records.c.subject, _records.c.category, _versions.c.record_id, _versions.c.version, _versions.c.content
        )
        .join(_versions, _versions.c.record_id == _records.c.record_id)
        .where(
            _records.c.category.in_((IDENTITY, RESIDENCE)),
            _records.c.erased_at.is_(None),
            _versions.c.content.is_not(None),
        )
        .order_by(_versions.c.id)  # the newest stored version last: it wins
    ).all()
    found: dict[str, dict[str, object]] = {}
    for subject, category, record_id, version, content in rows:
        data = json.loads(content)
        hint = found.setdefault(subject, {"resident": subject})
        if category == IDENTITY:
            hint.update(id_number_masked=_mask_id_number(str(data.get("id_number", ""))), id_record_id=record_id,
                        id_version=version)  # fmt: skip
        else:
            hint.update(address_masked=_mask_address(str(data.get("address", ""))), address_record_id=record_id,
                        address_version=version)  # fmt: skip
    now = datetime.now(UTC)
    columns = (
        "id_number_masked",
        "id_record_id",
        "id_version",
        "address_masked",
        "address_record_id",
        "address_version",
    )
    if found:
        op.bulk_insert(hints, [{**dict.fromkeys(columns), **h, "updated_at": now} for h in found.values()])


def downgrade() -> None:
    op.drop_index("ix_resident_hints_address_record_id", table_name="resident_hints")
    op.drop_index("ix_resident_hints_id_record_id", table_name="resident_hints")
    op.drop_table("resident_hints")
