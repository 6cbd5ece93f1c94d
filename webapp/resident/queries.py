"""What the resident pages read from the store besides the library's services: the
organisations' names, the salts and thresholds a record's page needs, and counts for the
home page. Record content and the access history come from the library (logged, checked
against the chain), not from here.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, or_, select

from ledger.store.models import AccessEvent, EmergencyReview, Organisation, OrgProfile, Record, RecordVersion

from ..services import services


def org_profiles() -> list[OrgProfile]:
    with services().ledger.store.session() as db:
        return list(db.scalars(select(OrgProfile)))


def departments_under(office_id: str) -> list[OrgProfile]:
    """The profiles of the departments under the office."""
    with services().ledger.store.session() as db:
        return list(
            db.scalars(
                select(OrgProfile)
                .join(Organisation, Organisation.org_id == OrgProfile.org_id)
                .where(Organisation.kind == "department", Organisation.parent_id == office_id)
            )
        )


def department_ids_under(office_id: str) -> list[str]:
    with services().ledger.store.session() as db:
        return list(
            db.scalars(
                select(Organisation.org_id).where(
                    Organisation.kind == "department", Organisation.parent_id == office_id
                )
            )
        )


def salts_of(record_ids: Iterable[str]) -> dict[tuple[str, int], str | None]:
    """Each stored version's salt (None once erased), by (record id, version)."""
    with services().ledger.store.session() as db:
        return {
            (r.record_id, r.version): r.salt
            for r in db.scalars(select(RecordVersion).where(RecordVersion.record_id.in_(list(record_ids))))
        }


def committee_thresholds() -> dict[str, int]:
    with services().ledger.store.session() as db:
        return {o.org_id: o.threshold for o in db.scalars(select(Organisation).where(Organisation.kind == "committee"))}


def review_decisions(access_seqs: list[int]) -> dict[int, str]:
    """The office's decision on each of these emergency accesses that has been reviewed."""
    if not access_seqs:
        return {}
    with services().ledger.store.engine.connect() as db:
        rows = db.execute(
            select(EmergencyReview.access_seq, EmergencyReview.decision).where(
                EmergencyReview.access_seq.in_(access_seqs)
            )
        ).all()
    return {int(seq): str(decision) for seq, decision in rows}


def resident_numbers(access_seqs: list[int], resident: str) -> dict[int, int]:
    """The resident's own number (``resident_seq``) of each of these accesses to them."""
    if not access_seqs:
        return {}
    with services().ledger.store.engine.connect() as db:
        rows = db.execute(
            select(AccessEvent.seq, AccessEvent.resident_seq).where(
                AccessEvent.seq.in_(access_seqs), AccessEvent.resident == resident
            )
        ).all()
    return {int(seq): int(number) for seq, number in rows}


def accesses_since(resident: str, since_ms: int, *, disclosed_by: str) -> int:
    """Accesses to the resident since ``since_ms``; one under legal hold is not counted
    before its date (``disclosed_by``, ISO): its time would tell."""
    with services().ledger.store.session() as db:
        return int(
            db.scalar(
                select(func.count())
                .select_from(AccessEvent)
                .where(
                    AccessEvent.resident == resident,
                    AccessEvent.time >= since_ms,
                    or_(AccessEvent.disclose_on.is_(None), AccessEvent.disclose_on <= disclosed_by),
                )
            )
            or 0
        )


def record_count(subject: str) -> int:
    with services().ledger.store.session() as db:
        return int(db.scalar(select(func.count()).select_from(Record).where(Record.subject == subject)) or 0)
