"""RFC 9162 Merkle trees: every transparency-dev/merkle vector, and proofs for every
tree size 1..300 made here and checked here (and tampered with)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from ledger.errors import VerificationError
from ledger.merkle import EMPTY_ROOT, MerkleTree, leaf_hash, verify_consistency, verify_inclusion

VECTORS = Path(__file__).parents[1] / "vectors" / "rfc9162"


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def _vectors(kind: str) -> list[Any]:
    return [
        pytest.param(json.loads(p.read_text()), id=str(p.relative_to(VECTORS / kind)))
        for p in sorted((VECTORS / kind).rglob("*.json"))
    ]


@pytest.mark.parametrize("vector", _vectors("inclusion"))
def test_inclusion_vectors(vector: dict[str, Any]) -> None:
    args = (
        vector["leafIdx"],
        vector["treeSize"],
        _b64(vector["leafHash"]),
        [_b64(p) for p in vector["proof"] or []],
        _b64(vector["root"]),
    )
    if vector["wantErr"]:
        with pytest.raises(VerificationError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("vector", _vectors("consistency"))
def test_consistency_vectors(vector: dict[str, Any]) -> None:
    args = (
        vector["size1"],
        vector["size2"],
        _b64(vector["root1"]),
        _b64(vector["root2"]),
        [_b64(p) for p in vector["proof"] or []],
    )
    if vector["wantErr"]:
        with pytest.raises(VerificationError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


def test_the_vectors_were_all_read() -> None:
    assert len(_vectors("inclusion")) + len(_vectors("consistency")) == len(list(VECTORS.rglob("*.json"))) > 150


LEAVES = [leaf_hash(f"event {i}".encode()) for i in range(300)]


def _naive_root(hashes: list[bytes]) -> bytes:
    from ledger.merkle import node_hash

    if not hashes:
        return EMPTY_ROOT
    if len(hashes) == 1:
        return hashes[0]
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    return node_hash(_naive_root(hashes[:k]), _naive_root(hashes[k:]))


def test_proofs_for_every_tree_size_up_to_300() -> None:
    tree = MerkleTree.of(LEAVES)
    roots = [tree.root(n) for n in range(301)]
    assert roots[0] == EMPTY_ROOT
    for size in range(1, 301):
        assert roots[size] == _naive_root(LEAVES[:size])
        for index in {0, size // 3, size // 2, size - 1}:
            verify_inclusion(index, size, LEAVES[index], tree.inclusion_proof(index, size), roots[size])
        for size1 in {1, size // 2, size - 1, size}:
            if size1:
                verify_consistency(size1, size, roots[size1], roots[size], tree.consistency_proof(size1, size))


def test_every_leaf_of_one_tree_and_every_consistency_pair_up_to_64() -> None:
    tree = MerkleTree.of(LEAVES[:64])
    for size in range(1, 65):
        for index in range(size):
            verify_inclusion(index, size, LEAVES[index], tree.inclusion_proof(index, size), tree.root(size))
        for size1 in range(1, size + 1):
            verify_consistency(size1, size, tree.root(size1), tree.root(size), tree.consistency_proof(size1, size))


def test_tampered_proofs_are_rejected() -> None:
    tree = MerkleTree.of(LEAVES[:77])
    proof = tree.inclusion_proof(40, 77)
    flipped = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
    for bad in (flipped, proof[:-1], [*proof, proof[0]]):
        with pytest.raises(VerificationError):
            verify_inclusion(40, 77, LEAVES[40], bad, tree.root(77))
    with pytest.raises(VerificationError):
        verify_inclusion(41, 77, LEAVES[40], proof, tree.root(77))  # another position
    consistency = tree.consistency_proof(33, 77)
    with pytest.raises(VerificationError):
        verify_consistency(33, 77, tree.root(33), tree.root(76), consistency)  # a rewritten head
    with pytest.raises(VerificationError):
        verify_consistency(34, 77, tree.root(34), tree.root(77), consistency)  # wrong size


def test_a_growing_log_keeps_old_roots_and_proofs() -> None:
    leaves: list[bytes] = []
    tree = MerkleTree.of(leaves)
    leaves.extend(LEAVES[:10])
    root10 = tree.root()
    leaves.extend(LEAVES[10:25])
    assert tree.root(10) == root10 and tree.size == 25
    verify_consistency(10, 25, root10, tree.root(), tree.consistency_proof(10))
    with pytest.raises(VerificationError):
        tree.root(26)


def test_a_consistency_check_from_the_empty_tree_is_refused() -> None:
    tree = MerkleTree.of(LEAVES[:5])
    with pytest.raises(VerificationError, match="empty tree"):
        verify_consistency(0, 5, EMPTY_ROOT, tree.root(), [])
