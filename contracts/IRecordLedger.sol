// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IMembership} from "./IMembership.sol";

/// @title IRecordLedger
/// @notice Salted commitments of residents' record versions, certified by k of n members
///         of the record's residents' committee. No content is ever on chain: a version is
///         `contentHash = keccak256(abi.encode(salt, keccak256(JCS(content))))` with a random
///         salt kept off chain, so erasing content and salt off chain leaves the commitment
///         unlinkable.
interface IRecordLedger {
    /// @notice The newest state of a record.
    struct Head {
        bytes32 committeeId; // the committee that holds the record (fixed at version 1)
        address subject; // the resident the record is about (fixed at version 1)
        uint16 category; // record category code, < 64 (fixed at version 1)
        uint32 version; // newest version, 0 when the record does not exist
        bytes32 contentHash; // commitment of the newest version
        uint32 certifiedVersion; // newest certified version, 0 when none
        bool erased;
    }

    /// @notice One version of a record.
    struct Version {
        bytes32 contentHash;
        bytes32 prevHash; // contentHash of the version before, 0 for version 1
        address committer;
        uint64 committedAt;
        bool certified;
    }

    error RecordLedgerZeroId();
    error RecordLedgerZeroContentHash(bytes32 recordId);
    error RecordLedgerUnauthorized(address caller, bytes32 committeeId);
    error RecordLedgerStaleVersion(bytes32 recordId, uint32 head, uint32 given);
    error RecordLedgerStalePrevHash(bytes32 recordId, bytes32 head, bytes32 given);
    error RecordLedgerSubjectNotResident(address subject, bytes32 committeeId);
    error RecordLedgerSubjectChanged(bytes32 recordId, address subject, address given);
    error RecordLedgerCategoryChanged(bytes32 recordId, uint16 category, uint16 given);
    error RecordLedgerInvalidCategory(uint16 category);
    error RecordLedgerUnknownRecord(bytes32 recordId);
    error RecordLedgerErased(bytes32 recordId);
    error RecordLedgerAlreadyCertified(bytes32 recordId, uint32 version);
    error RecordLedgerNotEnoughSignatures(bytes32 recordId, uint256 given, uint256 threshold);
    error RecordLedgerSignersNotSorted(uint256 index, address previous, address signer);
    error RecordLedgerSignerNotMember(uint256 index, address signer, bytes32 committeeId);
    error RecordLedgerInvalidSignature(uint256 index);

    event RecordCommitted(
        bytes32 indexed recordId,
        uint32 version,
        bytes32 contentHash,
        bytes32 prevHash,
        bytes32 indexed committeeId,
        address indexed subject,
        uint16 category,
        address committer
    );
    event RecordCertified(bytes32 indexed recordId, uint32 version, bytes32 contentHash, address[] signers, address indexed by);
    event RecordErased(bytes32 indexed recordId, bytes32 reasonHash, address indexed by);

    /// @notice Commits version `version` of record `recordId`.
    /// @dev Only an active committee member or grid worker of the record's committee (for
    ///      version 1: the caller's own committee, which becomes the record's). Accepts only
    ///      `version == head + 1` and `prevHash == head contentHash`, so a concurrent update
    ///      fails with RecordLedgerStaleVersion or RecordLedgerStalePrevHash. Subject and
    ///      category are fixed at version 1; the subject must be an active resident of the
    ///      committee. Emits RecordCommitted.
    function commit(bytes32 recordId, uint32 version, bytes32 contentHash, bytes32 prevHash, address subject, uint16 category)
        external;

    /// @notice Certifies the head version of a record with k distinct active members'
    ///         EIP-712 `RecordApproval(bytes32 recordId,uint32 version,bytes32 contentHash)`
    ///         signatures, sorted by signer address (strictly increasing).
    /// @dev Only an active committee member or grid worker of the record's committee may
    ///      submit. Signatures that are malformed or high-s are refused. Emits RecordCertified.
    function certify(bytes32 recordId, uint32 version, bytes[] calldata signatures) external;

    /// @notice Marks a record erased: its content and salts have been deleted off chain.
    /// @dev Only an active admin of the office governing the record's committee. Further
    ///      commits and certifications are refused. Emits RecordErased.
    function erase(bytes32 recordId, bytes32 reasonHash) external;

    /// @notice The head of `recordId` (version 0 when unknown).
    function head(bytes32 recordId) external view returns (Head memory);

    /// @notice Version `version` of `recordId` (zero values when unknown).
    function versionOf(bytes32 recordId, uint32 version) external view returns (Version memory);

    /// @notice The EIP-712 digest members sign to approve a version.
    function approvalDigest(bytes32 recordId, uint32 version, bytes32 contentHash) external view returns (bytes32);

    /// @notice The Membership contract this contract asks who may do what.
    function membership() external view returns (IMembership);
}
