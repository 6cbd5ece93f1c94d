// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {IMembership} from "./IMembership.sol";
import {IRecordLedger} from "./IRecordLedger.sol";

/// @title RecordLedger
/// @notice Per record a linear chain of salted commitments, each version certified by
///         k of n active members of the record's residents' committee.
/// @dev Who may act is asked of Membership at every call, so a suspended or revoked
///      account loses its powers at once. Approvals are EIP-712 signatures (OpenZeppelin
///      EIP712 and ECDSA): malformed and high-s signatures are refused, and signers must
///      be strictly increasing, which also refuses a signer counted twice.
contract RecordLedger is EIP712, IRecordLedger {
    /// @dev EIP-712 type: RecordApproval(bytes32 recordId,uint32 version,bytes32 contentHash)
    bytes32 private constant RECORD_APPROVAL_TYPEHASH =
        keccak256("RecordApproval(bytes32 recordId,uint32 version,bytes32 contentHash)");

    /// @dev Record categories are bits of a uint64 consent mask.
    uint16 private constant CATEGORY_LIMIT = 64;

    IMembership private immutable _membership;

    mapping(bytes32 recordId => Head) private _heads;
    mapping(bytes32 recordId => mapping(uint32 version => Version)) private _versions;

    /// @param membership_ the Membership contract that says who acts for which committee.
    constructor(IMembership membership_) EIP712("gridledger RecordLedger", "1") {
        _membership = membership_;
    }

    /// @inheritdoc IRecordLedger
    function membership() external view returns (IMembership) {
        return _membership;
    }

    // ---------------------------------------------------------------------- writes

    /// @inheritdoc IRecordLedger
    function commit(
        bytes32 recordId,
        uint32 version,
        bytes32 contentHash,
        bytes32 prevHash,
        address subject,
        uint16 category
    ) external {
        if (recordId == bytes32(0)) revert RecordLedgerZeroId();
        Head storage h = _heads[recordId];
        uint32 headVersion = h.version;
        IMembership.Member memory caller = _membership.member(msg.sender);
        // A new record belongs to the committee of whoever commits its first version.
        bytes32 committeeId = headVersion == 0 ? caller.orgId : h.committeeId;
        if (!_actsFor(caller, committeeId)) revert RecordLedgerUnauthorized(msg.sender, committeeId);
        if (h.erased) revert RecordLedgerErased(recordId);
        if (version != headVersion + 1) revert RecordLedgerStaleVersion(recordId, headVersion, version);
        if (prevHash != h.contentHash) revert RecordLedgerStalePrevHash(recordId, h.contentHash, prevHash);
        if (contentHash == bytes32(0)) revert RecordLedgerZeroContentHash(recordId);
        if (headVersion == 0) {
            if (category >= CATEGORY_LIMIT) revert RecordLedgerInvalidCategory(category);
        } else {
            if (subject != h.subject) revert RecordLedgerSubjectChanged(recordId, h.subject, subject);
            if (category != h.category) revert RecordLedgerCategoryChanged(recordId, h.category, category);
        }
        if (!_membership.isActiveMember(subject, committeeId, IMembership.Role.Resident)) {
            revert RecordLedgerSubjectNotResident(subject, committeeId);
        }

        if (headVersion == 0) {
            h.committeeId = committeeId;
            h.subject = subject;
            h.category = category;
        }
        h.version = version;
        h.contentHash = contentHash;
        _versions[recordId][version] = Version({
            contentHash: contentHash,
            prevHash: prevHash,
            committer: msg.sender,
            committedAt: _now(),
            certified: false
        });
        emit RecordCommitted(recordId, version, contentHash, prevHash, committeeId, subject, category, msg.sender);
    }

    /// @inheritdoc IRecordLedger
    function certify(bytes32 recordId, uint32 version, bytes[] calldata signatures) external {
        Head storage h = _existing(recordId);
        bytes32 committeeId = h.committeeId;
        if (!_actsFor(_membership.member(msg.sender), committeeId)) {
            revert RecordLedgerUnauthorized(msg.sender, committeeId);
        }
        if (h.erased) revert RecordLedgerErased(recordId);
        if (version != h.version) revert RecordLedgerStaleVersion(recordId, h.version, version);
        if (h.certifiedVersion == version) revert RecordLedgerAlreadyCertified(recordId, version);
        uint256 threshold = _membership.organisation(committeeId).threshold;
        if (signatures.length < threshold) {
            revert RecordLedgerNotEnoughSignatures(recordId, signatures.length, threshold);
        }

        bytes32 contentHash = h.contentHash;
        bytes32 digest = _approvalDigest(recordId, version, contentHash);
        address[] memory signers = new address[](signatures.length);
        address previous = address(0);
        for (uint256 i = 0; i < signatures.length; ++i) {
            (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(digest, signatures[i]);
            if (err != ECDSA.RecoverError.NoError) revert RecordLedgerInvalidSignature(i);
            if (signer <= previous) revert RecordLedgerSignersNotSorted(i, previous, signer);
            if (!_membership.isActiveMember(signer, committeeId, IMembership.Role.CommitteeMember)) {
                revert RecordLedgerSignerNotMember(i, signer, committeeId);
            }
            signers[i] = signer;
            previous = signer;
        }

        _versions[recordId][version].certified = true;
        h.certifiedVersion = version;
        emit RecordCertified(recordId, version, contentHash, signers, msg.sender);
    }

    /// @inheritdoc IRecordLedger
    function erase(bytes32 recordId, bytes32 reasonHash) external {
        Head storage h = _existing(recordId);
        if (!_membership.isOfficeAdminFor(msg.sender, h.committeeId)) {
            revert RecordLedgerUnauthorized(msg.sender, h.committeeId);
        }
        if (h.erased) revert RecordLedgerErased(recordId);
        h.erased = true;
        emit RecordErased(recordId, reasonHash, msg.sender);
    }

    // ----------------------------------------------------------------------- views

    /// @inheritdoc IRecordLedger
    function head(bytes32 recordId) external view returns (Head memory) {
        return _heads[recordId];
    }

    /// @inheritdoc IRecordLedger
    function versionOf(bytes32 recordId, uint32 version) external view returns (Version memory) {
        return _versions[recordId][version];
    }

    /// @inheritdoc IRecordLedger
    function approvalDigest(bytes32 recordId, uint32 version, bytes32 contentHash) external view returns (bytes32) {
        return _approvalDigest(recordId, version, contentHash);
    }

    // -------------------------------------------------------------------- internal

    /// @dev The clock, in one place so that tests and forks can control it.
    function _now() internal view virtual returns (uint64) {
        return uint64(block.timestamp);
    }

    function _approvalDigest(bytes32 recordId, uint32 version, bytes32 contentHash) private view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(RECORD_APPROVAL_TYPEHASH, recordId, version, contentHash)));
    }

    function _existing(bytes32 recordId) private view returns (Head storage h) {
        h = _heads[recordId];
        if (h.version == 0) revert RecordLedgerUnknownRecord(recordId);
    }

    /// @dev An active committee member or grid worker of `committeeId`.
    function _actsFor(IMembership.Member memory m, bytes32 committeeId) private pure returns (bool) {
        return m.status == IMembership.Status.Active && m.orgId == committeeId
            && (m.role == IMembership.Role.CommitteeMember || m.role == IMembership.Role.GridWorker);
    }
}
