"""Calls to the AccessLogAnchor contract: checkpoints of the access log, each proven
consistent with the last by an RFC 9162 proof that the contract verifies itself."""

from __future__ import annotations

from collections.abc import Sequence

from eth_utils import to_checksum_address

from .chain import Call, ContractCalls

GAS_DESIGNATE = 100_000
GAS_APPEND_BASE = 250_000  # measured: 115,890 for a first checkpoint (three fresh slots)
GAS_APPEND_PER_HASH = 10_000


class AnchorCalls(ContractCalls):
    def designate(self, anchorer: str, office: bytes) -> Call:
        return self._call(
            "designateAnchorer", [to_checksum_address(anchorer), office], GAS_DESIGNATE, "anchor.designate"
        )

    def remove(self, anchorer: str) -> Call:
        return self._call("removeAnchorer", [to_checksum_address(anchorer)], GAS_DESIGNATE, "anchor.remove")

    def append(self, size: int, root: bytes, proof: Sequence[bytes]) -> Call:
        gas = GAS_APPEND_BASE + GAS_APPEND_PER_HASH * len(proof)
        return self._call("append", [size, root, list(proof)], gas, "anchor.append")
