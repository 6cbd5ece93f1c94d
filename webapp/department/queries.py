"""What the department pages read from the store: names to show, record metadata, and the
department's slice of the access log.

Only metadata here: a record's content leaves the store only through
:meth:`ledger.access.Access.read`, which logs the read first. The access log can hold
millions of events, so every query on it is bounded (an index on ``(organisation, time)``
and a ``LIMIT``); nothing here loads the whole log.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, or_, select

from ledger import hints
from ledger.access import CHINA
from ledger.categories import Category
from ledger.history import organisation_leaf
from ledger.store.models import (
    AccessEvent,
    Account,
    EmergencyReview,
    GrantTerms,
    Member,
    Organisation,
    OrgProfile,
    Record,
    RecordVersion,
    ResidentHint,
    WebUser,
)

from ..names import org_name
from ..services import services

#: Events on one page of the department's access history.
PAGE_SIZE = 50


def _ms(at: datetime | None) -> int | None:
    if at is None:
        return None
    if at.tzinfo is None:  # SQLite hands back naive UTC
        at = at.replace(tzinfo=UTC)
    return int(at.timestamp() * 1000)


@dataclass(frozen=True)
class RecordMeta:
    """What may be shown of a record before it is opened: no content."""

    record_id: str
    subject: str
    category: Category
    committee_id: str
    committee_name: str
    office_id: str | None
    version: int
    certified_version: int | None
    updated_ms: int | None
    erased: bool


def records_of(residents: Iterable[str]) -> list[RecordMeta]:
    """The (not erased) records of these residents, metadata only."""
    wanted = sorted(set(residents))
    if not wanted:
        return []
    with services().ledger.store.session() as db:
        rows = db.execute(
            select(Record.record_id).where(Record.subject.in_(wanted), Record.erased_at.is_(None))
        ).scalars()
        return _metas(db, list(rows))


def record_meta(record_id: str) -> RecordMeta | None:
    with services().ledger.store.session() as db:
        found = _metas(db, [record_id])
    return found[0] if found else None


def _metas(db: Any, ids: list[str]) -> list[RecordMeta]:
    if not ids:
        return []
    records = db.execute(
        select(Record, OrgProfile)
        .outerjoin(OrgProfile, OrgProfile.org_id == Record.committee_id)
        .where(Record.record_id.in_(ids))
        .order_by(Record.category, Record.created_at)
    ).all()
    heads = {
        rid: (version, at)
        for rid, version, at in db.execute(
            select(RecordVersion.record_id, func.max(RecordVersion.version), func.max(RecordVersion.created_at))
            .where(RecordVersion.record_id.in_(ids))
            .group_by(RecordVersion.record_id)
        )
    }
    # What gates a page (whose record, which category, which office, erased or not) is the
    # chain's: the rows only propose the records; names and times are for display.
    view = services().ledger.view
    metas = []
    for record, committee in records:
        state = view.record(record.record_id)
        if state is None:
            continue  # not on chain (yet): nothing to show a department
        committee = view.organisation(state.committee_id)
        _version, at = heads.get(record.record_id, (0, None))
        metas.append(
            RecordMeta(
                record_id=state.record_id,
                subject=state.subject,
                category=Category(state.category),
                committee_id=state.committee_id,
                committee_name=org_name(committee) if committee is not None else state.committee_id[:10] + "…",
                office_id=None if committee is None else committee.parent_id,
                version=state.version,
                certified_version=state.certified_version or None,
                updated_ms=_ms(at),
                erased=state.erased,
            )
        )
    return metas


# -- the department's access log ---------------------------------------------------------------


def start_of_today_ms() -> int:
    now = datetime.now(CHINA)
    return int(now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() * 1000)


def reads_since(org_id: str, since_ms: int) -> dict[str, int]:
    """Allowed and refused reads of the department since a time (index on organisation, time)."""
    with services().ledger.store.session() as db:
        rows = db.execute(
            select(AccessEvent.outcome, func.count())
            .where(AccessEvent.organisation == org_id, AccessEvent.time >= since_ms)
            .group_by(AccessEvent.outcome)
        ).all()
    counts = {"allowed": 0, "refused": 0}
    counts.update({outcome: int(n) for outcome, n in rows})
    return counts


@dataclass(frozen=True)
class LoggedAccess:
    """One event of the department's access history, as shown."""

    seq: int
    time: int
    accessor: str
    record_id: str | None
    category: str | None
    basis: str | None
    purpose: int | None
    grant_id: str | None
    outcome: str
    reason: str | None
    justification: str | None
    disclose_on: str | None
    resident: str
    review: str | None  # approve | flag for a reviewed emergency read


@dataclass(frozen=True)
class HistoryPage:
    events: list[LoggedAccess]
    older: int | None  # the ``before`` cursor of the next (older) page, None on the last


def history(
    org_id: str,
    *,
    before: int | None = None,
    category: Category | None = None,
    outcome: str | None = None,
    limit: int = PAGE_SIZE,
) -> HistoryPage:
    """The department's events newest first, ``limit`` at a time; ``before`` is the seq of
    the last event of the previous page. Walks the ``(organisation, time)`` index backwards
    and stops after ``limit + 1`` rows, however long the log is."""
    query = select(AccessEvent).where(AccessEvent.organisation == org_id)
    with services().ledger.store.session() as db:
        if before is not None:
            cursor_time = db.scalar(
                select(AccessEvent.time).where(AccessEvent.seq == before, AccessEvent.organisation == org_id)
            )
            if cursor_time is not None:
                query = query.where(
                    and_(
                        AccessEvent.time <= cursor_time,
                        or_(AccessEvent.time < cursor_time, AccessEvent.seq < before),
                    )
                )
        if outcome is not None:
            query = query.where(AccessEvent.outcome == outcome)
        if category is not None:
            query = query.join(Record, Record.record_id == AccessEvent.record_id).where(
                Record.category == int(category)
            )
        rows = list(db.scalars(query.order_by(AccessEvent.time.desc(), AccessEvent.seq.desc()).limit(limit + 1)))
        more = len(rows) > limit
        rows = rows[:limit]
        reviews = dict(
            db.execute(
                select(EmergencyReview.access_seq, EmergencyReview.decision).where(
                    EmergencyReview.access_seq.in_([r.seq for r in rows])
                )
            ).all()
        )
    events = []
    for row in rows:
        found = organisation_leaf(row.leaf, row.justification, org_id)
        if found is None:
            continue  # the row's columns name this department; its leaf does not: never shown
        leaf, justification = found
        events.append(
            LoggedAccess(
                seq=row.seq,
                time=int(leaf.get("time") or 0),
                accessor=str(leaf.get("accessor")),
                record_id=leaf.get("recordId"),
                category=leaf.get("category"),
                basis=leaf.get("basis"),
                purpose=leaf.get("purpose"),
                grant_id=leaf.get("grantId"),
                outcome=str(leaf.get("outcome")),
                reason=leaf.get("reason"),
                justification=justification,
                disclose_on=leaf.get("disclosureDate"),
                resident=str(leaf.get("resident")),
                review=reviews.get(row.seq),
            )  # fmt: skip
        )
    return HistoryPage(events, events[-1].seq if more and events else None)


def grant_ids_from(resident: str, department_id: str) -> list[str]:
    """Ids of the grants the table has from ``resident`` to ``department_id`` (candidates:
    the caller confirms each on the chain)."""
    with services().ledger.store.session() as db:
        return list(
            db.scalars(
                select(GrantTerms.grant_id).where(
                    GrantTerms.resident == resident, GrantTerms.department == department_id
                )
            )
        )


def residents_named(text: str, candidates: Iterable[str]) -> set[str]:
    """Those of ``candidates`` (addresses) that ``text`` names: a web log-in's full name or
    the account's code exactly, the address (a prefix of at least six characters), or the
    last four characters of the ID number (those the list shows). Only the full name finds
    someone: the list shows names masked, a part of one finds nobody."""
    wanted = set(candidates)
    text = text.strip()
    if not text or not wanted:
        return set()
    found = {a for a in wanted if len(text) >= 6 and a.lower().startswith(text.lower())}
    with services().ledger.store.session() as db:
        if len(text) == hints.ID_TAIL and text[:-1].isdigit() and (text[-1].isdigit() or text[-1] in "xX"):
            found |= set(
                db.scalars(
                    select(ResidentHint.resident).where(
                        ResidentHint.resident.in_(wanted),
                        func.length(ResidentHint.id_number_masked) == 18,
                        ResidentHint.id_number_masked.like("%" + text.upper()),
                    )
                )
            )
        found |= set(
            db.scalars(select(WebUser.address).where(WebUser.address.in_(wanted), WebUser.display_name == text))
        )
        found |= set(
            db.scalars(
                select(Account.address).where(Account.address.in_(wanted), func.lower(Account.label) == text.lower())
            )
        )
    return found


def account_codes(addresses: Iterable[str]) -> dict[str, str]:
    """address -> the account's code (its label, pseudonymous: ``cmte-a-resident-12``)."""
    wanted = list(set(addresses))
    if not wanted:
        return {}
    with services().ledger.store.session() as db:
        return {
            str(a): str(label)
            for a, label in db.execute(select(Account.address, Account.label).where(Account.address.in_(wanted)))
        }


@dataclass(frozen=True)
class Hint:
    """What the list shows to tell residents apart, masked (:mod:`ledger.hints`); "" unknown."""

    id_number: str
    address: str


def resident_hints(addresses: Iterable[str]) -> dict[str, Hint]:
    """address -> the resident's masked ID number and building-level address."""
    wanted = list(set(addresses))
    with services().ledger.store.session() as db:
        return {
            a: Hint(h.id_number_masked or "", h.address_masked or "") for a, h in hints.hints_of(db, wanted).items()
        }


# -- consent requests (ledger.requests) ---------------------------------------------------------


def residents_of_office(office_id: str) -> set[str]:
    """The addresses the indexed tables list as active residents of the office's committees:
    the candidates an officer may name in a request (the library asks the chain again)."""
    with services().ledger.store.session() as db:
        return set(
            db.scalars(
                select(Member.address)
                .join(Organisation, Organisation.org_id == Member.org_id)
                .where(
                    Member.role == "resident",
                    Member.status == "active",
                    Organisation.kind == "committee",
                    Organisation.parent_id == office_id,
                )
            )
        )
