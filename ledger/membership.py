"""The Membership contract: its enums, ids, and calls ready for the outbox."""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence

from eth_utils import keccak, to_checksum_address

from .chain import ContractCalls
from .errors import LedgerError
from .outbox import Call


class OrgKind(enum.IntEnum):
    NONE = 0
    OFFICE = 1
    COMMITTEE = 2
    DEPARTMENT = 3


class DepartmentKind(enum.IntEnum):
    NONE = 0
    CIVIL_AFFAIRS = 1
    HEALTH = 2
    PUBLIC_SECURITY = 3
    SOCIAL_SECURITY = 4
    OTHER = 5


class Role(enum.IntEnum):
    NONE = 0
    OFFICE_ADMIN = 1
    COMMITTEE_MEMBER = 2
    GRID_WORKER = 3
    DEPARTMENT_OFFICER = 4
    RESIDENT = 5


class Status(enum.IntEnum):
    NONE = 0
    ACTIVE = 1
    SUSPENDED = 2
    REVOKED = 3


def name_of(value: enum.IntEnum) -> str:
    """``Role.GRID_WORKER`` -> ``"grid-worker"``: the spelling used in the CLI and tables."""
    return value.name.lower().replace("_", "-")


def parse(enum_type: type[enum.IntEnum], text: str) -> enum.IntEnum:
    try:
        member = enum_type[text.strip().upper().replace("-", "_")]
    except KeyError:
        member = None
    if member is None or member.value == 0:
        choices = ", ".join(name_of(m) for m in enum_type if m.value)
        raise LedgerError(f"unknown {enum_type.__name__} {text!r}; expected one of: {choices}")
    return member


#: Which roles each kind of organisation may hold (mirrors Membership._roleFits).
ROLES_BY_KIND = {
    OrgKind.OFFICE: (Role.OFFICE_ADMIN,),
    OrgKind.COMMITTEE: (Role.COMMITTEE_MEMBER, Role.GRID_WORKER, Role.RESIDENT),
    OrgKind.DEPARTMENT: (Role.DEPARTMENT_OFFICER,),
}

CODE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


def org_id(code: str) -> bytes:
    """The on-chain id of the organisation with public code ``code``.

    Codes are short public slugs (``office-jinqiao``), never personal data."""
    if not CODE_PATTERN.match(code):
        raise LedgerError(
            f"organisation code {code!r} must be 2-63 characters of a-z, 0-9 and '-', starting with a letter or digit"
        )
    return keccak(b"gridledger:org:" + code.encode())


# Gas limits per call. Generous against measured use (tests check the margin);
# gas is free on this network, and a fixed limit lets a transaction be signed
# before the ones ahead of it are mined.
GAS_CREATE_OFFICE = 250_000
GAS_CREATE_DEPARTMENT = 150_000
GAS_COMMITTEE_BASE = 200_000
GAS_COMMITTEE_PER_MEMBER = 90_000  # measured ~49,200 per member
GAS_ADD_MEMBER = 150_000
GAS_STATUS_CHANGE = 100_000
GAS_SET_THRESHOLD = 100_000


class MembershipCalls(ContractCalls):
    """Calls to the Membership contract, ready for the outbox."""

    def create_office(self, oid: bytes, first_admin: str) -> Call:
        return self._call(
            "createOffice", [oid, to_checksum_address(first_admin)], GAS_CREATE_OFFICE, "membership.createOffice"
        )

    def create_committee(self, oid: bytes, office: bytes, members: Sequence[str], threshold: int) -> Call:
        gas = GAS_COMMITTEE_BASE + GAS_COMMITTEE_PER_MEMBER * len(members)
        addresses = [to_checksum_address(m) for m in members]
        return self._call("createCommittee", [oid, office, addresses, threshold], gas, "membership.createCommittee")

    def create_department(self, oid: bytes, office: bytes, kind: DepartmentKind) -> Call:
        return self._call(
            "createDepartment", [oid, office, int(kind)], GAS_CREATE_DEPARTMENT, "membership.createDepartment"
        )

    def add_member(self, account: str, oid: bytes, role: Role) -> Call:
        return self._call(
            "addMember", [to_checksum_address(account), oid, int(role)], GAS_ADD_MEMBER, "membership.addMember"
        )

    def suspend(self, account: str) -> Call:
        return self._call(
            "suspendMember", [to_checksum_address(account)], GAS_STATUS_CHANGE, "membership.suspendMember"
        )

    def reinstate(self, account: str) -> Call:
        return self._call(
            "reinstateMember", [to_checksum_address(account)], GAS_STATUS_CHANGE, "membership.reinstateMember"
        )

    def revoke(self, account: str) -> Call:
        return self._call("revokeMember", [to_checksum_address(account)], GAS_STATUS_CHANGE, "membership.revokeMember")

    def set_threshold(self, oid: bytes, threshold: int) -> Call:
        return self._call("setThreshold", [oid, threshold], GAS_SET_THRESHOLD, "membership.setThreshold")
