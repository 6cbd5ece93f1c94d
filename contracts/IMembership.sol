// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title IMembership
/// @notice The organisation tree of a subdistrict and the accounts that act for it.
/// @dev Every other gridledger contract asks Membership who may do what.
///      Nothing here is personal data: organisations are random or code-derived ids,
///      accounts are addresses; names live off chain.
interface IMembership {
    /// @notice What an organisation is. Offices are roots; committees and departments
    ///         hang under exactly one office.
    enum OrgKind {
        None,
        Office,
        Committee,
        Department
    }

    /// @notice Which government line a department belongs to.
    enum DepartmentKind {
        None,
        CivilAffairs,
        Health,
        PublicSecurity,
        SocialSecurity,
        Other
    }

    /// @notice What an account does for its organisation.
    /// OfficeAdmin: office; CommitteeMember, GridWorker, Resident: committee;
    /// DepartmentOfficer: department.
    enum Role {
        None,
        OfficeAdmin,
        CommitteeMember,
        GridWorker,
        DepartmentOfficer,
        Resident
    }

    /// @notice Account status. Revoked is final: a revoked address never returns.
    enum Status {
        None,
        Active,
        Suspended,
        Revoked
    }

    struct Organisation {
        OrgKind kind;
        DepartmentKind departmentKind;
        bytes32 parentId;
        /// @dev committees only: signatures needed to certify a record (k)
        uint16 threshold;
        /// @dev committees only: active committee members, the n of k-of-n
        uint16 activeSigners;
        /// @dev offices only: active office admins
        uint16 activeAdmins;
    }

    struct Member {
        bytes32 orgId;
        Role role;
        Status status;
    }

    error MembershipUnauthorized(address caller, bytes32 orgId);
    error MembershipZeroId();
    error MembershipZeroAddress();
    error MembershipOrganisationExists(bytes32 orgId);
    error MembershipUnknownOrganisation(bytes32 orgId);
    error MembershipParentNotOffice(bytes32 parentId);
    error MembershipNotCommittee(bytes32 orgId);
    error MembershipInvalidDepartmentKind(bytes32 orgId);
    error MembershipAccountExists(address account);
    error MembershipUnknownAccount(address account);
    error MembershipRoleNotAllowed(bytes32 orgId, Role role);
    error MembershipInvalidStatus(address account, Status status);
    error MembershipInvalidThreshold(bytes32 orgId, uint256 threshold, uint256 signers);
    error MembershipLastAdmin(bytes32 orgId, address account);

    event OrganisationCreated(
        bytes32 indexed orgId, OrgKind kind, DepartmentKind departmentKind, bytes32 indexed parentId, address indexed by
    );
    event MemberAdded(address indexed account, bytes32 indexed orgId, Role role, address indexed by);
    event MemberSuspended(address indexed account, bytes32 indexed orgId, address indexed by);
    event MemberReinstated(address indexed account, bytes32 indexed orgId, address indexed by);
    event MemberRevoked(address indexed account, bytes32 indexed orgId, address indexed by);
    event ThresholdChanged(bytes32 indexed orgId, uint16 previous, uint16 threshold, address indexed by);

    /// @notice Creates a subdistrict office with its first admin.
    /// @dev Only a holder of REGISTRAR_ROLE. Emits OrganisationCreated and MemberAdded.
    function createOffice(bytes32 orgId, address firstAdmin) external;

    /// @notice Creates a residents' committee under an office, with its signing members
    ///         and threshold k, so that 1 <= k <= n holds from the start.
    /// @dev Only an active admin of the parent office. Emits OrganisationCreated,
    ///      MemberAdded per member and ThresholdChanged.
    function createCommittee(bytes32 orgId, bytes32 officeId, address[] calldata members, uint16 threshold) external;

    /// @notice Creates a department under an office.
    /// @dev Only an active admin of the parent office. Emits OrganisationCreated.
    function createDepartment(bytes32 orgId, bytes32 officeId, DepartmentKind departmentKind) external;

    /// @notice Adds an account to an organisation with a role that fits the organisation.
    /// @dev An active admin of the governing office; for residents also an active
    ///      committee member or grid worker of that committee; the registrar may add
    ///      office admins (recovery). Emits MemberAdded.
    function addMember(address account, bytes32 orgId, Role role) external;

    /// @notice Suspends an active account. Only an active admin of the governing office.
    ///         Emits MemberSuspended.
    function suspendMember(address account) external;

    /// @notice Reinstates a suspended account. Only an active admin of the governing office.
    ///         Emits MemberReinstated.
    function reinstateMember(address account) external;

    /// @notice Revokes an active or suspended account for good. Only an active admin of
    ///         the governing office. Emits MemberRevoked.
    function revokeMember(address account) external;

    /// @notice Sets a committee's signing threshold k, 1 <= k <= active members.
    /// @dev Only an active admin of the parent office. Emits ThresholdChanged.
    function setThreshold(bytes32 committeeId, uint16 threshold) external;

    /// @notice The organisation `orgId`; kind None when it does not exist.
    function organisation(bytes32 orgId) external view returns (Organisation memory);

    /// @notice The membership of `account`; status None when unknown.
    function member(address account) external view returns (Member memory);

    /// @notice True when `account` is active in `orgId` with `role`.
    function isActiveMember(address account, bytes32 orgId, Role role) external view returns (bool);

    /// @notice True when `account` is an active admin of the office governing `orgId`
    ///         (the office itself, or the parent of a committee or department).
    function isOfficeAdminFor(address account, bytes32 orgId) external view returns (bool);
}
