// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IMembership} from "./IMembership.sol";

/// @title IAccessLogAnchor
/// @notice Checkpoints `(treeSize, rootHash)` of the access log, an RFC 9162 Merkle tree
///         (SHA-256, leaf `H(0x00 ‖ leaf)`, node `H(0x01 ‖ left ‖ right)`). A checkpoint is
///         accepted only with a valid consistency proof from the previous one, verified here
///         with the SHA-256 precompile: the contract itself keeps the log append-only.
interface IAccessLogAnchor {
    struct Checkpoint {
        uint64 size;
        bytes32 root;
        uint64 anchoredAt; // block timestamp
        address anchorer;
    }

    error AccessLogAnchorUnauthorized(address caller, bytes32 officeId);
    error AccessLogAnchorNotAnchorer(address caller);
    error AccessLogAnchorZeroAddress();
    error AccessLogAnchorNotGrowing(uint64 size, uint64 newSize);
    error AccessLogAnchorProofLength(uint256 given, uint256 expected);
    error AccessLogAnchorInconsistent(uint64 size, uint64 newSize);
    /// @dev A checkpoint's size is stored in 56 bits: `newSize` above `limit` (2^56 - 1) cannot be.
    error AccessLogAnchorSizeTooLarge(uint64 newSize, uint64 limit);

    event AnchorerDesignated(address indexed anchorer, bytes32 indexed officeId, address indexed by);
    event AnchorerRemoved(address indexed anchorer, bytes32 indexed officeId, address indexed by);
    event CheckpointAppended(uint256 indexed index, uint64 size, bytes32 root, address indexed anchorer);

    /// @notice Lets `anchorer` append checkpoints on behalf of office `officeId`.
    /// @dev Only an active admin of that office. Emits AnchorerDesignated.
    function designateAnchorer(address anchorer, bytes32 officeId) external;

    /// @notice Withdraws `anchorer`'s right to append. Only an active admin of the office
    ///         that designated it. Emits AnchorerRemoved.
    function removeAnchorer(address anchorer) external;

    /// @notice Appends the checkpoint `(newSize, newRoot)`.
    /// @dev Only a designated anchorer. `newSize` must exceed the last checkpoint's size and
    ///      `proof` must be the RFC 9162 consistency proof from it (empty for the first
    ///      checkpoint), and `newSize` at most 2^56 - 1 (AccessLogAnchorSizeTooLarge). Emits
    ///      CheckpointAppended.
    function append(uint64 newSize, bytes32 newRoot, bytes32[] calldata proof) external;

    /// @notice The newest checkpoint (size 0 before the first) and how many there are.
    function latest() external view returns (Checkpoint memory checkpoint, uint256 count);

    /// @notice Checkpoint number `index` (0 is the first).
    function checkpointAt(uint256 index) external view returns (Checkpoint memory);

    /// @notice The office that designated `anchorer`, or 0 when it may not append.
    function anchorerOffice(address anchorer) external view returns (bytes32);

    /// @notice The Membership contract that says who administers an office.
    function membership() external view returns (IMembership);
}
