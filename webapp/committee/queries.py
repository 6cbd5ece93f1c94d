"""What the committee pages read from the store: metadata only, never record content.

Content leaves the store through :meth:`ledger.access.Access.read` (logged) in the routes.
Every function takes the actor's committee and returns the rows the tables have as that
committee's: candidates, selected and paged fast in SQL. The tables are a cache an editor
can change, so the routes show only the ones the chain confirms (:mod:`.scope`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from ledger.categories import Category
from ledger.store.models import (
    Account,
    Approval,
    ChainRecordVersion,
    Member,
    Organisation,
    OrgProfile,
    OutboxTx,
    Record,
    RecordVersion,
)

from ..names import by_name, org_name, resident_label, resident_names


def to_ms(moment: datetime | None) -> int | None:
    """A stored time (UTC; SQLite drops the zone) as milliseconds, for the ``ms`` filter."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


# -- the committee -------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    threshold: int
    signers: int
    records: int
    awaiting: int  # head version on chain, not certified
    certified: int  # head version certified
    sending: int  # head version not on chain yet
    residents: int


def _heads(org_id: str) -> Any:
    """(record_id, head version) of the committee's records that are not erased."""
    return (
        select(RecordVersion.record_id, func.max(RecordVersion.version).label("version"))
        .join(Record, Record.record_id == RecordVersion.record_id)
        .where(Record.committee_id == org_id, Record.erased_at.is_(None))
        .group_by(RecordVersion.record_id)
        .subquery()
    )


def _head_state(org_id: str) -> Any:
    """Each live record's head: its version row and the chain's row for it (if any)."""
    heads = _heads(org_id)
    return (
        select(Record, RecordVersion, ChainRecordVersion)
        .join(heads, heads.c.record_id == Record.record_id)
        .join(
            RecordVersion,
            and_(RecordVersion.record_id == heads.c.record_id, RecordVersion.version == heads.c.version),
        )
        .outerjoin(
            ChainRecordVersion,
            and_(
                ChainRecordVersion.record_id == RecordVersion.record_id,
                ChainRecordVersion.version == RecordVersion.version,
                ChainRecordVersion.content_hash == RecordVersion.content_hash,
            ),
        )
    )


def summary(db: Session, org_id: str) -> Summary:
    org = db.get(Organisation, org_id)
    awaiting = certified = sending = 0
    for _record, _version, chain in db.execute(_head_state(org_id)):
        if chain is None:
            sending += 1
        elif chain.certified_tx:
            certified += 1
        else:
            awaiting += 1
    records = db.scalar(select(func.count()).select_from(Record).where(Record.committee_id == org_id)) or 0
    residents = (
        db.scalar(
            select(func.count())
            .select_from(Member)
            .where(Member.org_id == org_id, Member.role == "resident", Member.status == "active")
        )
        or 0
    )
    return Summary(
        threshold=org.threshold if org else 0,
        signers=org.active_signers if org else 0,
        records=int(records),
        awaiting=awaiting,
        certified=certified,
        sending=sending,
        residents=int(residents),
    )


# -- residents -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ResidentRow:
    address: str
    name: str
    label: str | None
    records: int
    login: str | None = None  # the id the resident logs in with (webapp.names.resident_names)

    @property
    def shown(self) -> str:
        """The resident as every page names them: "李明 (resident-001)"."""
        return resident_label(self.name, self.login)


def residents(db: Session, org_id: str, query: str = "") -> list[ResidentRow]:
    addresses = list(
        db.scalars(
            select(Member.address)
            .where(Member.org_id == org_id, Member.role == "resident", Member.status == "active")
            .order_by(Member.added_block, Member.address)
        )
    )
    named = resident_names(addresses, db=db)
    labels = dict(db.execute(select(Account.address, Account.label).where(Account.address.in_(addresses))).all())
    counts = dict(
        db.execute(
            select(Record.subject, func.count())
            .where(Record.committee_id == org_id, Record.subject.in_(addresses))
            .group_by(Record.subject)
        ).all()
    )
    rows = [ResidentRow(a, named[a].name, labels.get(a), int(counts.get(a, 0)), named[a].login) for a in addresses]
    needle = query.strip().lower()
    if needle:
        rows = [
            r
            for r in rows
            if needle in r.name.lower()
            or needle in (r.label or "").lower()
            or needle in (r.login or "").lower()
            or needle in r.address.lower()
        ]
    return by_name(rows, lambda r: r.name, lambda r: r.login)


# -- records -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordRow:
    record_id: str
    subject: str
    category: Category
    version: int
    state: str  # certified | awaiting | sending
    approvals: int
    created_at: int | None  # ms, the record's first version
    updated_at: int | None  # ms, the head version
    commit_tx: str | None


def records(db: Session, org_id: str, subject: str | None = None) -> list[RecordRow]:
    query = _head_state(org_id).order_by(RecordVersion.created_at.desc())
    if subject is not None:
        query = query.where(Record.subject == subject)
    found = db.execute(query).all()
    counts: dict[tuple[str, int], int] = {}
    if found:
        ids = [r.record_id for r, _v, _c in found]
        for rid, version, n in db.execute(
            select(Approval.record_id, Approval.version, func.count())
            .where(Approval.record_id.in_(ids))
            .group_by(Approval.record_id, Approval.version)
        ):
            counts[(rid, version)] = int(n)
    rows = []
    for record, version, chain in found:
        state = "sending" if chain is None else "certified" if chain.certified_tx else "awaiting"
        rows.append(
            RecordRow(
                record_id=record.record_id,
                subject=record.subject,
                category=Category(record.category),
                version=version.version,
                state=state,
                approvals=counts.get((record.record_id, version.version), 0),
                created_at=to_ms(record.created_at),
                updated_at=to_ms(version.created_at),
                commit_tx=chain.tx_hash if chain else None,
            )
        )
    return rows


def stored_record(db: Session, record_id: str) -> Record | None:
    """The stored record with this id, whichever committee the table names: whose it is,
    is the chain's to say (:func:`.scope.record`)."""
    raw = record_id.strip().lower()
    if not raw.startswith("0x") or len(raw) != 66 or any(c not in "0123456789abcdef" for c in raw[2:]):
        return None
    return db.get(Record, raw)


@dataclass(frozen=True)
class QueueItem:
    record_id: str
    subject: str
    category: Category
    version: int
    content_hash: str
    approvals: int
    committed_tx: str
    created_by: str
    created_at: int | None


def queue(db: Session, org_id: str, signer: str | None, *, record_id: str | None = None) -> list[QueueItem]:
    """Head versions on chain and not certified, oldest first; with ``signer``, only those
    that account has not signed yet; with ``record_id``, only that record's."""
    query = _head_state(org_id).where(
        ChainRecordVersion.record_id.is_not(None), ChainRecordVersion.certified_tx.is_(None)
    )
    if record_id is not None:
        query = query.where(Record.record_id == record_id)
    found = db.execute(query).all()
    signed: dict[tuple[str, int], set[str]] = {}
    if found:
        ids = [r.record_id for r, _v, _c in found]
        for rid, version, who in db.execute(
            select(Approval.record_id, Approval.version, Approval.signer).where(Approval.record_id.in_(ids))
        ):
            signed.setdefault((rid, version), set()).add(who)
    items = []
    for record, version, chain in found:
        signers = signed.get((record.record_id, version.version), set())
        if signer is not None and signer in signers:
            continue
        items.append(
            QueueItem(
                record_id=record.record_id,
                subject=record.subject,
                category=Category(record.category),
                version=version.version,
                content_hash=version.content_hash,
                approvals=len(signers),
                committed_tx=chain.tx_hash,
                created_by=version.created_by,
                created_at=to_ms(version.created_at),
            )
        )
    items.sort(key=lambda i: i.created_at or 0)
    return items


def has_signed(db: Session, record_id: str, version: int, signer: str) -> bool:
    return (
        db.scalar(
            select(Approval.id).where(
                Approval.record_id == record_id, Approval.version == version, Approval.signer == signer
            )
        )
        is not None
    )


# -- history -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    at: int | None  # ms
    kind: str  # created | updated | signed | certified
    record_id: str
    subject: str
    category: Category
    version: int
    who: str | None
    tx: str | None


def history(db: Session, org_id: str, limit: int, offset: int = 0) -> list[Event]:
    """The committee's record activity, newest first: versions stored, signatures given,
    certifications (timed by when this installation sent them)."""
    take = limit + offset
    events: list[Event] = []
    rows = db.execute(
        select(RecordVersion, Record)
        .join(Record, Record.record_id == RecordVersion.record_id)
        .where(Record.committee_id == org_id)
        .order_by(RecordVersion.created_at.desc(), RecordVersion.id.desc())
        .limit(take)
    )
    for version, record in rows:
        events.append(
            Event(
                to_ms(version.created_at),
                "created" if version.version == 1 else "updated",
                record.record_id,
                record.subject,
                Category(record.category),
                version.version,
                version.created_by,
                version.tx_hash,
            )
        )
    for approval, record in db.execute(
        select(Approval, Record)
        .join(Record, Record.record_id == Approval.record_id)
        .where(Record.committee_id == org_id)
        .order_by(Approval.created_at.desc(), Approval.id.desc())
        .limit(take)
    ):
        events.append(
            Event(
                to_ms(approval.created_at),
                "signed",
                record.record_id,
                record.subject,
                Category(record.category),
                approval.version,
                approval.signer,
                None,
            )
        )
    for chain, record, sent in db.execute(
        select(ChainRecordVersion, Record, OutboxTx)
        .join(Record, Record.record_id == ChainRecordVersion.record_id)
        .outerjoin(OutboxTx, OutboxTx.tx_hash == ChainRecordVersion.certified_tx)
        .where(Record.committee_id == org_id, ChainRecordVersion.certified_tx.is_not(None))
        .order_by(ChainRecordVersion.block_number.desc())
        .limit(take)
    ):
        signers = json.loads(chain.signers) if chain.signers else []
        events.append(
            Event(
                to_ms(sent.created_at) if sent else None,
                "certified",
                record.record_id,
                record.subject,
                Category(record.category),
                chain.version,
                sent.sender if sent else (signers[0] if signers else None),
                chain.certified_tx,
            )
        )
    order = {"certified": 0, "signed": 1, "updated": 2, "created": 2}
    events.sort(key=lambda e: (e.at or 0, -order[e.kind]), reverse=True)
    return events[offset : offset + limit]


# -- organisations -------------------------------------------------------------------------


def departments(db: Session, office_id: str | None) -> list[tuple[str, str]]:
    """(code, name in the page's language) of the departments under the office, by name."""
    if office_id is None:
        return []
    rows = db.scalars(
        select(OrgProfile)
        .join(Organisation, Organisation.org_id == OrgProfile.org_id)
        .where(Organisation.kind == "department", Organisation.parent_id == office_id)
    ).all()
    return sorted(((p.code, org_name(p)) for p in rows), key=lambda c: c[1])


def org_names(db: Session) -> dict[str, str]:
    """org id -> name in the page's language."""
    return {p.org_id: org_name(p) for p in db.scalars(select(OrgProfile))}


@dataclass(frozen=True)
class VersionMeta:
    version: int
    content_hash: str
    prev_hash: str
    created_by: str
    created_at: int | None
    tx_hash: str
    on_chain: bool
    block_number: int | None
    certified_tx: str | None
    signers: list[str]  # who certified it on chain
    approvals: list[str]  # who signed it here (the signatures collected so far)


def versions(db: Session, record_id: str) -> list[VersionMeta]:
    """A record's versions, newest first, without their content."""
    chain = {
        c.version: c for c in db.scalars(select(ChainRecordVersion).where(ChainRecordVersion.record_id == record_id))
    }
    approvals: dict[int, list[str]] = {}
    for version, signer in db.execute(
        select(Approval.version, Approval.signer).where(Approval.record_id == record_id).order_by(Approval.id)
    ):
        approvals.setdefault(version, []).append(signer)
    rows = db.execute(
        select(
            RecordVersion.version,
            RecordVersion.content_hash,
            RecordVersion.prev_hash,
            RecordVersion.created_by,
            RecordVersion.created_at,
            RecordVersion.tx_hash,
        )
        .where(RecordVersion.record_id == record_id)
        .order_by(RecordVersion.version.desc())
    ).all()
    found = []
    for version, content_hash, prev_hash, created_by, created_at, tx_hash in rows:
        on = chain.get(version)
        matches = on is not None and on.content_hash == content_hash
        found.append(
            VersionMeta(
                version=version,
                content_hash=content_hash,
                prev_hash=prev_hash,
                created_by=created_by,
                created_at=to_ms(created_at),
                tx_hash=tx_hash,
                on_chain=matches,
                block_number=on.block_number if on is not None and matches else None,
                certified_tx=on.certified_tx if on is not None and matches else None,
                signers=json.loads(on.signers) if on is not None and matches and on.signers else [],
                approvals=approvals.get(version, []),
            )
        )
    return found
