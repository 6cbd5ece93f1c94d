"""Integrity of the database against the chain, against the log's own leaves, and against
the seals: ``gridledger verify all``.

The database is a cache of the chain and is never trusted (``docs/reliability.md``).
Every column that is read for a decision or shown to a person is checked here, each
finding with a code of its own (:class:`Problem`):

* ``chain``: the indexed tables (``organisations``, ``members``, ``chain_record_versions``,
  ``chain_grants``, ``chain_events``) against the contracts' events read afresh and
  replayed through the same projections the indexer uses;
* ``records``: every record (committee, subject, category, author, erasure) and every
  version (commitment recomputed from content and salt, hashes, author, transaction)
  against the chain; every approval's signature;
* ``grants``: every grant's terms (hash recomputed), fields, transactions and status;
* ``log``: every leaf (hash, seal, place) and every column beside it re-derived from the
  leaf, the written reasons against their hashes, each resident's numbering, the log's
  recorded size and its seal, every stored subtree hash recomputed, every checkpoint
  row and every anchored root against the chain, every emergency review against its
  leaf and signature;
* ``seals``: the rows only this installation can vouch for (account labels,
  organisation names and codes, web log-ins, API tokens, integrity runs, restores and the
  log's gaps).

After a restore from a backup (``gridledger restore``, the sealed ``restores`` rows), what
the chain proves existed but the database no longer holds is named as lost, each with a code
of its own, never as an alteration: a version's content (``content-lost``), a grant's terms
(``terms-lost``), a written reason (``reason-lost``), the events of a gap in the log
(``entries-lost``) and the restored events whose proofs run through it (``proofs-lost``). Only
what the chain recorded between the backup and the restore counts as lost; the same hole
anywhere else is the finding it always was.

The chain is read afresh (events in bounded windows), never taken from the tables a
tamperer could edit. The database is read in one snapshot, so a worker writing meanwhile
cannot make it disagree with itself. Writes still waiting in the outbox are counted
apart, not reported. Checks never crash on what a tamperer wrote: a value of the wrong
type is a finding like any other.

Exit codes (:attr:`Report.exit_code`): 0 clean, 1 findings, 2 could not check (the chain
or the database did not answer, or the keystore password needed for the seals is not
set).
"""

from __future__ import annotations

import json
import operator
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, cast

import orjson
from eth_account import Account
from eth_account.messages import encode_defunct
from sqlalchemy import Connection, DateTime, LargeBinary, Table, create_engine, func, select
from sqlalchemy.orm import Session
from web3.exceptions import TransactionNotFound

from . import eip712, formats, hints
from .accesslog import FORMAT as LEAF_FORMAT
from .accesslog import canonical_leaf, expected_numbers, justification_hash
from .chain import rpc
from .context import Ledger
from .errors import LedgerError, StoreError, VerificationError
from .history import leaf_bytes
from .indexer import CURSOR
from .loggap import ChainCheckpoint, append_inputs, bridge, chain_checkpoints
from .membership import org_id
from .merkle import Frontier, frontier_parts, leaf_hash
from .outbox import PENDING
from .projections import PROJECTORS, REBUILT_TABLES, Event
from .seal import SEALED, Sealer, log_head_sealed, row_sealed
from .store import Store, as_stored
from .store.models import (
    AccessEvent,
    ApiToken,
    Approval,
    AuditMark,
    Base,
    ChainEvent,
    EmergencyReview,
    GrantTerms,
    InboxSeen,
    IndexCursor,
    LogCheckpoint,
    LogGap,
    LogHead,
    LogNode,
    OrgProfile,
    OutboxTx,
    Record,
    RecordVersion,
    ResidentHint,
    Restore,
    RightsRequest,
    VerifyRun,
    WebUser,
)
from .store.models import (
    Account as AccountRow,
)

PARTS = ("chain", "records", "grants", "log", "seals")
CHUNK = 20_000  # leaves and subtree hashes read at a time


class Problem(StrEnum):
    """What a finding says is wrong. Never renumber or respell: runs are stored by code."""

    # chain: the indexed tables against the chain's events
    INDEX_MISSING = "index-missing"  # the chain's events give a row the table lacks
    INDEX_EXTRA = "index-extra"  # the table holds a row the chain's events do not give
    INDEX_DIFFERS = "index-differs"  # a column differs from what the events give
    EVENT_MISSING = "event-missing"
    EVENT_EXTRA = "event-extra"
    EVENT_DIFFERS = "event-differs"
    CURSOR_OFF_CHAIN = "cursor-off-chain"  # the indexer's cursor names a block the chain does not have
    # records
    RECORD_DIFFERS = "record-differs"  # committee, subject, category, author or erasure differ from the chain
    CONTENT_EDITED = "content-edited"  # content or salt no longer give the on-chain commitment
    VERSION_DIFFERS = "version-differs"  # a version's hashes, author or transaction differ from the chain
    VERSION_MISSING = "version-missing"  # the chain has a version of a known record that the database lacks
    NEVER_ANCHORED = "never-anchored"  # the database has a version (or grant) the chain never received
    NO_CONTENT = "no-content"  # an on-chain version whose content is gone (or unknown) without an erasure
    ERASURE_NOT_ANCHORED = "erasure-not-anchored"  # erased in the database, not on chain
    CONTENT_AFTER_ERASURE = "content-after-erasure"  # erased on chain, content still stored
    APPROVAL_INVALID = "approval-invalid"  # a stored signature is not the signer's over that version
    CONTENT_LOST = "content-lost"  # committed on chain after the backup a restore came from: content lost
    REASON_LOST = "reason-lost"  # erased or revoked on chain after that backup: the written reason lost
    HINT_DIFFERS = "hint-differs"  # a masked hint that its record version's content does not give
    # grants
    TERMS_EDITED = "terms-edited"
    FIELDS_DIFFER = "fields-differ"
    STATUS_DIFFERS = "status-differs"
    UNKNOWN_GRANT = "unknown-grant"
    TERMS_LOST = "terms-lost"  # issued on chain after the backup a restore came from: its terms lost
    # the access log
    LEAF_MISSING = "leaf-missing"
    LEAF_MOVED = "leaf-moved"  # the leaf carries another sequence number than its row
    LEAF_UNREADABLE = "leaf-unreadable"  # not bytes of a JSON object of the log's format
    LEAF_HASH_MISMATCH = "leaf-hash-mismatch"
    LEAF_UNSEALED = "leaf-unsealed"  # no valid seal: not written by this installation
    COLUMN_DIFFERS = "column-differs"  # a column beside the leaf says something else than the leaf
    JUSTIFICATION_DIFFERS = "justification-differs"  # the written reason does not hash to the leaf's
    NUMBERING = "resident-numbering"  # a resident's own numbers have a gap or a repeat
    BEYOND_HEAD = "leaf-beyond-head"
    HEAD_UNSEALED = "head-unsealed"  # the recorded size and its last leaf do not carry their seal
    NODE_DIFFERS = "node-differs"  # a stored subtree hash is not the hash of its leaves
    NODE_MISSING = "node-missing"
    NODE_EXTRA = "node-extra"
    CHECKPOINT_MISMATCH = "checkpoint-mismatch"  # the leaves no longer give an anchored root (or are fewer)
    CHECKPOINT_NOT_ON_CHAIN = "checkpoint-not-on-chain"  # a row says anchored; the chain disagrees
    CHECKPOINT_ROW_DIFFERS = "checkpoint-row-differs"  # a row's status, index, block or root disagrees
    CHECKPOINT_ROW_MISSING = "checkpoint-row-missing"  # the chain has a checkpoint no row records
    REVIEW_DIFFERS = "review-differs"  # an emergency review row disagrees with its leaf or signature
    REVIEW_MISSING = "review-missing"  # a review leaf with no review row
    ENTRIES_LOST = "entries-lost"  # events anchored on chain but lost with a restore (a gap in the log)
    PROOFS_LOST = "proofs-lost"  # restored events whose inclusion proofs need leaves lost in the gap
    GAP_DIFFERS = "gap-differs"  # a recorded gap does not fit the chain's checkpoints
    # seals
    ROW_UNSEALED = "row-unsealed"  # a row only this installation vouches for has no valid seal
    CODE_MISMATCH = "code-mismatch"  # an organisation's code does not give its on-chain id
    # residents' rights requests (ledger.rights), part of the log's check
    DECISION_DIFFERS = "decision-differs"  # a decided request row disagrees with its decision leaf or signature
    DECISION_MISSING = "decision-missing"  # a decision leaf with no request row, or a decided row with no leaf


@dataclass(frozen=True)
class Finding:
    part: str
    code: Problem
    subject: str  # what is wrong: a record, grant or organisation id, "#seq", a table's key
    detail: str  # for operators (the web app says it in people's words from the code)
    table: str | None = None
    column: str | None = None
    version: int | None = None
    seq: int | None = None

    def json(self) -> dict[str, Any]:
        return {
            "part": self.part, "code": str(self.code), "subject": self.subject, "detail": self.detail,
            "table": self.table, "column": self.column, "version": self.version, "seq": self.seq,
        }  # fmt: skip


@dataclass
class Report:
    parts: tuple[str, ...]
    checked: Counter[str] = field(default_factory=Counter)  # rows checked per part
    pending: int = 0  # writes still in the outbox: not findings
    findings: list[Finding] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # what could not be checked, and why
    seconds: float = 0.0
    log_read: bool = False  # the log's part read every leaf (and showed each to ``on_leaf``)

    @property
    def ok(self) -> bool:
        return not self.findings and not self.problems

    @property
    def exit_code(self) -> int:
        """0 clean, 1 findings, 2 could not check (findings win: they are certain)."""
        if self.findings:
            return 1
        return 2 if self.problems else 0

    def of(self, part: str) -> list[Finding]:
        return [f for f in self.findings if f.part == part]

    def counts(self) -> dict[str, dict[str, int]]:
        """Findings per part and code (what a run stores, and the dashboard shows)."""
        out: dict[str, dict[str, int]] = {p: {} for p in self.parts}
        for f in self.findings:
            out.setdefault(f.part, {})
            out[f.part][str(f.code)] = out[f.part].get(str(f.code), 0) + 1
        return out

    def summary(self) -> dict[str, Any]:
        return {
            "parts": list(self.parts), "checked": dict(self.checked), "pending": self.pending,
            "findings": self.counts(), "problems": self.problems, "seconds": round(self.seconds, 2),
        }  # fmt: skip


# -- one snapshot of the database ----------------------------------------------------------------


@contextmanager
def snapshot(store: Store) -> Iterator[Connection]:
    """A connection whose reads all see one state of the database: a repeatable-read
    transaction on PostgreSQL, an explicit read transaction on SQLite (WAL)."""
    with store.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
            connection.begin()
        else:
            connection.exec_driver_sql("BEGIN")
        try:
            yield connection
        finally:
            connection.rollback()


@dataclass
class _Context:
    ledger: Ledger
    db: Connection
    report: Report
    events: list[Event]
    upto: int  # the block the tables are compared at (the indexer's cursor)
    pending: set[str]
    pending_raw: list[bytes]  # the signed transactions still in the outbox
    sealer: Sealer | None
    #: Blocks whose off-chain rows a restore could not bring back: (after, upto] per restore,
    #: from the restores rows that carry their seal (an unsealed one is a seals finding).
    lost_blocks: list[tuple[int, int]] = field(default_factory=list)
    #: The log's gaps whose rows carry their seal, and when their restore was.
    gaps: list[Any] = field(default_factory=list)
    restored_at: dict[int, int] = field(default_factory=dict)
    on_leaf: Callable[[dict[str, Any]], None] | None = None  # sees each readable leaf (verify's on_leaf)

    def lost(self, block: int) -> bool:
        """Whether a chain event in ``block`` came after a backup that was then restored."""
        return any(after < block <= upto for after, upto in self.lost_blocks)

    def find(self, part: str, code: Problem, subject: str, detail: str, **where: Any) -> None:
        self.report.findings.append(Finding(part, code, subject, detail, **where))

    def of(self, contract: str, *names: str) -> Iterator[Event]:
        return (e for e in self.events if e.contract == contract and (not names or e.name in names))


def _t(model: Any) -> Table:
    return cast(Table, model.__table__)


def _rows(db: Connection, model: Any, *order: str) -> list[Any]:
    """Every row of a table, with binary and date columns as the database stores them (no
    result processing that a value of the wrong type could crash)."""
    table = _t(model)
    columns: list[Any] = []
    for c in table.c:
        if isinstance(c.type, LargeBinary):
            columns.append(as_stored(c))
        elif isinstance(c.type, DateTime):
            columns.append(c.isnot(None).label(c.name))  # only whether it is set is checked
        else:
            columns.append(c)
    query = select(*columns)
    if order:
        query = query.order_by(*(table.c[o] for o in order))
    return list(db.execute(query))


# -- the run -----------------------------------------------------------------------------------


def verify(
    ledger: Ledger,
    parts: Sequence[str] = PARTS,
    *,
    catch_up: bool = True,
    on_part: Callable[[str], None] | None = None,
    on_leaf: Callable[[dict[str, Any]], None] | None = None,
) -> Report:
    """Checks ``parts`` of the database; never raises for what it finds or cannot check
    (see :attr:`Report.exit_code`). With ``catch_up`` the indexer first reads the chain up
    to its head, so the tables are compared with the chain as it is now. ``on_leaf`` sees
    every readable leaf of the log, in order, as the log's part reads it (the audit judges
    the accesses in the same pass); :attr:`Report.log_read` says whether it saw them all."""
    began = time.perf_counter()
    report = Report(tuple(parts))
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise ValueError(f"unknown parts: {', '.join(unknown)}")
    try:
        indexer = ledger.indexer()
        if catch_up:
            indexer.run_once()
    except LedgerError as exc:
        report.problems.append(f"the chain could not be read: {exc}")
        report.seconds = time.perf_counter() - began
        return report
    sealer = ledger.sealer if ledger.can_seal else None
    if sealer is None and ({"seals", "log"} & set(parts)):
        report.problems.append(
            "seals were not checked: set GRIDLEDGER_KEY_PASSWORD or GRIDLEDGER_KEY_PASSWORD_FILE (the keystore password)"
        )
    try:
        with snapshot(ledger.store) as db:
            cursor = db.execute(select(_t(IndexCursor)).where(_t(IndexCursor).c.name == CURSOR)).first()
            upto = int(cursor.block_number) if cursor is not None else ledger.deployment.block - 1
            events = indexer.fetch_all(to_block=upto) if upto >= indexer.start_block else []
            if cursor is not None:
                block = rpc(ledger.w3, "eth_getBlockByNumber", [hex(upto), False])
                on_chain = None if block is None else str(block["hash"]).lower()
                if on_chain != str(cursor.block_hash).lower():
                    report.findings.append(Finding(
                        "chain", Problem.CURSOR_OFF_CHAIN, f"block {upto}",
                        f"the indexer's cursor names block {upto} with hash {cursor.block_hash}; the chain has "
                        f"{on_chain}", table="index_cursors",
                    ))  # fmt: skip
            outbox = _t(OutboxTx)
            queued = list(db.execute(
                select(outbox.c.tx_hash, as_stored(outbox.c.raw_tx)).where(outbox.c.status.in_(PENDING))
            ))  # fmt: skip
            pending = {str(tx) for tx, _raw in queued}
            raws = [bytes(raw) for _tx, raw in queued if isinstance(raw, (bytes, memoryview))]
            ctx = _Context(ledger, db, report, events, upto, pending, raws, sealer, on_leaf=on_leaf)
            _load_restores(ctx)
            for part in parts:
                if on_part is not None:
                    on_part(part)
                try:
                    _CHECKS[part](ctx)
                except LedgerError as exc:
                    report.problems.append(f"{part} could not be checked: {exc}")
    except LedgerError as exc:
        report.problems.append(f"could not check: {exc}")
    except Exception as exc:  # noqa: BLE001 - the node or the database went away: say so, exit 2
        report.problems.append(f"could not check: {type(exc).__name__}: {exc}")
    report.seconds = time.perf_counter() - began
    return report


def record_run(ledger: Ledger, report: Report, *, by: str) -> VerifyRun:
    """Stores a run (sealed) for the office's dashboard."""
    row = VerifyRun(
        at=int(time.time() * 1000), exit_code=report.exit_code, by=by[:66],
        summary=formats.canonical_json(report.summary()).decode(),
    )  # fmt: skip
    with ledger.store.session() as session, session.begin():
        session.add(row)
        session.flush()
        row.seal = ledger.sealer.seal("verify_runs", *SEALED["verify_runs"](row))
        session.flush()
        session.expunge(row)
    return row


def last_run(ledger: Ledger) -> tuple[VerifyRun, bool] | None:
    """The newest stored run, and whether its seal holds (an unsealed "clean" run means
    someone wrote it into the database: it must not be believed)."""
    with ledger.store.session() as session:
        row = session.scalars(select(VerifyRun).order_by(VerifyRun.at.desc(), VerifyRun.id.desc()).limit(1)).first()
    if row is None:
        return None
    return row, ledger.can_seal and row_sealed(ledger.sealer, "verify_runs", row)


# -- chain: the indexed tables -------------------------------------------------------------------

_KEYS: dict[str, tuple[str, ...]] = {
    "organisations": ("org_id",),
    "members": ("address",),
    "chain_record_versions": ("record_id", "version"),
    "chain_grants": ("grant_id",),
}


def _check_chain(ctx: _Context) -> None:
    """Replays the events up to the cursor through the indexer's own projections into a
    scratch database, and compares every table and row with the real one."""
    scratch = create_engine("sqlite://")
    Base.metadata.create_all(scratch, tables=[_t(m) for m in REBUILT_TABLES])
    with Session(scratch) as session:
        for event in ctx.events:
            projector = PROJECTORS.get((event.contract, event.name))
            if projector is not None:
                projector(session, event)
        session.flush()
        with scratch.connect() as replayed:
            for model in REBUILT_TABLES:
                table = _t(model).name
                keys = _KEYS[table]
                want = {tuple(r._mapping[k] for k in keys): r for r in replayed.execute(select(_t(model)))}
                have = {tuple(r._mapping[k] for k in keys): r for r in _rows(ctx.db, model)}
                _compare(ctx, table, want, have)
        session.rollback()
    scratch.dispose()
    # chain_events: the raw events, as read
    want_events = {(e.block_number, e.log_index): e for e in ctx.events}
    have_events = {}
    for row in _rows(ctx.db, ChainEvent):
        have_events[(row.block_number, row.log_index)] = row
    for key, e in want_events.items():
        row = have_events.pop(key, None)
        where = f"block {key[0]} log {key[1]}"
        if row is None:
            ctx.find("chain", Problem.EVENT_MISSING, where, f"{e.contract}.{e.name} is on chain, not in the table",
                     table="chain_events")  # fmt: skip
            continue
        ctx.report.checked["chain"] += 1
        stored = {"block_hash": row.block_hash, "tx_hash": row.tx_hash, "contract": row.contract, "event": row.event,
                  "args": row.args}  # fmt: skip
        expected = {"block_hash": e.block_hash, "tx_hash": e.tx_hash, "contract": e.contract, "event": e.name,
                    "args": json.dumps(e.args, sort_keys=True)}  # fmt: skip
        for column, value in expected.items():
            if not _same(stored[column], value):
                ctx.find("chain", Problem.EVENT_DIFFERS, where, f"{column} differs from the chain", table="chain_events",
                         column=column)  # fmt: skip
    for key, row in sorted(have_events.items()):
        ctx.find("chain", Problem.EVENT_EXTRA, f"block {key[0]} log {key[1]}",
                 f"{row.contract}.{row.event} is in the table, not on chain (up to block {ctx.upto})",
                 table="chain_events")  # fmt: skip


def _same(stored: Any, expected: Any) -> bool:
    if isinstance(expected, str) and isinstance(stored, str) and expected.startswith("0x"):
        return stored.lower() == expected.lower()
    return bool(stored == expected and type(stored) is type(expected))


def _compare(ctx: _Context, table: str, want: dict[tuple[Any, ...], Any], have: dict[tuple[Any, ...], Any]) -> None:
    for key, expected in want.items():
        subject = "/".join(str(k) for k in key)
        row = have.pop(key, None)
        if row is None:
            ctx.find("chain", Problem.INDEX_MISSING, subject, f"the chain's events give this {table} row; the table lacks it",
                     table=table)  # fmt: skip
            continue
        ctx.report.checked["chain"] += 1
        for column, value in expected._mapping.items():
            if not _same(row._mapping[column], value):
                ctx.find("chain", Problem.INDEX_DIFFERS, subject,
                         f"{table}.{column} is {row._mapping[column]!r}; the chain's events give {value!r}",
                         table=table, column=column)  # fmt: skip
    for key in have:
        ctx.find("chain", Problem.INDEX_EXTRA, "/".join(str(k) for k in key),
                 f"this {table} row is not given by the chain's events (up to block {ctx.upto})", table=table)  # fmt: skip


# -- records -------------------------------------------------------------------------------------


def _check_records(ctx: _Context) -> None:
    firsts: dict[str, Event] = {}  # record id -> its RecordCommitted version 1
    chain: dict[tuple[str, int], Event] = {}
    erased_on_chain: set[str] = set()
    erased_in: dict[str, Event] = {}
    for e in ctx.of("RecordLedger"):
        if e.name == "RecordCommitted":
            record_id = str(e.args["recordId"]).lower()
            chain[(record_id, int(e.args["version"]))] = e
            if int(e.args["version"]) == 1:
                firsts[record_id] = e
        elif e.name == "RecordErased":
            erased_on_chain.add(str(e.args["recordId"]).lower())
            erased_in[str(e.args["recordId"]).lower()] = e
    records = {str(r.record_id).lower(): r for r in _rows(ctx.db, Record)}
    for record_id, row in records.items():
        first = firsts.get(record_id)
        if first is None:
            continue  # reported per version (never anchored, or pending)
        expected = {
            "committee_id": first.args["committeeId"], "subject": first.args["subject"],
            "category": int(first.args["category"]), "created_by": first.args["committer"],
        }  # fmt: skip
        for column, value in expected.items():
            if not _same(getattr(row, column), value):
                ctx.find("records", Problem.RECORD_DIFFERS, record_id,
                         f"records.{column} is {getattr(row, column)!r}; the chain has {value!r}",
                         table="records", column=column)  # fmt: skip
        if bool(row.erased_at) and record_id not in erased_on_chain and not _erasure_pending(ctx, record_id):
            ctx.find("records", Problem.ERASURE_NOT_ANCHORED, record_id, "erased here, not on chain", table="records",
                     column="erased_at")  # fmt: skip
        if record_id in erased_on_chain and not row.erased_at:
            ctx.find("records", Problem.RECORD_DIFFERS, record_id, "erased on chain, not here", table="records",
                     column="erased_at")  # fmt: skip
        elif record_id in erased_on_chain and row.erase_reason is None and ctx.lost(erased_in[record_id].block_number):
            ctx.find("records", Problem.REASON_LOST, record_id,
                     f"erased on chain in block {erased_in[record_id].block_number}, after the backup the database was "
                     "restored from: the erasure is re-applied, its written reason is lost", table="records",
                     column="erase_reason")  # fmt: skip
    stored: set[tuple[str, int]] = set()
    contents: dict[tuple[str, int], Any] = {}
    for row in _rows(ctx.db, RecordVersion, "record_id", "version"):
        record_id = str(row.record_id).lower()
        key = (record_id, row.version)
        stored.add(key)
        contents[key] = row.content
        event = chain.get(key)
        if event is None:
            if row.tx_hash in ctx.pending:
                ctx.report.pending += 1
            else:
                ctx.find("records", Problem.NEVER_ANCHORED, record_id, "stored version has no commitment on chain",
                         table="record_versions", version=row.version)  # fmt: skip
            continue
        ctx.report.checked["records"] += 1
        expected = {"content_hash": event.args["contentHash"], "prev_hash": event.args["prevHash"],
                    "created_by": event.args["committer"], "tx_hash": event.tx_hash}  # fmt: skip
        for column, value in expected.items():
            if not _same(getattr(row, column), value):
                ctx.find("records", Problem.VERSION_DIFFERS, record_id,
                         f"record_versions.{column} differs from the chain", table="record_versions", column=column,
                         version=row.version)  # fmt: skip
        record = records.get(record_id)
        if record_id in erased_on_chain:
            if row.content is not None or row.salt is not None:
                ctx.find("records", Problem.CONTENT_AFTER_ERASURE, record_id,
                         "erased on chain, but content or salt is still stored", table="record_versions",
                         version=row.version)  # fmt: skip
            continue
        if row.content is None or row.salt is None:
            erased = record is not None and bool(record.erased_at)
            code = Problem.ERASURE_NOT_ANCHORED if erased else Problem.NO_CONTENT
            detail = "erased here, not on chain" if erased else "content or salt is missing and the record was not erased"
            if not (erased and _erasure_pending(ctx, record_id)):
                ctx.find("records", code, record_id, detail, table="record_versions", version=row.version)
            continue
        try:
            recomputed = formats.to_hex(formats.commitment(json.loads(row.content), formats.from_hex(row.salt)))
        except (TypeError, ValueError, LedgerError) as exc:
            ctx.find("records", Problem.CONTENT_EDITED, record_id, f"content or salt unreadable: {type(exc).__name__}",
                     table="record_versions", version=row.version)  # fmt: skip
            continue
        if recomputed != str(event.args["contentHash"]).lower():
            ctx.find("records", Problem.CONTENT_EDITED, record_id,
                     f"content and salt give {recomputed[:18]}…, the chain has {event.args['contentHash'][:18]}…",
                     table="record_versions", version=row.version)  # fmt: skip
    for record_id, version in sorted(set(chain) - stored):
        if ctx.lost(chain[(record_id, version)].block_number):
            ctx.find("records", Problem.CONTENT_LOST, record_id,
                     f"committed on chain in block {chain[(record_id, version)].block_number}, after the backup the "
                     "database was restored from: the commitment is on chain, the content is lost",
                     table="record_versions", version=version)  # fmt: skip
        elif record_id in records:
            ctx.find("records", Problem.VERSION_MISSING, record_id, "on chain, but no row in the database",
                     table="record_versions", version=version)  # fmt: skip
        else:
            ctx.find("records", Problem.NO_CONTENT, record_id, "on chain, but the database has no such record",
                     table="records", version=version)  # fmt: skip
    _check_approvals(ctx, chain)
    _check_hints(ctx, records, contents)


#: A hint's columns: (masked, record id, version), the category it comes from, the content's key, the rule.
_HINTS = (
    ("id_number_masked", "id_record_id", "id_version", 0, "id_number", hints.mask_id_number),
    ("address_masked", "address_record_id", "address_version", 2, "address", hints.mask_address),
)


def _check_hints(ctx: _Context, records: dict[str, Any], contents: dict[tuple[str, int], Any]) -> None:
    """``resident_hints`` against the content they were masked from: the record is the
    resident's, of the category, not erased, and its version's content gives the hint."""
    for row in _rows(ctx.db, ResidentHint, "resident"):
        for masked_column, record_column, version_column, category, key, rule in _HINTS:
            masked, record_id, version = (getattr(row, c) for c in (masked_column, record_column, version_column))
            if masked is None and record_id is None:
                continue
            record = records.get(str(record_id).lower())
            content = contents.get((str(record_id).lower(), version)) if isinstance(version, int) else None
            problem = None
            if record is None or content is None or record.erased_at:
                problem = f"taken from record {record_id} version {version}, whose content is not stored"
            elif not _same(record.subject, row.resident) or record.category != category:
                problem = f"taken from record {record_id}, which is not this resident's of that category"
            else:
                try:
                    expected = rule(str(json.loads(content).get(key, "")))
                except (TypeError, ValueError, AttributeError):
                    expected = None
                if expected != masked:
                    problem = f"resident_hints.{masked_column} is not what record {record_id} version {version} gives"
            if problem is not None:
                ctx.find("records", Problem.HINT_DIFFERS, str(row.resident), problem, table="resident_hints",
                         column=masked_column)  # fmt: skip


def _erasure_pending(ctx: _Context, record_id: str) -> bool:
    """Whether a transaction still in the outbox names the record (an erasure is stored
    with its rows before it is mined; the record id is in its calldata)."""
    try:
        needle = formats.from_hex(record_id)
    except (TypeError, ValueError):
        return False
    return any(needle in raw for raw in ctx.pending_raw)


def _check_approvals(ctx: _Context, chain: dict[tuple[str, int], Event]) -> None:
    address = ctx.ledger.deployment.address("RecordLedger")
    domain = eip712.Domain(eip712.RECORD_LEDGER_NAME, ctx.ledger.settings.chain_id, address)
    for row in _rows(ctx.db, Approval, "id"):
        record_id = str(row.record_id).lower()
        subject = f"{record_id} v{row.version} by {row.signer}"
        event = chain.get((record_id, row.version))
        try:
            if event is not None and str(row.content_hash).lower() != str(event.args["contentHash"]).lower():
                raise ValueError("approves another commitment than the chain's for that version")
            data = eip712.record_approval(domain, formats.from_hex(record_id), int(row.version),
                                          formats.from_hex(row.content_hash))  # fmt: skip
            signer = eip712.recover(data, formats.from_hex(row.signature))
            if signer.lower() != str(row.signer).lower():
                raise ValueError(f"the signature is {signer}'s, not the named signer's")
        except (TypeError, ValueError, LedgerError) as exc:
            ctx.find("records", Problem.APPROVAL_INVALID, subject, str(exc) or type(exc).__name__, table="approvals",
                     version=row.version if isinstance(row.version, int) else None)  # fmt: skip
            continue
        ctx.report.checked["records"] += 1


# -- grants --------------------------------------------------------------------------------------


def _check_grants(ctx: _Context) -> None:
    chain: dict[str, dict[str, Any]] = {}
    for e in ctx.of("ConsentRegistry"):
        grant_id = str(e.args.get("grantId", "")).lower()
        if e.name == "GrantIssued":
            chain[grant_id] = {**e.args, "status": "active", "issuedTx": e.tx_hash, "statusTx": None,
                               "issuedBlock": e.block_number, "statusBlock": None}  # fmt: skip
        elif e.name in ("GrantWithdrawn", "GrantRevoked") and grant_id in chain:
            chain[grant_id]["status"] = "withdrawn" if e.name == "GrantWithdrawn" else "revoked"
            chain[grant_id]["statusTx"] = e.tx_hash
            chain[grant_id]["statusBlock"] = e.block_number
    known: set[str] = set()
    for grant in _rows(ctx.db, GrantTerms, "grant_id"):
        grant_id = str(grant.grant_id).lower()
        known.add(grant_id)
        on_chain = chain.get(grant_id)
        if on_chain is None:
            if grant.tx_hash in ctx.pending:
                ctx.report.pending += 1
            else:
                ctx.find("grants", Problem.NEVER_ANCHORED, grant_id, "stored grant was never issued on chain",
                         table="grants")  # fmt: skip
            continue
        ctx.report.checked["grants"] += 1
        try:
            recomputed = formats.to_hex(formats.terms_hash(json.loads(grant.terms)))
        except (TypeError, ValueError, LedgerError) as exc:
            recomputed = f"unreadable ({type(exc).__name__})"
        if recomputed != str(on_chain["termsHash"]).lower() or not _same(grant.terms_hash, on_chain["termsHash"]):
            ctx.find("grants", Problem.TERMS_EDITED, grant_id, "the stored terms do not give the on-chain hash",
                     table="grants", column="terms")  # fmt: skip
        relayer = on_chain["relayer"]
        expected = {
            "resident": on_chain["resident"], "department": on_chain["department"], "categories": on_chain["categories"],
            "purpose": on_chain["purpose"], "legal_basis": on_chain["legalBasis"], "valid_from": on_chain["validFrom"],
            "valid_until": on_chain["validUntil"], "tx_hash": on_chain["issuedTx"],
            "relayer": None if int(relayer, 16) == 0 else relayer,
        }  # fmt: skip
        differing = sorted(k for k, v in expected.items() if not _same(getattr(grant, k), v))
        if differing:
            ctx.find("grants", Problem.FIELDS_DIFFER, grant_id, f"differ from the chain: {', '.join(differing)}",
                     table="grants", column=",".join(differing))  # fmt: skip
        status_pending = grant.status_tx is not None and grant.status_tx in ctx.pending
        if not status_pending and (
            grant.status != on_chain["status"]
            or (on_chain["statusTx"] is not None and not _same(grant.status_tx, on_chain["statusTx"]))
        ):
            ctx.find("grants", Problem.STATUS_DIFFERS, grant_id,
                     f"stored as {grant.status}, the chain has {on_chain['status']}", table="grants",
                     column="status")  # fmt: skip
        elif (on_chain["status"] == "revoked" and grant.status_reason is None
              and ctx.lost(int(on_chain["statusBlock"]))):  # fmt: skip
            ctx.find("grants", Problem.REASON_LOST, grant_id,
                     f"revoked on chain in block {on_chain['statusBlock']}, after the backup the database was restored "
                     "from: the revocation's written reason is lost", table="grants", column="status_reason")  # fmt: skip
    for grant_id in sorted(set(chain) - known):
        if ctx.lost(int(chain[grant_id]["issuedBlock"])):
            ctx.find("grants", Problem.TERMS_LOST, grant_id,
                     f"issued on chain in block {chain[grant_id]['issuedBlock']}, after the backup the database was "
                     "restored from: the grant is on chain, its full terms are lost", table="grants")  # fmt: skip
        else:
            ctx.find("grants", Problem.UNKNOWN_GRANT, grant_id, "issued on chain, unknown to the database",
                     table="grants")


# -- the access log ------------------------------------------------------------------------------

# The columns beside a leaf, and the leaf key each must equal.
_COLUMNS = {
    "resident": "resident", "resident_seq": "residentSeq", "time": "time", "accessor": "accessor",
    "organisation": "organisation", "record_id": "recordId", "action": "action", "outcome": "outcome",
    "basis": "basis", "grant_id": "grantId", "disclose_on": "disclosureDate",
}  # fmt: skip
_COLUMN_KEYS = tuple(_COLUMNS.values())
_stored_columns = operator.attrgetter(*_COLUMNS)  # the columns beside a leaf, in _COLUMNS' order, in one call


def _leaf_rows(db: Connection, start: int = 0, stop: int | None = None) -> Iterator[Any]:
    """The log's rows with ``start <= seq < stop`` (all from ``start`` without ``stop``), in
    order, :data:`CHUNK` at a time."""
    table = _t(AccessEvent)
    columns = [as_stored(c) if isinstance(c.type, LargeBinary) else c for c in table.c]
    last = start - 1
    while True:
        query = select(*columns).where(table.c.seq > last)
        if stop is not None:
            query = query.where(table.c.seq < stop)
        rows = list(db.execute(query.order_by(table.c.seq).limit(CHUNK)))
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def _bytes(value: Any) -> bytes | None:
    return bytes(value) if isinstance(value, (bytes, bytearray, memoryview)) else None


def _check_log(ctx: _Context) -> None:
    head = ctx.db.execute(select(_t(LogHead)).where(_t(LogHead).c.id == 1)).first()
    raw_head = ctx.db.execute(select(as_stored(_t(LogHead).c.seal)).where(_t(LogHead).c.id == 1)).scalar()
    size = int(head.size) if head is not None and isinstance(head.size, int) else -1
    checkpoints = sorted(
        (int(e.args["index"]), int(e.args["size"]), str(e.args["root"]).lower(), e)
        for e in ctx.of("AccessLogAnchor", "CheckpointAppended")
    )
    by_size = {size_: (index, root) for index, size_, root, _e in checkpoints}
    frontier = Frontier()
    nodes = _StoredNodes(ctx.db)
    crossing = _Crossing(ctx, chain_checkpoints(list(ctx.of("AccessLogAnchor", "CheckpointAppended"))))
    numbers: dict[str, list[tuple[int, int]]] = defaultdict(list)
    review_leaves: dict[int, dict[str, Any]] = {}
    decision_leaves: dict[int, dict[str, Any]] = {}
    leaves_by_seq: dict[int, bytes] = {}  # only the reviewed emergency reads' leaves are kept
    reviewed_seqs = set(ctx.db.execute(select(_t(EmergencyReview).c.access_seq)).scalars())
    expected = 0
    last_hash: bytes | None = None
    for row in _leaf_rows(ctx.db):
        seq = row.seq
        where = f"#{seq}"
        if seq != expected and isinstance(seq, int) and seq > expected:
            resumed = crossing.cross(expected, frontier, nodes)
            if resumed is not None:
                frontier, expected = resumed, resumed.size
                last_hash = frontier.last()
        if seq != expected:
            ctx.find("log", Problem.LEAF_MISSING, where, f"leaves {expected}..{seq - 1} are missing", table="access_log",
                     seq=expected)  # fmt: skip
            expected = seq
        expected += 1
        if size >= 0 and seq >= size:
            ctx.find("log", Problem.BEYOND_HEAD, where, "a leaf beyond the log's recorded size", table="access_log",
                     seq=seq)  # fmt: skip
        raw = _bytes(row.leaf)
        if raw is None:
            ctx.find("log", Problem.LEAF_UNREADABLE, where, f"the leaf is stored as {type(row.leaf).__name__}, not bytes",
                     table="access_log", column="leaf", seq=seq)  # fmt: skip
            raw = leaf_bytes(row.leaf) if isinstance(row.leaf, str) else b""
        digest = leaf_hash(raw)
        last_hash = digest
        crossing.keep(seq, digest)
        frontier_nodes = frontier.append(digest)
        nodes.check(ctx, frontier_nodes)
        if frontier.size in by_size:
            index, root = by_size[frontier.size]
            if formats.to_hex(frontier.root()) != root:
                ctx.find("log", Problem.CHECKPOINT_MISMATCH, where,
                         f"the first {frontier.size} leaves no longer give anchored checkpoint #{index}'s root: a leaf "
                         "before it was edited, deleted, inserted or moved", table="access_log", seq=seq)  # fmt: skip
        leaf = _check_leaf_row(ctx, row, raw, digest)
        if leaf is None:
            continue
        if ctx.on_leaf is not None:
            ctx.on_leaf(leaf)
        if isinstance(leaf.get("resident"), str) and isinstance(leaf.get("residentSeq"), int):
            numbers[leaf["resident"]].append((seq, leaf["residentSeq"]))
        if leaf.get("action") == "review" and leaf.get("reviewOf") is not None:
            review_leaves[seq] = leaf
        if leaf.get("action") == "decide":  # a decision on a rights request (ledger.rights)
            decision_leaves[seq] = leaf
        if seq in reviewed_seqs:
            leaves_by_seq[seq] = raw
    resumed = crossing.cross(expected, frontier, nodes)  # a gap at the end of the log
    if resumed is not None:
        frontier, expected = resumed, resumed.size
        last_hash = frontier.last()
    leaves = frontier.size
    nodes.finish(ctx, leaves)
    _check_head(ctx, head, raw_head, size, leaves, last_hash)
    for resident, seen in numbers.items():
        expected_numbers_ = expected_numbers([q for q, _n in seen], crossing.crossed)
        if sorted(n for _q, n in seen) != sorted(expected_numbers_):
            skipped = " (skipping the numbers a gap may have used)" if crossing.crossed else ""
            ctx.find("log", Problem.NUMBERING, resident,
                     f"the resident's own numbers are not 0..{len(seen) - 1}{skipped} each once (a gap or a repeat)",
                     table="access_log", column="resident_seq")  # fmt: skip
    ctx.report.log_read = True
    _check_checkpoints(ctx, checkpoints, leaves)
    _check_reviews(ctx, review_leaves, leaves_by_seq)
    _check_decisions(ctx, decision_leaves)


def verify_log_range(
    ledger: Ledger,
    start: int,
    frontier: Frontier,
    stop: int,
    root: str,
    on_leaf: Callable[[dict[str, Any]], None],
) -> tuple[Report, int]:
    """The log's events ``start <= seq < stop`` against the chain, without reading the
    events before them (the incremental audit, :func:`ledger.audit.incremental`).

    ``frontier`` is the tree's right edge at ``start``, already checked against an anchored
    root; each row is checked against its own leaf (:func:`_check_leaf_row`), the subtree
    hashes the new leaves close against the stored ones, each resident's numbers within the
    range for gaps and repeats, and the leaves appended to ``frontier`` must give ``root``,
    the anchored checkpoint of size ``stop``. ``on_leaf`` sees every readable leaf, in order.
    Returns the report (part ``log``) and the rows read. Never raises for what it finds or
    cannot check."""
    began = time.perf_counter()
    report = Report(("log",))
    rows_read = 0
    sealer = ledger.sealer if ledger.can_seal else None
    if sealer is None:
        report.problems.append(
            "seals were not checked: set GRIDLEDGER_KEY_PASSWORD or GRIDLEDGER_KEY_PASSWORD_FILE (the keystore password)"
        )
    try:
        with snapshot(ledger.store) as db:
            ctx = _Context(ledger, db, report, [], 0, set(), [], sealer)
            nodes = _StoredNodes(db)
            numbers: dict[str, list[int]] = defaultdict(list)
            expected = start
            for row in _leaf_rows(db, start, stop):
                rows_read += 1
                seq = row.seq
                if seq != expected:
                    ctx.find("log", Problem.LEAF_MISSING, f"#{seq}", f"leaves {expected}..{seq - 1} are missing",
                             table="access_log", seq=expected)  # fmt: skip
                    break  # the leaves after it cannot give the anchored root
                expected += 1
                raw = _bytes(row.leaf)
                if raw is None:
                    ctx.find("log", Problem.LEAF_UNREADABLE, f"#{seq}",
                             f"the leaf is stored as {type(row.leaf).__name__}, not bytes", table="access_log",
                             column="leaf", seq=seq)  # fmt: skip
                    raw = leaf_bytes(row.leaf) if isinstance(row.leaf, str) else b""
                digest = leaf_hash(raw)
                nodes.check(ctx, frontier.append(digest))
                leaf = _check_leaf_row(ctx, row, raw, digest)
                if leaf is None:
                    continue
                if isinstance(leaf.get("resident"), str) and isinstance(leaf.get("residentSeq"), int):
                    numbers[leaf["resident"]].append(leaf["residentSeq"])
                on_leaf(leaf)
            if expected < stop and not report.findings:
                ctx.find("log", Problem.LEAF_MISSING, f"#{expected}",
                         f"anchored checkpoint of size {stop} covers leaves {expected}..{stop - 1}; the database "
                         "lacks them", table="access_log", seq=expected)  # fmt: skip
            elif frontier.size == stop and formats.to_hex(frontier.root()) != root.lower():
                ctx.find("log", Problem.CHECKPOINT_MISMATCH, f"#{stop - 1}",
                         f"the leaves {start}..{stop - 1}, after the audited first {start}, do not give the anchored "
                         f"root of size {stop}: a leaf was edited, deleted, inserted or moved", table="access_log",
                         seq=stop - 1)  # fmt: skip
            for resident, seen in numbers.items():
                seen.sort()
                if seen != list(range(seen[0], seen[0] + len(seen))):
                    ctx.find("log", Problem.NUMBERING, resident,
                             f"the resident's own numbers among events {start}..{stop - 1} have a gap or a repeat",
                             table="access_log", column="resident_seq")  # fmt: skip
    except LedgerError as exc:
        report.problems.append(f"could not check: {exc}")
    except Exception as exc:  # noqa: BLE001 - the database went away: say so, exit 2
        report.problems.append(f"could not check: {type(exc).__name__}: {exc}")
    report.seconds = time.perf_counter() - began
    return report, rows_read


def _check_leaf_row(ctx: _Context, row: Any, raw: bytes, digest: bytes) -> dict[str, Any] | None:
    """One row of the log against its own leaf: the stored hash, the seal, the format, the
    sequence number, the canonical form, every column beside the leaf and the written reason.
    Returns the leaf (None when it is not one of the log's format)."""
    seq, where = row.seq, f"#{row.seq}"
    if _bytes(row.leaf_hash) != digest:
        ctx.find("log", Problem.LEAF_HASH_MISMATCH, where, "the leaf does not hash to its stored hash",
                 table="access_log", column="leaf_hash", seq=seq)  # fmt: skip
    if ctx.sealer is not None and not ctx.sealer.check_leaf(row.seal, digest):
        ctx.find("log", Problem.LEAF_UNSEALED, where,
                 "the leaf carries no valid seal: this installation did not write it", table="access_log",
                 column="seal", seq=seq)  # fmt: skip
    leaf = _leaf_object(raw)
    if leaf is None:
        ctx.find("log", Problem.LEAF_UNREADABLE, where, "the leaf is not a JSON object of the log's format",
                 table="access_log", column="leaf", seq=seq)  # fmt: skip
        return None
    ctx.report.checked["log"] += 1
    if leaf.get("seq") != seq:
        ctx.find("log", Problem.LEAF_MOVED, where, f"row #{seq} holds the leaf of #{leaf.get('seq')}",
                 table="access_log", column="seq", seq=seq)  # fmt: skip
    try:
        canonical = canonical_leaf(leaf) == raw
    except (TypeError, ValueError, LedgerError):
        canonical = False
    if not canonical:
        ctx.find("log", Problem.LEAF_UNREADABLE, where, "the leaf is not in canonical form (RFC 8785)",
                 table="access_log", column="leaf", seq=seq)  # fmt: skip
    stored, said = _stored_columns(row), tuple(map(leaf.get, _COLUMN_KEYS))
    if stored != said or tuple(map(type, stored)) != tuple(map(type, said)):  # else every column is the leaf's
        for column, key in _COLUMNS.items():
            if _same(getattr(row, column), leaf.get(key)):
                continue
            ctx.find("log", Problem.COLUMN_DIFFERS, where,
                     f"access_log.{column} is {getattr(row, column)!r}; the leaf says {leaf.get(key)!r}",
                     table="access_log", column=column, seq=seq)  # fmt: skip
    note = row.justification
    if (note is not None and not isinstance(note, str)) or justification_hash(
        note if isinstance(note, str) else None
    ) != leaf.get("justificationHash"):
        ctx.find("log", Problem.JUSTIFICATION_DIFFERS, where,
                 "the written reason stored does not hash to the leaf's justificationHash", table="access_log",
                 column="justification", seq=seq)  # fmt: skip
    return leaf


def _leaf_object(raw: bytes) -> dict[str, Any] | None:
    try:
        leaf = orjson.loads(raw)  # ~3× json.loads; what it refuses (NaN, integers beyond 64 bits) is no leaf either
    except ValueError:
        return None
    if not isinstance(leaf, dict) or leaf.get("format") != LEAF_FORMAT:
        return None
    return leaf


class _StoredNodes:
    """The stored subtree hashes, read a window of leaves at a time in the order the leaves
    close them (a few queries per :data:`CHUNK` leaves, whatever the log's size)."""

    def __init__(self, db: Connection) -> None:
        self.db = db
        table = _t(LogNode)
        self.table = table
        self.hashed = db.execute(select(_t(LogHead).c.hashed).where(_t(LogHead).c.id == 1)).scalar() or 0
        self.window = -1  # the window of leaves [window·CHUNK, (window+1)·CHUNK) loaded
        self.loaded: dict[tuple[int, int], Any] = {}
        self.seen = 0

    def _load(self, window: int) -> None:
        """Every stored subtree that ends within the window's leaves, for each level."""
        start, end = window * CHUNK, (window + 1) * CHUNK  # subtree ends in (start, end]
        self.loaded = {}
        for level in range(1, 64):
            low, high = -(-(start + 1) // (1 << level)) - 1, end // (1 << level) - 1
            if high < 0 or (1 << level) > max(end, 1) * 2:
                break
            if low > high:
                continue
            query = select(self.table.c.level, self.table.c.idx, as_stored(self.table.c.hash)).where(
                self.table.c.level == level, self.table.c.idx >= low, self.table.c.idx <= high
            )
            for lvl, idx, digest in self.db.execute(query):
                self.loaded[(lvl, idx)] = digest
        self.window = window

    def check(self, ctx: _Context, closed: list[tuple[int, int, bytes]]) -> None:
        for level, idx, digest in closed:
            end = (idx + 1) << level
            if not isinstance(self.hashed, int) or end > self.hashed:
                continue  # not stored yet: the anchorer stores subtrees as it anchors
            window = (end - 1) // CHUNK
            if window != self.window:
                self._load(window)
            stored = self.loaded.get((level, idx), None)
            self.seen += 1
            where = f"subtree ({level}, {idx})"
            if stored is None:
                ctx.find("log", Problem.NODE_MISSING, where, "a stored subtree hash the proofs need is gone",
                         table="log_nodes")  # fmt: skip
            elif _bytes(stored) != digest:
                ctx.find("log", Problem.NODE_DIFFERS, where,
                         "the stored subtree hash is not the hash of its leaves: proofs built from it fail",
                         table="log_nodes", column="hash")  # fmt: skip

    def gap_nodes(self, after: int, upto: int) -> dict[tuple[int, int], Any]:
        """The stored subtrees that end in ``(after, upto]`` and lie within ``[0, upto)``:
        those a restore took from the chain for a gap ``[after, upto)``."""
        found: dict[tuple[int, int], Any] = {}
        for level in range(0, 64):
            if (1 << level) > upto:
                break
            low, high = after // (1 << level), upto // (1 << level) - 1  # idx with (idx+1)·2^level in (after, upto]
            query = select(self.table.c.level, self.table.c.idx, as_stored(self.table.c.hash)).where(
                self.table.c.level == level, self.table.c.idx >= low, self.table.c.idx <= high
            )
            for lvl, idx, digest in self.db.execute(query):
                if (idx + 1) << lvl > after:
                    found[(lvl, idx)] = digest
        return found

    def finish(self, ctx: _Context, leaves: int) -> None:
        if not isinstance(self.hashed, int) or self.hashed > leaves:
            ctx.find("log", Problem.NODE_EXTRA, "log_head.hashed",
                     f"log_head says {self.hashed!r} leaves are hashed; {leaves} leaves are stored", table="log_head",
                     column="hashed")  # fmt: skip
        count = self.db.execute(select(func.count()).select_from(self.table)).scalar() or 0
        if count != self.seen:
            ctx.find("log", Problem.NODE_EXTRA, "log_nodes",
                     f"{count} subtree hashes are stored; the hashed leaves close {self.seen}", table="log_nodes")  # fmt: skip


def _check_head(ctx: _Context, head: Any, seal: Any, size: int, leaves: int, last_hash: bytes | None) -> None:
    if head is None or size < 0:
        ctx.find("log", Problem.HEAD_UNSEALED, "log_head", "the log's recorded size is missing or unreadable",
                 table="log_head", column="size")  # fmt: skip
        return
    if leaves < size:
        ctx.find("log", Problem.LEAF_MISSING, "log_head", f"the log records {size} events; {leaves} leaves are stored",
                 table="access_log", seq=leaves)  # fmt: skip
    if ctx.sealer is None:
        return
    if size == 0 and seal is None:
        return  # the empty log, as migrated
    if not log_head_sealed(ctx.sealer, seal, size, last_hash if leaves == size else None):
        ctx.find("log", Problem.HEAD_UNSEALED, "log_head",
                 f"the recorded size ({size}) and the last leaf do not carry their seal: the newest events were cut "
                 "off or added behind the installation's back", table="log_head", column="seal")  # fmt: skip


def _anchored_after(ctx: _Context, row: Any) -> bool:
    """Whether a row anchored in a block after the one the tables are compared at (a check
    that does not index first, as a page's) is borne out by the chain: its transaction's
    receipt, mined in that block, appended exactly this checkpoint."""
    try:
        block = int(row.block_number)
    except (TypeError, ValueError):
        return False
    if block <= ctx.upto or not row.tx_hash:
        return False
    try:
        receipt = ctx.ledger.w3.eth.get_transaction_receipt(str(row.tx_hash))  # type: ignore[arg-type]
    except (TransactionNotFound, OSError, ValueError):  # none, or the node cannot say: not borne out
        return False
    if int(receipt["blockNumber"]) != block or int(receipt["status"]) != 1:
        return False
    appended = ctx.ledger.contract("AccessLogAnchor").events.CheckpointAppended().process_receipt(receipt)
    return any(
        int(log["args"]["size"]) == int(row.size) and "0x" + bytes(log["args"]["root"]).hex() == str(row.root).lower()
        for log in appended
    )


def _check_checkpoints(ctx: _Context, checkpoints: list[tuple[int, int, str, Event]], leaves: int) -> None:
    on_chain = {size: (index, root, e) for index, size, root, e in checkpoints}
    rows = {r.size: r for r in _rows(ctx.db, LogCheckpoint, "size")}
    for index, size, _root, _e in checkpoints:
        if size > leaves:
            ctx.find("log", Problem.CHECKPOINT_MISMATCH, f"checkpoint #{index}",
                     f"anchored checkpoint #{index} covers {size} events; the database holds {leaves} leaves: it was "
                     "cut back or restored from an old backup", table="access_log")  # fmt: skip
    for size, row in rows.items():
        found = on_chain.get(size)
        where = f"checkpoint of size {size}"
        if row.status == "anchored":
            if found is None and _anchored_after(ctx, row):
                continue  # newer than the block compared at; its receipt holds it (the next run compares it)
            if found is None or found[1] != str(row.root).lower():
                ctx.find("log", Problem.CHECKPOINT_NOT_ON_CHAIN, where, "the row says anchored; the chain has no such "
                         "checkpoint", table="log_checkpoints", column="status")  # fmt: skip
                continue
            index, root, event = found
            expected = {"chain_index": index, "block_number": event.block_number, "tx_hash": event.tx_hash}
            differing = sorted(k for k, v in expected.items() if not _same(getattr(row, k), v))
            if differing:
                ctx.find("log", Problem.CHECKPOINT_ROW_DIFFERS, where, f"differ from the chain: {', '.join(differing)}",
                         table="log_checkpoints", column=",".join(differing))  # fmt: skip
        elif found is not None and row.tx_hash not in ctx.pending:
            ctx.find("log", Problem.CHECKPOINT_ROW_DIFFERS, where,
                     f"the row says {row.status!r}; the chain anchored it as checkpoint #{found[0]}",
                     table="log_checkpoints", column="status")  # fmt: skip
        ctx.report.checked["log"] += 1
    for size, (index, _root, event) in on_chain.items():
        if size not in rows and event.tx_hash not in ctx.pending:
            ctx.find("log", Problem.CHECKPOINT_ROW_MISSING, f"checkpoint #{index}",
                     f"the chain has checkpoint #{index} of size {size}; no row records it", table="log_checkpoints")  # fmt: skip


def _check_reviews(ctx: _Context, review_leaves: dict[int, dict[str, Any]], reads: dict[int, bytes]) -> None:
    rows = {r.review_seq: r for r in _rows(ctx.db, EmergencyReview, "access_seq")}
    for seq, leaf in review_leaves.items():
        row = rows.pop(seq, None)
        where = f"review #{seq}"
        if row is None:
            ctx.find("log", Problem.REVIEW_MISSING, where, "the log holds this review; the table lacks its row",
                     table="emergency_reviews")  # fmt: skip
            continue
        problems = []
        if row.access_seq != leaf.get("reviewOf"):
            problems.append("access_seq")
        if row.decision != leaf.get("decision"):
            problems.append("decision")
        if not isinstance(row.note, str) or justification_hash(row.note) != leaf.get("justificationHash"):
            problems.append("note")
        if not _same(row.reviewer, leaf.get("accessor")):
            problems.append("reviewer")
        try:
            statement = json.loads(row.statement)
            read = reads.get(int(row.access_seq))
            expected = {
                "accessSeq": row.access_seq, "decision": row.decision, "noteHash": justification_hash(row.note),
                "reviewer": row.reviewer,
                "accessLeafHash": formats.to_hex(leaf_hash(read)) if read is not None else None,
            }  # fmt: skip
            if any(statement.get(k) != v for k, v in expected.items()):
                problems.append("statement")
            signer = Account.recover_message(encode_defunct(str(row.statement).encode()),
                                             signature=formats.from_hex(row.signature))  # fmt: skip
            if signer.lower() != str(row.reviewer).lower():
                problems.append("signature")
        except (TypeError, ValueError, AttributeError, LedgerError):
            problems.append("statement")
        ctx.report.checked["log"] += 1
        if problems:
            ctx.find("log", Problem.REVIEW_DIFFERS, where, f"differ from the review's leaf or signature: "
                     f"{', '.join(sorted(set(problems)))}", table="emergency_reviews",
                     column=",".join(sorted(set(problems))), seq=seq)  # fmt: skip
    for seq, _row in rows.items():
        ctx.find("log", Problem.REVIEW_DIFFERS, f"review #{seq}", "the row names a review the log does not hold",
                 table="emergency_reviews", seq=seq if isinstance(seq, int) else None)  # fmt: skip


# -- residents' rights requests (ledger.rights) ---------------------------------------------------

# The decided row's columns and the decision leaf's key each must equal.
_DECISION_COLUMNS = {
    "outcome": "decision", "decider": "accessor", "resident": "resident", "record_id": "recordId",
    "access_seq": "reviewOf", "decided_at": "time",
}  # fmt: skip


def _check_decisions(ctx: _Context, leaves: dict[int, dict[str, Any]]) -> None:
    """Each decided request row against its decision leaf (outcome, decider, resident, record,
    entry objected to, time, the reason's hash) and its signed statement; each decision leaf
    has its row."""
    from .rights import OUTCOMES, RequestKind, RequestStatus, statement_of

    for row in _rows(ctx.db, RightsRequest, "request_id"):
        where = f"request {row.request_id}"
        if row.status != RequestStatus.DECIDED:
            if row.decision_seq is not None:
                leaves.pop(row.decision_seq, None)
                ctx.find("log", Problem.DECISION_DIFFERS, where, f"the row is {row.status!r} yet names decision "
                         f"#{row.decision_seq}", table="rights_requests", column="status", seq=row.decision_seq)  # fmt: skip
            continue
        leaf = leaves.pop(row.decision_seq, None) if isinstance(row.decision_seq, int) else None
        if leaf is None and isinstance(row.decision_seq, int) and any(
            int(g.start_seq) <= row.decision_seq < int(g.end_seq) for g in ctx.gaps
        ):
            continue  # its leaf was lost with a restore: reported as entries-lost, not as a missing decision
        if leaf is None:
            ctx.find("log", Problem.DECISION_MISSING, where, "the row is decided; the log holds no decision leaf for it",
                     table="rights_requests", column="decision_seq")  # fmt: skip
            continue
        ctx.report.checked["log"] += 1
        problems = [c for c, k in _DECISION_COLUMNS.items() if not _same(getattr(row, c), leaf.get(k))]
        if not isinstance(row.reason, (str, type(None))) or justification_hash(row.reason) != leaf.get(
            "justificationHash"
        ):
            problems.append("reason")
        try:
            if row.outcome not in OUTCOMES[RequestKind(row.kind)]:
                problems.append("outcome")
            if row.statement != formats.canonical_json(statement_of(row)).decode():
                problems.append("statement")
            signer = Account.recover_message(encode_defunct(str(row.statement).encode()),
                                             signature=formats.from_hex(row.signature))  # fmt: skip
            if signer.lower() != str(row.decider).lower():
                problems.append("signature")
        except (TypeError, ValueError, AttributeError, LedgerError):
            problems.append("statement")
        if problems:
            shown = ", ".join(sorted(set(problems)))
            ctx.find("log", Problem.DECISION_DIFFERS, where, f"differ from the decision's leaf or signature: {shown}",
                     table="rights_requests", column=shown.replace(" ", ""), seq=row.decision_seq)  # fmt: skip
    for seq in sorted(leaves):
        ctx.find("log", Problem.DECISION_MISSING, f"#{seq}", "the log holds this decision; no request row records it",
                 table="rights_requests", seq=seq)  # fmt: skip


class _Crossing:
    """The log's gaps (events lost with a restore), crossed as the leaves are read: each is
    checked against the chain's checkpoints (:func:`ledger.loggap.bridge`, computed afresh),
    its stored subtree hashes against what the chain gives, and the tree goes on from the
    frontier the chain holds."""

    def __init__(self, ctx: _Context, checkpoints: list[ChainCheckpoint]) -> None:
        self.ctx = ctx
        self.checkpoints = checkpoints
        self.gaps = {int(g.start_seq): g for g in ctx.gaps}
        sizes = [c.size for c in checkpoints]
        # restored leaves from the last checkpoint before each gap on: what the bridge reads
        self.keep_from = {start: max([x for x in sizes if x <= start], default=0) for start in self.gaps}
        self.recent: dict[int, bytes] = {}
        self.crossed: list[tuple[int, int]] = []

    def keep(self, seq: int, digest: bytes) -> None:
        if any(self.keep_from[start] <= seq < start for start in self.gaps):
            self.recent[seq] = digest

    def cross(self, start: int, frontier: Frontier, nodes: _StoredNodes) -> Frontier | None:
        """The frontier after the gap that begins at ``start`` (None when there is none, or
        it does not check out: then its events are missing like any others)."""
        gap = self.gaps.pop(start, None)
        if gap is None or frontier.size != start:
            return None
        ctx, end, where = self.ctx, int(gap.end_seq), f"#{start}..#{int(gap.end_seq) - 1}"
        upto = [c for c in self.checkpoints if c.size <= end]
        try:
            anchor = ctx.ledger.deployment.address("AccessLogAnchor")
            inputs = append_inputs(ctx.ledger.w3, [c.tx_hash for c in upto if c.size > start], anchor)
            found = bridge(start, lambda a, b: [self.recent[i] for i in range(a, b)], upto, inputs)
            if found is None or found.end != end or found.checkpoint.index != gap.checkpoint_index or (
                found.checkpoint.tx_hash != str(gap.checkpoint_tx).lower()
            ):
                raise VerificationError(f"the chain has no checkpoint of size {end} in {gap.checkpoint_tx}")
            own = Frontier.resume(end, found.frontier)
            for (part_start, n), value in zip(frontier_parts(end), found.frontier, strict=True):
                if part_start + n <= start and value != _frontier_part(frontier, part_start, n):
                    raise VerificationError(f"the restored events [{part_start}, {part_start + n}) do not give the "
                                            "chain's subtree hash")  # fmt: skip
        except (VerificationError, StoreError, KeyError) as exc:
            ctx.find("log", Problem.GAP_DIFFERS, where, f"the recorded gap does not fit the chain: {exc}",
                     table="log_gaps", seq=start)  # fmt: skip
            return None
        stored = nodes.gap_nodes(start, end)
        for key, value in found.nodes.items():
            have = stored.get(key)
            subject = f"subtree ({key[0]}, {key[1]})"
            if have is None:
                ctx.find("log", Problem.NODE_MISSING, subject, "a subtree hash beside the gap, from the chain, is gone",
                         table="log_nodes")  # fmt: skip
            elif _bytes(have) != value:
                ctx.find("log", Problem.NODE_DIFFERS, subject, "a subtree hash beside the gap is not the chain's",
                         table="log_nodes", column="hash")  # fmt: skip
        for key in sorted(set(stored) - set(found.nodes)):
            ctx.find("log", Problem.NODE_EXTRA, f"subtree ({key[0]}, {key[1]})",
                     "a subtree hash inside the gap that the chain does not give", table="log_nodes")  # fmt: skip
        nodes.seen += len(stored)
        when = ctx.restored_at.get(int(gap.restore_id))
        ctx.find("log", Problem.ENTRIES_LOST, where,
                 f"{found.lost} events anchored on chain (checkpoint #{found.checkpoint.index}, {end} events) were lost "
                 f"with the restore #{gap.restore_id}{_when(when)}: the chain proves they existed, their contents "
                 "are gone; the log goes on from " + f"#{end}", table="access_log", seq=start)  # fmt: skip
        if found.unprovable:
            first, last = found.unprovable[0], found.unprovable[-1]
            ctx.find("log", Problem.PROOFS_LOST, f"#{first}..#{last}",
                     f"{len(found.unprovable)} restored events, written after checkpoint {found.previous} and anchored "
                     "after the backup, can no longer be proven included: their proofs need leaves lost in the gap "
                     "(they are checked by their seals)", table="access_log", seq=first)  # fmt: skip
        self.crossed.append((start, end))
        ctx.report.checked["log"] += 1
        return own


def _frontier_part(frontier: Frontier, start: int, n: int) -> bytes | None:
    """The hash of part ``[start, start + n)`` of ``frontier``, when it is one of its parts."""
    return dict(zip(frontier_parts(frontier.size), frontier.hashes(), strict=True)).get((start, n))


def _when(ms: int | None) -> str:
    if ms is None:
        return ""
    from datetime import UTC, datetime

    return " of " + datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _load_restores(ctx: _Context) -> None:
    """The restores and gaps the losses are named from: only rows that carry their seal."""
    sealer = ctx.sealer
    restores = _rows(ctx.db, Restore, "id")
    if restores and sealer is None:
        ctx.report.problems.append(
            "the restores' seals were not checked (set GRIDLEDGER_KEY_PASSWORD or GRIDLEDGER_KEY_PASSWORD_FILE): "
            "nothing is named as lost with a restore"
        )
        return
    assert sealer is not None or not restores
    trusted: set[int] = set()
    for row in restores:
        if sealer is not None and row_sealed(sealer, "restores", row):
            trusted.add(int(row.id))
            ctx.lost_blocks.append((int(row.backup_block), int(row.restored_block)))
            ctx.restored_at[int(row.id)] = int(row.at)
    for gap in _rows(ctx.db, LogGap, "start_seq"):
        if sealer is not None and row_sealed(sealer, "log_gaps", gap) and gap.restore_id in trusted:
            ctx.gaps.append(gap)


# -- seals ---------------------------------------------------------------------------------------

_SEALED_MODELS: dict[str, Any] = {
    "accounts": AccountRow, "org_profiles": OrgProfile, "web_users": WebUser, "api_tokens": ApiToken,
    "verify_runs": VerifyRun, "restores": Restore, "log_gaps": LogGap,
}  # fmt: skip
_SEALED_KEYS = {"accounts": "address", "org_profiles": "org_id", "web_users": "username", "api_tokens": "id",
                "verify_runs": "id", "restores": "id", "log_gaps": "start_seq"}  # fmt: skip
# residents' rights requests (ledger.rights): the asking is sealed
_SEALED_MODELS["rights_requests"] = RightsRequest
_SEALED_KEYS["rights_requests"] = "request_id"

# The resident's inbox: read marks (ledger.inbox).
_SEALED_MODELS["inbox_seen"] = InboxSeen
_SEALED_KEYS["inbox_seen"] = "item_key"

# The incremental audit's marks (ledger.audit.incremental).
_SEALED_MODELS["audit_marks"] = AuditMark
_SEALED_KEYS["audit_marks"] = "id"


def _check_seals(ctx: _Context) -> None:
    if ctx.sealer is None:
        return  # said once, as a problem, by verify()
    for table, model in _SEALED_MODELS.items():
        for row in _rows(ctx.db, model):
            ctx.report.checked["seals"] += 1
            if not row_sealed(ctx.sealer, table, row):
                key = getattr(row, _SEALED_KEYS[table], "?")
                ctx.find("seals", Problem.ROW_UNSEALED, f"{table} {key}",
                         f"this {table} row carries no valid seal: it was written or changed behind the "
                         "installation's back", table=table)  # fmt: skip
            if table == "org_profiles" and not _code_fits(row):
                ctx.find("seals", Problem.CODE_MISMATCH, str(row.org_id),
                         f"code {row.code!r} does not give the organisation's on-chain id", table=table, column="code")  # fmt: skip
    _check_webhook_seals(ctx)


def _code_fits(row: Any) -> bool:
    try:
        return formats.to_hex(org_id(row.code)) == str(row.org_id).lower()
    except (TypeError, LedgerError):
        return False


_CHECKS: dict[str, Callable[[_Context], None]] = {
    "chain": _check_chain,
    "records": _check_records,
    "grants": _check_grants,
    "log": _check_log,
    "seals": _check_seals,
}


# -- webhooks (ledger.webhooks): subscriptions are sealed too ---------------------------------------


def _check_webhook_seals(ctx: _Context) -> None:
    """A webhook subscription edited in the database (another URL, another department) is never
    sent to; the check says so, as for every other sealed row."""
    from .store.models import WebhookSubscription
    from .webhooks import SEAL_KIND, sealed_values

    assert ctx.sealer is not None
    for row in _rows(ctx.db, WebhookSubscription):
        ctx.report.checked["seals"] += 1
        if not ctx.sealer.check(row.seal, SEAL_KIND, *sealed_values(row)):
            ctx.find("seals", Problem.ROW_UNSEALED, f"{SEAL_KIND} {row.id}",
                     f"this {SEAL_KIND} row carries no valid seal: it was written or changed behind the "
                     "installation's back", table=SEAL_KIND)  # fmt: skip
