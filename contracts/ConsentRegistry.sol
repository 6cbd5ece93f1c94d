// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {IConsentRegistry} from "./IConsentRegistry.sol";
import {IMembership} from "./IMembership.sol";

/// @title ConsentRegistry
/// @notice Residents' consent grants to departments of the office their committee hangs
///         under (never another office's): issued by the resident, or relayed
///         with the resident's EIP-712 signature by a grid worker or committee member of
///         the resident's committee; withdrawn by the resident; revoked by an office.
/// @dev Relayed requests carry the resident's next nonce (OpenZeppelin Nonces) and a
///      deadline. The nonce is not an argument: a signature is checked against the
///      resident's current nonce, so a replayed or out-of-order one recovers to another
///      address and is refused as ConsentRegistryInvalidSigner. Membership is asked at
///      every call.
contract ConsentRegistry is EIP712, Nonces, IConsentRegistry {
    /// @dev EIP-712 type: Grant(bytes32 grantId,address resident,bytes32 department,uint64 categories,
    ///      uint16 purpose,uint8 legalBasis,uint64 validFrom,uint64 validUntil,bytes32 termsHash,
    ///      uint256 nonce,uint256 deadline)
    bytes32 private constant GRANT_TYPEHASH = keccak256(
        "Grant(bytes32 grantId,address resident,bytes32 department,uint64 categories,uint16 purpose,uint8 legalBasis,"
        "uint64 validFrom,uint64 validUntil,bytes32 termsHash,uint256 nonce,uint256 deadline)"
    );

    /// @dev EIP-712 type: Withdraw(bytes32 grantId,uint256 nonce,uint256 deadline)
    bytes32 private constant WITHDRAW_TYPEHASH = keccak256("Withdraw(bytes32 grantId,uint256 nonce,uint256 deadline)");

    /// @dev Categories are the bits of the uint64 mask.
    uint16 private constant CATEGORY_LIMIT = 64;

    IMembership private immutable _membership;

    mapping(bytes32 grantId => Grant) private _grants;

    /// @param membership_ the Membership contract that says who is a resident, a relayer,
    ///        a department and an office admin.
    constructor(IMembership membership_) EIP712("gridledger ConsentRegistry", "1") {
        _membership = membership_;
    }

    /// @inheritdoc IConsentRegistry
    function membership() external view returns (IMembership) {
        return _membership;
    }

    // ---------------------------------------------------------------------- issuing

    /// @inheritdoc IConsentRegistry
    function issue(GrantTerms calldata terms) external {
        IMembership.Member memory m = _membership.member(msg.sender);
        if (!_isActiveResident(m)) revert ConsentRegistryNotResident(msg.sender);
        _issue(terms, msg.sender, m.orgId, address(0));
    }

    /// @inheritdoc IConsentRegistry
    function issueWithSig(GrantTerms calldata terms, address resident, uint256 deadline, bytes calldata signature)
        external
    {
        IMembership.Member memory m = _requireRelayerFor(resident);
        if (!_isActiveResident(m)) revert ConsentRegistryNotResident(resident);
        if (_now() > deadline) revert ConsentRegistryExpiredSignature(deadline);
        bytes32 structHash = _grantStructHash(terms, resident, _useNonce(resident), deadline);
        _requireSigner(structHash, signature, resident);
        _issue(terms, resident, m.orgId, msg.sender);
    }

    // ------------------------------------------------------------ withdrawing, revoking

    /// @inheritdoc IConsentRegistry
    function withdraw(bytes32 grantId) external {
        Grant storage g = _existing(grantId);
        if (msg.sender != g.resident) revert ConsentRegistryUnauthorized(msg.sender, grantId);
        _requireActive(grantId, g);
        _setStatus(g, Status.Withdrawn);
        emit GrantWithdrawn(grantId, g.resident, address(0));
    }

    /// @inheritdoc IConsentRegistry
    function withdrawWithSig(bytes32 grantId, uint256 deadline, bytes calldata signature) external {
        Grant storage g = _existing(grantId);
        address resident = g.resident;
        _requireRelayerFor(resident);
        if (_now() > deadline) revert ConsentRegistryExpiredSignature(deadline);
        bytes32 structHash = keccak256(abi.encode(WITHDRAW_TYPEHASH, grantId, _useNonce(resident), deadline));
        _requireSigner(structHash, signature, resident);
        _requireActive(grantId, g);
        _setStatus(g, Status.Withdrawn);
        emit GrantWithdrawn(grantId, resident, msg.sender);
    }

    /// @inheritdoc IConsentRegistry
    function revoke(bytes32 grantId, bytes32 reasonHash) external {
        Grant storage g = _existing(grantId);
        if (!_membership.isOfficeAdminFor(msg.sender, g.department)) {
            revert ConsentRegistryUnauthorized(msg.sender, grantId);
        }
        _requireActive(grantId, g);
        _setStatus(g, Status.Revoked);
        emit GrantRevoked(grantId, msg.sender, reasonHash);
    }

    // ------------------------------------------------------------------------ views

    /// @inheritdoc IConsentRegistry
    function grantOf(bytes32 grantId) external view returns (Grant memory) {
        return _grants[grantId];
    }

    /// @inheritdoc IConsentRegistry
    function isActive(bytes32 grantId, bytes32 org, uint16 category, uint64 timestamp) external view returns (bool) {
        Grant storage g = _grants[grantId];
        return g.status == Status.Active && g.department == org && category < CATEGORY_LIMIT
            && (g.categories >> category) & 1 == 1 && g.validFrom <= timestamp && timestamp < g.validUntil;
    }

    /// @inheritdoc IConsentRegistry
    function nonces(address resident) public view override(IConsentRegistry, Nonces) returns (uint256) {
        return super.nonces(resident);
    }

    // --------------------------------------------------------------------- internal

    /// @dev The clock, in one place so that tests and forks can control it.
    function _now() internal view virtual returns (uint64) {
        return uint64(block.timestamp);
    }

    /// @dev `committeeId` is the resident's committee, from the membership the caller already read.
    function _issue(GrantTerms calldata terms, address resident, bytes32 committeeId, address relayer) private {
        bytes32 grantId = terms.grantId;
        if (grantId == bytes32(0)) revert ConsentRegistryZeroId();
        Grant storage g = _grants[grantId];
        if (g.status != Status.None) revert ConsentRegistryGrantExists(grantId);
        _requireDepartmentOfOffice(terms.department, committeeId);
        if (terms.categories == 0) revert ConsentRegistryNoCategories(grantId);
        if (terms.validFrom >= terms.validUntil) {
            revert ConsentRegistryInvalidWindow(terms.validFrom, terms.validUntil);
        }

        g.resident = resident;
        g.department = terms.department;
        g.categories = terms.categories;
        g.purpose = terms.purpose;
        g.legalBasis = terms.legalBasis;
        g.validFrom = terms.validFrom;
        g.validUntil = terms.validUntil;
        g.termsHash = terms.termsHash;
        g.relayer = relayer;
        _setStatus(g, Status.Active);
        emit GrantIssued(
            grantId,
            resident,
            terms.department,
            terms.categories,
            terms.purpose,
            terms.legalBasis,
            terms.validFrom,
            terms.validUntil,
            terms.termsHash,
            relayer
        );
    }

    function _grantStructHash(GrantTerms calldata terms, address resident, uint256 nonce, uint256 deadline)
        private
        pure
        returns (bytes32)
    {
        return keccak256(
            abi.encode(
                GRANT_TYPEHASH,
                terms.grantId,
                resident,
                terms.department,
                terms.categories,
                terms.purpose,
                terms.legalBasis,
                terms.validFrom,
                terms.validUntil,
                terms.termsHash,
                nonce,
                deadline
            )
        );
    }

    /// @dev `departmentId` must be a department under the office of the committee
    ///      `committeeId`: a resident grants only within their own office.
    function _requireDepartmentOfOffice(bytes32 departmentId, bytes32 committeeId) private view {
        IMembership.Organisation memory department = _membership.organisation(departmentId);
        if (department.kind != IMembership.OrgKind.Department) revert ConsentRegistryNotDepartment(departmentId);
        bytes32 residentOffice = _membership.organisation(committeeId).parentId;
        if (department.parentId != residentOffice) {
            revert ConsentRegistryOtherOffice(departmentId, department.parentId, residentOffice);
        }
    }

    /// @dev The signature over `structHash` must be `resident`'s; an invalid one counts as
    ///      signed by address(0).
    function _requireSigner(bytes32 structHash, bytes calldata signature, address resident) private view {
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(_hashTypedDataV4(structHash), signature);
        if (err != ECDSA.RecoverError.NoError) signer = address(0);
        if (signer != resident) revert ConsentRegistryInvalidSigner(signer, resident);
    }

    /// @dev The caller must be an active committee member or grid worker of `resident`'s
    ///      committee. Returns `resident`'s membership.
    function _requireRelayerFor(address resident) private view returns (IMembership.Member memory m) {
        m = _membership.member(resident);
        IMembership.Member memory relayer = _membership.member(msg.sender);
        bool allowed = relayer.status == IMembership.Status.Active && relayer.orgId == m.orgId
            && (relayer.role == IMembership.Role.CommitteeMember || relayer.role == IMembership.Role.GridWorker);
        if (!allowed) revert ConsentRegistryNotRelayer(msg.sender, resident);
    }

    function _isActiveResident(IMembership.Member memory m) private pure returns (bool) {
        return m.status == IMembership.Status.Active && m.role == IMembership.Role.Resident;
    }

    function _existing(bytes32 grantId) private view returns (Grant storage g) {
        g = _grants[grantId];
        if (g.status == Status.None) revert ConsentRegistryUnknownGrant(grantId);
    }

    function _requireActive(bytes32 grantId, Grant storage g) private view {
        if (g.status != Status.Active) revert ConsentRegistryNotActive(grantId, g.status);
    }

    function _setStatus(Grant storage g, Status status) private {
        g.status = status;
        g.statusAt = _now();
    }
}
