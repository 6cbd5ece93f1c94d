"""The bridge over a log gap (ledger.loggap), without a chain: a log anchored at many sizes,
a restore holding its first N leaves, and after the bridge every proof the design promises
verifies against the full tree's roots, and the events it reports unprovable are exactly
those whose proofs cannot be built."""

from __future__ import annotations

import hashlib
import random

import pytest

from ledger.anchor import FRONTIER_TAG, AnchorCalls, AppendInput, decode_append
from ledger.errors import StoreError, VerificationError
from ledger.loggap import ChainCheckpoint, bridge
from ledger.merkle import (
    Frontier,
    MerkleTree,
    consistency_ranges,
    fold_frontier,
    frontier_parts,
    verify_consistency,
    verify_inclusion,
)


def _leaves(n: int) -> list[bytes]:
    return [hashlib.sha256(b"leaf %d" % i).digest() for i in range(n)]


def _anchored(full: MerkleTree, sizes: list[int], *, frontier: bool = True) -> tuple[list[ChainCheckpoint], dict]:
    """Checkpoints at ``sizes`` as AccessLogAnchor would hold them, with their inputs."""
    checkpoints, inputs, prev = [], {}, 0
    for index, size in enumerate(sizes):
        tx = f"0x{index:064x}"
        checkpoints.append(ChainCheckpoint(index, size, full.root(size), tx, 100 + index))
        proof = full.consistency_proof(prev, size) if prev else []
        inputs[tx] = AppendInput(size, full.root(size), proof, full.frontier(size) if frontier else None)
        prev = size
    return checkpoints, inputs


class _Restored:
    """The tree the restored database holds after the bridge: leaves before N and after M,
    the subtree hashes the bridge stored, nothing of the gap."""

    def __init__(self, leaves: list[bytes], n: int, m: int, nodes: dict[tuple[int, int], bytes]) -> None:
        self.leaves, self.n, self.m, self.nodes = leaves, n, m, nodes

    def tree(self, size: int) -> MerkleTree:
        def leaf(a: int, b: int) -> list[bytes]:
            out = []
            for i in range(a, b):
                if self.n <= i < self.m:
                    if (0, i) not in self.nodes:
                        raise StoreError(f"leaf {i} lost")
                    out.append(self.nodes[(0, i)])
                else:
                    out.append(self.leaves[i])
            return out

        return MerkleTree(leaf, lambda: size, lambda level, idx: self.nodes.get((level, idx)))


def _provable(tree: MerkleTree, index: int, size: int, root: bytes, leaf: bytes) -> bool:
    try:
        proof = tree.inclusion_proof(index, size)
    except StoreError:
        return False
    verify_inclusion(index, size, leaf, proof, root)  # a proof that is built must verify
    return True


def test_consistency_ranges_name_each_hash_of_a_proof() -> None:
    full = MerkleTree.of(_leaves(100))
    for m in range(1, 100):
        for n in (m + 1, m + 7, 100):
            if n > 100:
                continue
            proof = full.consistency_proof(m, n)
            ranges = consistency_ranges(m, n)
            assert [full.range_hash(a, b) for a, b in ranges] == proof, (m, n)


def test_frontier_folds_to_the_root_and_resumes_the_tree() -> None:
    leaves = _leaves(77)
    full = MerkleTree.of(leaves)
    for size in range(1, 70):
        parts = frontier_parts(size)
        assert sum(n for _s, n in parts) == size and len(parts) == bin(size).count("1")
        assert fold_frontier(full.frontier(size)) == full.root(size)
        resumed = Frontier.resume(size, full.frontier(size))
        for leaf in leaves[size:]:
            resumed.append(leaf)
        assert resumed.root() == full.root(77)


def test_append_carries_the_frontier_after_its_arguments() -> None:
    class _Contract:
        address = "0x" + "11" * 20
        abi = [{"type": "function", "name": "append", "inputs": [
            {"name": "newSize", "type": "uint64"}, {"name": "newRoot", "type": "bytes32"},
            {"name": "proof", "type": "bytes32[]"}]}]  # fmt: skip

    full = MerkleTree.of(_leaves(45))
    calls = AnchorCalls(_Contract())  # type: ignore[arg-type]
    plain = calls.append(45, full.root(45), full.consistency_proof(30, 45))
    carried = calls.append(45, full.root(45), full.consistency_proof(30, 45), full.frontier(45))
    assert carried.data.startswith(plain.data)  # the arguments are untouched: Solidity reads only them
    assert carried.data[len(plain.data) :] == FRONTIER_TAG + b"".join(full.frontier(45))
    decoded = decode_append(carried.data)
    assert decoded == AppendInput(45, full.root(45), full.consistency_proof(30, 45), full.frontier(45))
    assert decode_append(plain.data).frontier is None  # type: ignore[union-attr]
    assert decode_append(b"\x00" * 40) is None


CASES = [
    # (leaves in the full log, checkpoint sizes, restored N)
    (40, [5, 12, 20, 31, 40], 20),  # restored exactly at a checkpoint
    (40, [5, 12, 20, 31, 40], 23),  # a few events after the checkpoint the backup relied on
    (64, [16, 33, 64], 30),  # the last checkpoint a power of two
    (1030, [1000, 1020, 1030], 1010),  # the frontier's biggest subtree holds most of the restored log
    (57, [57], 30),  # no checkpoint before the gap: nothing restored is provable
    (300, [7, 64, 65, 129, 200, 255, 256, 299], 130),
]


@pytest.mark.parametrize(("total", "sizes", "n"), CASES)
def test_after_the_bridge_every_promised_proof_verifies(total: int, sizes: list[int], n: int) -> None:
    leaves = _leaves(total + 21)  # events after the restore continue the log at M
    full = MerkleTree.of(leaves)
    checkpoints, inputs = _anchored(full, sizes)
    found = bridge(n, lambda a, b: leaves[a:b], checkpoints, inputs)
    assert found is not None
    m = sizes[-1]
    p = max([s for s in sizes if s <= n], default=0)
    assert (found.start, found.end, found.previous) == (n, m, p)
    assert len(found.nodes) <= 2 * max(1, m.bit_length())  # a handful of hashes, however long the log
    restored = _Restored(leaves, n, m, found.nodes)
    for size in (m, m + 1, m + 20):
        tree, root = restored.tree(size), full.root(size)
        assert tree.root(size) == root  # the anchorer can prove the next checkpoint
        if size > m:
            verify_consistency(m, size, full.root(m), root, tree.consistency_proof(m, size))
        for index in range(size):
            if n <= index < m:
                continue  # lost
            provable = _provable(tree, index, size, root, leaves[index])
            expected = index < p or index >= m or index not in found.unprovable
            assert provable == expected, (size, index)
    assert set(found.unprovable) <= set(range(p, n))


def test_a_random_campaign_of_restores() -> None:
    rng = random.Random(20261215)
    for _ in range(40):
        total = rng.randint(2, 600)
        sizes = sorted(rng.sample(range(1, total + 1), rng.randint(1, min(12, total))))
        if sizes[-1] < 2:
            continue
        n = rng.randint(0, sizes[-1] - 1)
        leaves = _leaves(sizes[-1] + 5)
        full = MerkleTree.of(leaves)
        checkpoints, inputs = _anchored(full, sizes)
        found = bridge(n, lambda a, b, leaves=leaves: leaves[a:b], checkpoints, inputs)
        assert found is not None
        p = max([s for s in sizes if s <= n], default=0)
        tree = _Restored(leaves, n, sizes[-1], found.nodes).tree(sizes[-1] + 5)
        root = full.root(sizes[-1] + 5)
        for index in [*range(0, p, max(1, p // 20)), *range(sizes[-1], sizes[-1] + 5)]:
            assert _provable(tree, index, sizes[-1] + 5, root, leaves[index]), (total, sizes, n, index)


def test_the_bridge_refuses_what_does_not_check_out() -> None:
    leaves = _leaves(40)
    full = MerkleTree.of(leaves)
    checkpoints, inputs = _anchored(full, [12, 31, 40])
    assert bridge(40, lambda a, b: leaves[a:b], checkpoints, inputs) is None  # nothing lost
    bad = dict(inputs)
    last = checkpoints[-1].tx_hash
    bad[last] = AppendInput(40, full.root(40), inputs[last].proof, [bytes(32)] * len(frontier_parts(40)))
    with pytest.raises(VerificationError, match="does not fold"):
        bridge(20, lambda a, b: leaves[a:b], checkpoints, bad)
    old = dict(inputs)
    old[last] = AppendInput(40, full.root(40), inputs[last].proof, None)
    with pytest.raises(StoreError, match="carries no frontier"):
        bridge(20, lambda a, b: leaves[a:b], checkpoints, old)
    edited = list(leaves)
    edited[14] = bytes(32)  # a restored event the chain's proofs cover was altered
    with pytest.raises(VerificationError, match="restored events"):
        bridge(20, lambda a, b: edited[a:b], checkpoints, inputs)
