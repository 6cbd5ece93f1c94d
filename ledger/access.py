"""Reading a resident's record: the only way personal data leaves gridledger.

Every read names a basis, and the order is fixed: check the basis, write the access
event to the log durably, then hand out the content. A read with no basis is refused,
and the refusal is logged too. Bases:

* ``grant``: the accessor is an active officer of a department holding a grant of the
  record's resident that ``ConsentRegistry.isActive`` says covers the record's
  category now;
* ``duty``: the accessor is an active member or grid worker of the record's own
  committee (a review), or an active admin of the office governing it (an audit read);
* ``emergency``: the accessor is an active officer of a department under the same
  office, and writes a justification; the access is flagged for an office review.

Every fact a decision rests on comes from the chain (through :class:`ledger.chainview.
ChainView`), never from a table a database user could edit: the reader's membership, the
record's subject, category, committee and certified version, the grant's resident,
purpose and state, and how far the log is anchored. The content handed out is checked
against its commitment on chain first; content that does not match is refused (logged)
and never shown.

A public security access may carry a disclosure date (deferred disclosure): its leaf is
in the log now, and its content is shown to the resident from that date on.

If the log's anchoring has failed for longer than the configured limit, or the database
holds fewer events than the chain has anchored (it was cut back or restored from an old
backup), every read is refused (fail closed) until that is put right. When the chain
cannot be asked at all, nothing is read and nothing can be logged (whose record it is
is the chain's to say): :class:`NodeError` is raised.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, bindparam, select

from .accesslog import AccessLog, Action, Draft, Outcome
from .categories import Category
from .chainview import ChainView, MemberState, OrgState, RecordState
from .consent import Purpose
from .context import Ledger
from .errors import AccessRefused, InputError, Invalid, NodeError, NotFoundError, Refusal
from .formats import parse_id
from .records import content_check
from .store.models import ChainGrant, ChainRecordVersion, RecordVersion, Restore

_VERSIONS = cast(Table, RecordVersion.__table__)
_GRANTS = cast(Table, ChainGrant.__table__)

# The read path's queries: on every read, run on the driver itself (``Store.driver``).
_CONTENT = f"SELECT content, salt FROM {_VERSIONS.name} WHERE record_id = ? AND version = ?"


class _StoredVersion(NamedTuple):
    """A version's stored content and salt, as the driver hands them back (a tamperer may have
    written anything: the commitment check decides)."""

    content: Any
    salt: Any


# Candidate grants, newest first: hints only (the chain decides whether each is the
# resident's, the department's, and active).
_ACTIVE_GRANTS = (
    f"SELECT grant_id FROM {_GRANTS.name} WHERE resident = ? AND department = ? AND status = 'active' "
    "ORDER BY issued_block DESC"
)
_ACTIVE_GRANTS_OF = (
    select(_GRANTS.c.resident, _GRANTS.c.grant_id)
    .where(
        _GRANTS.c.resident.in_(bindparam("residents", expanding=True)),
        _GRANTS.c.department == bindparam("department"),
        _GRANTS.c.status == "active",
    )
    .order_by(_GRANTS.c.resident, _GRANTS.c.issued_block.desc())
)
# Every stored version of the records named (a record has few), from the primary key: a
# row-value IN of (record, version) pairs scans the whole table on SQLite.
_CONTENTS = select(_VERSIONS.c.record_id, _VERSIONS.c.version, _VERSIONS.c.content, _VERSIONS.c.salt).where(
    _VERSIONS.c.record_id.in_(bindparam("records", expanding=True))
)


class ReadBasis(StrEnum):
    """On what basis a read is made (the leaf's ``basis``). On disk: never respell."""

    GRANT = "grant"
    DUTY = "duty"
    EMERGENCY = "emergency"


class LogState(StrEnum):
    """How far the log is anchored (:attr:`Health.state`)."""

    OK = "ok"
    ANCHORING = "anchoring"
    CLOSED = "closed"


BASES = tuple(ReadBasis)
HEALTH_MAX_AGE = 0.2  # seconds a computed anchoring health may be reused
MAX_JUSTIFICATION = 2_000
MAX_DEFERRAL_DAYS = 366
MAX_BULK = 1_000  # records in one bulk read (Access.read_many)
CHECKED_MAX = 50_000  # stored versions remembered as matching their commitment (Access._verified)
CHINA = timezone(timedelta(hours=8))


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def today() -> date:
    """Today in the community's time zone (China Standard Time)."""
    return datetime.now(CHINA).date()


@dataclass(frozen=True)
class Disclosure:
    """What a permitted read returns: the content, and the log entry that records it."""

    record_id: str
    version: int
    certified: bool
    category: Category
    content: Any
    seq: int
    basis: ReadBasis
    grant_id: str | None


class BulkStatus(StrEnum):
    """How one record of a bulk read ended (the API's ``status``). A format: never respell."""

    READ = "read"  # read and logged: the content is handed out
    REFUSED = "refused"  # refused and logged: the reason says why
    NOT_FOUND = "not-found"  # no such record on chain, or erased: nothing to read, nothing logged


@dataclass(frozen=True)
class BulkRead:
    """One record's result in a bulk read (:meth:`Access.read_many`)."""

    record_id: str
    status: BulkStatus
    disclosure: Disclosure | None = None  # READ
    refusal: AccessRefused | None = None  # REFUSED: its reason, message and log entry
    problem: NotFoundError | None = None  # NOT_FOUND


class _Refused(Exception):  # noqa: N818 - internal: becomes an AccessRefused once the refusal is logged
    """A check said no. The read's caller logs the refusal, then raises AccessRefused."""

    def __init__(self, reason: Refusal, message: str, params: dict[str, Any]) -> None:
        super().__init__(message)
        self.reason, self.message, self.params = reason, message, params


class Closed(StrEnum):
    """Why reads are closed (fail closed). Never respell: monitoring alerts name them."""

    ANCHORING_STALLED = Refusal.ANCHORING_STALLED.value  # the oldest unanchored event waited past the limit
    LOG_BEHIND_CHAIN = "log-behind-chain"  # the database holds fewer events than the chain anchored
    CHAIN_UNREACHABLE = Refusal.CHAIN_UNREACHABLE.value  # the chain cannot be asked (no Health then: NodeError)


@dataclass(frozen=True)
class Health:
    size: int  # events the database holds
    anchored_size: int  # events the chain's newest checkpoint covers
    oldest_unanchored_ms: int | None  # time of the first event no checkpoint covers
    limit_seconds: float

    @property
    def behind(self) -> bool:
        """The database holds fewer events than the chain has anchored: it was cut back or
        restored from an old backup. Reads stay closed until that is put right."""
        return self.size < self.anchored_size

    @property
    def lag_seconds(self) -> float:
        return self.lag_at(now_ms())

    def lag_at(self, at_ms: int) -> float:
        """Seconds the oldest unanchored event has waited at ``at_ms`` (0 when none waits)."""
        if self.oldest_unanchored_ms is None:
            return 0.0
        return max(0.0, at_ms / 1000 - self.oldest_unanchored_ms / 1000)

    def closed_reason(self, at_ms: int | None = None) -> Closed | None:
        """Why reads are closed at ``at_ms`` (default: now), or None while they are open."""
        if self.behind:
            return Closed.LOG_BEHIND_CHAIN
        if self.lag_at(now_ms() if at_ms is None else at_ms) > self.limit_seconds:
            return Closed.ANCHORING_STALLED
        return None

    @property
    def closed(self) -> bool:
        return self.closed_reason() is not None

    @property
    def state(self) -> LogState:
        if self.closed:
            return LogState.CLOSED
        return LogState.OK if self.oldest_unanchored_ms is None else LogState.ANCHORING


def health(log: AccessLog, view: ChainView, limit_seconds: float) -> Health:
    """How far the log is anchored, the anchored size asked of the chain. Raises
    :class:`NodeError` when the chain cannot be asked."""
    checkpoint = view.checkpoint()
    return health_against(log, checkpoint.size if checkpoint else 0, limit_seconds)


def health_against(log: AccessLog, anchored_size: int, limit_seconds: float) -> Health:
    """How far the log is anchored against ``anchored_size`` as given (reads pass the
    chain's; monitoring passes the database's record while the chain cannot be asked)."""
    size, raw = log.size_and_leaf(anchored_size)  # one query: the size, and the first leaf not anchored
    oldest = None
    if size > anchored_size:
        oldest = 0  # the leaf is gone or unreadable: treat as stalled since forever
        try:
            if raw is not None:
                oldest = int(json.loads(bytes(raw))["time"])
        except (TypeError, ValueError, KeyError):
            pass
    return Health(size, anchored_size, oldest, limit_seconds)


@dataclass(frozen=True)
class _Target:
    """The record as the chain has it, and the content of the version to read."""

    record: RecordState
    office: str | None  # the office governing the record's committee
    version: int
    certified: bool

    @property
    def category(self) -> Category:
        return Category(self.record.category)


@dataclass(frozen=True)
class _Reader:
    """The reader's membership as the chain has it (``member`` None: not a member)."""

    address: str
    member: MemberState | None
    org: OrgState | None

    @property
    def org_id(self) -> str | None:
        return None if self.member is None else self.member.org_id

    @property
    def role(self) -> str | None:
        return None if self.member is None else self.member.role

    def acts_as(self, *roles: str) -> bool:
        return self.member is not None and self.member.acts_as(*roles)


class Access:
    """Logged reads for one installation (thread-safe; share one per process)."""

    def __init__(
        self,
        ledger: Ledger,
        log: AccessLog | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], int] | None = None,
    ) -> None:
        """``clock`` (seconds, monotonic) ages the cached health; ``now`` (milliseconds since
        the epoch) stamps events and measures how long anchoring has waited. Tests pass their
        own to control time."""
        self.ledger = ledger
        self.clock = clock
        self.now = now if now is not None else lambda: now_ms()  # looked up at each call
        self.log = log or ledger.log
        self.view = ledger.view
        self.limit = ledger.settings.anchor_fail_after
        self._lock = threading.Lock()
        self._health: tuple[float, Health] | None = None
        # (record, version, commitment) -> the stored (content, salt) found to match it
        self._checked: dict[tuple[str, int, str | None], tuple[Any, Any]] = {}

    # -- the read --------------------------------------------------------------------

    def read(
        self,
        record_id: str,
        *,
        accessor: str,
        basis: ReadBasis | str | None = None,
        grant_id: str | None = None,
        justification: str | None = None,
        disclose_on: str | None = None,
    ) -> Disclosure:
        """Reads a record's content under a basis (chosen when not given), logging the
        access durably first. Raises :class:`AccessRefused` (logged) without a basis or
        when the stored content does not match the chain; :class:`NodeError` (nothing read,
        nothing logged) when the chain cannot be asked who the record or the reader is."""
        who = self.ledger.address_of(accessor)
        basis, justification = self._checked_request(basis, justification)
        if grant_id is not None:
            grant_id = parse_id(grant_id, field="grant_id", what="grant id")
        target = self._target(record_id)
        reader = self._reader(who)
        deferred = self._check_disclosure(disclose_on, reader, justification)

        draft = self._draft(target, reader, justification, deferred)
        try:
            self._check_open(draft)
            chosen = self._choose_basis(reader, justification) if basis is None else ReadBasis(basis)
            self._check_basis(draft, chosen, reader, target, grant_id, None)
            content = self._content(draft, target, self._stored(target))
        except _Refused as refused:
            appended = self.log.record(draft)
            raise AccessRefused(refused.reason, refused.message, seq=appended.seq, params=refused.params) from None
        appended = self.log.record(draft)
        return Disclosure(
            target.record.record_id, target.version, target.certified, target.category, content,
            appended.seq, chosen, draft.grant_id,
        )  # fmt: skip

    def read_many(
        self,
        record_ids: Sequence[str],
        *,
        accessor: str,
        basis: ReadBasis | str | None = None,
        justification: str | None = None,
    ) -> list[BulkRead]:
        """Reads up to MAX_BULK records at once, with the guarantees of :meth:`read` for each:
        each record's basis checked on its own (grant, duty or emergency), every read and every
        refusal logged, all in one transaction, before any content is handed out. One result
        per record, in the order asked: read (with its content and log entry), refused (logged,
        with its reason) or not found (nothing to read, nothing logged). Raises
        :class:`InputError` (nothing read, nothing logged) for a malformed request and
        :class:`NodeError` when the chain cannot be asked whose records they are."""
        who = self.ledger.address_of(accessor)
        basis, justification = self._checked_request(basis, justification)
        keys = self._bulk_ids(record_ids)
        reader = self._reader(who)
        chosen = self._choose_basis(reader, justification) if basis is None else ReadBasis(basis)
        targets: dict[str, _Target] = {}
        missing: dict[str, NotFoundError] = {}
        for key in keys:
            try:
                targets[key] = self._target(key)
            except NotFoundError as exc:
                missing[key] = exc
        found = list(targets.values())
        candidates = self._candidates_of(reader, found) if chosen == ReadBasis.GRANT else {}
        stored = self._stored_many(found)
        drafts: list[Draft] = []
        outcomes: dict[str, tuple[Draft, Any, _Refused | None]] = {}
        for key, target in targets.items():
            draft = self._draft(target, reader, justification, None)
            try:
                self._check_open(draft)
                self._check_basis(draft, chosen, reader, target, None, candidates.get(target.record.subject, []))
                content = self._content(draft, target, stored.get((key, target.version)))
                outcomes[key] = (draft, content, None)
            except _Refused as no:
                outcomes[key] = (draft, None, no)
            drafts.append(draft)
        appended = self.log.append(drafts)  # one transaction; nothing is handed out before it commits
        seqs = {id(draft): entry.seq for draft, entry in zip(drafts, appended, strict=True)}
        results: list[BulkRead] = []
        for key in keys:
            if key in missing:
                results.append(BulkRead(key, BulkStatus.NOT_FOUND, problem=missing[key]))
                continue
            draft, content, said_no = outcomes[key]
            seq = seqs[id(draft)]
            if said_no is not None:
                refusal = AccessRefused(said_no.reason, said_no.message, seq=seq, params=said_no.params)
                results.append(BulkRead(key, BulkStatus.REFUSED, refusal=refusal))
                continue
            target = targets[key]
            disclosure = Disclosure(
                target.record.record_id, target.version, target.certified, target.category, content,
                seq, chosen, draft.grant_id,
            )  # fmt: skip
            results.append(BulkRead(key, BulkStatus.READ, disclosure=disclosure))
        return results

    def _checked_request(
        self, basis: ReadBasis | str | None, justification: str | None
    ) -> tuple[ReadBasis | str | None, str | None]:
        """The basis asked for and the justification, checked (:class:`InputError`)."""
        if basis is not None and basis not in BASES:
            raise InputError(
                f"unknown basis {basis!r}; expected one of: {', '.join(BASES)}",
                code=Invalid.UNKNOWN_CHOICE,
                field="basis",
                params={"value": basis, "choices": list(BASES)},
            )
        if justification is not None:
            justification = justification.strip()
            if len(justification) > MAX_JUSTIFICATION:
                raise InputError(
                    f"at most {MAX_JUSTIFICATION} characters",
                    code=Invalid.TOO_LONG,
                    field="justification",
                    params={"max": MAX_JUSTIFICATION},
                )
        if basis == ReadBasis.EMERGENCY and not justification:
            raise InputError(
                "an emergency access needs a written justification", code=Invalid.REQUIRED, field="justification"
            )
        return basis, justification

    @staticmethod
    def _bulk_ids(record_ids: Sequence[str]) -> list[str]:
        """The record ids of a bulk read, each well formed, none twice, 1 to MAX_BULK of them."""
        if not record_ids:
            raise InputError("name at least one record", code=Invalid.REQUIRED, field="record_ids")
        if len(record_ids) > MAX_BULK:
            raise InputError(f"at most {MAX_BULK} records in one read", code=Invalid.TOO_MANY, field="record_ids",
                             params={"max": MAX_BULK, "count": len(record_ids)})  # fmt: skip
        keys: list[str] = []
        seen: set[str] = set()
        for n, record_id in enumerate(record_ids):
            key = parse_id(record_id, field=f"record_ids.{n}", what="record id")
            if key in seen:
                raise InputError(f"record {key} is named twice", code=Invalid.DUPLICATE, field=f"record_ids.{n}",
                                 params={"value": key})  # fmt: skip
            seen.add(key)
            keys.append(key)
        return keys

    def _draft(self, target: _Target, reader: _Reader, justification: str | None, deferred: str | None) -> Draft:
        return Draft(
            action=Action.READ, outcome=Outcome.ALLOWED, resident=target.record.subject, accessor=reader.address,
            time=self.now(), record_id=target.record.record_id, category=target.category.slug,
            organisation=reader.org_id, justification=justification or None, disclose_on=deferred,
        )  # fmt: skip

    def _check_open(self, draft: Draft) -> None:
        """Refuses (:class:`_Refused`) while reads are closed: the log's anchoring stalled, the
        database behind the chain, or the chain unreachable."""
        try:
            state = self.health()
        except NodeError as exc:
            self._refuse(
                draft,
                Refusal.CHAIN_UNREACHABLE,
                f"the chain cannot be asked how far the log is anchored ({exc})",
                asking="anchoring",
                problem=str(exc),
            )
        if state.behind:
            self._refuse(draft, Refusal.ANCHORING_STALLED, f"the database holds {state.size} access events but the chain "
                         f"has anchored {state.anchored_size}: it was cut back or restored from an old backup; reads "
                         "resume once the office has put it right (run 'gridledger verify all')",
                         size=state.size, anchored=state.anchored_size)  # fmt: skip
        if state.closed_reason(self.now()) is not None:
            lag = state.lag_at(self.now())
            self._refuse(draft, Refusal.ANCHORING_STALLED, f"the access log has not been anchored for {lag:.0f} s "
                         f"(limit {self.limit:.0f} s); reads resume once 'gridledger worker' anchors it",
                         lag=round(lag), limit=round(self.limit))  # fmt: skip

    def _check_basis(
        self, draft: Draft, chosen: ReadBasis, reader: _Reader, target: _Target, grant_id: str | None,
        candidates: list[str] | None,
    ) -> None:  # fmt: skip
        draft.basis = chosen
        if chosen == ReadBasis.GRANT:
            self._grant_basis(draft, reader, target, grant_id, candidates)
        elif chosen == ReadBasis.DUTY:
            self._duty_basis(draft, reader, target)
        else:
            self._emergency_basis(draft, reader, target)

    @staticmethod
    def _choose_basis(reader: _Reader, why: str | None) -> ReadBasis:
        """Members of committees and offices read on duty; with a justification, an
        emergency; otherwise under a grant."""
        if reader.role in ("committee-member", "grid-worker", "office-admin"):
            return ReadBasis.DUTY
        if why:
            return ReadBasis.EMERGENCY
        return ReadBasis.GRANT

    def _grant_basis(
        self, draft: Draft, reader: _Reader, target: _Target, grant_id: str | None, candidates: list[str] | None
    ) -> None:
        """Finds an active grant for the read (the chain decides each candidate: the given
        grant, else ``candidates``, else the department's indexed grants of the resident)."""
        if not reader.acts_as("department-officer") or reader.org_id is None:
            self._refuse(
                draft,
                Refusal.NOT_AUTHORISED,
                "only an active department officer reads under a grant",
                basis=ReadBasis.GRANT,
            )
        assert reader.org_id is not None
        if grant_id is not None:
            candidates = [grant_id]
        elif candidates is None:  # hints from the indexed grants; the chain decides each
            store = self.ledger.store
            with store.driver() as connection:
                cursor = connection.cursor()
                cursor.execute(store.driver_sql(_ACTIVE_GRANTS), (target.record.subject, reader.org_id))
                candidates = [str(found) for found, in cursor.fetchall()]
                cursor.close()
        try:
            draft.block = self.view.head()[0]
            for candidate in candidates:
                grant = self.view.grant(candidate)
                if grant is None or grant.resident != target.record.subject:
                    continue  # not this resident's grant, whatever the database says
                active, block = self.view.is_active(candidate, reader.org_id, target.record.category)
                draft.block = block
                if active:
                    draft.grant_id, draft.purpose = candidate, grant.purpose
                    return
        except NodeError as exc:
            self._refuse(
                draft,
                Refusal.CHAIN_UNREACHABLE,
                f"the chain cannot be asked whether a grant is active ({exc})",
                asking="grant",
                problem=str(exc),
            )
        if grant_id is not None:
            draft.grant_id = grant_id
            self._refuse(draft, Refusal.GRANT_NOT_ACTIVE, f"grant {grant_id} is not active for your department and "
                         f"{target.category.slug} records of this resident now (withdrawn, revoked, expired or "
                         "never given)", grant=grant_id, category=target.category.slug)  # fmt: skip
        self._refuse(draft, Refusal.NO_ACTIVE_GRANT, f"your department holds no active grant of this resident covering "
                     f"{target.category.slug} records", category=target.category.slug)  # fmt: skip

    def _duty_basis(self, draft: Draft, reader: _Reader, target: _Target) -> None:
        if reader.acts_as("committee-member", "grid-worker") and reader.org_id == target.record.committee_id:
            draft.purpose = int(Purpose.RECORD_REVIEW)
            return
        if reader.acts_as("office-admin") and target.office is not None and reader.org_id == target.office:
            draft.purpose = int(Purpose.AUDIT)
            return
        self._refuse(draft, Refusal.NO_DUTY, "a duty read is for the record's own committee or the office governing it")

    def _emergency_basis(self, draft: Draft, reader: _Reader, target: _Target) -> None:
        if (
            not reader.acts_as("department-officer")
            or reader.org is None
            or reader.org.kind != "department"
            or target.office is None
            or reader.org.parent_id != target.office
        ):
            self._refuse(draft, Refusal.NOT_AUTHORISED, "an emergency read is for an active officer of a department "
                         "under the office governing the record", basis=ReadBasis.EMERGENCY)  # fmt: skip
        draft.purpose = int(Purpose.EMERGENCY_RESPONSE)

    def _stored(self, target: _Target) -> _StoredVersion | None:
        """The stored content and salt of the version to read, or None (on the driver itself:
        one statement on every read)."""
        store = self.ledger.store
        with store.driver() as connection:
            cursor = connection.cursor()
            cursor.execute(store.driver_sql(_CONTENT), (target.record.record_id, target.version))
            found = cursor.fetchone()
            cursor.close()
        return None if found is None else _StoredVersion(*found)

    def _stored_many(self, targets: Sequence[_Target]) -> dict[tuple[str, int], Any]:
        """The stored rows of the versions to read, by (record id, version), in a few queries."""
        found: dict[tuple[str, int], Any] = {}
        wanted = {(t.record.record_id, t.version) for t in targets}
        records = sorted({t.record.record_id for t in targets})
        with self.ledger.store.engine.connect() as connection:
            for start in range(0, len(records), 500):
                for row in connection.execute(_CONTENTS, {"records": records[start : start + 500]}):
                    if (row.record_id, row.version) in wanted:
                        found[(row.record_id, row.version)] = row
        return found

    def _candidates_of(self, reader: _Reader, targets: Sequence[_Target]) -> dict[str, list[str]]:
        """The department's indexed grants of each resident, newest first: hints only, as in
        :meth:`_grant_basis` (none when the reader is not a department's officer)."""
        if reader.org_id is None or not reader.acts_as("department-officer"):
            return {}
        residents = sorted({t.record.subject for t in targets})
        found: dict[str, list[str]] = {r: [] for r in residents}
        with self.ledger.store.engine.connect() as connection:
            for start in range(0, len(residents), 500):
                params = {"residents": residents[start : start + 500], "department": reader.org_id}
                for resident, grant_id in connection.execute(_ACTIVE_GRANTS_OF, params):
                    found[resident].append(grant_id)
        return found

    def _content(self, draft: Draft, target: _Target, row: Any) -> Any:
        """The stored content (``row``) of the version to read, once it matches its
        commitment on chain; else the read is refused and nothing is shown."""
        try:
            expected = (
                target.record.content_hash
                if target.version == target.record.version
                else self.view.version_hash(target.record.record_id, target.version)
            )
        except NodeError as exc:
            self._refuse(
                draft,
                Refusal.CHAIN_UNREACHABLE,
                f"the chain cannot be asked for the record's commitment ({exc})",
                asking="commitment",
                problem=str(exc),
            )
        problem = None
        content: Any = None
        if row is None or row.content is None or row.salt is None:
            problem = "its content is not stored although the chain has not erased it"
        else:
            try:
                content = json.loads(row.content)
            except (TypeError, ValueError) as exc:
                problem = f"its stored content cannot be read ({type(exc).__name__})"
            else:
                if not self._verified(target, expected, row):
                    if content_check(content, row.salt, expected) == "verified":
                        self._remember_verified(target, expected, row)
                    else:
                        problem = "its stored content does not match its commitment on chain"
        if row is None and self._lost_with_restore(target.record.record_id, target.version):
            self._refuse(draft, Refusal.CONTENT_LOST, f"version {target.version} of record {target.record.record_id} was "
                         "committed after the backup the database was restored from: its content is lost (enter it "
                         "again as a new version)", record=target.record.record_id, version=target.version)  # fmt: skip
        if problem is not None:
            self._refuse(draft, Refusal.RECORD_ALTERED, f"version {target.version} of record {target.record.record_id}: "
                         f"{problem}; the database was altered and nothing was shown (run 'gridledger verify all')",
                         record=target.record.record_id, version=target.version)  # fmt: skip
        return content

    def _verified(self, target: _Target, expected: str | None, row: Any) -> bool:
        """Whether exactly these stored bytes (content and salt) were checked against this
        commitment before: the check is not made again (the commitment of a version never
        changes on chain; bytes edited since are not these bytes, and are checked afresh)."""
        key = (target.record.record_id, target.version, expected)
        with self._lock:
            seen = self._checked.get(key)
        return seen is not None and seen == (row.content, row.salt)

    def _remember_verified(self, target: _Target, expected: str | None, row: Any) -> None:
        key = (target.record.record_id, target.version, expected)
        with self._lock:
            if key not in self._checked and len(self._checked) >= CHECKED_MAX:
                self._checked.pop(next(iter(self._checked)))  # the oldest goes
            self._checked[key] = (row.content, row.salt)

    def _lost_with_restore(self, record_id: str, version: int) -> bool:
        """Whether the chain committed the version in blocks a restore could not bring back
        (only the refusal's reason depends on it: the read is refused either way)."""
        with self.ledger.store.engine.connect() as connection:
            block = connection.execute(
                select(ChainRecordVersion.block_number).where(
                    ChainRecordVersion.record_id == record_id, ChainRecordVersion.version == version
                )
            ).scalar()
            if block is None:
                return False
            return (
                connection.execute(
                    select(Restore.id).where(Restore.backup_block < block, Restore.restored_block >= block).limit(1)
                ).first()
                is not None
            )

    @staticmethod
    def _refuse(draft: Draft, reason: Refusal, message: str, **params: Any) -> Any:
        """Marks the draft refused and raises :class:`_Refused`: the caller logs the refusal
        (a read at once, a bulk read with the rest of its batch)."""
        draft.outcome, draft.reason = Outcome.REFUSED, reason
        raise _Refused(reason, message, params)

    # -- anchoring health (fail closed) ---------------------------------------------

    def health(self, *, fresh: bool = False) -> Health:
        """The log's anchoring health, reused for HEALTH_MAX_AGE unless ``fresh`` (after a
        checkpoint this process waited for: the reads that follow see it at once)."""
        with self._lock:
            if not fresh and self._health is not None and self.clock() - self._health[0] < HEALTH_MAX_AGE:
                return self._health[1]
        computed = health(self.log, self.view, self.limit)
        with self._lock:
            self._health = (self.clock(), computed)
        return computed

    # -- the chain -------------------------------------------------------------------

    def _target(self, record_id: str) -> _Target:
        key = parse_id(record_id, field="record_id", what="record id")
        record = self.view.record(key)
        if record is None:
            raise NotFoundError(f"no record {key} on chain")
        if record.erased:
            raise NotFoundError(f"record {key} was erased; there is nothing to read")
        committee = self.view.organisation(record.committee_id)
        # The newest certified version; the newest of all when none is certified yet.
        version = record.certified_version or record.version
        return _Target(
            record, None if committee is None else committee.parent_id, version, record.certified_version > 0
        )

    def _reader(self, address: str) -> _Reader:
        member = self.view.member(address)
        org = None if member is None else self.view.organisation(member.org_id)
        return _Reader(address, member, org)

    def _check_disclosure(self, disclose_on: str | None, reader: _Reader, why: str | None) -> str | None:
        if disclose_on is None:
            return None
        try:
            day = date.fromisoformat(disclose_on)
        except ValueError:
            raise InputError(
                f"expected a date as YYYY-MM-DD; got {disclose_on!r}",
                code=Invalid.BAD_DATE,
                field="disclose_on",
                params={"value": disclose_on},
            ) from None
        if reader.org is None or reader.org.department_kind != "public-security":
            raise InputError(
                "only a public security department may defer disclosure",
                code=Invalid.NOT_PERMITTED,
                field="disclose_on",
            )
        if not why:
            raise InputError(
                "a deferred disclosure needs the investigation's justification",
                code=Invalid.REQUIRED,
                field="justification",
            )
        if day <= today():
            raise InputError(
                "the disclosure date must be in the future", code=Invalid.NOT_IN_FUTURE, field="disclose_on"
            )
        if day > today() + timedelta(days=MAX_DEFERRAL_DAYS):
            raise InputError(
                f"at most {MAX_DEFERRAL_DAYS} days ahead",
                code=Invalid.TOO_FAR_AHEAD,
                field="disclose_on",
                params={"days": MAX_DEFERRAL_DAYS},
            )
        return day.isoformat()
