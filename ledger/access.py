"""Reading a resident's record: the only way personal data leaves gridledger.

Every read names a basis, and the order is fixed: check the basis, write the access
event to the log durably, then hand out the content. A read with no basis is refused,
and the refusal is logged too. Bases:

* ``grant``: the accessor is an active officer of a department holding a grant of the
  record's resident that ``ConsentRegistry.isActive`` says covers the record's
  category now (asked of the chain, at most 0.1 s behind its head: see
  :mod:`ledger.grantcheck`);
* ``duty``: the accessor is an active member or grid worker of the record's own
  committee (a review), or an active admin of the office governing it (an audit read);
* ``emergency``: the accessor is an active officer of a department under the same
  office, and writes a justification; the access is flagged for an office review.

A public security access may carry a disclosure date (deferred disclosure): its leaf is
in the log now, and its content is shown to the resident from that date on.

If the log's anchoring has failed for longer than the configured limit, every read is
refused (fail closed) until a checkpoint lands again.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, cast

from sqlalchemy import Table, bindparam, select

from .accesslog import AccessLog, Draft
from .categories import Category
from .consent import Purpose
from .context import Ledger
from .errors import AccessRefused, InputError, NodeError, NotFoundError
from .formats import parse_id
from .grantcheck import GrantCheck
from .store.models import ChainGrant, ChainRecordVersion, Member, Organisation, Record, RecordVersion

_RECORDS = cast(Table, Record.__table__)
_VERSIONS = cast(Table, RecordVersion.__table__)
_CHAIN_VERSIONS = cast(Table, ChainRecordVersion.__table__)
_ORGS = cast(Table, Organisation.__table__)
_MEMBERS = cast(Table, Member.__table__)
_GRANTS = cast(Table, ChainGrant.__table__)

# The read path's queries, built once (building a statement costs more than running it).
_r, _v, _c, _o, _m, _g = _RECORDS.c, _VERSIONS.c, _CHAIN_VERSIONS.c, _ORGS.c, _MEMBERS.c, _GRANTS.c
_TARGET = (
    select(
        _r.subject, _r.category, _r.committee_id, _r.erased_at, _o.parent_id, _v.version, _v.content, _c.certified_tx
    )
    .join(_VERSIONS, _v.record_id == _r.record_id)
    .outerjoin(_ORGS, _o.org_id == _r.committee_id)
    .outerjoin(
        _CHAIN_VERSIONS,
        (_c.record_id == _v.record_id) & (_c.version == _v.version) & (_c.content_hash == _v.content_hash),
    )
    .where(_r.record_id == bindparam("record_id"))
    .order_by(_v.version.desc())
)
_READER = (
    select(_m.org_id, _m.role, _m.status, _o.parent_id, _o.department_kind)
    .outerjoin(_ORGS, _o.org_id == _m.org_id)
    .where(_m.address == bindparam("address"))
)
_GRANT_BY_ID = select(_g.grant_id, _g.purpose).where(
    _g.resident == bindparam("resident"), _g.department == bindparam("department"), _g.grant_id == bindparam("grant_id")
)
_ACTIVE_GRANTS = (
    select(_g.grant_id, _g.purpose)
    .where(_g.resident == bindparam("resident"), _g.department == bindparam("department"), _g.status == "active")
    .order_by(_g.issued_block.desc())
)

BASES = ("grant", "duty", "emergency")
HEALTH_MAX_AGE = 0.2  # seconds a computed anchoring health may be reused
MAX_JUSTIFICATION = 2_000
MAX_DEFERRAL_DAYS = 366
CHINA = timezone(timedelta(hours=8))

# Refusal reasons (in the leaf's ``reason``)
NO_ACTIVE_GRANT = "no-active-grant"
GRANT_NOT_ACTIVE = "grant-not-active"
NOT_AUTHORISED = "not-authorised"
NO_DUTY = "no-duty"
ANCHORING_STALLED = "anchoring-stalled"
CHAIN_UNREACHABLE = "chain-unreachable"


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
    basis: str
    grant_id: str | None


@dataclass(frozen=True)
class Health:
    size: int
    anchored_size: int
    oldest_unanchored_ms: int | None  # time of the first event no checkpoint covers
    limit_seconds: float

    @property
    def lag_seconds(self) -> float:
        if self.oldest_unanchored_ms is None:
            return 0.0
        return max(0.0, now_ms() / 1000 - self.oldest_unanchored_ms / 1000)

    @property
    def closed(self) -> bool:
        return self.lag_seconds > self.limit_seconds

    @property
    def state(self) -> str:
        if self.closed:
            return "closed"
        return "ok" if self.oldest_unanchored_ms is None else "anchoring"


def health(log: AccessLog, limit_seconds: float) -> Health:
    anchored = log.anchored()
    anchored_size = anchored.size if anchored else 0
    size = log.size()
    oldest = None
    if size > anchored_size:
        try:
            oldest = log.event(anchored_size).time
        except NotFoundError:
            oldest = 0  # the leaf is gone: treat as stalled since forever
    return Health(size, anchored_size, oldest, limit_seconds)


@dataclass(frozen=True)
class _Target:
    record_id: str
    subject: str
    category: Category
    committee: str
    office: str | None
    version: int
    content: Any
    certified: bool


@dataclass(frozen=True)
class _Accessor:
    """The reader's membership as the indexed tables have it (``org_id`` None: not a member)."""

    address: str
    org_id: str | None = None
    role: str | None = None
    active: bool = False
    parent_id: str | None = None  # the office over the reader's organisation
    department_kind: str | None = None

    def acts_as(self, *roles: str) -> bool:
        return self.active and self.role in roles


class Access:
    """Logged reads for one installation (thread-safe; share one per process)."""

    def __init__(self, ledger: Ledger, log: AccessLog | None = None) -> None:
        self.ledger = ledger
        self.log = log or AccessLog(ledger.store)
        self.limit = ledger.settings.anchor_fail_after
        self._lock = threading.Lock()
        self._health: tuple[float, Health] | None = None
        self.grants = GrantCheck(ledger.w3, ledger.contract("ConsentRegistry"))

    # -- the read --------------------------------------------------------------------

    def read(
        self,
        record_id: str,
        *,
        accessor: str,
        basis: str | None = None,
        grant_id: str | None = None,
        justification: str | None = None,
        disclose_on: str | None = None,
    ) -> Disclosure:
        """Reads a record's content under a basis (chosen when not given), logging the
        access durably first. Raises :class:`AccessRefused` (logged) without a basis."""
        who = self.ledger.address_of(accessor)
        if basis is not None and basis not in BASES:
            raise InputError(f"unknown basis {basis!r}; expected one of: {', '.join(BASES)}", field="basis")
        if justification is not None:
            justification = justification.strip()
            if len(justification) > MAX_JUSTIFICATION:
                raise InputError(f"at most {MAX_JUSTIFICATION} characters", field="justification")
        if basis == "emergency" and not justification:
            raise InputError("an emergency access needs a written justification", field="justification")
        target = self._target(record_id)
        reader = self._accessor(who)
        deferred = self._check_disclosure(disclose_on, reader, justification)

        draft = Draft(
            action="read", outcome="allowed", resident=target.subject, accessor=who, time=now_ms(),
            record_id=target.record_id, category=target.category.slug, organisation=reader.org_id,
            justification=justification or None, disclose_on=deferred,
        )  # fmt: skip
        state = self.health()
        if state.closed:
            self._refuse(draft, ANCHORING_STALLED, f"the access log has not been anchored for {state.lag_seconds:.0f} s "
                         f"(limit {self.limit:.0f} s); reads resume once 'gridledger worker' anchors it")  # fmt: skip

        if basis is None:
            basis = self._choose_basis(reader, justification)
        draft.basis = basis
        if basis == "grant":
            self._grant_basis(draft, reader, target, grant_id)
        elif basis == "duty":
            self._duty_basis(draft, reader, target)
        else:
            self._emergency_basis(draft, reader, target)
        appended = self.log.record(draft)
        return Disclosure(
            target.record_id, target.version, target.certified, target.category, target.content,
            appended.seq, basis, draft.grant_id,
        )  # fmt: skip

    @staticmethod
    def _choose_basis(reader: _Accessor, why: str | None) -> str:
        """Members of committees and offices read on duty; with a justification, an
        emergency; otherwise under a grant."""
        if reader.role in ("committee-member", "grid-worker", "office-admin"):
            return "duty"
        if why:
            return "emergency"
        return "grant"

    def _grant_basis(self, draft: Draft, reader: _Accessor, target: _Target, grant_id: str | None) -> None:
        if not reader.acts_as("department-officer") or reader.org_id is None:
            self._refuse(draft, NOT_AUTHORISED, "only an active department officer reads under a grant")
        assert reader.org_id is not None
        # Candidates from the indexed grants (for their purpose); the chain decides.
        params = {"resident": target.subject, "department": reader.org_id}
        if grant_id is not None:
            params["grant_id"] = parse_id(grant_id, field="grant_id", what="grant id")
        with self.ledger.store.engine.connect() as connection:
            candidates = connection.execute(_GRANT_BY_ID if grant_id else _ACTIVE_GRANTS, params).all()
        try:
            draft.block = self.grants.head()[0]
            for candidate, purpose in candidates:
                active, block = self.grants.is_active(candidate, reader.org_id, int(target.category))
                draft.block = block
                if active:
                    draft.grant_id, draft.purpose = candidate, purpose
                    return
        except NodeError as exc:
            self._refuse(draft, CHAIN_UNREACHABLE, f"the chain cannot be asked whether a grant is active ({exc})")
        if grant_id is not None:
            draft.grant_id = parse_id(grant_id, field="grant_id", what="grant id")
            self._refuse(draft, GRANT_NOT_ACTIVE, f"grant {draft.grant_id} is not active for your department and "
                         f"{target.category.slug} records now (withdrawn, revoked, expired or never given)")  # fmt: skip
        self._refuse(draft, NO_ACTIVE_GRANT, f"your department holds no active grant of this resident covering "
                     f"{target.category.slug} records")  # fmt: skip

    def _duty_basis(self, draft: Draft, reader: _Accessor, target: _Target) -> None:
        if reader.acts_as("committee-member", "grid-worker") and reader.org_id == target.committee:
            draft.purpose = int(Purpose.RECORD_REVIEW)
            return
        if reader.acts_as("office-admin") and reader.org_id == target.office:
            draft.purpose = int(Purpose.AUDIT)
            return
        self._refuse(draft, NO_DUTY, "a duty read is for the record's own committee or the office governing it")

    def _emergency_basis(self, draft: Draft, reader: _Accessor, target: _Target) -> None:
        if not reader.acts_as("department-officer") or reader.parent_id != target.office:
            self._refuse(draft, NOT_AUTHORISED, "an emergency read is for an active officer of a department "
                         "under the office governing the record")  # fmt: skip
        draft.purpose = int(Purpose.EMERGENCY_RESPONSE)

    def _refuse(self, draft: Draft, reason: str, message: str) -> Any:
        draft.outcome, draft.reason = "refused", reason
        appended = self.log.record(draft)
        raise AccessRefused(reason, message, seq=appended.seq)

    # -- anchoring health (fail closed) ---------------------------------------------

    def health(self) -> Health:
        with self._lock:
            if self._health is not None and time.monotonic() - self._health[0] < HEALTH_MAX_AGE:
                return self._health[1]
        computed = health(self.log, self.limit)
        with self._lock:
            self._health = (time.monotonic(), computed)
        return computed

    # -- the store -------------------------------------------------------------------

    def _target(self, record_id: str) -> _Target:
        key = parse_id(record_id, field="record_id", what="record id")
        with self.ledger.store.engine.connect() as connection:
            versions = connection.execute(_TARGET, {"record_id": key}).all()
        if not versions:
            raise NotFoundError(f"no record {key}")
        first = versions[0]
        if first.erased_at is not None:
            raise NotFoundError(f"record {key} was erased; there is nothing to read")
        # The newest certified version; the newest of all when none is certified yet.
        chosen = next((v for v in versions if v.certified_tx), first)
        if chosen.content is None:
            raise NotFoundError(f"record {key} has no content to read")
        return _Target(
            record_id=key, subject=first.subject, category=Category(first.category), committee=first.committee_id,
            office=first.parent_id, version=chosen.version, content=json.loads(chosen.content),
            certified=bool(chosen.certified_tx),
        )  # fmt: skip

    def _accessor(self, address: str) -> _Accessor:
        with self.ledger.store.engine.connect() as connection:
            row = connection.execute(_READER, {"address": address}).first()
        if row is None:
            return _Accessor(address)
        return _Accessor(address, row.org_id, row.role, row.status == "active", row.parent_id, row.department_kind)

    def _check_disclosure(self, disclose_on: str | None, reader: _Accessor, why: str | None) -> str | None:
        if disclose_on is None:
            return None
        try:
            day = date.fromisoformat(disclose_on)
        except ValueError:
            raise InputError(f"expected a date as YYYY-MM-DD; got {disclose_on!r}", field="disclose_on") from None
        if reader.department_kind != "public-security":
            raise InputError("only a public security department may defer disclosure", field="disclose_on")
        if not why:
            raise InputError("a deferred disclosure needs the investigation's justification", field="justification")
        if day <= today():
            raise InputError("the disclosure date must be in the future", field="disclose_on")
        if day > today() + timedelta(days=MAX_DEFERRAL_DAYS):
            raise InputError(f"at most {MAX_DEFERRAL_DAYS} days ahead", field="disclose_on")
        return day.isoformat()
