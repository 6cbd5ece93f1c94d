// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IMembership} from "./IMembership.sol";

/// @title Membership
/// @notice The organisation tree (subdistrict office -> residents' committees;
///         departments under an office) and the accounts acting for each organisation.
/// @dev Global powers use OpenZeppelin AccessControl: REGISTRAR_ROLE creates offices
///      (and may restore an office admin), DEFAULT_ADMIN_ROLE governs the registrars.
///      Everything else is scoped to an organisation: an office's active admins manage
///      that office and the committees and departments under it.
contract Membership is AccessControl, IMembership {
    /// @notice May create subdistrict offices and add office admins (recovery).
    bytes32 public constant REGISTRAR_ROLE = keccak256("gridledger.membership.REGISTRAR");

    mapping(bytes32 orgId => Organisation) private _organisations;
    mapping(address account => Member) private _members;

    /// @param governance receives DEFAULT_ADMIN_ROLE and REGISTRAR_ROLE.
    constructor(address governance) {
        if (governance == address(0)) revert MembershipZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, governance);
        _grantRole(REGISTRAR_ROLE, governance);
    }

    // ---------------------------------------------------------------- organisations

    /// @inheritdoc IMembership
    function createOffice(bytes32 orgId, address firstAdmin) external onlyRole(REGISTRAR_ROLE) {
        _createOrganisation(orgId, OrgKind.Office, DepartmentKind.None, bytes32(0));
        _addMember(firstAdmin, orgId, Role.OfficeAdmin);
    }

    /// @inheritdoc IMembership
    function createCommittee(bytes32 orgId, bytes32 officeId, address[] calldata members, uint16 threshold)
        external
    {
        _requireAdminOfOffice(officeId);
        _createOrganisation(orgId, OrgKind.Committee, DepartmentKind.None, officeId);
        for (uint256 i = 0; i < members.length; ++i) {
            _addMember(members[i], orgId, Role.CommitteeMember);
        }
        _setThreshold(orgId, threshold);
    }

    /// @inheritdoc IMembership
    function createDepartment(bytes32 orgId, bytes32 officeId, DepartmentKind departmentKind) external {
        _requireAdminOfOffice(officeId);
        if (departmentKind == DepartmentKind.None) revert MembershipInvalidDepartmentKind(orgId);
        _createOrganisation(orgId, OrgKind.Department, departmentKind, officeId);
    }

    /// @inheritdoc IMembership
    function setThreshold(bytes32 committeeId, uint16 threshold) external {
        if (_existing(committeeId).kind != OrgKind.Committee) revert MembershipNotCommittee(committeeId);
        if (!_isOfficeAdminFor(msg.sender, committeeId)) revert MembershipUnauthorized(msg.sender, committeeId);
        _setThreshold(committeeId, threshold);
    }

    // ---------------------------------------------------------------------- members

    /// @inheritdoc IMembership
    function addMember(address account, bytes32 orgId, Role role) external {
        Organisation storage org = _existing(orgId);
        bool allowed = _isOfficeAdminFor(msg.sender, orgId)
            || (role == Role.Resident && org.kind == OrgKind.Committee && _actsForCommittee(msg.sender, orgId))
            || (role == Role.OfficeAdmin && hasRole(REGISTRAR_ROLE, msg.sender));
        if (!allowed) revert MembershipUnauthorized(msg.sender, orgId);
        _addMember(account, orgId, role);
    }

    /// @inheritdoc IMembership
    function suspendMember(address account) external {
        Member storage m = _governedMember(account);
        if (m.status != Status.Active) revert MembershipInvalidStatus(account, m.status);
        _leaveActive(account, m);
        m.status = Status.Suspended;
        emit MemberSuspended(account, m.orgId, msg.sender);
    }

    /// @inheritdoc IMembership
    function reinstateMember(address account) external {
        Member storage m = _governedMember(account);
        if (m.status != Status.Suspended) revert MembershipInvalidStatus(account, m.status);
        m.status = Status.Active;
        _enterActive(m);
        emit MemberReinstated(account, m.orgId, msg.sender);
    }

    /// @inheritdoc IMembership
    function revokeMember(address account) external {
        Member storage m = _governedMember(account);
        if (m.status == Status.Active) {
            _leaveActive(account, m);
        } else if (m.status != Status.Suspended) {
            revert MembershipInvalidStatus(account, m.status);
        }
        m.status = Status.Revoked;
        emit MemberRevoked(account, m.orgId, msg.sender);
    }

    // ------------------------------------------------------------------------ views

    /// @inheritdoc IMembership
    function organisation(bytes32 orgId) external view returns (Organisation memory) {
        return _organisations[orgId];
    }

    /// @inheritdoc IMembership
    function member(address account) external view returns (Member memory) {
        return _members[account];
    }

    /// @inheritdoc IMembership
    function isActiveMember(address account, bytes32 orgId, Role role) public view returns (bool) {
        Member storage m = _members[account];
        return m.status == Status.Active && m.orgId == orgId && m.role == role;
    }

    /// @inheritdoc IMembership
    function isOfficeAdminFor(address account, bytes32 orgId) external view returns (bool) {
        return _isOfficeAdminFor(account, orgId);
    }

    // --------------------------------------------------------------------- internal

    function _createOrganisation(bytes32 orgId, OrgKind kind, DepartmentKind departmentKind, bytes32 parentId)
        private
    {
        if (orgId == bytes32(0)) revert MembershipZeroId();
        if (_organisations[orgId].kind != OrgKind.None) revert MembershipOrganisationExists(orgId);
        _organisations[orgId] = Organisation({
            kind: kind,
            departmentKind: departmentKind,
            parentId: parentId,
            threshold: 0,
            activeSigners: 0,
            activeAdmins: 0
        });
        emit OrganisationCreated(orgId, kind, departmentKind, parentId, msg.sender);
    }

    function _addMember(address account, bytes32 orgId, Role role) private {
        if (account == address(0)) revert MembershipZeroAddress();
        if (_members[account].status != Status.None) revert MembershipAccountExists(account);
        if (!_roleFits(_organisations[orgId].kind, role)) revert MembershipRoleNotAllowed(orgId, role);
        Member storage m = _members[account];
        m.orgId = orgId;
        m.role = role;
        m.status = Status.Active;
        _enterActive(m);
        emit MemberAdded(account, orgId, role, msg.sender);
    }

    function _setThreshold(bytes32 committeeId, uint16 threshold) private {
        Organisation storage org = _organisations[committeeId];
        if (threshold == 0 || threshold > org.activeSigners) {
            revert MembershipInvalidThreshold(committeeId, threshold, org.activeSigners);
        }
        uint16 previous = org.threshold;
        org.threshold = threshold;
        emit ThresholdChanged(committeeId, previous, threshold, msg.sender);
    }

    /// @dev Counts an account that became active towards k-of-n and the admin quorum.
    function _enterActive(Member storage m) private {
        if (m.role == Role.CommitteeMember) {
            ++_organisations[m.orgId].activeSigners;
        } else if (m.role == Role.OfficeAdmin) {
            ++_organisations[m.orgId].activeAdmins;
        }
    }

    /// @dev Uncounts an active account, refusing to break 1 <= k <= n or to leave an
    ///      office without an active admin.
    function _leaveActive(address account, Member storage m) private {
        Organisation storage org = _organisations[m.orgId];
        if (m.role == Role.CommitteeMember) {
            if (org.activeSigners - 1 < org.threshold) {
                revert MembershipInvalidThreshold(m.orgId, org.threshold, org.activeSigners - 1);
            }
            --org.activeSigners;
        } else if (m.role == Role.OfficeAdmin) {
            if (org.activeAdmins == 1) revert MembershipLastAdmin(m.orgId, account);
            --org.activeAdmins;
        }
    }

    function _governedMember(address account) private view returns (Member storage m) {
        m = _members[account];
        if (m.status == Status.None) revert MembershipUnknownAccount(account);
        if (!_isOfficeAdminFor(msg.sender, m.orgId)) revert MembershipUnauthorized(msg.sender, m.orgId);
    }

    function _existing(bytes32 orgId) private view returns (Organisation storage org) {
        org = _organisations[orgId];
        if (org.kind == OrgKind.None) revert MembershipUnknownOrganisation(orgId);
    }

    /// @dev The caller must be an active admin of `officeId`, which must be an office.
    function _requireAdminOfOffice(bytes32 officeId) private view {
        if (_existing(officeId).kind != OrgKind.Office) revert MembershipParentNotOffice(officeId);
        if (!isActiveMember(msg.sender, officeId, Role.OfficeAdmin)) revert MembershipUnauthorized(msg.sender, officeId);
    }

    function _isOfficeAdminFor(address account, bytes32 orgId) private view returns (bool) {
        Organisation storage org = _organisations[orgId];
        bytes32 officeId;
        if (org.kind == OrgKind.Office) {
            officeId = orgId;
        } else if (org.kind == OrgKind.None) {
            return false;
        } else {
            officeId = org.parentId;
        }
        return isActiveMember(account, officeId, Role.OfficeAdmin);
    }

    function _actsForCommittee(address account, bytes32 committeeId) private view returns (bool) {
        return isActiveMember(account, committeeId, Role.CommitteeMember)
            || isActiveMember(account, committeeId, Role.GridWorker);
    }

    function _roleFits(OrgKind kind, Role role) private pure returns (bool) {
        if (kind == OrgKind.Office) return role == Role.OfficeAdmin;
        if (kind == OrgKind.Committee) {
            return role == Role.CommitteeMember || role == Role.GridWorker || role == Role.Resident;
        }
        if (kind == OrgKind.Department) return role == Role.DepartmentOfficer;
        return false;
    }
}
