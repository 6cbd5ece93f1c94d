"""What residents and auditors are shown of the access log, with proofs.

* :func:`resident_history`: a resident's accesses newest first, each with its inclusion
  proof to the newest anchored checkpoint and that checkpoint's transaction; entries
  under legal hold as placeholders until their disclosure date; gaps in the resident's
  own sequence numbers as findings.
* :func:`proof_document` and :func:`bundle`: the files the standalone verifier
  (:mod:`ledger.verifier`) checks against the chain, with no database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from sqlalchemy import select

from . import formats
from .access import CHINA, today
from .accesslog import AccessLog
from .context import Ledger
from .errors import InputError, NotFoundError, StoreError
from .merkle import MerkleTree, leaf_hash
from .store.models import AccessEvent, LogCheckpoint

PROOF_FORMAT = "gridledger-proof/1"
BUNDLE_FORMAT = "gridledger-bundle/1"
#: Entries of a bundle whose proofs are fetched together.
BUNDLE_FETCH = 500


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

    @property
    def withheld(self) -> bool:
        return self.leaf is None


@dataclass(frozen=True)
class Finding:
    kind: str
    seq: int | None
    detail: str


@dataclass
class History:
    resident: str
    checkpoint: dict[str, Any] | None  # the anchored checkpoint every proof leads to
    entries: list[Entry] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    next_before: int | None = None  # pass as ``before`` for the next (older) page; None: no more


def checkpoint_json(row: LogCheckpoint) -> dict[str, Any]:
    return {
        "index": row.chain_index,
        "size": row.size,
        "root": row.root,
        "txHash": row.tx_hash,
        "block": row.block_number,
    }


def withheld(disclose_on: str | None, on: date | None = None) -> bool:
    return disclose_on is not None and date.fromisoformat(disclose_on) > (on or today())


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
    log = log or AccessLog(ledger.store)
    address = ledger.address_of(resident)
    anchored = log.anchored()
    tree = log.tree() if anchored else None
    history = History(address, checkpoint_json(anchored) if anchored else None)
    paged = limit is not None or before is not None or department is not None or category is not None
    fetch = None if limit is None else limit + 1
    events = log.events_of(address, limit=fetch, before=before, organisation=department, category=category)
    if limit is not None and len(events) > limit:
        events = events[:limit]
        history.next_before = events[-1].seq
    if anchored is not None and tree is not None:
        log.fetch_subtrees(tree, [e.seq for e in events if e.seq < anchored.size], anchored.size)
    for event in events:
        history.entries.append(_entry(event, anchored, tree, on))
    if paged:
        numbers = [] if log.numbering_intact(address) else log.resident_numbers(address)
        history.findings = _leaf_findings(events) + _numbering_findings(numbers)
    else:
        history.findings = _resident_findings(events)
    for entry in history.entries:
        if anchored is not None and entry.seq < anchored.size and entry.proof is None:
            history.findings.append(Finding(
                "proof-unavailable", entry.seq, "the log no longer holds what this entry's proof needs: it was altered"
            ))  # fmt: skip
    return history


def _entry(event: AccessEvent, anchored: LogCheckpoint | None, tree: MerkleTree | None, on: date | None) -> Entry:
    """An entry with its inclusion proof from ``tree`` (seeded with :meth:`AccessLog.fetch_subtrees`)."""
    leaf = bytes(event.leaf)
    proof = None
    if anchored is not None and tree is not None and event.seq < anchored.size:
        try:
            proof = [formats.to_hex(h) for h in tree.inclusion_proof(event.seq, anchored.size)]
        except StoreError:
            proof = None  # leaves it needs are gone: reported as a finding by resident_history
    hidden = withheld(event.disclose_on, on)
    return Entry(
        seq=event.seq, resident_seq=event.resident_seq, leaf=None if hidden else json.loads(leaf),
        leaf_hash=formats.to_hex(leaf_hash(leaf)), disclose_on=event.disclose_on, proof=proof,
        justification=None if hidden else event.justification,
    )  # fmt: skip


def _resident_findings(events: list[AccessEvent]) -> list[Finding]:
    """Gaps and repeats in the resident's own numbering, and leaves that disagree with
    their row (the leaf is the truth)."""
    numbers = [int(json.loads(bytes(e.leaf)).get("residentSeq", e.resident_seq)) for e in events]
    return _leaf_findings(events) + _numbering_findings(numbers)


def _leaf_findings(events: list[AccessEvent]) -> list[Finding]:
    findings: list[Finding] = []
    for event in events:
        leaf = json.loads(bytes(event.leaf))
        if leaf.get("resident") != event.resident or leaf.get("seq") != event.seq:
            findings.append(Finding("leaf-mismatch", event.seq, "the stored leaf belongs elsewhere in the log"))
        elif leaf.get("residentSeq") != event.resident_seq:
            findings.append(Finding("leaf-mismatch", event.seq, "the stored leaf carries another access number"))
    return findings


def _numbering_findings(numbers: list[int]) -> list[Finding]:
    findings: list[Finding] = []
    seen = set(numbers)
    for missing in sorted(set(range(max(numbers, default=-1) + 1)) - seen):
        findings.append(Finding("resident-seq-gap", None, f"your access number {missing} is missing from the log"))
    if len(seen) != len(numbers):
        findings.append(Finding("resident-seq-repeat", None, "an access number of yours appears twice"))
    return findings


# -- files for the standalone verifier ------------------------------------------------------


def _deployment(ledger: Ledger) -> dict[str, Any]:
    return {"chainId": ledger.settings.chain_id, "contract": ledger.deployment.address("AccessLogAnchor")}


def proof_document(ledger: Ledger, seq: int, *, log: AccessLog | None = None, on: date | None = None) -> dict[str, Any]:
    """One entry with its inclusion proof to the newest anchored checkpoint."""
    log = log or AccessLog(ledger.store)
    anchored = log.anchored()
    if anchored is None or seq >= anchored.size:
        raise NotFoundError(f"access event #{seq} is not anchored yet; try again in a few seconds")
    event = log.event(seq)
    tree = log.tree()
    log.fetch_subtrees(tree, [seq], anchored.size)
    entry = _entry(event, anchored, tree, on)
    return {
        "format": PROOF_FORMAT, **_deployment(ledger), "checkpoint": checkpoint_json(anchored),
        "entry": _entry_json(entry),
    }  # fmt: skip


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
    """Entries in ``scope`` with proofs to the newest anchored checkpoint, signed by
    ``signer`` (the installation's anchorer). Entries under legal hold are withheld
    (leaf hash only) when the bundle is a resident's."""
    log = log or AccessLog(ledger.store)
    anchored = log.anchored()
    if anchored is None:
        raise NotFoundError("nothing is anchored yet: start 'gridledger worker' and try again")
    low, high = scope.window_ms()
    query = select(AccessEvent).where(AccessEvent.seq < anchored.size).order_by(AccessEvent.seq)
    if scope.resident:
        query = query.where(AccessEvent.resident == scope.resident)
    if scope.department:
        query = query.where(AccessEvent.organisation == scope.department)
    if low is not None:
        query = query.where(AccessEvent.time >= low)
    if high is not None:
        query = query.where(AccessEvent.time < high)
    if scope.start and scope.end and scope.end < scope.start:
        raise InputError("the end date is before the start date", field="to")
    tree = log.tree()
    entries: list[dict[str, Any]] = []
    held: list[dict[str, Any]] = []
    with ledger.store.session() as session:
        events = list(session.scalars(query))
    for start in range(0, len(events), BUNDLE_FETCH):
        page = events[start : start + BUNDLE_FETCH]
        log.fetch_subtrees(tree, [e.seq for e in page], anchored.size)
        for event in page:
            entry = _entry(event, anchored, tree, None if scope.resident else date.max)
            (held if entry.withheld else entries).append(_entry_json(entry))
    document = {
        "format": BUNDLE_FORMAT, **_deployment(ledger), "scope": scope.json(),
        "checkpoint": checkpoint_json(anchored), "entries": entries, "withheld": held, "signer": signer.address,
    }  # fmt: skip
    document["signature"] = formats.to_hex(
        signer.sign_message(encode_defunct(formats.canonical_json(document))).signature
    )
    return document
