"""The access log: every use of a resident's data, as leaves of an RFC 9162 Merkle tree.

A leaf is the canonical JSON (RFC 8785) of one access event, with the log's sequence
number (the leaf index) and the resident's own sequence number, so a resident can see a
gap. Leaves live in the ``access_log`` table; the hashes of complete subtrees in
``log_nodes`` (written by the anchoring worker), so a proof costs a few lookups however
long the log grows. Checkpoints of the tree go to the AccessLogAnchor contract.

Every leaf is sealed (:mod:`ledger.seal`) as it is stored, and so is the log's recorded
size with its last leaf: a leaf forged, edited or cut off in the database before any
checkpoint covers it is found by ``gridledger verify all`` all the same.

After a restore from a backup older than the chain's last checkpoint, the events between
the backup and that checkpoint are lost (``log_gaps``): numbering goes on after them, never
reusing a number the chain anchored, and each resident's own numbers skip as many as the
gap held (some of them may have been the resident's). The subtree hashes beside the gap
come from the chain (:mod:`ledger.loggap`).

Appending is durable before it returns: :meth:`AccessLog.append` commits one database
transaction. :meth:`AccessLog.record` is the same for one event, with group commit:
concurrent callers' events share one transaction, and each caller returns only once the
transaction holding its event has committed.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from typing import Any, cast

import orjson
from sqlalchemy import Table, bindparam, func, insert, select, update

from . import formats
from .errors import ConfigurationError, EntriesLost, NotFoundError, StoreError
from .merkle import MerkleTree, leaf_hash, node_hash, proof_subtrees
from .seal import Sealer, log_head_seal
from .store import Store
from .store.models import AccessEvent, LogCheckpoint, LogGap, LogHead, LogNode, Record

FORMAT = "gridledger-access/1"
LEAF_FIELDS = (
    "format", "seq", "residentSeq", "action", "outcome", "reason", "recordId", "category", "resident",
    "accessor", "organisation", "basis", "grantId", "purpose", "justificationHash", "disclosureDate",
    "block", "time", "nonce", "reviewOf", "decision",
)  # fmt: skip
_LEAF_KEYS = frozenset(LEAF_FIELDS)
MAX_BATCH = 2_000
_SAFE_INT = 2**53 - 1

_EVENTS = cast(Table, AccessEvent.__table__)
_NODES = cast(Table, LogNode.__table__)
_HEAD = cast(Table, LogHead.__table__)
# The append's statements, run on the driver itself (``Store.driver``): built once, and
# SQLAlchemy's execution around each cost more than the statement.
_RESERVE = f"UPDATE {_HEAD.name} SET size = size + ? WHERE id = 1 RETURNING size"
_SEAL_HEAD = f"UPDATE {_HEAD.name} SET seal = ? WHERE id = 1"
#: The columns of an appended row, in the order of :data:`_INSERT`'s placeholders.
_INSERT_COLUMNS = (
    "seq", "resident", "resident_seq", "leaf", "leaf_hash", "time", "accessor", "organisation", "record_id",
    "action", "outcome", "basis", "grant_id", "disclose_on", "justification", "seal",
)  # fmt: skip
_INSERT = (
    f"INSERT INTO {_EVENTS.name} ({', '.join(_EVENTS.c[name].name for name in _INSERT_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _INSERT_COLUMNS)})"
)
#: Residents asked about in one statement (within every driver's parameter limit).
_MAX_RESIDENTS = 500
_NUMBERING = select(
    func.count(), func.count(func.distinct(_EVENTS.c.resident_seq)), func.max(_EVENTS.c.resident_seq)
).where(_EVENTS.c.resident == bindparam("resident"))
#: Subtree hashes asked for in one statement (two parameters each; within every driver's limit).
_MAX_PAIRS = 400
_LEAVES_AT = select(_EVENTS.c.seq, _EVENTS.c.leaf_hash).where(_EVENTS.c.seq.in_(bindparam("seqs", expanding=True)))
_GAPS = cast(Table, LogGap.__table__)
_SIZE = select(_HEAD.c.size).where(_HEAD.c.id == 1)
_SIZE_AND_LEAF = f"SELECT size, (SELECT leaf FROM {_EVENTS.name} WHERE seq = ?) FROM {_HEAD.name} WHERE id = 1"


@cache
def _per_resident(what: str, count: int) -> str:
    """Each of ``count`` residents with ``<what>`` of their events (NULL for none), one
    subquery each: ``max(resident_seq)`` is then one seek down the (resident, resident_seq)
    index, where ``… WHERE resident IN (…) GROUP BY resident`` read every event of each
    resident and made a read of a much-read resident cost more with each read."""
    marks = ", ".join("(?)" for _ in range(count))
    return (
        f"WITH asked(resident) AS (VALUES {marks}) "
        f"SELECT asked.resident, (SELECT {what} FROM {_EVENTS.name} e WHERE e.resident = asked.resident) FROM asked"
    )


def expected_numbers(seqs: Sequence[int], gaps: Sequence[tuple[int, int]]) -> list[int]:
    """The resident's own numbers that leaves at ``seqs`` (one resident's, ascending) must
    carry: the k-th carries k plus the length of every gap before it (the numbers a gap may
    have used are never given again)."""
    numbers: list[int] = []
    for k, seq in enumerate(seqs):
        numbers.append(k + sum(end - start for start, end in gaps if end <= seq))
    return numbers


def canonical_leaf(leaf: dict[str, Any]) -> bytes:
    """RFC 8785 bytes of a leaf (:func:`ledger.formats.canonical_json` is the definition).

    A leaf of exactly the log's fields whose values are strings, safe integers, booleans
    and null is written by ``orjson`` with sorted keys: for those, its bytes are RFC 8785's
    (ASCII keys sort the same by UTF-16 units and by bytes; strings are escaped alike,
    control characters and U+2028/2029 included), ~9× faster. Anything else (floats,
    integers beyond 2^53, nested values, other keys, a string orjson refuses such as a
    lone surrogate) goes through the definition. Pinned byte for byte against ``rfc8785``
    over generated leaves (tests/ledger/test_access_log_leaves.py)."""
    if leaf.keys() == _LEAF_KEYS:
        for value in leaf.values():
            if (
                value is not None
                and not isinstance(value, str)
                and not (isinstance(value, int) and -_SAFE_INT <= value <= _SAFE_INT)
            ):
                break
        else:
            try:
                return orjson.dumps(leaf, option=orjson.OPT_SORT_KEYS)
            except orjson.JSONEncodeError:
                pass  # the definition says what it is (it refuses what orjson refuses)
    return formats.canonical_json(leaf)


class Action(StrEnum):
    """What an access event is (the leaf's ``action``). On disk: never respell."""

    READ = "read"
    REVIEW = "review"
    DECIDE = "decide"  # a decision on a resident's rights request (ledger.rights)


class Outcome(StrEnum):
    """How an access ended (the leaf's ``outcome``). On disk: never respell."""

    ALLOWED = "allowed"
    REFUSED = "refused"


@dataclass
class Draft:
    """An access event before the log numbers it. ``justification`` stays off the leaf
    (its hash is on it); the rest becomes the leaf."""

    action: str  # read | review | decide
    outcome: str  # allowed | refused
    resident: str
    accessor: str
    time: int  # milliseconds since the epoch, UTC
    record_id: str | None = None
    category: str | None = None
    organisation: str | None = None
    basis: str | None = None  # grant | duty | emergency
    grant_id: str | None = None
    purpose: int | None = None
    reason: str | None = None  # why it was refused
    justification: str | None = None
    disclose_on: str | None = None  # YYYY-MM-DD
    block: int | None = None  # the chain block the basis was checked against
    review_of: int | None = None
    decision: str | None = None
    nonce: str = field(default_factory=lambda: "0x" + secrets.token_hex(16))

    def leaf(self, seq: int, resident_seq: int) -> dict[str, Any]:
        return {
            "format": FORMAT, "seq": seq, "residentSeq": resident_seq, "action": self.action,
            "outcome": self.outcome, "reason": self.reason, "recordId": self.record_id, "category": self.category,
            "resident": self.resident, "accessor": self.accessor, "organisation": self.organisation,
            "basis": self.basis, "grantId": self.grant_id, "purpose": self.purpose,
            "justificationHash": justification_hash(self.justification), "disclosureDate": self.disclose_on,
            "block": self.block, "time": self.time, "nonce": self.nonce, "reviewOf": self.review_of,
            "decision": self.decision,
        }  # fmt: skip


def justification_hash(text: str | None) -> str | None:
    return None if text is None else "0x" + hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Appended:
    seq: int
    resident_seq: int
    leaf: bytes
    leaf_hash: bytes


@dataclass
class _Waiting:
    draft: Draft
    done: bool = False
    result: Appended | None = None
    error: BaseException | None = None


class AccessLog:
    """The log's tables: append, read leaves, build trees and proofs."""

    def __init__(self, store: Store, sealer: Sealer | None = None, *, max_batch: int = MAX_BATCH) -> None:
        self.store = store
        self.sealer = sealer  # appending needs it; reading does not
        self.max_batch = max_batch
        self._cond = threading.Condition()
        self._queue: list[_Waiting] = []
        self._leading = False
        self._gaps: list[tuple[int, int]] | None = None

    # -- appending -------------------------------------------------------------------

    def append(self, drafts: Sequence[Draft]) -> list[Appended]:
        """Numbers and stores ``drafts`` in one transaction; returns once it is committed."""
        if not drafts:
            return []
        sealer = self.sealer
        if sealer is None:
            raise ConfigurationError(
                "appending to the access log seals every leaf and needs the keystore password: "
                "set GRIDLEDGER_KEY_PASSWORD or GRIDLEDGER_KEY_PASSWORD_FILE"
            )
        store = self.store
        with store.serialised_writes(), store.driver() as connection:
            cursor = connection.cursor()
            # Reserving the numbers takes the write lock first (SQLite) or the head row's
            # lock (PostgreSQL): appenders in other processes queue here, never collide.
            cursor.execute(store.driver_sql(_RESERVE), (len(drafts),))
            head = cursor.fetchone()
            if head is None:
                raise StoreError("the access log's head row is missing: the database was altered ('gridledger init')")
            end = int(head[0])
            start = end - len(drafts)
            residents = sorted({d.resident for d in drafts})
            next_seq: dict[str, int] = {}
            lost = sum(b - a for a, b in self.gaps())
            # After a restore: each resident's count, plus every number a gap may have used.
            what, plus = ("count(*)", lost) if lost else ("max(resident_seq)", 1)
            if lost:
                next_seq = dict.fromkeys(residents, lost)
            for chunk in _chunks(residents, _MAX_RESIDENTS):
                cursor.execute(store.driver_sql(_per_resident(what, len(chunk))), tuple(chunk))
                for resident, found in cursor.fetchall():
                    if found is not None:  # None: no event of the resident yet
                        next_seq[resident] = int(found) + plus
            rows: list[tuple[Any, ...]] = []
            appended: list[Appended] = []
            for offset, draft in enumerate(drafts):
                seq = start + offset
                resident_seq = next_seq.get(draft.resident, 0)
                next_seq[draft.resident] = resident_seq + 1
                leaf = canonical_leaf(draft.leaf(seq, resident_seq))
                digest = leaf_hash(leaf)
                appended.append(Appended(seq, resident_seq, leaf, digest))
                rows.append((
                    seq, draft.resident, resident_seq, leaf, digest, draft.time, draft.accessor, draft.organisation,
                    draft.record_id, draft.action, draft.outcome, draft.basis, draft.grant_id, draft.disclose_on,
                    draft.justification, sealer.leaf(digest),
                ))  # fmt: skip
            cursor.executemany(store.driver_sql(_INSERT), rows)
            cursor.execute(store.driver_sql(_SEAL_HEAD), (log_head_seal(sealer, end, appended[-1].leaf_hash),))
            cursor.close()
            connection.commit()
        return appended

    def record(self, draft: Draft) -> Appended:
        """Appends one event, sharing a transaction with concurrent callers (group commit).

        The first caller to find no commit under way commits everything queued so far;
        the others wait for the commit that holds their event. Returns only after that
        commit; raises what it raised."""
        waiting = _Waiting(draft)
        with self._cond:
            self._queue.append(waiting)
        while True:
            with self._cond:
                while self._leading and not waiting.done:
                    self._cond.wait()
                if waiting.done:
                    break
                self._leading = True
                batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            try:
                results = self.append([w.draft for w in batch])
                for w, result in zip(batch, results, strict=True):
                    w.result = result
            except BaseException as exc:  # every waiter of this batch gets the failure
                for w in batch:
                    w.error = exc
            finally:
                with self._cond:
                    for w in batch:
                        w.done = True
                    self._leading = False
                    self._cond.notify_all()
        if waiting.error is not None:
            raise waiting.error
        assert waiting.result is not None
        return waiting.result

    # -- reading ---------------------------------------------------------------------

    def size(self) -> int:
        with self.store.engine.connect() as connection:
            found = connection.execute(_SIZE).scalar_one()
        return _recorded_size(found)

    def size_and_leaf(self, seq: int) -> tuple[int, bytes | None]:
        """The log's recorded size and the leaf stored at ``seq`` (None when there is none),
        in one query (what the anchoring health needs on every read)."""
        with self.store.driver() as connection:
            cursor = connection.cursor()
            cursor.execute(self.store.driver_sql(_SIZE_AND_LEAF), (seq,))
            found, leaf = cursor.fetchone()
            cursor.close()
        return _recorded_size(found), None if leaf is None else bytes(leaf)

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        with self.store.engine.connect() as connection:
            rows = connection.execute(
                select(_EVENTS.c.seq, _EVENTS.c.leaf_hash)
                .where(_EVENTS.c.seq >= start, _EVENTS.c.seq < end)
                .order_by(_EVENTS.c.seq)
            ).all()
        if len(rows) != end - start or (rows and (rows[0][0] != start or rows[-1][0] != end - 1)):
            return self._with_gaps(start, end, {int(r[0]): bytes(r[1]) for r in rows})
        return [bytes(r[1]) for r in rows]

    def gaps(self) -> list[tuple[int, int]]:
        """The ranges ``[start, end)`` of events lost with a restore (read once: only a
        restore, with the services stopped, adds one)."""
        if self._gaps is None:
            with self.store.engine.connect() as connection:
                rows = connection.execute(select(_GAPS.c.start_seq, _GAPS.c.end_seq).order_by(_GAPS.c.start_seq))
                self._gaps = [(int(a), int(b)) for a, b in rows]
        return self._gaps

    def _with_gaps(self, start: int, end: int, found: dict[int, bytes]) -> list[bytes]:
        """Leaves ``[start, end)`` when some rows are missing: those in a gap are lost (their
        hash is known only where the chain gave it, stored as a level-0 subtree); any other
        missing row means the database was altered."""
        missing = [seq for seq in range(start, end) if seq not in found]
        gaps = self.gaps()
        outside = [seq for seq in missing if not any(a <= seq < b for a, b in gaps)]
        if outside:
            raise StoreError(f"the access log is missing leaves in [{start}, {end}): the database was altered")
        with self.store.engine.connect() as connection:
            for chunk in _chunks(missing, _MAX_PAIRS * 2):
                for idx, digest in connection.execute(
                    select(_NODES.c.idx, _NODES.c.hash).where(_NODES.c.level == 0, _NODES.c.idx.in_(list(chunk)))
                ):
                    found[int(idx)] = bytes(digest)
        lost = [seq for seq in missing if seq not in found]
        if lost:
            raise EntriesLost(
                f"access events #{lost[0]}..#{lost[-1]} were lost with a restore from a backup; "
                "what needs them cannot be proven"
            )
        return [found[seq] for seq in range(start, end)]

    def event(self, seq: int) -> AccessEvent:
        with self.store.session() as session:
            found = session.get(AccessEvent, seq)
        if found is None:
            raise NotFoundError(f"no access event #{seq}")
        return found

    def events_of(
        self,
        resident: str,
        *,
        limit: int | None = None,
        before: int | None = None,
        organisation: str | None = None,
        category: int | None = None,
    ) -> list[AccessEvent]:
        """The resident's events, newest first: at most ``limit``, with ``seq`` below
        ``before``, of one ``organisation`` or one record ``category`` (answered from the
        (resident, resident_seq) index, so a page costs the same in a log of any size)."""
        query = select(AccessEvent).where(AccessEvent.resident == resident)
        if before is not None:
            query = query.where(AccessEvent.seq < before)
        if organisation is not None:
            query = query.where(AccessEvent.organisation == organisation)
        if category is not None:
            query = query.where(
                AccessEvent.record_id.in_(
                    select(Record.record_id).where(Record.subject == resident, Record.category == category)
                )
            )
        query = query.order_by(AccessEvent.resident_seq.desc())
        if limit is not None:
            query = query.limit(limit)
        with self.store.session() as session:
            return list(session.scalars(query))

    def numbering_intact(self, resident: str) -> bool:
        """Whether the resident's numbers are exactly 0..n-1, each once: one aggregate over
        the (resident, resident_seq) index, so a page of history need not read them all.
        After a restore the numbers skip the gaps: then False, and the caller checks them
        all (:meth:`resident_numbering`)."""
        if self.gaps():
            return False
        with self.store.engine.connect() as connection:
            count, distinct, highest = connection.execute(_NUMBERING, {"resident": resident}).one()
        return bool(count == distinct and (highest is None or highest == count - 1))

    def resident_numbering(self, resident: str) -> list[tuple[int, int]]:
        """Every ``(seq, resident_seq)`` of the resident's rows, by ``seq``."""
        with self.store.engine.connect() as connection:
            rows = connection.execute(
                select(AccessEvent.seq, AccessEvent.resident_seq)
                .where(AccessEvent.resident == resident)
                .order_by(AccessEvent.seq)
            )
            return [(int(a), int(b)) for a, b in rows]

    def resident_numbers(self, resident: str) -> list[int]:
        """Every per-resident sequence number the resident's rows carry (for gap checks)."""
        with self.store.engine.connect() as connection:
            return list(
                connection.execute(select(AccessEvent.resident_seq).where(AccessEvent.resident == resident)).scalars()
            )

    # -- the tree --------------------------------------------------------------------

    def tree(self) -> MerkleTree:
        """The tree over the leaves whose subtree hashes are stored (see :meth:`extend`)."""
        hashed = self.hashed()

        def stored(level: int, index: int) -> bytes | None:
            if level == 0:
                return None
            with self.store.engine.connect() as connection:
                found = connection.execute(
                    select(_NODES.c.hash).where(_NODES.c.level == level, _NODES.c.idx == index)
                ).scalar_one_or_none()
            return None if found is None else bytes(found)

        return MerkleTree(self.leaf_hashes, lambda: hashed, stored)

    def inclusion_proof(self, tree: MerkleTree, index: int, size: int) -> list[bytes]:
        """PATH(index, size) from ``tree`` (see :meth:`tree`), with every subtree hash it
        needs fetched in two queries rather than one lookup each."""
        self.fetch_subtrees(tree, [index], size)
        return tree.inclusion_proof(index, size)

    def fetch_subtrees(self, tree: MerkleTree, indexes: Sequence[int], size: int) -> None:
        """Seeds ``tree`` with every subtree hash the inclusion proofs of ``indexes`` in a
        tree of ``size`` need (a page of a resident's history): two queries for the whole
        page, each shared upper subtree fetched once. What the log no longer holds is left
        for :meth:`MerkleTree.inclusion_proof` to find missing."""
        parts = {part for index in indexes for part in proof_subtrees(index, size)}
        leaves = sorted(start for start, n in parts if n == 1)
        nodes = sorted((n.bit_length() - 1, start >> (n.bit_length() - 1)) for start, n in parts if n > 1)
        with self.store.engine.connect() as connection:
            for chunk in _chunks(leaves, _MAX_PAIRS * 2):
                for seq, digest in connection.execute(_LEAVES_AT, {"seqs": list(chunk)}):
                    tree.remember(seq, 1, bytes(digest))
            # An OR of (level, idx) pairs, which SQLite and PostgreSQL answer from the primary key
            # (a row-value IN scans the table on SQLite); as driver SQL, since building the
            # expression would cost more than running it.
            mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
            for chunk in _chunks(nodes, _MAX_PAIRS):
                sql = "SELECT level, idx, hash FROM log_nodes WHERE " + " OR ".join(
                    [f"(level = {mark} AND idx = {mark})"] * len(chunk)
                )
                params = tuple(value for pair in chunk for value in pair)
                for level, idx, digest in connection.exec_driver_sql(sql, params):
                    tree.remember(idx << level, 1 << level, bytes(digest))

    def hashed(self) -> int:
        with self.store.engine.connect() as connection:
            return int(connection.execute(select(_HEAD.c.hashed).where(_HEAD.c.id == 1)).scalar_one())

    def extend(self, to_size: int | None = None, chunk: int = 50_000) -> int:
        """Stores the hashes of every complete subtree within the first ``to_size`` leaves
        (default: all). One writer at a time (the anchoring worker). Returns the size."""
        done = self.hashed()
        target = self.size() if to_size is None else to_size
        if target <= done:
            return done
        frontier = self._frontier(done)
        while done < target:
            end = min(target, done + chunk)
            nodes: list[dict[str, Any]] = []
            for offset, leaf in enumerate(self.leaf_hashes(done, end)):
                index = done + offset
                value, level = leaf, 0
                # Merge while this subtree closes a larger one: leaf index+1 divisible by 2^(level+1).
                while (index + 1) % (2 << level) == 0:
                    value = node_hash(frontier.pop(level), value)
                    level += 1
                    nodes.append({"level": level, "idx": (index + 1 >> level) - 1, "hash": value})
                frontier[level] = value
            with self.store.engine.begin() as connection:
                if nodes:
                    connection.execute(insert(_NODES), nodes)
                moved = connection.execute(
                    update(_HEAD).where(_HEAD.c.id == 1, _HEAD.c.hashed == done).values(hashed=end)
                ).rowcount
            if moved != 1:
                raise StoreError("another process is hashing the access log; run one anchoring worker")
            done = end
        return done

    def _frontier(self, size: int) -> dict[int, bytes]:
        """The complete subtrees that make up a tree of ``size``, keyed by level."""
        frontier: dict[int, bytes] = {}
        offset = 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                if level == 0:
                    frontier[0] = self.leaf_hashes(offset, offset + 1)[0]
                else:
                    with self.store.engine.connect() as connection:
                        found = connection.execute(
                            select(_NODES.c.hash).where(_NODES.c.level == level, _NODES.c.idx == offset >> level)
                        ).scalar_one_or_none()
                    if found is None:
                        raise StoreError(f"log_nodes lacks the subtree ({level}, {offset >> level})")
                    frontier[level] = bytes(found)
                offset += 1 << level
        return frontier

    # -- checkpoints -----------------------------------------------------------------

    def anchored(self) -> LogCheckpoint | None:
        """The newest checkpoint the chain has accepted (as recorded here)."""
        with self.store.session() as session:
            return session.scalars(
                select(LogCheckpoint)
                .where(LogCheckpoint.status == "anchored")
                .order_by(LogCheckpoint.size.desc())
                .limit(1)
            ).first()


def _recorded_size(found: Any) -> int:
    if not isinstance(found, int):
        raise StoreError(f"the access log's recorded size is {found!r}: the database was altered")
    return found


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
