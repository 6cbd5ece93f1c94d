// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {Panic} from "@openzeppelin/contracts/utils/Panic.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IAccessLogAnchor} from "./IAccessLogAnchor.sol";
import {IMembership} from "./IMembership.sol";

/// @title AccessLogAnchor
/// @notice Append-only checkpoints of the access log, each proven consistent with the
///         one before by an RFC 9162 consistency proof checked on chain.
/// @dev The verification is transparency-dev/merkle's `VerifyConsistency`, as in
///      `ledger/merkle.py`, with `sha256` (the precompile at address 0x02).
///
///      Storage: a checkpoint takes two fresh slots, its root and one slot that the compiler
///      packs from size (56 bits), anchoredAt (40 bits) and anchorer (160 bits); the ABI's
///      `Checkpoint` widens them back. One more slot, `_head`, holds the count and the last
///      size, so an append reads the previous checkpoint's size without touching its slots.
contract AccessLogAnchor is IAccessLogAnchor {
    /// @dev The largest size a checkpoint can store (56 bits: 7.2e16 events).
    uint64 private constant _MAX_SIZE = type(uint56).max;

    struct Stored {
        bytes32 root;
        uint56 size;
        uint40 anchoredAt; // block timestamp; 40 bits last until the year 36812
        address anchorer;
    }

    struct Head {
        uint64 count;
        uint56 size; // of checkpoint count - 1; 0 before the first
    }

    IMembership private immutable _membership;
    Head private _head;
    mapping(uint256 index => Stored) private _checkpoints;
    mapping(address anchorer => bytes32 officeId) private _anchorers;

    /// @param membership_ the Membership contract that says who administers an office.
    constructor(IMembership membership_) {
        _membership = membership_;
    }

    /// @inheritdoc IAccessLogAnchor
    function membership() external view returns (IMembership) {
        return _membership;
    }

    /// @inheritdoc IAccessLogAnchor
    function designateAnchorer(address anchorer, bytes32 officeId) external {
        if (anchorer == address(0)) revert AccessLogAnchorZeroAddress();
        if (
            _membership.organisation(officeId).kind != IMembership.OrgKind.Office
                || !_membership.isOfficeAdminFor(msg.sender, officeId)
        ) revert AccessLogAnchorUnauthorized(msg.sender, officeId);
        _anchorers[anchorer] = officeId;
        emit AnchorerDesignated(anchorer, officeId, msg.sender);
    }

    /// @inheritdoc IAccessLogAnchor
    function removeAnchorer(address anchorer) external {
        bytes32 officeId = _anchorers[anchorer];
        if (officeId == bytes32(0)) revert AccessLogAnchorNotAnchorer(anchorer);
        if (!_membership.isOfficeAdminFor(msg.sender, officeId)) revert AccessLogAnchorUnauthorized(msg.sender, officeId);
        delete _anchorers[anchorer];
        emit AnchorerRemoved(anchorer, officeId, msg.sender);
    }

    /// @inheritdoc IAccessLogAnchor
    function append(uint64 newSize, bytes32 newRoot, bytes32[] calldata proof) external {
        if (_anchorers[msg.sender] == bytes32(0)) revert AccessLogAnchorNotAnchorer(msg.sender);
        Head memory head = _head;
        uint64 size = head.size;
        if (newSize <= size) revert AccessLogAnchorNotGrowing(size, newSize);
        if (newSize > _MAX_SIZE) revert AccessLogAnchorSizeTooLarge(newSize, _MAX_SIZE);
        if (size == 0) {
            // Every tree extends the empty one: the first checkpoint needs no proof.
            if (proof.length != 0) revert AccessLogAnchorProofLength(proof.length, 0);
        } else {
            _verifyConsistency(size, newSize, _checkpoints[head.count - 1].root, newRoot, proof);
        }
        // newSize <= _MAX_SIZE, checked above: the narrowing keeps every bit.
        _checkpoints[head.count] =
            Stored({root: newRoot, size: uint56(newSize), anchoredAt: _now(), anchorer: msg.sender});
        _head = Head({count: head.count + 1, size: uint56(newSize)});
        emit CheckpointAppended(head.count, newSize, newRoot, msg.sender);
    }

    /// @inheritdoc IAccessLogAnchor
    function latest() external view returns (Checkpoint memory checkpoint, uint256 count) {
        count = _head.count;
        if (count > 0) checkpoint = _checkpoint(count - 1);
    }

    /// @inheritdoc IAccessLogAnchor
    function checkpointAt(uint256 index) external view returns (Checkpoint memory) {
        // As an array would: an index past the end panics (0x32), it does not read zeros.
        if (index >= _head.count) Panic.panic(Panic.ARRAY_OUT_OF_BOUNDS);
        return _checkpoint(index);
    }

    /// @inheritdoc IAccessLogAnchor
    function anchorerOffice(address anchorer) external view returns (bytes32) {
        return _anchorers[anchorer];
    }

    // --------------------------------------------------------------------- internal

    /// @dev The block's timestamp in the 40 bits a checkpoint stores; reverts past them.
    function _now() internal view virtual returns (uint40) {
        return SafeCast.toUint40(block.timestamp);
    }

    /// @dev Checkpoint `index` (below the count) as the ABI returns it, widened from storage.
    function _checkpoint(uint256 index) private view returns (Checkpoint memory) {
        Stored storage stored = _checkpoints[index];
        return Checkpoint({
            size: stored.size,
            root: stored.root,
            anchoredAt: stored.anchoredAt,
            anchorer: stored.anchorer
        });
    }

    /// @dev 0 < size1 < size2 here; reverts unless `proof` leads from root1 to both roots.
    function _verifyConsistency(uint64 size1, uint64 size2, bytes32 root1, bytes32 root2, bytes32[] calldata proof)
        private
        view
    {
        if (proof.length == 0) revert AccessLogAnchorProofLength(0, 1);
        (uint256 inner, uint256 border) = _decompose(size1 - 1, size2);
        uint256 shift = _trailingZeros(size1);
        inner -= shift;
        bytes32 seed = proof[0];
        uint256 start = 1;
        if (uint256(size1) == uint256(1) << shift) {
            seed = root1;
            start = 0;
        }
        if (proof.length != start + inner + border) revert AccessLogAnchorProofLength(proof.length, start + inner + border);
        uint64 mask = (size1 - 1) >> shift;
        bytes32 hash1 = seed;
        bytes32 hash2 = seed;
        for (uint256 i = 0; i < inner; ++i) {
            bytes32 h = proof[start + i];
            if ((mask >> i) & 1 == 1) {
                hash1 = _node(h, hash1);
                hash2 = _node(h, hash2);
            } else {
                hash2 = _node(hash2, h);
            }
        }
        for (uint256 i = start + inner; i < proof.length; ++i) {
            hash1 = _node(proof[i], hash1);
            hash2 = _node(proof[i], hash2);
        }
        if (hash1 != root1 || hash2 != root2) revert AccessLogAnchorInconsistent(size1, size2);
    }

    /// @dev sha256(0x01 ‖ left ‖ right), as `sha256(abi.encodePacked(...))` would give, without
    ///      allocating: the 65 bytes are written past the free memory pointer (left as it was)
    ///      and the digest comes back in the scratch space. A proof hash costs one or two of
    ///      these; this saves about 300 gas each. Pinned by the contract tests against
    ///      `ledger/merkle.py` for every pair of sizes up to 48.
    function _node(bytes32 left, bytes32 right) private view returns (bytes32 hash) {
        assembly ("memory-safe") {
            let input := mload(0x40)
            mstore8(input, 0x01)
            mstore(add(input, 1), left)
            mstore(add(input, 33), right)
            if iszero(staticcall(gas(), 0x02, input, 65, 0x00, 0x20)) { revert(0, 0) }
            hash := mload(0x00)
        }
    }

    /// @dev inner = bit length of (index ^ (size - 1)); border = ones in index >> inner.
    function _decompose(uint64 index, uint64 size) private pure returns (uint256 inner, uint256 border) {
        inner = _bitLength(index ^ (size - 1));
        uint64 rest = inner >= 64 ? 0 : index >> inner;
        while (rest != 0) {
            rest &= rest - 1; // clears the lowest one: one turn per one, not per bit
            ++border;
        }
    }

    function _bitLength(uint64 x) private pure returns (uint256) {
        return x == 0 ? 0 : Math.log2(x) + 1;
    }

    /// @dev x > 0 here: the lowest set bit of x alone, then its position.
    function _trailingZeros(uint64 x) private pure returns (uint256) {
        unchecked {
            return Math.log2(x & (~x + 1));
        }
    }
}
