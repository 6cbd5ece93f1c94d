"""an organisation's name in each language: org_profiles.name -> name_zh, name_en

The single mixed name ("民政科 Civil Affairs") is split at the first space after which there
is no Chinese and before which there is ("民政科", "Civil Affairs"); a name that does not
split is copied to both (an empty one: the code). A sealed row keeps its old name in
``legacy_name``: its seal is over that name, and ``ledger.seal.row_sealed`` checks it and the
split (the same rule as :func:`ledger.seal.split_legacy_name`; this copy is frozen with the
migration). Renaming an organisation seals both names and clears ``legacy_name``.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 06:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _cjk(text: str) -> bool:
    return any("\u2e80" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" or "\uff00" <= ch <= "\uffef" for ch in text)


def _split(name: str, code: str) -> tuple[str, str]:
    text = (name or "").strip()
    if not text:
        return code, code
    for i, ch in enumerate(text):
        if ch.isspace():
            head, tail = text[:i].strip(), text[i:].strip()
            if head and tail and _cjk(head) and not _cjk(tail) and any(c.isascii() and c.isalpha() for c in tail):
                return head, tail
    return text, text


_profiles = sa.table(
    "org_profiles",
    sa.column("org_id", sa.String),
    sa.column("code", sa.String),
    sa.column("name", sa.String),
    sa.column("name_zh", sa.String),
    sa.column("name_en", sa.String),
    sa.column("legacy_name", sa.String),
    sa.column("seal", sa.LargeBinary),
)


def upgrade() -> None:
    with op.batch_alter_table("org_profiles") as batch:
        batch.add_column(sa.Column("name_zh", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("name_en", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("legacy_name", sa.String(length=200), nullable=True))
    db = op.get_bind()
    rows = db.execute(sa.select(_profiles.c.org_id, _profiles.c.code, _profiles.c.name, _profiles.c.seal)).all()
    for org_id, code, name, seal in rows:
        zh, en = _split(name, code)
        db.execute(
            _profiles.update()
            .where(_profiles.c.org_id == org_id)
            .values(name_zh=zh, name_en=en, legacy_name=None if seal is None else name)
        )
    with op.batch_alter_table("org_profiles") as batch:
        batch.alter_column("name_zh", existing_type=sa.String(length=200), nullable=False)
        batch.alter_column("name_en", existing_type=sa.String(length=200), nullable=False)
        batch.drop_column("name")
        batch.create_check_constraint("ck_org_profiles_names", "length(name_zh) > 0 AND length(name_en) > 0")


def downgrade() -> None:
    """Back to one name: the sealed old name where there is one, else both names joined
    (a row sealed with both names then no longer fits its seal under the older code)."""
    with op.batch_alter_table("org_profiles") as batch:
        batch.drop_constraint("ck_org_profiles_names", type_="check")
        batch.add_column(sa.Column("name", sa.String(length=200), nullable=True))
    db = op.get_bind()
    rows = db.execute(
        sa.select(_profiles.c.org_id, _profiles.c.name_zh, _profiles.c.name_en, _profiles.c.legacy_name)
    ).all()
    for org_id, zh, en, legacy in rows:
        name = legacy if legacy is not None else (zh if zh == en else f"{zh} {en}")
        db.execute(_profiles.update().where(_profiles.c.org_id == org_id).values(name=name))
    with op.batch_alter_table("org_profiles") as batch:
        batch.alter_column("name", existing_type=sa.String(length=200), nullable=False)
        batch.drop_column("legacy_name")
        batch.drop_column("name_en")
        batch.drop_column("name_zh")
