"""RFC 9162 Merkle trees over the access log: hashes, roots, inclusion and consistency proofs.

Consensus-critical: AccessLogAnchor verifies these proofs on chain, and residents and
auditors verify them offline. SHA-256; ``leaf = H(0x00 ‖ data)``, ``node = H(0x01 ‖ l ‖ r)``;
the empty tree's root is ``H("")``. Verification follows transparency-dev/merkle's
``proof/verify.go`` and passes its test vectors (``tests/vectors/rfc9162``), which also
refuse a consistency check from size 0 (the first checkpoint of a log needs none);
generation follows RFC 9162 §2.1.3 (PATH) and §2.1.4 (SUBPROOF).

Verifiers return nothing and raise :class:`VerificationError` on failure.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from .errors import VerificationError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """The largest power of two strictly less than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """An append-only tree over leaf hashes, with roots and proofs for any past size.

    ``leaves(start, end)`` supplies leaf hashes (from memory or the database). Hashes of
    complete, aligned subtrees never change in an append-only log, so they are memoised,
    and ``stored(level, index)`` may supply them from elsewhere (the ``log_nodes`` table):
    the hash of leaves ``[index·2^level, (index+1)·2^level)``, or None when unknown.
    """

    def __init__(
        self,
        leaves: Callable[[int, int], Sequence[bytes]],
        size: Callable[[], int],
        stored: Callable[[int, int], bytes | None] | None = None,
    ) -> None:
        self._leaves = leaves
        self._size = size
        self._stored = stored
        self._complete: dict[tuple[int, int], bytes] = {}

    @classmethod
    def of(cls, leaf_hashes: list[bytes]) -> MerkleTree:
        """A tree over an in-memory list (which may keep growing)."""
        return cls(lambda start, end: leaf_hashes[start:end], lambda: len(leaf_hashes))

    @property
    def size(self) -> int:
        return self._size()

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        self._check_size(size)
        return EMPTY_ROOT if size == 0 else self._hash(0, size)

    def remember(self, start: int, n: int, value: bytes) -> None:
        """Seeds the hash of the complete subtree of ``n`` leaves from ``start`` (fetched in
        bulk by a caller that knows which ones a proof needs: see :func:`proof_subtrees`)."""
        self._complete[(start, n)] = value

    def _hash(self, start: int, end: int) -> bytes:
        """MTH of leaves [start, end); memoised when the range is a complete aligned subtree."""
        n = end - start
        complete = n & (n - 1) == 0
        if complete and (start, n) in self._complete:
            return self._complete[(start, n)]
        if n == 1:
            return bytes(self._leaves(start, end)[0])
        if complete and self._stored is not None:
            level = n.bit_length() - 1
            found = self._stored(level, start >> level)
            if found is not None:
                self._complete[(start, n)] = found
                return found
        k = _largest_power_of_two_below(n)
        value = node_hash(self._hash(start, start + k), self._hash(start + k, end))
        if complete:
            self._complete[(start, n)] = value
        return value

    def range_hash(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for a range the tree's own splits produce (a complete, aligned
        subtree, or the right edge ``[start, size)`` of a tree whose ``start`` is one)."""
        if not 0 <= start < end <= self.size:
            raise VerificationError(f"range [{start}, {end}) is outside the log's 0..{self.size}")
        return self._hash(start, end)

    def frontier(self, size: int | None = None) -> list[bytes]:
        """The hashes of the complete subtrees of a tree of ``size``, largest (leftmost)
        first (:func:`frontier_parts`): all it takes to extend that tree."""
        size = self.size if size is None else size
        self._check_size(size)
        return [self._hash(start, start + n) for start, n in frontier_parts(size)]

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[0:size]) of RFC 9162 §2.1.3.1."""
        size = self.size if size is None else size
        self._check_size(size)
        if not 0 <= index < size:
            raise VerificationError(f"leaf index {index} is outside a tree of size {size}")
        proof: list[bytes] = []
        start, end, m = 0, size, index
        while end - start > 1:
            k = _largest_power_of_two_below(end - start)
            if m < k:
                proof.append(self._hash(start + k, end))
                end = start + k
            else:
                proof.append(self._hash(start, start + k))
                start, m = start + k, m - k
        proof.reverse()
        return proof

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """PROOF(size1, D[0:size2]) of RFC 9162 §2.1.4.1."""
        size2 = self.size if size2 is None else size2
        self._check_size(size2)
        if not 0 <= size1 <= size2:
            raise VerificationError(f"cannot prove size {size1} consistent with size {size2}")
        if size1 == 0 or size1 == size2:
            return []
        proof: list[bytes] = []
        start, end, m, complete = 0, size2, size1, True
        while True:
            n = end - start
            if m == n:
                if not complete:
                    proof.append(self._hash(start, end))
                break
            k = _largest_power_of_two_below(n)
            if m <= k:
                proof.append(self._hash(start + k, end))
                end = start + k
            else:
                proof.append(self._hash(start, start + k))
                start, m, complete = start + k, m - k, False
        proof.reverse()
        return proof

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise VerificationError(f"tree size {size} is outside the log's 0..{self.size}")


def proof_subtrees(index: int, size: int) -> list[tuple[int, int]]:
    """The complete, aligned subtrees ``(start, n)`` whose hashes make up the inclusion
    proof of leaf ``index`` in a tree of ``size``: what to fetch before proving."""
    parts: list[tuple[int, int]] = []
    start, end, m = 0, size, index
    while end - start > 1:
        k = _largest_power_of_two_below(end - start)
        if m < k:
            parts += _complete_parts(start + k, end)
            end = start + k
        else:
            parts.append((start, k))
            start, m = start + k, m - k
    return parts


def frontier_parts(size: int) -> list[tuple[int, int]]:
    """The complete subtrees ``(start, n)`` a tree of ``size`` decomposes into, left to right:
    one per set bit of ``size``, largest first. Their hashes are the tree's frontier: they fold
    (:func:`fold_frontier`) to its root, and every inclusion proof of a leaf at or after
    ``size`` and every consistency proof from a size at or after it needs, of the leaves
    before ``size``, nothing else."""
    return _complete_parts(0, size)


def fold_frontier(hashes: Sequence[bytes]) -> bytes:
    """The root of a tree from its frontier (largest subtree first): ``node(F1, node(F2, …))``."""
    if not hashes:
        return EMPTY_ROOT
    value = hashes[-1]
    for h in reversed(hashes[:-1]):
        value = node_hash(h, value)
    return value


def consistency_ranges(size1: int, size2: int) -> list[tuple[int, int]]:
    """The leaf ranges ``[start, end)`` whose hashes make up PROOF(size1, D[0:size2]), in the
    proof's order (the generation in :meth:`MerkleTree.consistency_proof`, ranges instead of
    hashes). A verified proof thus tells the hash of each range: how a restore learns the
    subtrees beside leaves it lost (``docs/decisions.md``)."""
    if not 0 < size1 < size2:
        return []
    ranges: list[tuple[int, int]] = []
    start, end, m, complete = 0, size2, size1, True
    while True:
        n = end - start
        if m == n:
            if not complete:
                ranges.append((start, end))
            break
        k = _largest_power_of_two_below(n)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start, m, complete = start + k, m - k, False
    ranges.reverse()
    return ranges


def _complete_parts(start: int, end: int) -> list[tuple[int, int]]:
    """[start, end) as the complete subtrees MTH splits it into, left to right."""
    parts: list[tuple[int, int]] = []
    while start < end:
        n = end - start
        if n & (n - 1) == 0:
            parts.append((start, n))
            break
        k = _largest_power_of_two_below(n)
        parts.append((start, k))
        start += k
    return parts


# -- verification (transparency-dev/merkle proof/verify.go) ---------------------------------


def _decompose(index: int, size: int) -> tuple[int, int]:
    inner = (index ^ (size - 1)).bit_length()
    border = bin(index >> inner).count("1")
    return inner, border


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, h in enumerate(proof):
        seed = node_hash(seed, h) if (index >> i) & 1 == 0 else node_hash(h, seed)
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, h in enumerate(proof):
        if (index >> i) & 1 == 1:
            seed = node_hash(h, seed)
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    for h in proof:
        seed = node_hash(h, seed)
    return seed


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    if index >= size:
        raise VerificationError(f"leaf index {index} is beyond tree size {size}")
    if len(leaf) != HASH_SIZE:
        raise VerificationError(f"leaf hash has {len(leaf)} bytes, expected {HASH_SIZE}")
    inner, border = _decompose(index, size)
    if len(proof) != inner + border:
        raise VerificationError(f"inclusion proof has {len(proof)} hashes, expected {inner + border}")
    return _chain_border_right(_chain_inner(leaf, proof[:inner], index), proof[inner:])


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Checks that ``leaf`` (a leaf hash) is at ``index`` of the tree of ``size`` with ``root``."""
    if root_from_inclusion_proof(index, size, leaf, proof) != root:
        raise VerificationError("the inclusion proof leads to another root")


def verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]) -> None:
    """Checks that the tree of ``size2`` with ``root2`` extends the one of ``size1`` with ``root1``."""
    if size2 < size1:
        raise VerificationError(f"size2 ({size2}) is smaller than size1 ({size1})")
    if size1 == 0:
        raise VerificationError("a consistency proof from the empty tree proves nothing: every tree extends it")
    if size1 == size2:
        if proof:
            raise VerificationError("equal sizes need an empty proof")
        if root1 != root2:
            raise VerificationError("equal sizes but different roots")
        return
    if not proof:
        raise VerificationError("empty consistency proof")
    inner, border = _decompose(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1
    inner -= shift
    seed, start = proof[0], 1
    if size1 == 1 << shift:
        seed, start = root1, 0
    if len(proof) != start + inner + border:
        raise VerificationError(f"consistency proof has {len(proof)} hashes, expected {start + inner + border}")
    rest = proof[start:]
    mask = (size1 - 1) >> shift
    hash1 = _chain_border_right(_chain_inner_right(seed, rest[:inner], mask), rest[inner:])
    if hash1 != root1:
        raise VerificationError("the consistency proof does not lead to the first root")
    hash2 = _chain_border_right(_chain_inner(seed, rest[:inner], mask), rest[inner:])
    if hash2 != root2:
        raise VerificationError("the consistency proof does not lead to the second root")


class Frontier:
    """The right edge of a growing tree: one complete subtree per set bit of its size.

    Appending is O(1) amortised and the root of the leaves so far is O(log n), so
    roots at many sizes come out of one pass over the leaves (how the audit checks every
    anchored checkpoint against the database)."""

    def __init__(self) -> None:
        self.size = 0
        self._levels: dict[int, bytes] = {}

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Adds a leaf; returns the complete subtrees it closes as ``(level, index, hash)``
        (subtree ``index`` of ``level`` covers leaves ``[index·2^level, (index+1)·2^level)``),
        the ones ``log_nodes`` stores."""
        value, level = leaf, 0
        closed: list[tuple[int, int, bytes]] = []
        while level in self._levels:
            value = node_hash(self._levels.pop(level), value)
            level += 1
            closed.append((level, ((self.size + 1) >> level) - 1, value))
        self._levels[level] = value
        self.size += 1
        return closed

    @classmethod
    def resume(cls, size: int, hashes: Sequence[bytes]) -> Frontier:
        """The right edge of a tree of ``size`` from its frontier (:func:`frontier_parts`,
        largest first), without its leaves: appending goes on from there."""
        parts = frontier_parts(size)
        if len(hashes) != len(parts):
            raise VerificationError(f"a tree of size {size} has {len(parts)} frontier hashes; {len(hashes)} given")
        frontier = cls()
        frontier.size = size
        for (_start, n), value in zip(parts, hashes, strict=True):
            frontier._levels[n.bit_length() - 1] = bytes(value)
        return frontier

    def hashes(self) -> list[bytes]:
        """The frontier's hashes, largest subtree first (as :func:`frontier_parts` orders them)."""
        return [self._levels[level] for level in sorted(self._levels, reverse=True)]

    def last(self) -> bytes | None:
        """The smallest complete subtree (the newest leaf's, when the size is odd)."""
        return self._levels[min(self._levels)] if self._levels else None

    def root(self) -> bytes:
        if self.size == 0:
            return EMPTY_ROOT
        levels = sorted(self._levels)
        value = self._levels[levels[0]]
        for level in levels[1:]:
            value = node_hash(self._levels[level], value)
        return value
