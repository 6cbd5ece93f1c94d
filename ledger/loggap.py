"""Resuming the access log after a restore: the gap, and the subtree hashes beside it.

Consensus-critical: what is computed here is stored as the log's subtree hashes, and every
proof made after a restore is built from it.

A database restored from a backup holds the first ``N`` events; the chain's last checkpoint
may cover ``M > N``. Events ``N..M-1`` are lost (their leaves lived only in the database), but
the log must go on at ``M`` — every number up to ``M`` is anchored — and the next checkpoint
must extend checkpoint ``M``. Extending a tree of size ``M`` needs only its frontier (the
hashes of :func:`ledger.merkle.frontier_parts`), which every ``append`` transaction carries
after its arguments (:mod:`ledger.anchor`): it proves every event after ``M``.

The events restored before the gap need more: their proofs to a checkpoint past the gap run
through subtrees that hold lost leaves. Let ``P`` be the last checkpoint size at or below
``N``. For an event before ``P``, the subtrees to its right that reach into the gap are the
right siblings of the ancestors of leaf ``P-1`` (and subtrees of the frontier of ``M``); the
consistency proofs of the checkpoints from ``P`` to ``M`` (in their transactions, verified by
the contract) name the hash of each of them, or of the pieces they are made of. So every
restored event before ``P`` stays provable. Events ``P..N-1`` (written after the last
checkpoint the backup could rely on, at most about one anchoring interval's worth) may need
subtrees no transaction names: those that do are reported as unprovable.

:func:`bridge` computes this from the chain's checkpoints and the restored leaves; the
restore stores it (``log_nodes`` and a ``log_gaps`` row) and ``gridledger verify log``
computes it again to check what is stored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from web3 import Web3

from . import formats
from .anchor import AppendInput, decode_append
from .chain import rpc
from .errors import NodeError, StoreError, VerificationError
from .merkle import MerkleTree, consistency_ranges, fold_frontier, frontier_parts, node_hash, verify_consistency

#: Transactions asked for in one JSON-RPC batch (within Besu's default limit of 1,024).
BATCH = 500


@dataclass(frozen=True)
class ChainCheckpoint:
    """A checkpoint as the chain's ``CheckpointAppended`` event has it."""

    index: int
    size: int
    root: bytes
    tx_hash: str
    block: int


@dataclass
class Bridge:
    """How the log resumes after a restore that holds ``start`` events when the chain has
    anchored ``end``: the events ``start..end-1`` are lost."""

    start: int
    end: int
    checkpoint: ChainCheckpoint  # the chain's checkpoint of size ``end``
    previous: int  # P: the last checkpoint size at or below ``start`` (0: none)
    frontier: list[bytes]  # of ``end``, largest subtree first
    #: (level, index) -> hash of the subtree [index·2^level, (index+1)·2^level): every one the
    #: proofs need that holds a lost leaf (the rest the restored leaves give).
    nodes: dict[tuple[int, int], bytes] = field(default_factory=dict)
    unprovable: list[int] = field(default_factory=list)  # restored events whose proofs need lost leaves

    @property
    def lost(self) -> int:
        return self.end - self.start


class _Lost(Exception):
    pass


def bridge(
    start: int,
    leaves: Callable[[int, int], Sequence[bytes]],
    checkpoints: Sequence[ChainCheckpoint],
    inputs: Mapping[str, AppendInput | None],
) -> Bridge | None:
    """The bridge over the gap after ``start`` restored events, or None when the chain has
    anchored no more than that. ``leaves(a, b)`` gives restored leaf hashes (asked only
    within ``[P, start)``); ``checkpoints`` are the chain's, in order; ``inputs`` the decoded
    ``append`` inputs of those after ``start``, by transaction hash. Raises
    :class:`VerificationError` when the chain's transactions do not check out, and
    :class:`StoreError` when the last checkpoint carries no frontier."""
    ordered = sorted(checkpoints, key=lambda c: c.index)
    after = [c for c in ordered if c.size > start]
    if not after:
        return None
    before = [c for c in ordered if c.size <= start]
    previous = before[-1] if before else None
    last = after[-1]
    known: dict[tuple[int, int], bytes] = {}
    prev_size, prev_root = (previous.size, previous.root) if previous else (0, b"")
    if prev_size:
        known[(0, prev_size)] = prev_root
    for checkpoint in after:
        found = inputs.get(checkpoint.tx_hash)
        if found is None or found.size != checkpoint.size or found.root != checkpoint.root:
            raise VerificationError(
                f"transaction {checkpoint.tx_hash} is not the append of checkpoint #{checkpoint.index}"
            )
        if prev_size:
            verify_consistency(prev_size, checkpoint.size, prev_root, checkpoint.root, found.proof)
            for span, value in zip(consistency_ranges(prev_size, checkpoint.size), found.proof, strict=True):
                known[span] = value
        known[(0, checkpoint.size)] = checkpoint.root
        prev_size, prev_root = checkpoint.size, checkpoint.root
    end = last.size
    found = inputs.get(last.tx_hash)
    frontier = None if found is None else found.frontier
    if frontier is None:
        raise StoreError(
            f"the chain's last checkpoint (#{last.index}, {end} events) carries no frontier (it was anchored by a "
            "gridledger from before backups), so the log cannot resume after it. Anchor once more with this version "
            "from the newest database that holds every event, or restore a backup taken after that checkpoint."
        )
    if fold_frontier(frontier) != last.root:
        raise VerificationError(f"the frontier in {last.tx_hash} does not fold to checkpoint #{last.index}'s root")
    parts = frontier_parts(end)
    for (part_start, n), value in zip(parts, frontier, strict=True):
        known[(part_start, part_start + n)] = value

    base = previous.size if previous else 0
    cache: dict[int, bytes] = {}

    def restored(a: int, b: int) -> bytes:
        missing = [i for i in range(a, b) if i not in cache]
        if missing:
            for offset, value in enumerate(leaves(missing[0], b)):
                cache[missing[0] + offset] = bytes(value)
        return MerkleTree.of([cache[i] for i in range(a, b)]).root()

    def h(a: int, b: int) -> bytes:
        if (a, b) in known:
            return known[(a, b)]
        if b <= start:
            value = restored(a, b)
        elif b - a == 1:
            raise _Lost
        else:
            k = 1 << ((b - a - 1).bit_length() - 1)
            value = node_hash(h(a, a + k), h(a + k, b))
        known[(a, b)] = value
        return value

    # Where the chain names a subtree of the restored events, they must give it.
    for (a, b), value in list(known.items()):
        if base <= a and b <= start and restored(a, b) != value:
            raise VerificationError(f"the restored events [{a}, {b}) do not give the chain's subtree hash")
    result = Bridge(start, end, last, base, list(frontier))
    for (part_start, n), value in zip(parts, frontier, strict=True):
        if part_start + n > start:
            result.nodes[(n.bit_length() - 1, part_start >> (n.bit_length() - 1))] = value
    if base:
        for level, (a, b) in _right_siblings(base - 1, end):
            if b > start:
                try:
                    result.nodes[(level, a >> level)] = h(a, b)
                except _Lost as exc:  # the proofs above say this cannot happen
                    raise VerificationError(f"the chain's proofs do not give subtree [{a}, {b})") from exc
    for seq in range(base, start):
        try:
            for _level, (a, b) in _right_siblings(seq, end):
                if b > start:
                    h(a, b)
        except _Lost:
            result.unprovable.append(seq)
    return result


def _right_siblings(seq: int, end: int) -> list[tuple[int, tuple[int, int]]]:
    """The complete subtrees ``(level, [a, b))`` to the right of leaf ``seq``'s ancestors that
    end by ``end``: the ones of its inclusion proofs that a tree of any size past ``end``
    shares (those reaching past ``end`` are made of the frontier of ``end`` and later leaves)."""
    found: list[tuple[int, tuple[int, int]]] = []
    level = 0
    while (1 << level) <= end:
        ancestor = seq >> level
        if ancestor % 2 == 0:
            a, b = (ancestor + 1) << level, (ancestor + 2) << level
            if b <= end:
                found.append((level, (a, b)))
        level += 1
    return found


# -- from the chain --------------------------------------------------------------------------


def chain_checkpoints(events: Sequence[Any]) -> list[ChainCheckpoint]:
    """The checkpoints among decoded events (:class:`ledger.projections.Event`), in order."""
    found = [
        ChainCheckpoint(int(e.args["index"]), int(e.args["size"]), formats.from_hex(e.args["root"]),
                        str(e.tx_hash).lower(), int(e.block_number))  # fmt: skip
        for e in events
        if e.contract == "AccessLogAnchor" and e.name == "CheckpointAppended"
    ]
    return sorted(found, key=lambda c: c.index)


def append_inputs(w3: Web3, tx_hashes: Sequence[str], anchor: str) -> dict[str, AppendInput | None]:
    """The decoded input of each transaction (None when it is no direct ``append`` to
    ``anchor``), asked in batches."""
    found: dict[str, AppendInput | None] = {}
    wanted = list(dict.fromkeys(h.lower() for h in tx_hashes))
    for offset in range(0, len(wanted), BATCH):
        chunk = wanted[offset : offset + BATCH]
        try:
            replies = cast(Any, w3.provider).make_batch_request([("eth_getTransactionByHash", [h]) for h in chunk])
        except Exception as exc:  # noqa: BLE001 - transport failure
            raise NodeError(f"the node did not answer for {len(chunk)} checkpoint transactions: {exc}") from exc
        if isinstance(replies, dict):
            raise NodeError(f"the node refused a batch request: {replies.get('error')}")
        by_id = sorted(replies, key=lambda r: r["id"]) if all("id" in r for r in replies) else list(replies)
        for tx_hash, reply in zip(chunk, by_id, strict=True):
            tx = reply.get("result")
            if not tx or str(tx.get("to") or "").lower() != anchor.lower():
                found[tx_hash] = None
                continue
            found[tx_hash] = decode_append(bytes.fromhex(str(tx["input"])[2:]))
    return found


def anchored_events(w3: Web3, decode: Callable[[dict[str, Any]], Any], anchor: str, start_block: int,
                    window: int) -> list[Any]:  # fmt: skip
    """AccessLogAnchor's events read afresh from the chain in bounded windows (decoded by
    ``decode``, the indexer's decoder)."""
    head = int(rpc(w3, "eth_blockNumber", []), 16)
    events: list[Any] = []
    for first in range(start_block, head + 1, window):
        logs = rpc(w3, "eth_getLogs", [{"address": anchor, "fromBlock": hex(first),
                                        "toBlock": hex(min(first + window - 1, head))}])  # fmt: skip
        events.extend(e for e in (decode(log) for log in logs if not log.get("removed")) if e is not None)
    return events
