"""Calls to the AccessLogAnchor contract: checkpoints of the access log, each proven
consistent with the last by an RFC 9162 proof that the contract verifies itself.

Consensus-critical (the frontier after the arguments): each ``append`` transaction carries,
after its ABI-encoded arguments, the frontier of the new size (``FRONTIER_TAG`` and the
hashes of :func:`ledger.merkle.frontier_parts`, largest first). Solidity ignores calldata
past the arguments; the chain keeps it forever, so a database restored from a backup older
than the last checkpoint can go on numbering the log from that checkpoint
(:mod:`ledger.loggap`). ``docs/formats.md`` pins the layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

from .chain import Call, ContractCalls
from .merkle import HASH_SIZE, frontier_parts

GAS_DESIGNATE = 100_000
GAS_APPEND_BASE = 250_000  # measured: 95,818-99,426 for a first checkpoint (docs/benchmarks.md)
GAS_APPEND_PER_HASH = 10_000
#: Marks the frontier after ``append``'s arguments (version 1 of the layout).
FRONTIER_TAG = b"glf1"
APPEND_TYPES = ["uint64", "bytes32", "bytes32[]"]
APPEND_SELECTOR = keccak(text=f"append({','.join(APPEND_TYPES)})")[:4]


@dataclass(frozen=True)
class AppendInput:
    """An ``append`` transaction's input, decoded: the checkpoint, its consistency proof,
    and the frontier of ``size`` (None when the transaction carries none: an anchorer from
    before the layout, or anyone else's)."""

    size: int
    root: bytes
    proof: list[bytes]
    frontier: list[bytes] | None


def decode_append(data: bytes) -> AppendInput | None:
    """``data`` (a transaction's input) as an ``append`` call, or None when it is not one."""
    if data[:4] != APPEND_SELECTOR:
        return None
    try:
        size, root, proof = abi_decode(APPEND_TYPES, data[4:])
    except Exception:  # noqa: BLE001 - whatever eth-abi raises for bytes that are not the call
        return None
    head = 4 + len(abi_encode(APPEND_TYPES, [size, root, list(proof)]))
    tail = data[head:]
    count = len(frontier_parts(int(size)))
    frontier: list[bytes] | None = None
    if tail[: len(FRONTIER_TAG)] == FRONTIER_TAG and len(tail) == len(FRONTIER_TAG) + HASH_SIZE * count:
        body = tail[len(FRONTIER_TAG) :]
        frontier = [body[i : i + HASH_SIZE] for i in range(0, len(body), HASH_SIZE)]
    return AppendInput(int(size), bytes(root), [bytes(p) for p in proof], frontier)


class AnchorCalls(ContractCalls):
    def designate(self, anchorer: str, office: bytes) -> Call:
        return self._call(
            "designateAnchorer", [to_checksum_address(anchorer), office], GAS_DESIGNATE, "anchor.designate"
        )

    def remove(self, anchorer: str) -> Call:
        return self._call("removeAnchorer", [to_checksum_address(anchorer)], GAS_DESIGNATE, "anchor.remove")

    def append(self, size: int, root: bytes, proof: Sequence[bytes], frontier: Sequence[bytes] = ()) -> Call:
        """``append(size, root, proof)``, with the frontier of ``size`` after the arguments
        when given (the anchorer always gives it)."""
        gas = GAS_APPEND_BASE + GAS_APPEND_PER_HASH * len(proof)
        call = self._call("append", [size, root, list(proof)], gas, "anchor.append")
        if not frontier:
            return call
        if len(frontier) != len(frontier_parts(size)) or any(len(h) != HASH_SIZE for h in frontier):
            raise ValueError(f"a tree of size {size} has {len(frontier_parts(size))} frontier hashes of 32 bytes")
        tail = FRONTIER_TAG + b"".join(bytes(h) for h in frontier)
        return Call(call.to, call.data + tail, call.gas + 16 * len(tail), call.purpose)
