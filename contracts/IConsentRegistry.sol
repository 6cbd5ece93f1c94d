// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IMembership} from "./IMembership.sol";

/// @title IConsentRegistry
/// @notice Residents' consent grants to departments. The full terms (purpose text, notice,
///         jurisdiction, collection method) stay off chain; the chain holds their hash, the
///         data categories, purpose and legal basis codes, and the validity window.
///         `isActive` is the one rule every access decision uses.
interface IConsentRegistry {
    /// @notice Withdrawn (by the resident) and revoked (by an office) are kept apart;
    ///         expiry is not a stored status but follows from `validUntil`.
    enum Status {
        None,
        Active,
        Withdrawn,
        Revoked
    }

    struct Grant {
        address resident;
        bytes32 department;
        uint64 categories; // bitmask: bit c set = record category c
        uint16 purpose; // purpose code
        uint8 legalBasis; // legal basis code
        uint64 validFrom; // seconds since the epoch, inclusive
        uint64 validUntil; // seconds since the epoch, exclusive
        bytes32 termsHash; // keccak256 of the canonical JSON of the full terms
        Status status;
        uint64 statusAt; // when the status last changed
        address relayer; // who sent the issuing transaction when relayed, else 0
    }

    /// @notice What a resident signs to issue a grant through a relayer.
    struct GrantTerms {
        bytes32 grantId;
        bytes32 department;
        uint64 categories;
        uint16 purpose;
        uint8 legalBasis;
        uint64 validFrom;
        uint64 validUntil;
        bytes32 termsHash;
    }

    error ConsentRegistryZeroId();
    error ConsentRegistryGrantExists(bytes32 grantId);
    error ConsentRegistryUnknownGrant(bytes32 grantId);
    error ConsentRegistryNotResident(address account);
    error ConsentRegistryNotDepartment(bytes32 department);
    /// @notice The department hangs under another office than the resident's committee.
    error ConsentRegistryOtherOffice(bytes32 department, bytes32 departmentOffice, bytes32 residentOffice);
    error ConsentRegistryNoCategories(bytes32 grantId);
    error ConsentRegistryInvalidWindow(uint64 validFrom, uint64 validUntil);
    error ConsentRegistryUnauthorized(address caller, bytes32 grantId);
    error ConsentRegistryNotRelayer(address caller, address resident);
    error ConsentRegistryExpiredSignature(uint256 deadline);
    error ConsentRegistryInvalidSigner(address signer, address resident);
    error ConsentRegistryNotActive(bytes32 grantId, Status status);

    event GrantIssued(
        bytes32 indexed grantId,
        address indexed resident,
        bytes32 indexed department,
        uint64 categories,
        uint16 purpose,
        uint8 legalBasis,
        uint64 validFrom,
        uint64 validUntil,
        bytes32 termsHash,
        address relayer
    );
    event GrantWithdrawn(bytes32 indexed grantId, address indexed resident, address relayer);
    event GrantRevoked(bytes32 indexed grantId, address indexed by, bytes32 reasonHash);

    /// @notice Issues a grant from the caller, an active resident, to a department under the
    ///         office of the resident's committee (another office's department is refused as
    ///         ConsentRegistryOtherOffice).
    /// @dev Emits GrantIssued with relayer 0.
    function issue(GrantTerms calldata terms) external;

    /// @notice Issues a grant signed by `resident` (EIP-712 `Grant`, with the resident's next
    ///         nonce and a deadline), sent by a relayer: an active grid worker or committee
    ///         member of the resident's committee. The department must be under the office of
    ///         the resident's committee, as for `issue`.
    /// @dev Refuses replays (nonce), passed deadlines, and signatures for another chain or
    ///      contract (domain). Emits GrantIssued with the relayer.
    function issueWithSig(GrantTerms calldata terms, address resident, uint256 deadline, bytes calldata signature)
        external;

    /// @notice Withdraws an active grant. Only its resident. Emits GrantWithdrawn.
    function withdraw(bytes32 grantId) external;

    /// @notice Withdraws an active grant with the resident's EIP-712 `Withdraw` signature,
    ///         sent by a relayer of the resident's committee. Emits GrantWithdrawn.
    function withdrawWithSig(bytes32 grantId, uint256 deadline, bytes calldata signature) external;

    /// @notice Revokes an active grant. Only an active admin of the office governing the
    ///         grant's department. Emits GrantRevoked.
    function revoke(bytes32 grantId, bytes32 reasonHash) external;

    /// @notice The grant `grantId` (status None when unknown).
    function grantOf(bytes32 grantId) external view returns (Grant memory);

    /// @notice True when grant `grantId` is active, was given to `org`, covers record
    ///         category `category`, and `timestamp` lies in its validity window.
    function isActive(bytes32 grantId, bytes32 org, uint16 category, uint64 timestamp) external view returns (bool);

    /// @notice The next nonce `resident` must sign with.
    function nonces(address resident) external view returns (uint256);

    /// @notice The Membership contract this contract asks who may do what.
    function membership() external view returns (IMembership);
}
