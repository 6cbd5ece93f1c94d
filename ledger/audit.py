"""The office's audit: accesses against grants, emergency reviews, anomalies, and (with
``integrity``) the whole database against the chain (:mod:`ledger.verify`).

Findings are computed from the leaves (the truth), never from their index columns, in
one pass over the log, against the grants as indexed from the chain; the integrity check
verifies those indexed grants against the chain's own events, so an audit with
integrity is clean only when both are.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, cast

import orjson
from eth_account.messages import encode_defunct
from sqlalchemy import Table, select

from . import formats
from .access import CHINA, ReadBasis, now_ms
from .accesslog import AccessLog, Action, Draft, Outcome, justification_hash
from .categories import Category
from .chainview import ChainStatus
from .context import Ledger
from .errors import ConflictError, InputError, Invalid, LedgerError, NotFoundError
from .grants import GrantStatus, window_at
from .history import Scope
from .merkle import Frontier, leaf_hash
from .seal import row_seal, row_sealed
from .store import as_stored
from .store.models import AccessEvent, AuditMark, ChainGrant, EmergencyReview, Organisation, OrgProfile

if TYPE_CHECKING:
    from .verify import Report

REVIEW_FORMAT = "gridledger-review/1"
CHUNK = 20_000
MARK_FORMAT = "gridledger-audit-mark/1"
MARK_DAYS = 90  # days of each organisation's daily reads a mark carries (the volume check's usual)


class Decision(StrEnum):
    """An office's decision on an emergency read (the review leaf's ``decision``). On disk:
    never respell."""

    APPROVE = "approve"
    FLAG = "flag"


class Severity(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    INFO = "info"


class FindingKind(StrEnum):
    """What an access finding says (:attr:`Finding.kind`), with :attr:`Finding.params`. In
    the exports and the API: never respell. The log's integrity is :class:`ledger.verify.Problem`."""

    OUTSIDE_CATEGORIES = "outside-categories"  # params: category
    OUTSIDE_TIME = "outside-time"  # read before the grant's start
    AFTER_EXPIRY = "after-expiry"
    AFTER_WITHDRAWAL = "after-withdrawal"  # params: block (where the grant was withdrawn)
    AFTER_REVOCATION = "after-revocation"  # params: block (where the grant was revoked)
    WRONG_DEPARTMENT = "wrong-department"
    WRONG_RESIDENT = "wrong-resident"
    UNKNOWN_GRANT = "unknown-grant"
    EMERGENCY_UNREVIEWED = "emergency-unreviewed"
    EMERGENCY_FLAGGED = "emergency-flagged"
    REFUSED = "refused-attempt"  # params: reason (a ledger.errors.Refusal)
    VOLUME_ANOMALY = "volume-anomaly"  # params: count, day, usual


class FullBecause(StrEnum):
    """Why an incremental audit (:func:`incremental`) ran in full. In the command's output and
    the exports: never respell."""

    NO_MARK = "no-mark"  # no audit has marked where it stopped
    NO_SEAL_KEY = "no-seal-key"  # the keystore password is not set: a mark cannot be believed
    MARK_UNSEALED = "mark-unsealed"  # the newest mark carries no valid seal: written behind the installation's back
    MARK_UNREADABLE = "mark-unreadable"  # sealed, yet not of the format (docs/formats.md)
    MARK_OFF_CHAIN = "mark-off-chain"  # the chain has no such checkpoint at the mark's index
    FRONTIER_DIFFERS = "frontier-differs"  # the mark's frontier does not give the anchored root
    ASKED = "asked"  # the caller asked for a full audit


DECISIONS = tuple(Decision)
SEVERITY: dict[FindingKind, Severity] = {
    FindingKind.OUTSIDE_CATEGORIES: Severity.HIGH, FindingKind.OUTSIDE_TIME: Severity.HIGH,
    FindingKind.AFTER_EXPIRY: Severity.HIGH, FindingKind.AFTER_WITHDRAWAL: Severity.HIGH,
    FindingKind.AFTER_REVOCATION: Severity.HIGH, FindingKind.WRONG_DEPARTMENT: Severity.HIGH,
    FindingKind.WRONG_RESIDENT: Severity.HIGH, FindingKind.UNKNOWN_GRANT: Severity.HIGH,
    FindingKind.EMERGENCY_UNREVIEWED: Severity.MEDIUM, FindingKind.EMERGENCY_FLAGGED: Severity.HIGH,
    FindingKind.REFUSED: Severity.INFO, FindingKind.VOLUME_ANOMALY: Severity.MEDIUM,
}  # fmt: skip
ANOMALY_FACTOR = 3.0
ANOMALY_MIN_EXCESS = 20
ANOMALY_MIN_DAYS = 3


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    severity: Severity
    detail: str  # in English, for the command line and the exports; pages word kind and params
    seq: int | None = None
    time: int | None = None  # ms
    organisation: str | None = None
    resident: str | None = None
    record_id: str | None = None
    grant_id: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Reads:
    """An organisation's accesses in scope: reads allowed and refused, and of the allowed
    ones the emergency reads and how many of those an office has reviewed."""

    allowed: int = 0
    refused: int = 0
    emergency: int = 0
    reviewed: int = 0

    def add(self, other: Reads) -> Reads:
        return Reads(self.allowed + other.allowed, self.refused + other.refused, self.emergency + other.emergency,
                     self.reviewed + other.reviewed)  # fmt: skip


@dataclass
class Audit:
    scope: Scope
    events: int = 0
    in_scope: int = 0
    findings: list[Finding] = field(default_factory=list)
    reads: dict[str, Reads] = field(default_factory=dict)  # organisation -> its accesses in scope
    per_day: dict[tuple[str, str], int] = field(default_factory=dict)  # (organisation, day) -> allowed reads
    integrity: Report | None = None  # with integrity: the whole database against the chain
    seconds: float = 0.0
    rows_read: int = 0  # rows of the access log this audit read
    #: An incremental audit (:func:`incremental`): the events it covered, [since, upto), and
    #: when it ran in full instead, why. None for :func:`run`.
    since: int | None = None
    upto: int | None = None
    full_because: FullBecause | None = None
    unanchored: int = 0  # events after the newest anchored checkpoint: the next audit's
    mark: int | None = None  # the id of the mark this audit saved, if it saved one

    def counts(self) -> Counter[str]:
        return Counter(f.kind for f in self.findings)

    @property
    def ok(self) -> bool:
        """No access finding of high severity, and (when checked) integrity intact."""
        return not any(f.severity == Severity.HIGH for f in self.findings) and (
            self.integrity is None or self.integrity.ok
        )

    @property
    def exit_code(self) -> int:
        """0 clean, 1 findings of high severity or of integrity, 2 integrity could not be checked."""
        if any(f.severity == Severity.HIGH for f in self.findings):
            return 1
        return 0 if self.integrity is None else self.integrity.exit_code


def _day(ms: int) -> str:
    return _day_of_hour(ms // 3_600_000)


@functools.lru_cache(maxsize=4096)
def _day_of_hour(hour: int) -> str:
    """The day in China of an hour since the epoch (China's offset is whole hours)."""
    return datetime.fromtimestamp(hour * 3600, CHINA).date().isoformat()


def _leaves(log: AccessLog, stop: int | None = None) -> Iterator[dict[str, Any]]:
    """The log's leaves in order (those with ``seq < stop`` when given), in chunks; a leaf
    that cannot be read is skipped here (it is a finding of the integrity check, never a
    crash of the audit)."""
    table = cast(Table, AccessEvent.__table__)
    last = -1
    while True:
        query = select(table.c.seq, as_stored(table.c.leaf)).where(table.c.seq > last)
        if stop is not None:
            query = query.where(table.c.seq < stop)
        with log.store.engine.connect() as connection:
            rows = connection.execute(query.order_by(table.c.seq).limit(CHUNK)).all()
        if not rows:
            return
        for _seq, raw in rows:
            try:  # orjson: ~3× json; what it refuses (NaN, integers beyond 64 bits) is no leaf of the log either
                leaf = orjson.loads(raw) if isinstance(raw, (bytes, bytearray, memoryview, str)) else None
            except ValueError:
                continue
            if isinstance(leaf, dict):
                yield leaf
        last = rows[-1][0]


class _Judge:
    """The access findings, one leaf at a time: each access against the grants (as the
    chain gives them), emergencies against the reviews that follow, refusals; then the
    volumes. Shared by the full and the incremental audit."""

    def __init__(self, audit: Audit, grants: dict[str, ChainGrant]) -> None:
        self.audit = audit
        self.grants = grants
        self.low, self.high = audit.scope.window_ms()
        self.reviews: dict[int, dict[str, Any]] = {}  # emergency seq -> the review leaf
        self.emergencies: dict[int, dict[str, Any]] = {}

    def see(self, leaf: dict[str, Any]) -> None:
        audit, scope = self.audit, self.audit.scope
        audit.events += 1
        try:
            if leaf.get("action") == "review" and leaf.get("reviewOf") is not None:
                self.reviews[int(leaf["reviewOf"])] = leaf
                return
            if leaf.get("action") == Action.DECIDE:
                return  # a decision on a resident's rights request (ledger.rights), not a use of the data
            t = int(leaf["time"])
            if (scope.resident and leaf["resident"] != scope.resident) or (
                scope.department and leaf["organisation"] != scope.department
            ):
                return
            if (self.low is not None and t < self.low) or (self.high is not None and t >= self.high):
                return
            audit.in_scope += 1
            _check_access(audit, leaf, self.grants, self.emergencies)
        except (KeyError, TypeError, ValueError):
            return  # a leaf not of the log's format: the integrity check reports it

    def finish(self, *, earlier: bool = False) -> None:
        """Emergencies against their reviews. With ``earlier`` (an incremental audit), a
        review of an emergency before the events seen is judged from the review's leaf: a
        flag is a finding; the emergency's own awaiting was reported by the audit that saw it."""
        audit = self.audit
        for seq, leaf in self.emergencies.items():
            review_leaf = self.reviews.get(seq)
            decision = None if review_leaf is None else str(review_leaf.get("decision"))
            if decision is not None:
                audit.reads[leaf["organisation"] or "-"].reviewed += 1
            if decision is None:
                audit.findings.append(
                    _finding(FindingKind.EMERGENCY_UNREVIEWED, leaf, "emergency access awaiting an office review")
                )
            elif decision == Decision.FLAG:
                audit.findings.append(
                    _finding(FindingKind.EMERGENCY_FLAGGED, leaf, "emergency access flagged by the office's review")
                )
        if earlier:
            for seq, review_leaf in self.reviews.items():
                if seq in self.emergencies or str(review_leaf.get("decision")) != Decision.FLAG:
                    continue
                try:
                    audit.findings.append(Finding(
                        FindingKind.EMERGENCY_FLAGGED, SEVERITY[FindingKind.EMERGENCY_FLAGGED],
                        f"emergency access flagged by the office's review #{review_leaf['seq']}", seq,
                        review_leaf["time"], None, review_leaf["resident"], review_leaf["recordId"], None,
                        {"review": review_leaf["seq"]},
                    ))  # fmt: skip
                except KeyError:
                    continue  # not of the log's format: the integrity check reports it
        _anomalies(audit)


def _indexed_grants(ledger: Ledger) -> dict[str, ChainGrant]:
    with ledger.store.session() as session:
        return {g.grant_id: g for g in session.scalars(select(ChainGrant))}


def run(
    ledger: Ledger,
    scope: Scope | None = None,
    *,
    integrity: bool = True,
    catch_up: bool = True,
    stop: int | None = None,
) -> Audit:
    """The whole audit: one pass over the log against the indexed grants, and (with
    ``integrity``) :func:`ledger.verify.verify` of the whole database against the chain
    (``catch_up``: index the chain up to its head first; a page's GET leaves that to the
    worker, so that it writes nothing). With ``stop``, the access findings cover the
    events before ``stop`` only (the integrity check covers the whole database all the same)."""
    began = time.perf_counter()
    grants = _indexed_grants(ledger)
    audit = Audit(scope or Scope())
    judge = _Judge(audit, grants)
    report = None
    if integrity:  # one pass over the log: the integrity check shows each leaf to the judge
        from .verify import verify

        def judged(leaf: dict[str, Any]) -> None:
            audit.rows_read += 1
            seq = leaf.get("seq")
            if stop is None or (isinstance(seq, int) and seq < stop):
                judge.see(leaf)

        report = verify(ledger, catch_up=catch_up, on_leaf=judged)
    if report is None or not report.log_read:  # without integrity, or its log part did not finish
        audit = Audit(audit.scope)
        judge = _Judge(audit, grants)
        for leaf in _leaves(ledger.log, stop):
            judge.see(leaf)
        audit.rows_read = audit.events
    audit.integrity = report
    judge.finish()
    audit.findings.sort(key=lambda f: (f.seq is None, -(f.seq or 0)))
    audit.seconds = time.perf_counter() - began
    return audit


# -- the incremental audit --------------------------------------------------------------------
# A mark says: every event before ``size`` was judged and checked against anchored checkpoint
# ``chain_index`` (size, root). It is sealed, and believed only when its checkpoint is the
# chain's at that index and its frontier gives that root; the contract accepts a checkpoint
# only as an extension of the one before, so the chain's newest checkpoint extends the mark's,
# and the events after the mark, appended to its frontier, must give the newest root.
# docs/decisions.md ("Incremental audit") says what this cannot see.


@dataclass(frozen=True)
class _Mark:
    id: int
    chain_index: int
    size: int
    root: str
    frontier: list[bytes]
    per_day: dict[tuple[str, str], int]


def _load_mark(ledger: Ledger) -> tuple[_Mark | None, FullBecause | None]:
    """The newest mark, when it can be believed; else why not."""
    if not ledger.can_seal:
        return None, FullBecause.NO_SEAL_KEY
    table = cast(Table, AuditMark.__table__)
    columns = [as_stored(c) if c.name == "seal" else c for c in table.c]
    with ledger.store.engine.connect() as connection:
        row = connection.execute(select(*columns).order_by(table.c.id.desc()).limit(1)).first()
    if row is None:
        return None, FullBecause.NO_MARK
    if not row_sealed(ledger.sealer, "audit_marks", row):
        return None, FullBecause.MARK_UNSEALED
    try:
        state = json.loads(row.state)
        if state.get("format") != MARK_FORMAT:
            raise ValueError(state.get("format"))
        mark = _Mark(
            int(row.id), int(row.chain_index), int(row.size), str(row.root).lower(),
            [formats.from_hex(h) for h in state["frontier"]],
            {(str(org), str(day)): int(n) for org, day, n in state["perDay"]},
        )  # fmt: skip
        frontier = Frontier.resume(mark.size, mark.frontier)
    except (TypeError, ValueError, KeyError, LedgerError):
        return None, FullBecause.MARK_UNREADABLE
    try:
        size, root, _at, _anchorer = ledger.contract("AccessLogAnchor").functions.checkpointAt(mark.chain_index).call()
    except Exception:  # noqa: BLE001 - no such index (a revert) or a node that cannot say
        return None, FullBecause.MARK_OFF_CHAIN
    if int(size) != mark.size or formats.to_hex(bytes(root)) != mark.root:
        return None, FullBecause.MARK_OFF_CHAIN
    if formats.to_hex(frontier.root()) != mark.root:
        return None, FullBecause.FRONTIER_DIFFERS
    return mark, None


def _chain_latest(ledger: Ledger) -> tuple[int, int, str] | None:
    """(index, size, root) of the newest checkpoint on chain, None before the first."""
    (size, root, _at, _anchorer), count = ledger.contract("AccessLogAnchor").functions.latest().call()
    return None if int(count) == 0 else (int(count) - 1, int(size), formats.to_hex(bytes(root)))


class _Projected:
    """The grant projector's view of a session (:mod:`ledger.projections`): rows kept in a
    dict, so grants replayed from the chain's events are what the indexer would store."""

    def __init__(self) -> None:
        self.rows: dict[str, ChainGrant] = {}

    def add(self, row: ChainGrant) -> None:
        self.rows[row.grant_id] = row

    def get(self, _model: Any, key: str) -> ChainGrant | None:
        return self.rows.get(key)


def _chain_grants(ledger: Ledger, wanted: set[str]) -> dict[str, ChainGrant]:
    """The grants ``wanted`` (ids, lower-case hex) as the consent registry's events on chain
    give them, read afresh (never the indexed table, which the full audit's integrity check
    vouches for); only the events naming one of them are decoded and replayed."""
    from .chain import artifact, rpc
    from .indexer import EventDecoder
    from .projections import PROJECTORS

    name = "ConsentRegistry"
    address = ledger.deployment.address(name)
    decoder = EventDecoder({name: (address, artifact(ledger.settings, name)["abi"])})
    head = int(rpc(ledger.w3, "eth_blockNumber", []), 16)
    window = ledger.settings.log_window
    session = _Projected()
    for start in range(ledger.deployment.block, head + 1, window):
        query = {"address": address, "fromBlock": hex(start), "toBlock": hex(min(start + window - 1, head))}
        for log in rpc(ledger.w3, "eth_getLogs", [query]):
            topics = log.get("topics") or []
            if log.get("removed") or len(topics) < 2 or str(topics[1]).lower() not in wanted:
                continue
            event = decoder.decode(log)
            projector = None if event is None else PROJECTORS.get((event.contract, event.name))
            if event is not None and projector is not None:
                projector(cast(Any, session), event)
    return session.rows


def _save_mark(ledger: Ledger, index: int, size: int, root: str, frontier: list[bytes],
               per_day: dict[tuple[str, str], int]) -> int:  # fmt: skip
    """Stores a sealed mark; keeps each organisation's last :data:`MARK_DAYS` days of reads."""
    days = sorted({day for _org, day in per_day})
    keep = set(days[-MARK_DAYS:])
    state = {
        "format": MARK_FORMAT, "frontier": [formats.to_hex(h) for h in frontier],
        "perDay": sorted([org, day, n] for (org, day), n in per_day.items() if day in keep),
    }  # fmt: skip
    row = AuditMark(at=now_ms(), chain_index=index, size=size, root=root.lower(),
                    state=formats.canonical_json(state).decode())  # fmt: skip
    with ledger.store.session() as session, session.begin():
        session.add(row)
        session.flush()
        row.seal = row_seal(ledger.sealer, "audit_marks", row)
        session.flush()
        return int(row.id)


def incremental(ledger: Ledger, *, full: bool = False, save: bool = True) -> Audit:
    """The audit of the events since the last one: their access findings, and their
    integrity against the chain, reading no event before the last mark.

    Without a mark that can be believed (:class:`FullBecause`), or with ``full``, it runs the
    full audit (:func:`run` with integrity) instead. Either way it covers the events up to the
    newest checkpoint anchored on chain (later ones are counted in :attr:`Audit.unanchored`,
    and are the next run's) and, with ``save`` and integrity intact, seals a new mark there.
    Access findings are facts of the log: they do not keep the mark from moving on; an
    integrity finding, or a check that could not be made, does."""
    began = time.perf_counter()
    mark, because = (None, FullBecause.ASKED) if full else _load_mark(ledger)
    latest = _chain_latest(ledger)
    if mark is None:
        stop = latest[1] if latest is not None else 0
        audit = run(ledger, integrity=True, stop=stop)
        audit.since, audit.upto, audit.full_because = 0, stop, because
        audit.unanchored = max(0, ledger.log.size() - stop)
        assert audit.integrity is not None
        if save and latest is not None and audit.integrity.exit_code == 0 and ledger.can_seal:
            try:  # from the stored subtrees: believed only when it gives the anchored root
                edge = ledger.log.tree().frontier(stop)
            except LedgerError:
                edge = []
            if edge and formats.to_hex(Frontier.resume(stop, edge).root()) == latest[2]:
                audit.mark = _save_mark(ledger, latest[0], stop, latest[2], edge, audit.per_day)
        audit.seconds = time.perf_counter() - began
        return audit
    assert latest is not None  # the mark's checkpoint is on chain, so there is a newest
    index, stop, root = latest
    audit = Audit(Scope(), since=mark.size, upto=stop)
    frontier = Frontier.resume(mark.size, mark.frontier)
    from .verify import verify_log_range

    leaves: list[dict[str, Any]] = []  # the day's leaves, judged once their grants are read from the chain
    audit.integrity, audit.rows_read = verify_log_range(ledger, mark.size, frontier, stop, root, leaves.append)
    wanted = {str(leaf.get("grantId")).lower() for leaf in leaves if leaf.get("basis") == ReadBasis.GRANT}
    judge = _Judge(audit, _chain_grants(ledger, wanted))
    for leaf in leaves:
        judge.see(leaf)
    # The volume check: this run's days against the organisations' usual, carried by the mark.
    seen = dict(audit.per_day)
    audit.per_day = dict(mark.per_day)
    for key, n in seen.items():
        audit.per_day[key] = audit.per_day.get(key, 0) + n
    judge.finish(earlier=True)
    audit.findings = [f for f in audit.findings if f.kind != FindingKind.VOLUME_ANOMALY
                      or (f.organisation or "-", str(f.params.get("day"))) in seen]  # fmt: skip
    audit.unanchored = max(0, ledger.log.size() - stop)
    if save and audit.integrity.exit_code == 0 and frontier.size == stop:
        audit.mark = _save_mark(ledger, index, stop, root, frontier.hashes(), audit.per_day)
    audit.findings.sort(key=lambda f: (f.seq is None, -(f.seq or 0)))
    audit.seconds = time.perf_counter() - began
    return audit


def _finding(kind: FindingKind, leaf: dict[str, Any], detail: str, **params: Any) -> Finding:
    return Finding(
        kind, SEVERITY[kind], detail, leaf["seq"], leaf["time"], leaf["organisation"], leaf["resident"],
        leaf["recordId"], leaf["grantId"], params,
    )  # fmt: skip


def _check_access(
    audit: Audit, leaf: dict[str, Any], grants: dict[str, ChainGrant], emergencies: dict[int, Any]
) -> None:
    reads = audit.reads.setdefault(leaf["organisation"] or "-", Reads())
    if leaf["outcome"] == Outcome.REFUSED:
        reads.refused += 1
        reason = leaf.get("reason")
        audit.findings.append(_finding(FindingKind.REFUSED, leaf, f"refused: {reason}", reason=reason))
        return
    reads.allowed += 1
    key = (leaf["organisation"] or "-", _day(leaf["time"]))
    audit.per_day[key] = audit.per_day.get(key, 0) + 1
    if leaf["basis"] == ReadBasis.EMERGENCY:
        reads.emergency += 1
        emergencies[leaf["seq"]] = leaf
        return
    if leaf["basis"] != ReadBasis.GRANT:
        return
    grant = grants.get(leaf["grantId"] or "")
    if grant is None:
        audit.findings.append(_finding(FindingKind.UNKNOWN_GRANT, leaf, "read under a grant the chain does not know"))
        return
    seconds = leaf["time"] // 1000
    problems: list[tuple[FindingKind, str, dict[str, Any]]] = []
    if grant.resident != leaf["resident"]:
        problems.append((FindingKind.WRONG_RESIDENT, "the grant is another resident's", {}))
    if grant.department != leaf["organisation"]:
        problems.append((FindingKind.WRONG_DEPARTMENT, "the grant is to another department", {}))
    if leaf["category"] is None or not grant.categories >> int(Category[leaf["category"].upper()]) & 1:
        problems.append((FindingKind.OUTSIDE_CATEGORIES, f"{leaf['category']} records are outside the grant's "
                         "categories", {"category": leaf["category"]}))  # fmt: skip
    # When the read was made, as the grant's status would have said then (ledger.grants).
    status = window_at(grant.valid_from, grant.valid_until, seconds)
    if status == GrantStatus.EXPIRED:
        problems.append((FindingKind.AFTER_EXPIRY, "read after the grant expired", {}))
    elif status == GrantStatus.NOT_YET_VALID:
        problems.append((FindingKind.OUTSIDE_TIME, "read before the grant's start", {}))
    block = leaf.get("block")
    ended = grant.status in (ChainStatus.WITHDRAWN, ChainStatus.REVOKED)
    if ended and (block is None or block >= grant.status_block):
        kind = FindingKind.AFTER_WITHDRAWAL if grant.status == ChainStatus.WITHDRAWN else FindingKind.AFTER_REVOCATION
        problems.append((kind, f"read after the grant was {grant.status} (block {grant.status_block})",
                         {"block": grant.status_block}))  # fmt: skip
    for kind, detail, params in problems:
        audit.findings.append(_finding(kind, leaf, detail, **params))


def _anomalies(audit: Audit) -> None:
    """A department's day far above its usual: more than ANOMALY_FACTOR times the median
    of its other days, and at least ANOMALY_MIN_EXCESS reads above it."""
    days: dict[str, dict[str, int]] = defaultdict(dict)
    for (org, day), count in audit.per_day.items():
        days[org][day] = count
    for org, counts in days.items():
        if len(counts) <= ANOMALY_MIN_DAYS:
            continue
        for day, count in counts.items():
            usual = statistics.median(c for d, c in counts.items() if d != day)
            if count > ANOMALY_FACTOR * usual and count - usual >= ANOMALY_MIN_EXCESS:
                audit.findings.append(Finding(
                    FindingKind.VOLUME_ANOMALY, SEVERITY[FindingKind.VOLUME_ANOMALY],
                    f"{count} reads on {day}; usually {usual:g} a day", organisation=org,
                    params={"count": count, "day": day, "usual": usual},
                ))  # fmt: skip


# -- emergency reviews ------------------------------------------------------------------------


def review(ledger: Ledger, seq: int, decision: Decision | str, note: str, *, reviewer: str) -> EmergencyReview:
    """An office admin's signed decision on an emergency access, logged as a leaf."""
    if decision not in DECISIONS:
        raise InputError(
            f"expected one of: {', '.join(Decision)}",
            code=Invalid.UNKNOWN_CHOICE,
            field="decision",
            params={"value": decision, "choices": list(Decision)},
        )
    if not note.strip():
        raise InputError("say why, for the record", code=Invalid.REQUIRED, field="note")
    log = ledger.log
    event = log.event(seq)
    leaf = json.loads(bytes(event.leaf))
    if leaf["basis"] != ReadBasis.EMERGENCY or leaf["outcome"] != Outcome.ALLOWED or leaf["action"] != Action.READ:
        raise InputError(
            f"access event #{seq} is not an emergency read",
            code=Invalid.NOT_EMERGENCY_READ,
            field="seq",
            params={"seq": seq},
        )
    account = ledger.account(reviewer)
    with ledger.store.session() as session:
        if session.get(EmergencyReview, seq) is not None:
            raise ConflictError(f"access event #{seq} has been reviewed already")
    member = ledger.view.member(account.address)  # who may review is the chain's to say
    department = ledger.view.organisation(leaf["organisation"]) if leaf["organisation"] else None
    if (
        member is None
        or not member.acts_as("office-admin")
        or department is None
        or member.org_id != department.parent_id
    ):
        raise LedgerError("only an active admin of the office governing the department reviews its emergency reads")
    moment = now_ms()
    statement = {
        "format": REVIEW_FORMAT, "accessSeq": seq, "accessLeafHash": formats.to_hex(leaf_hash(bytes(event.leaf))),
        "decision": decision, "noteHash": justification_hash(note), "reviewer": account.address,
        "time": moment,
    }  # fmt: skip
    body = formats.canonical_json(statement)
    signature = account.sign_message(encode_defunct(body)).signature
    appended = log.record(Draft(
        action=Action.REVIEW, outcome=Outcome.ALLOWED, resident=leaf["resident"], accessor=account.address, time=moment,
        record_id=leaf["recordId"], category=leaf["category"], organisation=member.org_id, basis=ReadBasis.DUTY,
        justification=note, review_of=seq, decision=Decision(decision),
        # A review of a read under legal hold is held as long: it names the read, its record
        # and the office's note, which the resident must not see before the read itself.
        disclose_on=leaf.get("disclosureDate"),
    ))  # fmt: skip
    row = EmergencyReview(
        access_seq=seq, decision=Decision(decision), note=note, reviewer=account.address, statement=body.decode(),
        signature=formats.to_hex(signature), review_seq=appended.seq,
    )  # fmt: skip
    with ledger.store.session() as session, session.begin():
        session.add(row)
    return row


def unreviewed(ledger: Ledger) -> list[AccessEvent]:
    with ledger.store.session() as session:
        done = set(session.scalars(select(EmergencyReview.access_seq)))
        rows = session.scalars(
            select(AccessEvent).where(AccessEvent.basis == ReadBasis.EMERGENCY, AccessEvent.outcome == Outcome.ALLOWED,
                                      AccessEvent.action == Action.READ).order_by(AccessEvent.seq)
        )  # fmt: skip
        return [r for r in rows if r.seq not in done]


# -- machine-readable rows ----------------------------------------------------------------------
# For the command line and other programs: codes, ids and the English detail, one finding a
# row. The office's readable CSV and its PDF report are the web app's (webapp/office/report.py).

CSV_COLUMNS = ("kind", "severity", "seq", "time", "organisation", "resident", "record_id", "grant_id", "detail")


def org_codes(ledger: Ledger) -> dict[str, str]:
    with ledger.store.session() as session:
        return {p.org_id: p.code for p in session.scalars(select(OrgProfile))}


def finding_row(finding: Finding, codes: dict[str, str]) -> list[str]:
    when = datetime.fromtimestamp(finding.time / 1000, CHINA).isoformat(timespec="seconds") if finding.time else ""
    org = codes.get(finding.organisation or "", finding.organisation or "")
    return [
        finding.kind, finding.severity, "" if finding.seq is None else str(finding.seq), when, org,
        finding.resident or "", finding.record_id or "", finding.grant_id or "", finding.detail,
    ]  # fmt: skip


def to_csv(ledger: Ledger, audit: Audit) -> str:
    """The findings as machine-readable CSV (:data:`CSV_COLUMNS`): codes, organisation codes,
    addresses and ids; the integrity check's findings follow with their ``ledger.verify`` codes."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    codes = org_codes(ledger)
    for finding in audit.findings:
        writer.writerow(finding_row(finding, codes))
    if audit.integrity is not None:
        for f in audit.integrity.findings:
            writer.writerow([str(f.code), Severity.HIGH, "" if f.seq is None else f.seq, "", "", "", f.subject, "",
                             f"{f.part}: {f.detail}"])  # fmt: skip
    return out.getvalue()


def parse_day(text: str | None, field: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(
            f"expected a date as YYYY-MM-DD; got {text!r}", code=Invalid.BAD_DATE, field=field, params={"value": text}
        ) from None


def scope_of(
    ledger: Ledger, *, start: str | None, end: str | None, department: str | None, resident: str | None
) -> Scope:
    from .membership import org_id

    dept = None
    if department:
        dept = formats.to_hex(org_id(department))
        with ledger.store.session() as session:
            if session.get(Organisation, dept) is None:
                raise NotFoundError(f"no organisation {department!r} on chain")
    return Scope(
        start=parse_day(start, "from"), end=parse_day(end, "to"), department=dept,
        resident=ledger.address_of(resident) if resident else None,
    )  # fmt: skip
