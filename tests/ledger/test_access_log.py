"""The access log's store: canonical leaves, numbering, group commit, stored subtree
hashes, and roots and proofs that match the in-memory RFC 9162 tree."""

from __future__ import annotations

import json
import random
import threading

import pytest
import rfc8785
from sqlalchemy import create_engine, select

from ledger.accesslog import Draft, canonical_leaf
from ledger.context import Ledger
from ledger.errors import LedgerError, StoreError
from ledger.merkle import Frontier, MerkleTree, leaf_hash, verify_consistency, verify_inclusion
from ledger.store.models import AccessEvent

RESIDENTS = ["0x" + f"{i:040x}" for i in range(1, 8)]


def _draft(i: int, resident: str | None = None) -> Draft:
    return Draft(
        action="read", outcome="allowed" if i % 5 else "refused", resident=resident or RESIDENTS[i % len(RESIDENTS)],
        accessor="0x" + "ab" * 20, time=1_763_700_000_000 + i, record_id="0x" + f"{i:064x}", category="health",
        organisation="0x" + "cd" * 32, basis="grant", grant_id="0x" + "ef" * 32, purpose=2,
        reason=None if i % 5 else "no-active-grant", block=1000 + i,
    )  # fmt: skip


def test_canonical_leaf_is_rfc8785() -> None:
    rng = random.Random(7)
    for i in range(500):
        leaf = _draft(i).leaf(rng.randrange(2**40), rng.randrange(1000))
        assert canonical_leaf(leaf) == rfc8785.dumps(leaf)
    odd = _draft(1).leaf(1, 1)
    odd["category"] = "健康\n\u2028"  # never produced, but must still be canonical
    assert canonical_leaf(odd) == rfc8785.dumps(odd)
    odd["block"] = 2**60  # beyond JSON's safe integers: refused, as RFC 8785 refuses it
    with pytest.raises(LedgerError):
        canonical_leaf(odd)


def test_append_numbers_the_log_and_each_residents_entries(ledger: Ledger) -> None:
    log = ledger.log
    first = log.append([_draft(i) for i in range(20)])
    second = log.append([_draft(i) for i in range(20, 30)])
    assert [a.seq for a in first + second] == list(range(30))
    per_resident: dict[str, list[int]] = {}
    for a in first + second:
        leaf = json.loads(a.leaf)
        assert leaf["seq"] == a.seq and leaf_hash(a.leaf) == a.leaf_hash
        per_resident.setdefault(leaf["resident"], []).append(leaf["residentSeq"])
    assert all(numbers == list(range(len(numbers))) for numbers in per_resident.values())
    assert log.size() == 30


def test_size_and_leaf_are_read_together(ledger: Ledger) -> None:
    """What the anchoring health reads on every read, in one query: the recorded size and
    the leaf at a number (none past the end)."""
    log = ledger.log
    assert log.size_and_leaf(0) == (0, None)
    appended = log.append([_draft(i) for i in range(5)])
    assert log.size_and_leaf(2) == (5, appended[2].leaf)
    assert log.size_and_leaf(5) == (5, None)
    with ledger.store.engine.begin() as connection:  # an editor writes nonsense as the size
        connection.exec_driver_sql("UPDATE log_head SET size = 'five' WHERE id = 1")
    with pytest.raises(StoreError):
        log.size_and_leaf(0)


def test_group_commit_returns_only_durable_events_numbered_without_gaps(ledger: Ledger) -> None:
    log = ledger.log
    other = create_engine(ledger.store.engine.url)  # another connection sees only what is committed
    results: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def reader(worker: int) -> None:
        try:
            for i in range(40):
                appended = log.record(_draft(worker * 100 + i, RESIDENTS[worker % 3]))
                with other.connect() as connection:
                    found = connection.execute(
                        select(AccessEvent.leaf).where(AccessEvent.seq == appended.seq)
                    ).scalar_one()
                assert found == appended.leaf
                with lock:
                    results.append(appended.seq)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(w,)) for w in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.dispose()
    assert not errors
    assert sorted(results) == list(range(12 * 40))
    with ledger.store.session() as session:
        for resident in RESIDENTS[:3]:
            numbers = sorted(session.scalars(select(AccessEvent.resident_seq).where(AccessEvent.resident == resident)))
            assert numbers == list(range(len(numbers)))


def test_a_failed_commit_fails_every_waiter_of_its_batch(ledger: Ledger) -> None:
    log = ledger.log
    bad = _draft(1)
    bad.resident = None  # type: ignore[assignment]  # NOT NULL: the database refuses the batch
    with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises, it reaches the caller
        log.record(bad)
    assert log.size() == 0
    assert log.record(_draft(2)).seq == 0  # and the log carries on


def test_stored_subtrees_give_the_same_roots_and_proofs_as_the_tree_in_memory(ledger: Ledger) -> None:
    log = ledger.log
    hashes: list[bytes] = []
    frontier = Frontier()
    for start in range(0, 300, 37):
        appended = log.append([_draft(i) for i in range(start, min(start + 37, 300))])
        hashes += [a.leaf_hash for a in appended]
        log.extend(log.size() - 3 if log.size() > 40 else None)  # in uneven steps, as the worker does
    log.extend()
    memory = MerkleTree.of(hashes)
    stored = log.tree()
    for size in range(1, 301):
        frontier.append(hashes[size - 1])
        root = stored.root(size)
        assert root == memory.root(size) == frontier.root()
        index = (size * 7919) % size
        proof = stored.inclusion_proof(index, size)
        assert proof == memory.inclusion_proof(index, size)
        verify_inclusion(index, size, hashes[index], proof, root)
        if size > 1:
            old = (size * 31) % (size - 1) + 1
            consistency = stored.consistency_proof(old, size)
            verify_consistency(old, size, memory.root(old), root, consistency)
    assert log.hashed() == 300


def test_proofs_with_their_subtrees_fetched_in_bulk_equal_the_tree_in_memory(ledger: Ledger) -> None:
    log = ledger.log
    hashes = [a.leaf_hash for a in log.append([_draft(i) for i in range(300)])]
    log.extend()
    memory = MerkleTree.of(hashes)
    for size in (1, 2, 3, 7, 8, 9, 100, 255, 256, 257, 300):
        for index in {0, size // 3, size // 2, size - 1}:
            tree = log.tree()
            assert log.inclusion_proof(tree, index, size) == memory.inclusion_proof(index, size)
