"""Masked hints: enough of a resident's identity for an officer to act on a list.

A list of grants shows each resident as a masked name; to tell two 李* apart and to know
whom to call on, an officer needs a masked ID number (``330203********1234``) and the
building the resident lives in (``海曙区白鹤街道白鹤小区3幢``, no flat). The full values are
record content and leave the store only through a logged read; the hints are derived from
them when a committee records or certifies a version (it holds the content then), masked
before they are stored, and kept in ``resident_hints``: never the full values, never on
chain. Erasing a record clears the hints taken from it.

The hints are for display only. Nothing decides anything from them; someone who edits the
table can make a list show a wrong building, not widen or hide an access, and ``verify
records`` masks each hint again from the version it names (see docs/reliability.md).
"""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from .categories import Category
from .store.models import ResidentHint, utcnow

#: How many characters of an 18-character ID number stay visible at each end: the region
#: code (6) and the sequence number with its check character (4); the birth date is hidden.
ID_HEAD, ID_TAIL = 6, 4
#: A 15-character ID (issued before 1999) has a 6-digit birth date and a 3-digit sequence.
OLD_ID_TAIL = 3
#: Where a building-level address ends: the building (幢, 栋, 号楼, 座) or, lacking one, a
#: street number (号). What follows (unit, floor, flat) is dropped.
_BUILDING = re.compile(r"^(.*?[0-9０-９一二三四五六七八九十百]+\s*(?:号楼|幢|栋|座))")
_NUMBER = re.compile(r"^(.*?[0-9０-９]+\s*号)")
_FIRST_DIGIT = re.compile(r"[0-9０-９]")
#: The longest hints stored (the columns' sizes).
ID_MAX, ADDRESS_MAX = 18, 200


def mask_id_number(text: str | None) -> str:
    """``330203199001011234`` -> ``330203********1234``; a 15-character ID keeps its region
    and sequence (``330203******123``). Anything else (too short, too long, letters) is
    masked whole: a hint must never show more than a well-formed ID would."""
    value = re.sub(r"\s+", "", text or "").upper()
    if len(value) == 18 and value[:17].isdigit() and (value[17].isdigit() or value[17] == "X"):
        return value[:ID_HEAD] + "*" * (18 - ID_HEAD - ID_TAIL) + value[-ID_TAIL:]
    if len(value) == 15 and value.isdigit():
        return value[:ID_HEAD] + "*" * (15 - ID_HEAD - OLD_ID_TAIL) + value[-OLD_ID_TAIL:]
    return "*" * min(len(value), ID_MAX)


def mask_address(text: str | None) -> str:
    """The address down to the building: up to the first 幢/栋/号楼/座 after a number, else
    up to the first street number (…路88号), else whatever comes before the first digit
    (so no flat number is ever kept). Whitespace is collapsed."""
    value = re.sub(r"\s+", " ", text or "").strip()
    for rule in (_BUILDING, _NUMBER):
        found = rule.match(value)
        if found:
            return found.group(1).strip()[:ADDRESS_MAX]
    digit = _FIRST_DIGIT.search(value)
    return (value[: digit.start()] if digit else value).strip(" -,，、")[:ADDRESS_MAX]


def note_version(session: Session, *, subject: str, category: int, record_id: str, version: int, content: Any) -> None:
    """Updates the resident's hints from a version of an identity or residence record, in
    the caller's transaction; other categories hold no hint."""
    if category == Category.IDENTITY:
        values = {
            "id_number_masked": mask_id_number(str(content.get("id_number", ""))),
            "id_record_id": record_id,
            "id_version": version,
        }
    elif category == Category.RESIDENCE:
        values = {
            "address_masked": mask_address(str(content.get("address", ""))),
            "address_record_id": record_id,
            "address_version": version,
        }
    else:
        return
    hint = session.get(ResidentHint, subject)
    if hint is None:  # made if missing without failing a concurrent first write for the same resident
        insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        session.execute(insert(ResidentHint).values(resident=subject, updated_at=utcnow()).on_conflict_do_nothing())
        hint = session.get(ResidentHint, subject)
        assert hint is not None
    for name, value in values.items():
        setattr(hint, name, value)
    hint.updated_at = utcnow()


def note_stored(session: Session, *, subject: str, category: int, record_id: str, version: int, stored: str) -> None:
    """:func:`note_version` from a version's stored canonical JSON."""
    note_version(
        session, subject=subject, category=category, record_id=record_id, version=version, content=json.loads(stored)
    )


def clear_record(session: Session, record_id: str) -> None:
    """Clears every hint taken from ``record_id`` (its erasure), in the caller's transaction."""
    now = utcnow()
    session.execute(
        update(ResidentHint)
        .where(ResidentHint.id_record_id == record_id)
        .values(id_number_masked=None, id_record_id=None, id_version=None, updated_at=now)
    )
    session.execute(
        update(ResidentHint)
        .where(ResidentHint.address_record_id == record_id)
        .values(address_masked=None, address_record_id=None, address_version=None, updated_at=now)
    )


def hints_of(session: Session, residents: list[str]) -> dict[str, ResidentHint]:
    """resident address -> their hints (those who have any)."""
    if not residents:
        return {}
    return {h.resident: h for h in session.scalars(select(ResidentHint).where(ResidentHint.resident.in_(residents)))}
