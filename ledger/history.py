"""What residents and auditors are shown of the access log, with proofs.

* :func:`resident_history`: a resident's accesses newest first, each with its inclusion
  proof to the newest checkpoint on chain and that checkpoint's transaction; entries
  under legal hold as placeholders until their disclosure date; gaps in the resident's
  own sequence numbers as findings. After a restore from a backup, the events the chain
  anchored but the restore lost are said plainly (``entries-lost``, with the resident's own
  numbers that fall in the gap), and an entry whose proof needs them is marked (``proof-lost``).

What a resident is shown is decided by the leaves (the truth the proofs are about), never
by the columns beside them: the disclosure date is the leaf's, a review of a read under
legal hold stays withheld as long as the read does, a written reason is shown only when
it hashes to the leaf's ``justificationHash``, and a row whose leaf is another
resident's is never shown (it is a finding). The checkpoint is the chain's.
* :func:`proof_document` and :func:`bundle`: the files the standalone verifier
  (:mod:`ledger.verifier`) checks against the chain, with no database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from sqlalchemy import select

from . import formats
from .access import CHINA, today
from .accesslog import AccessLog, justification_hash
from .context import Ledger
from .errors import EntriesLost, InputError, Invalid, NotFoundError, StoreError
from .merkle import MerkleTree, leaf_hash
from .store.models import AccessEvent, LogCheckpoint, LogGap, Restore

PROOF_FORMAT = "gridledger-proof/1"
BUNDLE_FORMAT = "gridledger-bundle/1"
#: Entries of a bundle whose proofs are fetched together.
BUNDLE_FETCH = 500


class HistoryFindingKind(StrEnum):
    """What a history finding says (:attr:`Finding.kind`), with :attr:`Finding.params`; the
    web app words each one. In the API: never respell."""

    RESIDENT_SEQ_GAP = "resident-seq-gap"  # one of the resident's own numbers is missing; params: number
    RESIDENT_SEQ_REPEAT = "resident-seq-repeat"
    LEAF_MISMATCH = "leaf-mismatch"  # a row whose leaf is not the resident's, or unreadable
    PROOF_UNAVAILABLE = "proof-unavailable"  # an anchored entry whose proof cannot be built: the log was altered
    ENTRIES_LOST = "entries-lost"  # events lost with a restore (params: first, last, restoredAt, yourFirst, yourLast)
    PROOF_LOST = "proof-lost"  # an entry whose proof needs events lost with a restore
    JUSTIFICATION_ALTERED = "justification-altered"  # the written reason stored is not the one logged


FINDING_KINDS = tuple(HistoryFindingKind)


@dataclass(frozen=True)
class Entry:
    seq: int
    resident_seq: int
    leaf: dict[str, Any] | None  # None while withheld (legal hold)
    leaf_hash: str
    disclose_on: str | None
    proof: list[str] | None  # None until a checkpoint covers the entry
    #: The reason written for it (an emergency read, a review's note): off the leaf, which
    #: holds its hash; None while withheld.
    justification: str | None = None
    proof_lost: bool = False  # anchored, but its proof needs events lost with a restore

    @property
    def withheld(self) -> bool:
        return self.leaf is None


@dataclass(frozen=True)
class Finding:
    kind: HistoryFindingKind
    seq: int | None
    detail: str  # in English, for the command line; pages word the kind and params
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class History:
    resident: str
    checkpoint: dict[str, Any] | None  # the anchored checkpoint every proof leads to
    entries: list[Entry] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    next_before: int | None = None  # pass as ``before`` for the next (older) page; None: no more


def anchored_checkpoint(ledger: Ledger, log: AccessLog | None = None) -> dict[str, Any] | None:
    """The newest checkpoint as the chain has it (index, size, root), with the transaction
    that appended it when the database's record of it is confirmed by its receipt (else
    ``txHash`` and ``block`` are None); None before the first. Raises :class:`NodeError`."""
    view = ledger.view
    found = view.checkpoint()
    if found is None:
        return None
    with ledger.store.session() as session:
        row = session.get(LogCheckpoint, found.size)
    confirmed = view.checkpoint_tx(found, row.tx_hash if row is not None else None)
    return {
        "index": found.index,
        "size": found.size,
        "root": found.root,
        "txHash": confirmed[0] if confirmed else None,
        "block": confirmed[1] if confirmed else None,
    }


def leaf_bytes(value: Any) -> bytes:
    """A stored leaf as bytes, whatever type the database handed back (a leaf written as
    text is a finding of ``verify``, not a crash here)."""
    if isinstance(value, str):
        return value.encode("utf-8")
    return bytes(value)


def parse_leaf(value: Any) -> dict[str, Any] | None:
    """The stored leaf's JSON object, or None when it is not one."""
    try:
        leaf = json.loads(leaf_bytes(value))
    except (TypeError, ValueError):
        return None
    return leaf if isinstance(leaf, dict) else None


def disclosure_date(leaf: dict[str, Any], reviewed: dict[str, Any] | None = None) -> str | None:
    """Until when the resident is not shown an entry: the leaf's own date, and for a
    review the reviewed read's date too (a review of a held read stays held as long)."""
    dates = [d for d in (leaf.get("disclosureDate"), (reviewed or {}).get("disclosureDate")) if isinstance(d, str)]
    return max(dates, default=None)


def withheld(disclose_on: str | None, on: date | None = None) -> bool:
    if disclose_on is None:
        return False
    try:
        day = date.fromisoformat(disclose_on)
    except ValueError:
        return True  # a date that cannot be read hides rather than shows
    return day > (on or today())


def resident_history(
    ledger: Ledger,
    resident: str,
    *,
    log: AccessLog | None = None,
    on: date | None = None,
    limit: int | None = None,
    before: int | None = None,
    department: str | None = None,
    category: int | None = None,
) -> History:
    """The resident's accesses, newest first, each with its inclusion proof. With ``limit``
    (and ``before``, ``department``, ``category``) one page of them; the gap and repeat
    findings always cover the resident's whole numbering."""
    log = log or ledger.log
    address = ledger.address_of(resident)
    checkpoint = anchored_checkpoint(ledger, log)
    size = int(checkpoint["size"]) if checkpoint else 0
    tree = log.tree() if checkpoint else None
    history = History(address, checkpoint)
    paged = limit is not None or before is not None or department is not None or category is not None
    fetch = None if limit is None else limit + 1
    events = log.events_of(address, limit=fetch, before=before, organisation=department, category=category)
    if limit is not None and len(events) > limit:
        events = events[:limit]
        history.next_before = events[-1].seq
    leaves = {e.seq: parse_leaf(e.leaf) for e in events}
    mine, history.findings = _own_entries(events, leaves, address)
    reviewed = _reviewed_leaves(log, [leaves[e.seq] for e in mine], address)
    if checkpoint is not None and tree is not None:
        log.fetch_subtrees(tree, [e.seq for e in mine if e.seq < size], size)
    for event in mine:
        entry, problem = _entry(event, leaves[event.seq], reviewed, size, tree, on)
        history.entries.append(entry)
        if problem is not None:
            history.findings.append(problem)
    gaps = log.gaps()
    if paged:
        numbering = [] if log.numbering_intact(address) else log.resident_numbering(address)
    else:
        numbering = [(e.seq, int(leaves[e.seq]["residentSeq"])) for e in mine]  # type: ignore[index]
    history.findings += _numbering_findings(numbering, gaps)
    if gaps:
        history.findings += _lost_findings(log, numbering)
    for entry in history.entries:
        if entry.seq < size and entry.proof is None:
            history.findings.append(
                Finding(HistoryFindingKind.PROOF_LOST, entry.seq, "this entry's proof needs log entries lost with a restore from a backup")
                if entry.proof_lost
                else Finding(HistoryFindingKind.PROOF_UNAVAILABLE, entry.seq,
                             "the log no longer holds what this entry's proof needs: it was altered")
            )  # fmt: skip
    return history


def _own_entries(
    events: list[AccessEvent], leaves: dict[int, dict[str, Any] | None], resident: str
) -> tuple[list[AccessEvent], list[Finding]]:
    """The rows whose leaf is this resident's own, in its place; the others are findings and
    are never shown (their leaf may be another resident's)."""
    mine: list[AccessEvent] = []
    findings: list[Finding] = []
    for event in events:
        leaf = leaves[event.seq]
        if leaf is None:
            findings.append(Finding(HistoryFindingKind.LEAF_MISMATCH, event.seq, "the stored leaf cannot be read"))
        elif leaf.get("resident") != resident or leaf.get("seq") != event.seq:
            findings.append(
                Finding(HistoryFindingKind.LEAF_MISMATCH, event.seq, "the stored leaf belongs elsewhere in the log")
            )
        elif leaf.get("residentSeq") != event.resident_seq or not isinstance(leaf.get("residentSeq"), int):
            findings.append(
                Finding(HistoryFindingKind.LEAF_MISMATCH, event.seq, "the stored leaf carries another access number")
            )
        else:
            mine.append(event)
    return mine, findings


def _reviewed_leaves(log: AccessLog, leaves: list[dict[str, Any] | None], resident: str) -> dict[int, dict[str, Any]]:
    """The leaves of the reads the given reviews are about (for their disclosure dates)."""
    wanted = sorted({int(v) for leaf in leaves if leaf and isinstance(v := leaf.get("reviewOf"), int)})
    found: dict[int, dict[str, Any]] = {}
    for seq in wanted:
        try:
            leaf = parse_leaf(log.event(seq).leaf)
        except NotFoundError:
            leaf = None
        # A review names its read; should the row be gone or not the resident's, hold the
        # review back rather than show it (its own leaf still says what it reviewed).
        found[seq] = leaf if leaf and leaf.get("resident") == resident else {"disclosureDate": date.max.isoformat()}
    return found


def _entry(
    event: AccessEvent,
    leaf: dict[str, Any] | None,
    reviewed: dict[int, dict[str, Any]],
    size: int,
    tree: MerkleTree | None,
    on: date | None,
) -> tuple[Entry, Finding | None]:
    """An entry with its inclusion proof to a checkpoint of ``size`` from ``tree`` (seeded
    with :meth:`AccessLog.fetch_subtrees`), and a finding when its written reason is not
    the one logged."""
    raw = leaf_bytes(event.leaf)
    leaf = leaf if leaf is not None else parse_leaf(raw) or {}
    proof = None
    lost = False
    if tree is not None and event.seq < size:
        try:
            proof = [formats.to_hex(h) for h in tree.inclusion_proof(event.seq, size)]
        except EntriesLost:
            lost = True  # it needs leaves a restore lost: reported as such by resident_history
        except StoreError:
            proof = None  # leaves it needs are gone: reported as a finding by resident_history
    review_of = leaf.get("reviewOf")
    disclose_on = disclosure_date(leaf, reviewed.get(review_of) if isinstance(review_of, int) else None)
    hidden = withheld(disclose_on, on)
    justification = event.justification
    problem = None
    if justification is not None and justification_hash(justification) != leaf.get("justificationHash"):
        justification = None  # what is stored is not what was logged: never shown
        problem = Finding(
            HistoryFindingKind.JUSTIFICATION_ALTERED, event.seq, "the written reason stored is not the one logged"
        )
    resident_seq = leaf.get("residentSeq")
    entry = Entry(
        seq=event.seq, resident_seq=resident_seq if isinstance(resident_seq, int) else event.resident_seq,
        leaf=None if hidden else leaf, leaf_hash=formats.to_hex(leaf_hash(raw)), disclose_on=disclose_on,
        proof=proof, justification=None if hidden else justification, proof_lost=lost,
    )  # fmt: skip
    return entry, None if hidden else problem


def _numbering_findings(numbering: list[tuple[int, int]], gaps: list[tuple[int, int]]) -> list[Finding]:
    """Gaps and repeats in the resident's own numbers (``(seq, number)`` pairs), counting the
    numbers a gap of the log may have used as accounted for (:func:`_lost_findings` says them)."""
    findings: list[Finding] = []
    numbers = [n for _seq, n in numbering]
    seen = set(numbers)
    skipped = {n for first, last in _skipped(numbering, gaps) for n in range(first, last + 1)}
    for missing in sorted(set(range(max(numbers, default=-1) + 1)) - seen - skipped):
        findings.append(Finding(HistoryFindingKind.RESIDENT_SEQ_GAP, None, f"your access number {missing} is missing from the log",
                                {"number": missing}))  # fmt: skip
    if len(seen) != len(numbers):
        findings.append(
            Finding(HistoryFindingKind.RESIDENT_SEQ_REPEAT, None, "an access number of yours appears twice")
        )
    return findings


def _skipped(numbering: list[tuple[int, int]], gaps: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Per gap, the resident's own numbers (first, last) left for the events it lost: the log
    skips as many as the gap held, since any of them may have been the resident's."""
    ranges = []
    for start, end in gaps:
        before = sum(1 for seq, _n in numbering if seq < start)
        lost_before = sum(b - a for a, b in gaps if b <= start)
        first = before + lost_before
        ranges.append((first, first + end - start - 1))
    return ranges


def _lost_findings(log: AccessLog, numbering: list[tuple[int, int]]) -> list[Finding]:
    """One finding per gap of the log: which events were lost with which restore, and which
    of the resident's own numbers fall in it."""
    with log.store.session() as session:
        rows = session.execute(
            select(LogGap.start_seq, LogGap.end_seq, Restore.at)
            .join(Restore, Restore.id == LogGap.restore_id)
            .order_by(LogGap.start_seq)
        ).all()
    gaps = [(int(a), int(b)) for a, b, _at in rows]
    findings = []
    for (start, end, at), (first, last) in zip(rows, _skipped(numbering, gaps), strict=True):
        findings.append(Finding(
            HistoryFindingKind.ENTRIES_LOST, int(start),
            f"log entries #{start}..#{end - 1} were lost when the office restored its database from a backup; the "
            f"chain proves they existed, not whose they were: your access numbers {first}..{last} fall in that gap",
            {"first": int(start), "last": int(end) - 1, "restoredAt": int(at), "yourFirst": first, "yourLast": last},
        ))  # fmt: skip
    return findings


# -- files for the standalone verifier ------------------------------------------------------


def _deployment(ledger: Ledger) -> dict[str, Any]:
    return {"chainId": ledger.settings.chain_id, "contract": ledger.deployment.address("AccessLogAnchor")}


def proof_document(
    ledger: Ledger,
    seq: int,
    *,
    log: AccessLog | None = None,
    on: date | None = None,
    resident: str | None = None,
) -> dict[str, Any]:
    """One entry with its inclusion proof to the newest checkpoint on chain. With
    ``resident``, only an entry whose leaf is that resident's (else :class:`NotFoundError`,
    whatever the row's columns say)."""
    log = log or ledger.log
    event = log.event(seq) if resident is None else own_event(log, seq, resident)
    leaf = parse_leaf(event.leaf)
    checkpoint = anchored_checkpoint(ledger, log)
    if checkpoint is None or seq >= int(checkpoint["size"]):
        raise NotFoundError(f"access event #{seq} is not anchored yet; try again in a few seconds")
    resident = leaf.get("resident") if leaf else None
    tree = log.tree()
    log.fetch_subtrees(tree, [seq], int(checkpoint["size"]))
    reviewed = _reviewed_leaves(log, [leaf], str(resident)) if leaf else {}
    entry, _problem = _entry(event, leaf, reviewed, int(checkpoint["size"]), tree, on)
    return {"format": PROOF_FORMAT, **_deployment(ledger), "checkpoint": checkpoint, "entry": _entry_json(entry)}


def own_event(log: AccessLog, seq: int, resident: str) -> AccessEvent:
    """Access event #``seq`` when its leaf is ``resident``'s, whatever the row's columns say;
    else :class:`NotFoundError` (so ids cannot be probed)."""
    try:
        event = log.event(seq)
    except NotFoundError:
        event = None
    leaf = parse_leaf(event.leaf) if event is not None else None
    if event is None or leaf is None or leaf.get("resident") != resident or leaf.get("seq") != seq:
        raise NotFoundError(f"you have no access event #{seq}")
    return event


def organisation_leaf(stored: Any, justification: str | None, org_id: str) -> tuple[dict[str, Any], str | None] | None:
    """For an organisation's own history (a department's reads): the row's leaf when it is
    that organisation's, whatever the row's columns say, with the written reason only when
    it hashes to the leaf's; None when the leaf is another's or unreadable."""
    leaf = parse_leaf(stored)
    if leaf is None or str(leaf.get("organisation") or "").lower() != org_id.lower():
        return None
    if justification is not None and justification_hash(justification) != leaf.get("justificationHash"):
        justification = None
    return leaf, justification


def _entry_json(entry: Entry) -> dict[str, Any]:
    if entry.withheld:
        return {
            "seq": entry.seq, "residentSeq": entry.resident_seq, "leafHash": entry.leaf_hash,
            "disclosureDate": entry.disclose_on, "proof": entry.proof,
        }  # fmt: skip
    return {"seq": entry.seq, "leaf": entry.leaf, "proof": entry.proof}


@dataclass(frozen=True)
class Scope:
    """Which entries a bundle holds: any combination; dates are days in China time."""

    start: date | None = None
    end: date | None = None  # inclusive
    department: str | None = None  # organisation id
    resident: str | None = None  # address

    def json(self) -> dict[str, Any]:
        return {
            "from": self.start.isoformat() if self.start else None, "to": self.end.isoformat() if self.end else None,
            "department": self.department, "resident": self.resident,
        }  # fmt: skip

    def window_ms(self) -> tuple[int | None, int | None]:
        def at(day: date) -> int:
            return int(datetime(day.year, day.month, day.day, tzinfo=CHINA).timestamp() * 1000)

        low = at(self.start) if self.start else None
        high = at(date.fromordinal(self.end.toordinal() + 1)) if self.end else None
        return low, high


def bundle(ledger: Ledger, scope: Scope, signer: LocalAccount, *, log: AccessLog | None = None) -> dict[str, Any]:
    """Entries in ``scope`` with proofs to the newest checkpoint on chain, signed by
    ``signer`` (the installation's anchorer). When the bundle is a resident's, entries under
    legal hold are withheld (leaf hash only) and rows whose leaf is not the resident's are
    left out."""
    log = log or ledger.log
    checkpoint = anchored_checkpoint(ledger, log)
    if checkpoint is None:
        raise NotFoundError("nothing is anchored yet: start 'gridledger worker' and try again")
    size = int(checkpoint["size"])
    low, high = scope.window_ms()
    query = select(AccessEvent).where(AccessEvent.seq < size).order_by(AccessEvent.seq)
    if scope.resident:
        query = query.where(AccessEvent.resident == scope.resident)
    if scope.department:
        query = query.where(AccessEvent.organisation == scope.department)
    if low is not None:
        query = query.where(AccessEvent.time >= low)
    if high is not None:
        query = query.where(AccessEvent.time < high)
    if scope.start and scope.end and scope.end < scope.start:
        raise InputError("the end date is before the start date", code=Invalid.END_BEFORE_START, field="to")
    tree = log.tree()
    entries: list[dict[str, Any]] = []
    held: list[dict[str, Any]] = []
    with ledger.store.session() as session:
        events = list(session.scalars(query))
    for start in range(0, len(events), BUNDLE_FETCH):
        page = events[start : start + BUNDLE_FETCH]
        leaves = {e.seq: parse_leaf(e.leaf) for e in page}
        reviewed: dict[int, dict[str, Any]] = {}
        if scope.resident:
            page, _findings = _own_entries(page, leaves, scope.resident)
            reviewed = _reviewed_leaves(log, [leaves[e.seq] for e in page], scope.resident)
        log.fetch_subtrees(tree, [e.seq for e in page], size)
        for event in page:
            entry, _problem = _entry(
                event, leaves[event.seq], reviewed, size, tree, None if scope.resident else date.max
            )
            (held if entry.withheld else entries).append(_entry_json(entry))
    document = {
        "format": BUNDLE_FORMAT, **_deployment(ledger), "scope": scope.json(),
        "checkpoint": checkpoint, "entries": entries, "withheld": held, "signer": signer.address,
    }  # fmt: skip
    document["signature"] = formats.to_hex(
        signer.sign_message(encode_defunct(formats.canonical_json(document))).signature
    )
    return document
