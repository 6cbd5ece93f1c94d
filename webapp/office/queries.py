"""What the office pages read from the store besides the library's services: the newest
accesses that concern the office, and a page of its members or of its departments' grants,
filtered and counted in SQL.

The access log can hold millions of events: every query on it is bounded (newest first by
its primary key, with a ``LIMIT``), nothing here loads the whole log. The member and grant
lists are read a page at a time (``LIMIT``/``OFFSET`` after one ``COUNT``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, and_, case, func, or_, select

from ledger.categories import from_mask
from ledger.chainview import ChainStatus
from ledger.consent import GrantView
from ledger.grants import Grants, GrantStatus
from ledger.organisations import MemberView
from ledger.store.models import (
    AccessEvent,
    Account,
    ChainGrant,
    ChainRecordVersion,
    EmergencyReview,
    GrantTerms,
    LoginThrottle,
    Member,
    Organisation,
    OrgProfile,
    Record,
    RecordVersion,
    WebUser,
)

from ..services import services
from ..throttle import Lane, Rule, Standing, aware
from ..throttle import clear as clear_lane

#: Accesses shown on the dashboard, newest first.
RECENT = 20
GRANT_STATUSES = tuple(GrantStatus)
MEMBER_STATUSES = ("active", "suspended", "revoked")
#: How the members list is ordered: the office first, then committees, then departments;
#: within an organisation, admins and committee members before grid workers and residents.
ORG_KIND_ORDER = ("office", "committee", "department")
ROLE_ORDER = ("office-admin", "committee-member", "grid-worker", "resident", "department-officer")

T = TypeVar("T")


@dataclass(frozen=True)
class Paged(Generic[T]):
    """One page of a list: its rows, how many match in all, which page (1-based, never past
    the last one) and how many pages there are (at least one, even when nothing matches)."""

    rows: list[T]
    total: int
    page: int
    pages: int
    per_page: int

    @property
    def first(self) -> int:
        """The number of the page's first row (1-based; 0 when nothing matches)."""
        return (self.page - 1) * self.per_page + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return (self.page - 1) * self.per_page + len(self.rows)


def _page_of(db: Any, query: Any, page: int, per_page: int) -> tuple[list[Any], int, int, int]:
    """Counts what ``query`` matches, then reads the asked page of it (the last page when
    asked past the end): (rows, total, page, pages)."""
    total = int(db.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0)
    pages = max(1, -(-total // per_page))
    page = min(max(page, 1), pages)
    rows = list(db.execute(query.limit(per_page).offset((page - 1) * per_page)).all())
    return rows, total, page, pages


def _contains(column: Any, text: str) -> ColumnElement[bool]:
    """``column`` holds ``text``, ignoring case; ``%`` and ``_`` typed are taken literally."""
    return column.icontains(text, autoescape=True)  # type: ignore[no-any-return]


def _who(address: Any, text: str) -> ColumnElement[bool]:
    """The account at ``address`` has ``text`` in its web log-in's name, its account label or
    the address itself."""
    by_name = select(WebUser.address).where(_contains(WebUser.display_name, text))
    by_label = select(Account.address).where(_contains(Account.label, text))
    return or_(address.in_(by_name), address.in_(by_label), _contains(address, text))


@dataclass(frozen=True)
class AccessRow:
    """One read of the log as the dashboard shows it (from the leaf, the truth)."""

    seq: int
    time: int
    accessor: str
    organisation: str | None
    resident: str
    record_id: str | None
    category: str | None
    basis: str | None
    outcome: str
    reason: str | None
    grant_id: str | None
    reviewed: bool


def recent_accesses(org_ids: Iterable[str], committee_ids: Iterable[str], limit: int = RECENT) -> list[AccessRow]:
    """The newest reads by the office's organisations, or of the residents of its
    committees (a department of another office trying to read them included)."""
    orgs = list(org_ids)
    residents = select(Member.address).where(Member.org_id.in_(list(committee_ids)), Member.role == "resident")
    query = (
        select(AccessEvent)
        .where(
            AccessEvent.action == "read", or_(AccessEvent.organisation.in_(orgs), AccessEvent.resident.in_(residents))
        )
        .order_by(AccessEvent.seq.desc())
        .limit(limit)
    )
    with services().ledger.store.session() as db:
        events = list(db.scalars(query))
        emergencies = [e.seq for e in events if e.basis == "emergency"]
        reviewed = set(
            db.scalars(select(EmergencyReview.access_seq).where(EmergencyReview.access_seq.in_(emergencies)))
        )
    rows = []
    for event in events:
        leaf: dict[str, Any] = json.loads(bytes(event.leaf))
        rows.append(
            AccessRow(
                seq=event.seq,
                time=int(leaf.get("time", event.time)),
                accessor=str(leaf.get("accessor", event.accessor)),
                organisation=leaf.get("organisation"),
                resident=str(leaf.get("resident", event.resident)),
                record_id=leaf.get("recordId"),
                category=leaf.get("category"),
                basis=leaf.get("basis"),
                outcome=str(leaf.get("outcome", event.outcome)),
                reason=leaf.get("reason"),
                grant_id=leaf.get("grantId"),
                reviewed=event.seq in reviewed,
            )  # fmt: skip
        )
    return rows


def members(
    org_ids: list[str],
    *,
    role: str | None = None,
    status: str | None = None,
    search: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Paged[MemberView]:
    """A page of the members of the given organisations: the office first, then committees,
    then departments, each by code; within one, by role, then label. ``search`` is matched
    (ignoring case) against the web log-in's name, the account label and the address."""
    if not org_ids:
        return Paged([], 0, 1, 1, per_page)
    kind = case({k: i for i, k in enumerate(ORG_KIND_ORDER)}, value=Organisation.kind, else_=len(ORG_KIND_ORDER))
    rank = case({r: i for i, r in enumerate(ROLE_ORDER)}, value=Member.role, else_=len(ROLE_ORDER))
    query = (
        select(Member.address, Account.label, OrgProfile.code, Member.role, Member.status)
        .join(Organisation, Organisation.org_id == Member.org_id)
        .outerjoin(Account, Account.address == Member.address)
        .outerjoin(OrgProfile, OrgProfile.org_id == Member.org_id)
        .where(Member.org_id.in_(org_ids))
        .order_by(kind, OrgProfile.code, rank, func.coalesce(Account.label, Member.address), Member.address)
    )
    if role:
        query = query.where(Member.role == role)
    if status:
        query = query.where(Member.status == status)
    if search:
        query = query.where(_who(Member.address, search))
    with services().ledger.store.session() as db:
        rows, total, page, pages = _page_of(db, query, page, per_page)
    return Paged([MemberView(*row) for row in rows], total, page, pages, per_page)


def grants(
    department_ids: list[str],
    status: str | None,
    *,
    search: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Paged[GrantView]:
    """A page of the grants to the given departments, newest first, with their status as the
    chain has it (:mod:`ledger.grants`: asked of the chain's view, never of the indexed row;
    ``pending`` while the chain has not confirmed the grant yet), and how many match in all.
    The filter narrows the indexed rows by the server's clock, which the chain's follows.
    ``search`` is matched (ignoring case) against the resident's name, label and address."""
    if not department_ids:
        return Paged([], 0, 1, 1, per_page)
    now = int(time.time())
    query = (
        select(GrantTerms, ChainGrant)
        .outerjoin(ChainGrant, ChainGrant.grant_id == GrantTerms.grant_id)
        .where(GrantTerms.department.in_(department_ids))
        .order_by(GrantTerms.created_at.desc(), GrantTerms.grant_id)
    )
    if status == GrantStatus.PENDING:
        query = query.where(ChainGrant.grant_id.is_(None))
    elif status == GrantStatus.NOT_YET_VALID:
        query = query.where(ChainGrant.status == ChainStatus.ACTIVE, ChainGrant.valid_from > now)
    elif status == GrantStatus.ACTIVE:
        query = query.where(
            ChainGrant.status == ChainStatus.ACTIVE, ChainGrant.valid_from <= now, ChainGrant.valid_until > now
        )
    elif status == GrantStatus.EXPIRED:
        query = query.where(ChainGrant.status == ChainStatus.ACTIVE, ChainGrant.valid_until <= now)
    elif status in (GrantStatus.WITHDRAWN, GrantStatus.REVOKED):
        query = query.where(ChainGrant.status == status)
    if search:
        query = query.where(_who(GrantTerms.resident, search))
    with services().ledger.store.session() as db:
        found, total, page, pages = _page_of(db, query, page, per_page)
    views = []
    grants = Grants(services().ledger.view)
    for terms, chain in found:
        base: Any = chain or terms
        shown = grants.status(terms.grant_id)
        views.append(
            GrantView(
                grant_id=terms.grant_id,
                resident=base.resident,
                department=base.department,
                department_code=None,
                categories=from_mask(base.categories),
                purpose=base.purpose,
                legal_basis=base.legal_basis,
                valid_from=base.valid_from,
                valid_until=base.valid_until,
                status=shown,
                relayer=base.relayer,
                terms=None,
                issued_tx=chain.issued_tx if chain else None,
            )  # fmt: skip
        )
    return Paged(views, total, page, pages, per_page)


# -- log-in throttles (webapp.throttle) -------------------------------------------------------

#: Throttles shown at most, newest failure first.
MAX_THROTTLES = 200


@dataclass(frozen=True)
class ThrottleLane:
    """A lane of failed log-ins not yet forgotten, as the office page shows it."""

    kind: str  # client | account
    key: str  # the client's address, or the user name as typed
    failures: int
    first_failure_ms: int
    last_failure_ms: int
    delay: float  # seconds the last failure imposed
    wait: float  # seconds still to wait now (0: the next attempt may be made)
    address: str | None  # for a user name, the account of the web user of that name (None: no such user)


def _throttle_query(rules: Mapping[Lane, Rule], now: datetime) -> Any:
    t = LoginThrottle
    fresh = or_(*(
        and_(t.kind == lane.value, t.last_failure_at >= now - timedelta(seconds=rule.forget))
        for lane, rule in rules.items()
    ))  # fmt: skip
    named = and_(t.kind == Lane.ACCOUNT.value, WebUser.username == t.key)
    return (
        select(t.kind, t.key, t.failures, t.first_failure_at, t.last_failure_at, WebUser.address)
        .outerjoin(WebUser, named)
        .where(fresh)
    )


def _lane(row: Any, rules: Mapping[Lane, Rule], now: datetime) -> ThrottleLane:
    rule = rules[Lane(row.kind)]
    standing = Standing(Lane(row.kind), row.key, int(row.failures), aware(row.first_failure_at),
                        aware(row.last_failure_at))  # fmt: skip
    return ThrottleLane(
        row.kind, row.key, standing.failures, int(standing.first_failure.timestamp() * 1000),
        int(standing.last_failure.timestamp() * 1000), standing.delay(rule), standing.wait(rule, now), row.address,
    )  # fmt: skip


def login_throttles(rules: Mapping[Lane, Rule], now: datetime) -> list[ThrottleLane]:
    """Every lane not yet forgotten, newest failure first (at most :data:`MAX_THROTTLES`)."""
    query = _throttle_query(rules, now).order_by(LoginThrottle.last_failure_at.desc()).limit(MAX_THROTTLES)
    with services().ledger.store.session() as db:
        return [_lane(row, rules, now) for row in db.execute(query)]


def login_throttle(kind: Lane, key: str, rules: Mapping[Lane, Rule], now: datetime) -> ThrottleLane | None:
    query = _throttle_query(rules, now).where(LoginThrottle.kind == kind.value, LoginThrottle.key == key)
    with services().ledger.store.session() as db:
        row = db.execute(query).first()
    return None if row is None else _lane(row, rules, now)


def clear_login_throttle(kind: Lane, key: str) -> None:
    with services().ledger.store.engine.begin() as connection:
        clear_lane(connection, kind, key)


# -- the dashboard -------------------------------------------------------------------------

DAY_MS = 86_400_000
CHINA_OFFSET_MS = 8 * 3_600_000


def reads_per_day(org_ids: list[str], start_ms: int, end_ms: int) -> dict[tuple[str, str, str], int]:
    """Reads per (organisation, China-time day as ISO date, outcome) in [start_ms, end_ms):
    one aggregate over the log's (organisation, time) index, however long the log is."""
    day = ((AccessEvent.time + CHINA_OFFSET_MS) // DAY_MS).label("day")
    query = (
        select(AccessEvent.organisation, day, AccessEvent.outcome, func.count())
        .where(
            AccessEvent.organisation.in_(org_ids),
            AccessEvent.time >= start_ms,
            AccessEvent.time < end_ms,
            AccessEvent.action == "read",
        )
        .group_by(AccessEvent.organisation, day, AccessEvent.outcome)
    )
    epoch = date(1970, 1, 1).toordinal()
    counts: dict[tuple[str, str, str], int] = {}
    with services().ledger.store.engine.connect() as connection:
        for org, number, outcome, count in connection.execute(query):
            key = (str(org), date.fromordinal(epoch + int(number)).isoformat(), str(outcome))
            counts[key] = counts.get(key, 0) + int(count)
    return counts


@dataclass(frozen=True)
class DashboardCounts:
    roles: dict[str, int]  # active members per role
    records: int  # records not erased
    certified: int  # of which the head version is certified
    grants: int  # active, unexpired grants to the departments
    outcomes: dict[str, int]  # reads since ``since_ms`` per outcome


def dashboard_counts(
    org_ids: list[str], committee_ids: list[str], department_ids: list[str], *, since_ms: int
) -> DashboardCounts:
    with services().ledger.store.session() as db:
        roles = dict(
            db.execute(
                select(Member.role, func.count())
                .where(Member.org_id.in_(org_ids), Member.status == "active")
                .group_by(Member.role)
            ).all()
        )
        head = (
            select(RecordVersion.record_id, func.max(RecordVersion.version).label("version"))
            .group_by(RecordVersion.record_id)
            .subquery()
        )
        total, certified = db.execute(
            select(func.count(), func.count(ChainRecordVersion.certified_tx))
            .select_from(Record)
            .join(head, head.c.record_id == Record.record_id)
            .outerjoin(
                ChainRecordVersion,
                (ChainRecordVersion.record_id == Record.record_id) & (ChainRecordVersion.version == head.c.version),
            )
            .where(Record.committee_id.in_(committee_ids), Record.erased_at.is_(None))
        ).one()
        grants = db.scalar(
            select(func.count())
            .select_from(ChainGrant)
            .where(
                ChainGrant.department.in_(department_ids),
                ChainGrant.status == "active",
                ChainGrant.valid_until > int(time.time()),
            )
        )
        outcomes = dict(
            db.execute(
                select(AccessEvent.outcome, func.count())
                .where(
                    AccessEvent.organisation.in_(org_ids), AccessEvent.time >= since_ms, AccessEvent.action == "read"
                )
                .group_by(AccessEvent.outcome)
            ).all()
        )
    return DashboardCounts(
        roles={str(k): int(v) for k, v in roles.items()},
        records=int(total or 0),
        certified=int(certified or 0),
        grants=int(grants or 0),
        outcomes={str(k): int(v) for k, v in outcomes.items()},
    )


# -- the other pages -----------------------------------------------------------------------


def labels_and_members(labels: list[str]) -> list[tuple[str, str, str | None]]:
    """(label, account kind, member address or None) of the accounts with these labels."""
    with services().ledger.store.session() as db:
        rows = db.execute(
            select(Account.label, Account.kind, Member.address)
            .outerjoin(Member, Member.address == Account.address)
            .where(Account.label.in_(labels))
        ).all()
    return [(str(label), str(kind), member) for label, kind, member in rows]


def grants_among(grant_ids: Iterable[str], department_ids: Iterable[str]) -> set[str]:
    """Those of ``grant_ids`` whose terms name one of ``department_ids``."""
    with services().ledger.store.session() as db:
        return set(
            db.scalars(
                select(GrantTerms.grant_id).where(
                    GrantTerms.grant_id.in_(list(grant_ids)), GrantTerms.department.in_(list(department_ids))
                )
            )
        )


def reviewed_emergencies(department_ids: Iterable[str], limit: int = 100) -> list[tuple[EmergencyReview, AccessEvent]]:
    """The newest reviews of the departments' emergency accesses, with the access reviewed."""
    with services().ledger.store.session() as db:
        return [
            (review, event)
            for review, event in db.execute(
                select(EmergencyReview, AccessEvent)
                .join(AccessEvent, AccessEvent.seq == EmergencyReview.access_seq)
                .where(AccessEvent.organisation.in_(list(department_ids)))
                .order_by(EmergencyReview.access_seq.desc())
                .limit(limit)
            ).all()
        ]


def member(address: str) -> Member | None:
    with services().ledger.store.session() as db:
        return db.get(Member, address)


def access_event(seq: int) -> AccessEvent | None:
    with services().ledger.store.session() as db:
        return db.get(AccessEvent, seq)


def grant_status_reason(grant_id: str) -> str | None:
    """Why the grant's terms have their status (a revocation's reason), when they say."""
    with services().ledger.store.session() as db:
        terms = db.get(GrantTerms, grant_id)
        return terms.status_reason if terms else None
