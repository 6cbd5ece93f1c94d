"""The Membership contract on chain: who may call each write function, what it emits,
which input it refuses, and how the k-of-n and admin counters move.

Every test sends real, locally signed transactions through the outbox without a
preflight, so a refused call is mined as a reverted transaction: we check the custom
error's name and arguments (decoded by the outbox), that the receipt holds no log,
and that the contract's state did not change. Successful calls are checked through
their decoded events (including ``by``) and the resulting ``organisation`` and
``member`` views. The world is the session world of ``conftest.py``; the chain is
reverted after each test.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from eth_utils import event_abi_to_log_topic, keccak
from web3.logs import DISCARD

from ledger.membership import (
    GAS_ADD_MEMBER,
    GAS_COMMITTEE_BASE,
    GAS_COMMITTEE_PER_MEMBER,
    GAS_CREATE_DEPARTMENT,
    GAS_CREATE_OFFICE,
    GAS_SET_THRESHOLD,
    GAS_STATUS_CHANGE,
    DepartmentKind,
    OrgKind,
    Role,
    Status,
    org_id,
)
from ledger.outbox import Call
from tests.onchain import (
    ADMIN,
    CMTE_A,
    CMTE_B,
    DEPT_A,
    GRID_WORKER,
    M1,
    M2,
    MEMBERS,
    OFFICE_A,
    OFFICE_B,
    OFFICER,
    OTHER_ADMIN,
    OTHER_MEMBER,
    REGISTRAR,
    RESIDENT,
    REVOKED,
    SECOND_ADMIN,
    STRANGER,
    SUSPENDED,
    UNKNOWN_ORG,
    ZERO_ADDRESS,
    assert_mined,
    assert_reverted,
    hexid,
    send,
    send_all,
)

pytestmark = pytest.mark.chain

# -- the session world (labels as in conftest.World) ----------------------------------


WORLD_LABELS = (
    REGISTRAR, ADMIN, SECOND_ADMIN, OTHER_ADMIN, *MEMBERS, SUSPENDED, REVOKED,
    OTHER_MEMBER, GRID_WORKER, RESIDENT, OFFICER, STRANGER,
)  # fmt: skip
WORLD_ORGS = (OFFICE_A, OFFICE_B, CMTE_A, CMTE_B, DEPT_A)

ZERO_ID = bytes(32)
REGISTRAR_ROLE = "0x" + keccak(text="gridledger.membership.REGISTRAR").hex()

# The world's organisations as organisation(oid) returns them:
# (kind, departmentKind, parentId, threshold, activeSigners, activeAdmins)
OFFICE_A_STATE = (OrgKind.OFFICE, DepartmentKind.NONE, ZERO_ID, 0, 0, 2)
OFFICE_B_STATE = (OrgKind.OFFICE, DepartmentKind.NONE, ZERO_ID, 0, 0, 1)
CMTE_A_STATE = (OrgKind.COMMITTEE, DepartmentKind.NONE, OFFICE_A, 2, 3, 0)
CMTE_B_STATE = (OrgKind.COMMITTEE, DepartmentKind.NONE, OFFICE_B, 1, 1, 0)
DEPT_A_STATE = (OrgKind.DEPARTMENT, DepartmentKind.HEALTH, OFFICE_A, 0, 0, 0)
NO_ORG = (OrgKind.NONE, DepartmentKind.NONE, ZERO_ID, 0, 0, 0)
NO_MEMBER = (ZERO_ID, Role.NONE, Status.NONE)

# Callers that hold no power over office-a and what hangs under it.
OUTSIDERS = [OTHER_ADMIN, SUSPENDED, REVOKED, RESIDENT, STRANGER, OTHER_MEMBER]
# ... plus the accounts of office-a's tree that are active but not its admins,
# and the registrar, whose global power covers offices only.
NOT_ADMINS_OF_OFFICE_A = [*OUTSIDERS, M2, GRID_WORKER, OFFICER, REGISTRAR]


# -- helpers ------------------------------------------------------------------------


def new_address(ledger, label: str) -> str:
    return ledger.new_account(label, "member").address


def membership(ledger):
    return ledger.contract("Membership")


def org(ledger, oid: bytes) -> tuple:
    return tuple(membership(ledger).functions.organisation(oid).call())


def member(ledger, who: str) -> tuple:
    return tuple(membership(ledger).functions.member(ledger.address_of(who)).call())


def is_active(ledger, who: str, oid: bytes, role: Role) -> bool:
    return membership(ledger).functions.isActiveMember(ledger.address_of(who), oid, role).call()


def is_admin_for(ledger, who: str, oid: bytes) -> bool:
    return membership(ledger).functions.isOfficeAdminFor(ledger.address_of(who), oid).call()


def state(ledger, extra_orgs: Sequence[bytes] = (), extra_accounts: Sequence[str] = ()) -> dict:
    """Everything the contract holds about the world (and the given extras)."""
    return {
        "orgs": {oid: org(ledger, oid) for oid in (*WORLD_ORGS, *extra_orgs)},
        "members": {who: member(ledger, who) for who in (*WORLD_LABELS, *extra_accounts)},
    }


def events(ledger, receipt, name: str) -> list[dict]:
    event = getattr(membership(ledger).events, name)()
    return [dict(e["args"]) for e in event.process_receipt(receipt, errors=DISCARD)]


def event_names(ledger, receipt) -> list[str]:
    """The names of the receipt's logs, in emission order."""
    topics = {
        "0x" + event_abi_to_log_topic(item).hex(): item["name"]
        for item in membership(ledger).abi
        if item["type"] == "event"
    }
    names = []
    for log in receipt["logs"]:
        assert log["address"] == membership(ledger).address
        names.append(topics["0x" + bytes(log["topics"][0]).hex()])
    return names


def with_counters(base: tuple, *, threshold=None, signers=None, admins=None) -> tuple:
    kind, dkind, parent, k, n, a = base
    return (
        kind,
        dkind,
        parent,
        k if threshold is None else threshold,
        n if signers is None else signers,
        a if admins is None else admins,
    )


# -- the world as the tests expect it -------------------------------------------------


def test_world_counters_are_as_built(ledger):
    assert org(ledger, OFFICE_A) == OFFICE_A_STATE
    assert org(ledger, OFFICE_B) == OFFICE_B_STATE
    assert org(ledger, CMTE_A) == CMTE_A_STATE
    assert org(ledger, CMTE_B) == CMTE_B_STATE
    assert org(ledger, DEPT_A) == DEPT_A_STATE
    assert member(ledger, SUSPENDED) == (CMTE_A, Role.COMMITTEE_MEMBER, Status.SUSPENDED)
    assert member(ledger, REVOKED) == (CMTE_A, Role.COMMITTEE_MEMBER, Status.REVOKED)
    assert member(ledger, RESIDENT) == (CMTE_A, Role.RESIDENT, Status.ACTIVE)
    assert member(ledger, STRANGER) == NO_MEMBER
    assert membership(ledger).functions.hasRole(REGISTRAR_ROLE, ledger.address_of(REGISTRAR)).call()


# -- createOffice ---------------------------------------------------------------------


def test_registrar_creates_office_with_its_first_admin(ledger):
    oid, admin = org_id("office-new"), new_address(ledger, "new-office-admin")
    registrar = ledger.address_of(REGISTRAR)

    row, receipt = send(ledger, REGISTRAR, ledger.membership.create_office(oid, admin))

    assert_mined(row, receipt)
    assert event_names(ledger, receipt) == ["OrganisationCreated", "MemberAdded"]
    assert events(ledger, receipt, "OrganisationCreated") == [
        {
            "orgId": oid,
            "kind": OrgKind.OFFICE,
            "departmentKind": DepartmentKind.NONE,
            "parentId": ZERO_ID,
            "by": registrar,
        }
    ]
    assert events(ledger, receipt, "MemberAdded") == [
        {"account": admin, "orgId": oid, "role": Role.OFFICE_ADMIN, "by": registrar}
    ]
    assert org(ledger, oid) == (OrgKind.OFFICE, DepartmentKind.NONE, ZERO_ID, 0, 0, 1)
    assert member(ledger, admin) == (oid, Role.OFFICE_ADMIN, Status.ACTIVE)
    assert is_admin_for(ledger, admin, oid)
    assert not is_admin_for(ledger, admin, OFFICE_A)


@pytest.mark.parametrize("caller", [ADMIN, *OUTSIDERS, M1, GRID_WORKER, OFFICER])
def test_only_the_registrar_can_create_an_office(ledger, caller):
    oid, admin = org_id("office-new"), new_address(ledger, "new-office-admin")
    before = state(ledger, [oid], [admin])

    row, receipt = send(ledger, caller, ledger.membership.create_office(oid, admin))

    assert_reverted(
        row, receipt, "AccessControlUnauthorizedAccount", account=ledger.address_of(caller), neededRole=REGISTRAR_ROLE
    )
    assert state(ledger, [oid], [admin]) == before
    assert org(ledger, oid) == NO_ORG


def test_create_office_refuses_invalid_input(ledger):
    fresh = new_address(ledger, "fresh-admin")
    new_oid = org_id("office-new")
    cases = [
        (ledger.membership.create_office(ZERO_ID, fresh), "MembershipZeroId", {}),
        (ledger.membership.create_office(OFFICE_B, fresh), "MembershipOrganisationExists", {"orgId": hexid(OFFICE_B)}),
        # an existing committee's id is taken just the same
        (ledger.membership.create_office(CMTE_A, fresh), "MembershipOrganisationExists", {"orgId": hexid(CMTE_A)}),
        (ledger.membership.create_office(new_oid, ZERO_ADDRESS), "MembershipZeroAddress", {}),
        (
            ledger.membership.create_office(new_oid, ledger.address_of(ADMIN)),
            "MembershipAccountExists",
            {"account": ledger.address_of(ADMIN)},
        ),
        # revoked is final: a revoked address cannot come back as an admin either
        (
            ledger.membership.create_office(new_oid, ledger.address_of(REVOKED)),
            "MembershipAccountExists",
            {"account": ledger.address_of(REVOKED)},
        ),
    ]
    before = state(ledger, [new_oid, ZERO_ID], [fresh])

    results = send_all(ledger, [(REGISTRAR, call) for call, _, _ in cases])

    for (row, receipt), (_, error, args) in zip(results, cases, strict=True):
        assert_reverted(row, receipt, error, **args)
    assert state(ledger, [new_oid, ZERO_ID], [fresh]) == before


# -- createCommittee ------------------------------------------------------------------


@pytest.mark.parametrize("caller", [ADMIN, SECOND_ADMIN])
def test_office_admin_creates_committee_with_members_and_threshold(ledger, caller):
    oid = org_id("cmte-new")
    signers = [new_address(ledger, f"new-signer-{i}") for i in range(3)]
    by = ledger.address_of(caller)

    row, receipt = send(ledger, caller, ledger.membership.create_committee(oid, OFFICE_A, signers, 2))

    assert_mined(row, receipt)
    assert event_names(ledger, receipt) == [
        "OrganisationCreated",
        "MemberAdded",
        "MemberAdded",
        "MemberAdded",
        "ThresholdChanged",
    ]
    assert events(ledger, receipt, "OrganisationCreated") == [
        {"orgId": oid, "kind": OrgKind.COMMITTEE, "departmentKind": DepartmentKind.NONE, "parentId": OFFICE_A, "by": by}
    ]
    assert events(ledger, receipt, "MemberAdded") == [
        {"account": s, "orgId": oid, "role": Role.COMMITTEE_MEMBER, "by": by} for s in signers
    ]
    assert events(ledger, receipt, "ThresholdChanged") == [{"orgId": oid, "previous": 0, "threshold": 2, "by": by}]
    assert org(ledger, oid) == (OrgKind.COMMITTEE, DepartmentKind.NONE, OFFICE_A, 2, 3, 0)
    for s in signers:
        assert member(ledger, s) == (oid, Role.COMMITTEE_MEMBER, Status.ACTIVE)
        assert is_active(ledger, s, oid, Role.COMMITTEE_MEMBER)
    assert is_admin_for(ledger, caller, oid)
    assert not is_admin_for(ledger, OTHER_ADMIN, oid)


def test_committee_threshold_may_equal_its_size(ledger):
    oid = org_id("cmte-new")
    signers = [new_address(ledger, f"new-signer-{i}") for i in range(2)]

    row, receipt = send(ledger, ADMIN, ledger.membership.create_committee(oid, OFFICE_A, signers, 2))

    assert_mined(row, receipt)
    assert org(ledger, oid) == (OrgKind.COMMITTEE, DepartmentKind.NONE, OFFICE_A, 2, 2, 0)


@pytest.mark.parametrize("caller", NOT_ADMINS_OF_OFFICE_A)
def test_only_an_admin_of_the_office_can_create_a_committee(ledger, caller):
    oid, signer = org_id("cmte-new"), new_address(ledger, "new-signer")
    before = state(ledger, [oid], [signer])

    row, receipt = send(ledger, caller, ledger.membership.create_committee(oid, OFFICE_A, [signer], 1))

    assert_reverted(row, receipt, "MembershipUnauthorized", caller=ledger.address_of(caller), orgId=hexid(OFFICE_A))
    assert state(ledger, [oid], [signer]) == before


def test_create_committee_refuses_invalid_input(ledger):
    oid = org_id("cmte-new")
    a, b = new_address(ledger, "new-signer-a"), new_address(ledger, "new-signer-b")
    m1 = ledger.address_of(M1)
    revoked = ledger.address_of(REVOKED)
    mk = ledger.membership.create_committee
    cases = [
        (
            "k > n",
            mk(oid, OFFICE_A, [a, b], 3),
            "MembershipInvalidThreshold",
            {"orgId": hexid(oid), "threshold": 3, "signers": 2},
        ),
        (
            "k = 0",
            mk(oid, OFFICE_A, [a, b], 0),
            "MembershipInvalidThreshold",
            {"orgId": hexid(oid), "threshold": 0, "signers": 2},
        ),
        (
            "no members",
            mk(oid, OFFICE_A, [], 1),
            "MembershipInvalidThreshold",
            {"orgId": hexid(oid), "threshold": 1, "signers": 0},
        ),
        ("duplicate in list", mk(oid, OFFICE_A, [a, b, a], 2), "MembershipAccountExists", {"account": a}),
        ("already a member", mk(oid, OFFICE_A, [a, m1], 1), "MembershipAccountExists", {"account": m1}),
        ("revoked account", mk(oid, OFFICE_A, [a, revoked], 1), "MembershipAccountExists", {"account": revoked}),
        ("zero address", mk(oid, OFFICE_A, [a, ZERO_ADDRESS], 1), "MembershipZeroAddress", {}),
        ("zero id", mk(ZERO_ID, OFFICE_A, [a], 1), "MembershipZeroId", {}),
        ("existing id", mk(CMTE_B, OFFICE_A, [a], 1), "MembershipOrganisationExists", {"orgId": hexid(CMTE_B)}),
        (
            "unknown office",
            mk(oid, UNKNOWN_ORG, [a], 1),
            "MembershipUnknownOrganisation",
            {"orgId": hexid(UNKNOWN_ORG)},
        ),
        ("parent is a committee", mk(oid, CMTE_A, [a], 1), "MembershipParentNotOffice", {"parentId": hexid(CMTE_A)}),
        ("parent is a department", mk(oid, DEPT_A, [a], 1), "MembershipParentNotOffice", {"parentId": hexid(DEPT_A)}),
    ]
    before = state(ledger, [oid, ZERO_ID], [a, b])

    results = send_all(ledger, [(ADMIN, call) for _, call, _, _ in cases])

    for (row, receipt), (case, _, error, args) in zip(results, cases, strict=True):
        try:
            assert_reverted(row, receipt, error, **args)
        except AssertionError as exc:
            raise AssertionError(f"case {case!r}: {exc}") from exc
    # nothing written, not even the members added before the failing one
    assert state(ledger, [oid, ZERO_ID], [a, b]) == before
    assert member(ledger, a) == NO_MEMBER


# -- createDepartment -----------------------------------------------------------------


@pytest.mark.parametrize("caller", [ADMIN, SECOND_ADMIN])
def test_office_admin_creates_department(ledger, caller):
    oid = org_id("dept-new")
    by = ledger.address_of(caller)

    row, receipt = send(
        ledger, caller, ledger.membership.create_department(oid, OFFICE_A, DepartmentKind.CIVIL_AFFAIRS)
    )

    assert_mined(row, receipt)
    assert event_names(ledger, receipt) == ["OrganisationCreated"]
    assert events(ledger, receipt, "OrganisationCreated") == [
        {
            "orgId": oid,
            "kind": OrgKind.DEPARTMENT,
            "departmentKind": DepartmentKind.CIVIL_AFFAIRS,
            "parentId": OFFICE_A,
            "by": by,
        }
    ]
    assert org(ledger, oid) == (OrgKind.DEPARTMENT, DepartmentKind.CIVIL_AFFAIRS, OFFICE_A, 0, 0, 0)
    assert is_admin_for(ledger, caller, oid)


@pytest.mark.parametrize("caller", NOT_ADMINS_OF_OFFICE_A)
def test_only_an_admin_of_the_office_can_create_a_department(ledger, caller):
    oid = org_id("dept-new")
    before = state(ledger, [oid])

    row, receipt = send(ledger, caller, ledger.membership.create_department(oid, OFFICE_A, DepartmentKind.HEALTH))

    assert_reverted(row, receipt, "MembershipUnauthorized", caller=ledger.address_of(caller), orgId=hexid(OFFICE_A))
    assert state(ledger, [oid]) == before


def test_create_department_refuses_invalid_input(ledger):
    oid = org_id("dept-new")
    mk = ledger.membership.create_department
    cases = [
        ("kind None", mk(oid, OFFICE_A, DepartmentKind.NONE), "MembershipInvalidDepartmentKind", {"orgId": hexid(oid)}),
        ("zero id", mk(ZERO_ID, OFFICE_A, DepartmentKind.HEALTH), "MembershipZeroId", {}),
        (
            "existing id",
            mk(DEPT_A, OFFICE_A, DepartmentKind.HEALTH),
            "MembershipOrganisationExists",
            {"orgId": hexid(DEPT_A)},
        ),
        (
            "unknown office",
            mk(oid, UNKNOWN_ORG, DepartmentKind.HEALTH),
            "MembershipUnknownOrganisation",
            {"orgId": hexid(UNKNOWN_ORG)},
        ),
        (
            "parent is a committee",
            mk(oid, CMTE_A, DepartmentKind.HEALTH),
            "MembershipParentNotOffice",
            {"parentId": hexid(CMTE_A)},
        ),
        (
            "parent is a department",
            mk(oid, DEPT_A, DepartmentKind.HEALTH),
            "MembershipParentNotOffice",
            {"parentId": hexid(DEPT_A)},
        ),
    ]
    before = state(ledger, [oid, ZERO_ID])

    results = send_all(ledger, [(ADMIN, call) for _, call, _, _ in cases])

    for (row, receipt), (case, _, error, args) in zip(results, cases, strict=True):
        try:
            assert_reverted(row, receipt, error, **args)
        except AssertionError as exc:
            raise AssertionError(f"case {case!r}: {exc}") from exc
    assert state(ledger, [oid, ZERO_ID]) == before


# -- addMember --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("oid", "role", "expected_org"),
    [
        (OFFICE_A, Role.OFFICE_ADMIN, with_counters(OFFICE_A_STATE, admins=3)),
        (CMTE_A, Role.COMMITTEE_MEMBER, with_counters(CMTE_A_STATE, signers=4)),
        (CMTE_A, Role.GRID_WORKER, CMTE_A_STATE),
        (CMTE_A, Role.RESIDENT, CMTE_A_STATE),
        (DEPT_A, Role.DEPARTMENT_OFFICER, DEPT_A_STATE),
    ],
    ids=["office-admin", "committee-member", "grid-worker", "resident", "department-officer"],
)
def test_office_admin_adds_member_with_fitting_role(ledger, oid, role, expected_org):
    account = new_address(ledger, "new-member")

    row, receipt = send(ledger, ADMIN, ledger.membership.add_member(account, oid, role))

    assert_mined(row, receipt)
    assert event_names(ledger, receipt) == ["MemberAdded"]
    assert events(ledger, receipt, "MemberAdded") == [
        {"account": account, "orgId": oid, "role": role, "by": ledger.address_of(ADMIN)}
    ]
    assert member(ledger, account) == (oid, role, Status.ACTIVE)
    assert is_active(ledger, account, oid, role)
    assert org(ledger, oid) == expected_org
    assert is_admin_for(ledger, account, oid) == (role == Role.OFFICE_ADMIN)


@pytest.mark.parametrize("caller", NOT_ADMINS_OF_OFFICE_A + [M1])
def test_only_an_admin_of_the_office_can_add_a_grid_worker(ledger, caller):
    account = new_address(ledger, "new-member")
    before = state(ledger, extra_accounts=[account])

    row, receipt = send(ledger, caller, ledger.membership.add_member(account, CMTE_A, Role.GRID_WORKER))

    assert_reverted(row, receipt, "MembershipUnauthorized", caller=ledger.address_of(caller), orgId=hexid(CMTE_A))
    assert state(ledger, extra_accounts=[account]) == before


@pytest.mark.parametrize("caller", [GRID_WORKER, M1])
def test_grid_worker_or_committee_member_adds_resident_to_own_committee(ledger, caller):
    account = new_address(ledger, "new-resident")

    row, receipt = send(ledger, caller, ledger.membership.add_member(account, CMTE_A, Role.RESIDENT))

    assert_mined(row, receipt)
    assert events(ledger, receipt, "MemberAdded") == [
        {"account": account, "orgId": CMTE_A, "role": Role.RESIDENT, "by": ledger.address_of(caller)}
    ]
    assert member(ledger, account) == (CMTE_A, Role.RESIDENT, Status.ACTIVE)
    assert org(ledger, CMTE_A) == CMTE_A_STATE


@pytest.mark.parametrize("caller", [GRID_WORKER, M1])
def test_grid_worker_or_committee_member_cannot_add_committee_member_or_officer(ledger, caller):
    a, b = new_address(ledger, "new-a"), new_address(ledger, "new-b")
    before = state(ledger, extra_accounts=[a, b])

    results = send_all(
        ledger,
        [
            (caller, ledger.membership.add_member(a, CMTE_A, Role.COMMITTEE_MEMBER)),
            (caller, ledger.membership.add_member(b, DEPT_A, Role.DEPARTMENT_OFFICER)),
        ],
    )

    who = ledger.address_of(caller)
    assert_reverted(*results[0], "MembershipUnauthorized", caller=who, orgId=hexid(CMTE_A))
    assert_reverted(*results[1], "MembershipUnauthorized", caller=who, orgId=hexid(DEPT_A))
    assert state(ledger, extra_accounts=[a, b]) == before


@pytest.mark.parametrize("caller", [GRID_WORKER, M1])
def test_grid_worker_or_committee_member_cannot_add_resident_to_other_committee(ledger, caller):
    account = new_address(ledger, "new-resident")
    before = state(ledger, extra_accounts=[account])

    row, receipt = send(ledger, caller, ledger.membership.add_member(account, CMTE_B, Role.RESIDENT))

    assert_reverted(row, receipt, "MembershipUnauthorized", caller=ledger.address_of(caller), orgId=hexid(CMTE_B))
    assert state(ledger, extra_accounts=[account]) == before


@pytest.mark.parametrize("caller", [*OUTSIDERS, OFFICER, REGISTRAR])
def test_others_cannot_add_resident_to_committee(ledger, caller):
    account = new_address(ledger, "new-resident")
    before = state(ledger, extra_accounts=[account])

    row, receipt = send(ledger, caller, ledger.membership.add_member(account, CMTE_A, Role.RESIDENT))

    assert_reverted(row, receipt, "MembershipUnauthorized", caller=ledger.address_of(caller), orgId=hexid(CMTE_A))
    assert state(ledger, extra_accounts=[account]) == before


def test_suspended_grid_worker_can_no_longer_add_resident(ledger):
    assert_mined(*send(ledger, ADMIN, ledger.membership.suspend(ledger.address_of(GRID_WORKER))))
    account = new_address(ledger, "new-resident")

    row, receipt = send(ledger, GRID_WORKER, ledger.membership.add_member(account, CMTE_A, Role.RESIDENT))

    assert_reverted(row, receipt, "MembershipUnauthorized", caller=ledger.address_of(GRID_WORKER), orgId=hexid(CMTE_A))
    assert member(ledger, account) == NO_MEMBER


def test_registrar_adds_office_admin_for_recovery(ledger):
    account = new_address(ledger, "rescue-admin")

    row, receipt = send(ledger, REGISTRAR, ledger.membership.add_member(account, OFFICE_B, Role.OFFICE_ADMIN))

    assert_mined(row, receipt)
    assert events(ledger, receipt, "MemberAdded") == [
        {"account": account, "orgId": OFFICE_B, "role": Role.OFFICE_ADMIN, "by": ledger.address_of(REGISTRAR)}
    ]
    assert member(ledger, account) == (OFFICE_B, Role.OFFICE_ADMIN, Status.ACTIVE)
    assert org(ledger, OFFICE_B) == with_counters(OFFICE_B_STATE, admins=2)
    assert is_admin_for(ledger, account, CMTE_B)
    assert not is_admin_for(ledger, REGISTRAR, OFFICE_B)


@pytest.mark.parametrize(
    ("oid", "role"),
    [
        (CMTE_A, Role.COMMITTEE_MEMBER),
        (CMTE_A, Role.GRID_WORKER),
        (CMTE_A, Role.RESIDENT),
        (DEPT_A, Role.DEPARTMENT_OFFICER),
    ],
    ids=["committee-member", "grid-worker", "resident", "department-officer"],
)
def test_registrar_cannot_add_roles_other_than_office_admin(ledger, oid, role):
    account = new_address(ledger, "new-member")
    before = state(ledger, extra_accounts=[account])

    row, receipt = send(ledger, REGISTRAR, ledger.membership.add_member(account, oid, role))

    assert_reverted(row, receipt, "MembershipUnauthorized", caller=ledger.address_of(REGISTRAR), orgId=hexid(oid))
    assert state(ledger, extra_accounts=[account]) == before


def test_add_member_refuses_invalid_input(ledger):
    fresh = new_address(ledger, "fresh")
    add = ledger.membership.add_member
    m1, revoked, suspended = (ledger.address_of(x) for x in (M1, REVOKED, SUSPENDED))
    cases = [
        ("already a member", add(m1, CMTE_A, Role.RESIDENT), "MembershipAccountExists", {"account": m1}),
        (
            "member elsewhere",
            add(ledger.address_of(OTHER_MEMBER), CMTE_A, Role.COMMITTEE_MEMBER),
            "MembershipAccountExists",
            {"account": ledger.address_of(OTHER_MEMBER)},
        ),
        (
            "suspended account",
            add(suspended, CMTE_A, Role.COMMITTEE_MEMBER),
            "MembershipAccountExists",
            {"account": suspended},
        ),
        (
            "revoked is final",
            add(revoked, CMTE_A, Role.COMMITTEE_MEMBER),
            "MembershipAccountExists",
            {"account": revoked},
        ),
        ("zero address", add(ZERO_ADDRESS, CMTE_A, Role.RESIDENT), "MembershipZeroAddress", {}),
        (
            "unknown org",
            add(fresh, UNKNOWN_ORG, Role.RESIDENT),
            "MembershipUnknownOrganisation",
            {"orgId": hexid(UNKNOWN_ORG)},
        ),
        ("zero org", add(fresh, ZERO_ID, Role.RESIDENT), "MembershipUnknownOrganisation", {"orgId": hexid(ZERO_ID)}),
        (
            "admin in committee",
            add(fresh, CMTE_A, Role.OFFICE_ADMIN),
            "MembershipRoleNotAllowed",
            {"orgId": hexid(CMTE_A), "role": Role.OFFICE_ADMIN},
        ),
        (
            "signer in office",
            add(fresh, OFFICE_A, Role.COMMITTEE_MEMBER),
            "MembershipRoleNotAllowed",
            {"orgId": hexid(OFFICE_A), "role": Role.COMMITTEE_MEMBER},
        ),
        (
            "resident in department",
            add(fresh, DEPT_A, Role.RESIDENT),
            "MembershipRoleNotAllowed",
            {"orgId": hexid(DEPT_A), "role": Role.RESIDENT},
        ),
        (
            "officer in committee",
            add(fresh, CMTE_A, Role.DEPARTMENT_OFFICER),
            "MembershipRoleNotAllowed",
            {"orgId": hexid(CMTE_A), "role": Role.DEPARTMENT_OFFICER},
        ),
        (
            "role None",
            add(fresh, CMTE_A, Role.NONE),
            "MembershipRoleNotAllowed",
            {"orgId": hexid(CMTE_A), "role": Role.NONE},
        ),
    ]
    before = state(ledger, [ZERO_ID, UNKNOWN_ORG], [fresh, ZERO_ADDRESS])

    results = send_all(ledger, [(ADMIN, call) for _, call, _, _ in cases])

    for (row, receipt), (case, _, error, args) in zip(results, cases, strict=True):
        try:
            assert_reverted(row, receipt, error, **args)
        except AssertionError as exc:
            raise AssertionError(f"case {case!r}: {exc}") from exc
    assert state(ledger, [ZERO_ID, UNKNOWN_ORG], [fresh, ZERO_ADDRESS]) == before


def test_registrar_cannot_add_office_admin_to_committee(ledger):
    account = new_address(ledger, "new-member")

    row, receipt = send(ledger, REGISTRAR, ledger.membership.add_member(account, CMTE_A, Role.OFFICE_ADMIN))

    assert_reverted(row, receipt, "MembershipRoleNotAllowed", orgId=hexid(CMTE_A), role=Role.OFFICE_ADMIN)
    assert member(ledger, account) == NO_MEMBER


# -- suspendMember ----------------------------------------------------------------------


def test_office_admin_suspends_committee_member_and_n_drops(ledger):
    m1 = ledger.address_of(M1)

    row, receipt = send(ledger, ADMIN, ledger.membership.suspend(m1))

    assert_mined(row, receipt)
    assert event_names(ledger, receipt) == ["MemberSuspended"]
    assert events(ledger, receipt, "MemberSuspended") == [
        {"account": m1, "orgId": CMTE_A, "by": ledger.address_of(ADMIN)}
    ]
    assert member(ledger, m1) == (CMTE_A, Role.COMMITTEE_MEMBER, Status.SUSPENDED)
    assert org(ledger, CMTE_A) == with_counters(CMTE_A_STATE, signers=2)
    assert not is_active(ledger, m1, CMTE_A, Role.COMMITTEE_MEMBER)


@pytest.mark.parametrize(
    ("target", "oid", "expected_org"),
    [
        (GRID_WORKER, CMTE_A, CMTE_A_STATE),
        (RESIDENT, CMTE_A, CMTE_A_STATE),
        (OFFICER, DEPT_A, DEPT_A_STATE),
        (SECOND_ADMIN, OFFICE_A, with_counters(OFFICE_A_STATE, admins=1)),
    ],
    ids=["grid-worker", "resident", "officer", "office-admin"],
)
def test_office_admin_suspends_other_roles(ledger, target, oid, expected_org):
    row, receipt = send(ledger, ADMIN, ledger.membership.suspend(ledger.address_of(target)))

    assert_mined(row, receipt)
    assert events(ledger, receipt, "MemberSuspended") == [
        {"account": ledger.address_of(target), "orgId": oid, "by": ledger.address_of(ADMIN)}
    ]
    assert member(ledger, target)[2] == Status.SUSPENDED
    assert org(ledger, oid) == expected_org


@pytest.mark.parametrize("caller", NOT_ADMINS_OF_OFFICE_A)
def test_only_an_admin_of_the_office_can_suspend(ledger, caller):
    before = state(ledger)

    row, receipt = send(ledger, caller, ledger.membership.suspend(ledger.address_of(M1)))

    assert_reverted(row, receipt, "MembershipUnauthorized", caller=ledger.address_of(caller), orgId=hexid(CMTE_A))
    assert state(ledger) == before


def test_suspend_refuses_invalid_status_and_unknown_accounts(ledger):
    suspended, revoked, stranger = (ledger.address_of(x) for x in (SUSPENDED, REVOKED, STRANGER))
    cases = [
        (suspended, "MembershipInvalidStatus", {"account": suspended, "status": Status.SUSPENDED}),
        (revoked, "MembershipInvalidStatus", {"account": revoked, "status": Status.REVOKED}),
        (stranger, "MembershipUnknownAccount", {"account": stranger}),
        (ZERO_ADDRESS, "MembershipUnknownAccount", {"account": ZERO_ADDRESS}),
    ]
    before = state(ledger)

    results = send_all(ledger, [(ADMIN, ledger.membership.suspend(target)) for target, _, _ in cases])

    for (row, receipt), (_, error, args) in zip(results, cases, strict=True):
        assert_reverted(row, receipt, error, **args)
    assert state(ledger) == before


def test_suspending_a_signer_may_not_drop_n_below_k(ledger):
    m1, m2 = ledger.address_of(M1), ledger.address_of(M2)
    assert_mined(*send(ledger, ADMIN, ledger.membership.suspend(m1)))
    assert org(ledger, CMTE_A) == with_counters(CMTE_A_STATE, signers=2)  # k = n = 2

    row, receipt = send(ledger, ADMIN, ledger.membership.suspend(m2))

    assert_reverted(row, receipt, "MembershipInvalidThreshold", orgId=hexid(CMTE_A), threshold=2, signers=1)
    assert member(ledger, m2) == (CMTE_A, Role.COMMITTEE_MEMBER, Status.ACTIVE)
    assert org(ledger, CMTE_A) == with_counters(CMTE_A_STATE, signers=2)


def test_suspending_the_only_signer_of_a_one_of_one_committee_is_refused(ledger):
    other = ledger.address_of(OTHER_MEMBER)

    row, receipt = send(ledger, OTHER_ADMIN, ledger.membership.suspend(other))

    assert_reverted(row, receipt, "MembershipInvalidThreshold", orgId=hexid(CMTE_B), threshold=1, signers=0)
    assert member(ledger, other) == (CMTE_B, Role.COMMITTEE_MEMBER, Status.ACTIVE)
    assert org(ledger, CMTE_B) == CMTE_B_STATE


def test_last_active_admin_of_an_office_cannot_be_suspended_or_revoked(ledger):
    admin, second = ledger.address_of(ADMIN), ledger.address_of(SECOND_ADMIN)
    assert_mined(*send(ledger, ADMIN, ledger.membership.suspend(second)))
    assert org(ledger, OFFICE_A) == with_counters(OFFICE_A_STATE, admins=1)

    results = send_all(
        ledger,
        [
            (ADMIN, ledger.membership.suspend(admin)),
            (ADMIN, ledger.membership.revoke(admin)),
            (OTHER_ADMIN, ledger.membership.suspend(ledger.address_of(OTHER_ADMIN))),
        ],
    )

    assert_reverted(*results[0], "MembershipLastAdmin", orgId=hexid(OFFICE_A), account=admin)
    assert_reverted(*results[1], "MembershipLastAdmin", orgId=hexid(OFFICE_A), account=admin)
    assert_reverted(*results[2], "MembershipLastAdmin", orgId=hexid(OFFICE_B), account=ledger.address_of(OTHER_ADMIN))
    assert member(ledger, admin) == (OFFICE_A, Role.OFFICE_ADMIN, Status.ACTIVE)
    assert org(ledger, OFFICE_A) == with_counters(OFFICE_A_STATE, admins=1)
    assert org(ledger, OFFICE_B) == OFFICE_B_STATE


def test_admin_may_suspend_itself_while_another_admin_is_active(ledger):
    admin = ledger.address_of(ADMIN)

    row, receipt = send(ledger, ADMIN, ledger.membership.suspend(admin))

    assert_mined(row, receipt)
    assert events(ledger, receipt, "MemberSuspended") == [{"account": admin, "orgId": OFFICE_A, "by": admin}]
    assert org(ledger, OFFICE_A) == with_counters(OFFICE_A_STATE, admins=1)
    assert not is_admin_for(ledger, ADMIN, CMTE_A)
    assert is_admin_for(ledger, SECOND_ADMIN, CMTE_A)


def test_suspended_admin_loses_its_powers(ledger):
    assert_mined(*send(ledger, ADMIN, ledger.membership.suspend(ledger.address_of(SECOND_ADMIN))))
    account = new_address(ledger, "new-member")
    second = ledger.address_of(SECOND_ADMIN)

    results = send_all(
        ledger,
        [
            (SECOND_ADMIN, ledger.membership.add_member(account, CMTE_A, Role.RESIDENT)),
            (SECOND_ADMIN, ledger.membership.set_threshold(CMTE_A, 1)),
            (SECOND_ADMIN, ledger.membership.reinstate(second)),
        ],
    )

    assert_reverted(*results[0], "MembershipUnauthorized", caller=second, orgId=hexid(CMTE_A))
    assert_reverted(*results[1], "MembershipUnauthorized", caller=second, orgId=hexid(CMTE_A))
    assert_reverted(*results[2], "MembershipUnauthorized", caller=second, orgId=hexid(OFFICE_A))
    assert member(ledger, account) == NO_MEMBER
    assert org(ledger, CMTE_A) == CMTE_A_STATE
    assert member(ledger, second) == (OFFICE_A, Role.OFFICE_ADMIN, Status.SUSPENDED)


# -- reinstateMember --------------------------------------------------------------------


def test_office_admin_reinstates_suspended_signer_and_n_grows(ledger):
    suspended = ledger.address_of(SUSPENDED)

    row, receipt = send(ledger, SECOND_ADMIN, ledger.membership.reinstate(suspended))

    assert_mined(row, receipt)
    assert event_names(ledger, receipt) == ["MemberReinstated"]
    assert events(ledger, receipt, "MemberReinstated") == [
        {"account": suspended, "orgId": CMTE_A, "by": ledger.address_of(SECOND_ADMIN)}
    ]
    assert member(ledger, suspended) == (CMTE_A, Role.COMMITTEE_MEMBER, Status.ACTIVE)
    assert org(ledger, CMTE_A) == with_counters(CMTE_A_STATE, signers=4)
    assert is_active(ledger, suspended, CMTE_A, Role.COMMITTEE_MEMBER)


def test_reinstated_admin_counts_again(ledger):
    second = ledger.address_of(SECOND_ADMIN)
    assert_mined(*send(ledger, ADMIN, ledger.membership.suspend(second)))

    row, receipt = send(ledger, ADMIN, ledger.membership.reinstate(second))

    assert_mined(row, receipt)
    assert events(ledger, receipt, "MemberReinstated") == [
        {"account": second, "orgId": OFFICE_A, "by": ledger.address_of(ADMIN)}
    ]
    assert org(ledger, OFFICE_A) == OFFICE_A_STATE
    assert is_admin_for(ledger, SECOND_ADMIN, DEPT_A)


@pytest.mark.parametrize("caller", NOT_ADMINS_OF_OFFICE_A)
def test_only_an_admin_of_the_office_can_reinstate(ledger, caller):
    before = state(ledger)

    row, receipt = send(ledger, caller, ledger.membership.reinstate(ledger.address_of(SUSPENDED)))

    assert_reverted(row, receipt, "MembershipUnauthorized", caller=ledger.address_of(caller), orgId=hexid(CMTE_A))
    assert state(ledger) == before


def test_reinstate_refuses_active_revoked_and_unknown_accounts(ledger):
    m1, revoked, stranger = (ledger.address_of(x) for x in (M1, REVOKED, STRANGER))
    cases = [
        (m1, "MembershipInvalidStatus", {"account": m1, "status": Status.ACTIVE}),
        (revoked, "MembershipInvalidStatus", {"account": revoked, "status": Status.REVOKED}),
        (stranger, "MembershipUnknownAccount", {"account": stranger}),
    ]
    before = state(ledger)

    results = send_all(ledger, [(ADMIN, ledger.membership.reinstate(target)) for target, _, _ in cases])

    for (row, receipt), (_, error, args) in zip(results, cases, strict=True):
        assert_reverted(row, receipt, error, **args)
    assert state(ledger) == before


# -- revokeMember -----------------------------------------------------------------------


def test_office_admin_revokes_active_signer_and_n_drops(ledger):
    m1 = ledger.address_of(M1)

    row, receipt = send(ledger, ADMIN, ledger.membership.revoke(m1))

    assert_mined(row, receipt)
    assert event_names(ledger, receipt) == ["MemberRevoked"]
    assert events(ledger, receipt, "MemberRevoked") == [
        {"account": m1, "orgId": CMTE_A, "by": ledger.address_of(ADMIN)}
    ]
    assert member(ledger, m1) == (CMTE_A, Role.COMMITTEE_MEMBER, Status.REVOKED)
    assert org(ledger, CMTE_A) == with_counters(CMTE_A_STATE, signers=2)


def test_revoking_a_suspended_signer_leaves_n_unchanged_and_is_final(ledger):
    suspended = ledger.address_of(SUSPENDED)

    row, receipt = send(ledger, ADMIN, ledger.membership.revoke(suspended))

    assert_mined(row, receipt)
    assert events(ledger, receipt, "MemberRevoked") == [
        {"account": suspended, "orgId": CMTE_A, "by": ledger.address_of(ADMIN)}
    ]
    assert member(ledger, suspended) == (CMTE_A, Role.COMMITTEE_MEMBER, Status.REVOKED)
    assert org(ledger, CMTE_A) == CMTE_A_STATE

    results = send_all(
        ledger,
        [
            (ADMIN, ledger.membership.reinstate(suspended)),
            (ADMIN, ledger.membership.add_member(suspended, CMTE_A, Role.RESIDENT)),
        ],
    )

    assert_reverted(*results[0], "MembershipInvalidStatus", account=suspended, status=Status.REVOKED)
    assert_reverted(*results[1], "MembershipAccountExists", account=suspended)
    assert member(ledger, suspended) == (CMTE_A, Role.COMMITTEE_MEMBER, Status.REVOKED)
    assert org(ledger, CMTE_A) == CMTE_A_STATE


def test_revoking_an_admin_lowers_the_admin_count(ledger):
    second = ledger.address_of(SECOND_ADMIN)

    row, receipt = send(ledger, ADMIN, ledger.membership.revoke(second))

    assert_mined(row, receipt)
    assert events(ledger, receipt, "MemberRevoked") == [
        {"account": second, "orgId": OFFICE_A, "by": ledger.address_of(ADMIN)}
    ]
    assert org(ledger, OFFICE_A) == with_counters(OFFICE_A_STATE, admins=1)
    assert not is_admin_for(ledger, SECOND_ADMIN, OFFICE_A)


@pytest.mark.parametrize("caller", NOT_ADMINS_OF_OFFICE_A)
def test_only_an_admin_of_the_office_can_revoke(ledger, caller):
    before = state(ledger)

    row, receipt = send(ledger, caller, ledger.membership.revoke(ledger.address_of(M1)))

    assert_reverted(row, receipt, "MembershipUnauthorized", caller=ledger.address_of(caller), orgId=hexid(CMTE_A))
    assert state(ledger) == before


def test_revoke_refuses_revoked_and_unknown_accounts_and_n_below_k(ledger):
    m1, m2, revoked, stranger = (ledger.address_of(x) for x in (M1, M2, REVOKED, STRANGER))
    assert_mined(*send(ledger, ADMIN, ledger.membership.suspend(m1)))  # now k = n = 2
    cases = [
        (revoked, "MembershipInvalidStatus", {"account": revoked, "status": Status.REVOKED}),
        (stranger, "MembershipUnknownAccount", {"account": stranger}),
        (m2, "MembershipInvalidThreshold", {"orgId": hexid(CMTE_A), "threshold": 2, "signers": 1}),
    ]
    before = state(ledger)

    results = send_all(ledger, [(ADMIN, ledger.membership.revoke(target)) for target, _, _ in cases])

    for (row, receipt), (_, error, args) in zip(results, cases, strict=True):
        assert_reverted(row, receipt, error, **args)
    assert state(ledger) == before
    assert org(ledger, CMTE_A) == with_counters(CMTE_A_STATE, signers=2)


# -- setThreshold -----------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 3])
def test_office_admin_sets_threshold_within_one_to_n(ledger, k):
    row, receipt = send(ledger, SECOND_ADMIN, ledger.membership.set_threshold(CMTE_A, k))

    assert_mined(row, receipt)
    assert event_names(ledger, receipt) == ["ThresholdChanged"]
    assert events(ledger, receipt, "ThresholdChanged") == [
        {"orgId": CMTE_A, "previous": 2, "threshold": k, "by": ledger.address_of(SECOND_ADMIN)}
    ]
    assert org(ledger, CMTE_A) == with_counters(CMTE_A_STATE, threshold=k)


@pytest.mark.parametrize("caller", NOT_ADMINS_OF_OFFICE_A)
def test_only_an_admin_of_the_office_can_set_threshold(ledger, caller):
    before = state(ledger)

    row, receipt = send(ledger, caller, ledger.membership.set_threshold(CMTE_A, 3))

    assert_reverted(row, receipt, "MembershipUnauthorized", caller=ledger.address_of(caller), orgId=hexid(CMTE_A))
    assert state(ledger) == before


def test_set_threshold_refuses_invalid_input(ledger):
    st = ledger.membership.set_threshold
    cases = [
        # suspended and revoked signers do not count towards n
        ("k > n", st(CMTE_A, 4), "MembershipInvalidThreshold", {"orgId": hexid(CMTE_A), "threshold": 4, "signers": 3}),
        ("k = 0", st(CMTE_A, 0), "MembershipInvalidThreshold", {"orgId": hexid(CMTE_A), "threshold": 0, "signers": 3}),
        ("department", st(DEPT_A, 1), "MembershipNotCommittee", {"orgId": hexid(DEPT_A)}),
        ("office", st(OFFICE_A, 1), "MembershipNotCommittee", {"orgId": hexid(OFFICE_A)}),
        ("unknown", st(UNKNOWN_ORG, 1), "MembershipUnknownOrganisation", {"orgId": hexid(UNKNOWN_ORG)}),
    ]
    before = state(ledger, [UNKNOWN_ORG])

    results = send_all(ledger, [(ADMIN, call) for _, call, _, _ in cases])

    for (row, receipt), (case, _, error, args) in zip(results, cases, strict=True):
        try:
            assert_reverted(row, receipt, error, **args)
        except AssertionError as exc:
            raise AssertionError(f"case {case!r}: {exc}") from exc
    assert state(ledger, [UNKNOWN_ORG]) == before


# -- across offices ---------------------------------------------------------------------


def test_office_admin_cannot_manage_the_other_office(ledger):
    account = new_address(ledger, "new-member")
    other_member = ledger.address_of(OTHER_MEMBER)
    calls = [
        ledger.membership.create_committee(org_id("cmte-new"), OFFICE_B, [account], 1),
        ledger.membership.create_department(org_id("dept-new"), OFFICE_B, DepartmentKind.HEALTH),
        ledger.membership.add_member(account, CMTE_B, Role.RESIDENT),
        ledger.membership.add_member(account, OFFICE_B, Role.OFFICE_ADMIN),
        ledger.membership.suspend(other_member),
        ledger.membership.revoke(ledger.address_of(OTHER_ADMIN)),
        ledger.membership.set_threshold(CMTE_B, 1),
    ]
    expected_org = [OFFICE_B, OFFICE_B, CMTE_B, OFFICE_B, CMTE_B, OFFICE_B, CMTE_B]
    before = state(ledger, [org_id("cmte-new"), org_id("dept-new")], [account])

    results = send_all(ledger, [(ADMIN, call) for call in calls])

    for (row, receipt), oid in zip(results, expected_org, strict=True):
        assert_reverted(row, receipt, "MembershipUnauthorized", caller=ledger.address_of(ADMIN), orgId=hexid(oid))
    assert state(ledger, [org_id("cmte-new"), org_id("dept-new")], [account]) == before


# -- k-of-n over a sequence of changes ------------------------------------------------


def test_k_of_n_counters_follow_every_change(ledger):
    m1, m2, m3 = (ledger.address_of(m) for m in MEMBERS)
    newcomer = new_address(ledger, "newcomer")

    def step(label, call, expected):
        """Sends ``call``; ``expected`` is (k, n) afterwards, or the error name of a
        refusal that must leave (k, n) as it was."""
        counters = org(ledger, CMTE_A)[3:5]
        row, receipt = send(ledger, ADMIN, call)
        if isinstance(expected, str):
            assert (row.status, row.error_name) == ("reverted", expected), label
            assert receipt["logs"] == []
            assert org(ledger, CMTE_A)[3:5] == counters, label
        else:
            assert_mined(row, receipt)
            assert org(ledger, CMTE_A)[3:5] == expected, label

    step("lower k", ledger.membership.set_threshold(CMTE_A, 1), (1, 3))
    step("suspend m1", ledger.membership.suspend(m1), (1, 2))
    step("revoke m2", ledger.membership.revoke(m2), (1, 1))
    step("the last signer stays", ledger.membership.suspend(m3), "MembershipInvalidThreshold")
    step("k above n", ledger.membership.set_threshold(CMTE_A, 2), "MembershipInvalidThreshold")
    step("reinstate m1", ledger.membership.reinstate(m1), (1, 2))
    step("add a signer", ledger.membership.add_member(newcomer, CMTE_A, Role.COMMITTEE_MEMBER), (1, 3))
    step("raise k to n", ledger.membership.set_threshold(CMTE_A, 3), (3, 3))
    step("a signer can no longer leave", ledger.membership.revoke(newcomer), "MembershipInvalidThreshold")
    step("reinstate the suspended one", ledger.membership.reinstate(ledger.address_of(SUSPENDED)), (3, 4))
    step("now one may leave", ledger.membership.revoke(newcomer), (3, 3))
    assert org(ledger, CMTE_A) == (OrgKind.COMMITTEE, DepartmentKind.NONE, OFFICE_A, 3, 3, 0)


# -- views ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "oid", "role", "expected"),
    [
        (M1, CMTE_A, Role.COMMITTEE_MEMBER, True),
        (M1, CMTE_A, Role.GRID_WORKER, False),
        (M1, CMTE_B, Role.COMMITTEE_MEMBER, False),
        (GRID_WORKER, CMTE_A, Role.GRID_WORKER, True),
        (RESIDENT, CMTE_A, Role.RESIDENT, True),
        (OFFICER, DEPT_A, Role.DEPARTMENT_OFFICER, True),
        (ADMIN, OFFICE_A, Role.OFFICE_ADMIN, True),
        (ADMIN, CMTE_A, Role.OFFICE_ADMIN, False),
        (SUSPENDED, CMTE_A, Role.COMMITTEE_MEMBER, False),
        (REVOKED, CMTE_A, Role.COMMITTEE_MEMBER, False),
        (STRANGER, ZERO_ID, Role.NONE, False),
        (REGISTRAR, OFFICE_A, Role.OFFICE_ADMIN, False),
    ],
)
def test_is_active_member(ledger, who, oid, role, expected):
    assert is_active(ledger, who, oid, role) is expected


@pytest.mark.parametrize(
    ("who", "oid", "expected"),
    [
        (ADMIN, OFFICE_A, True),
        (ADMIN, CMTE_A, True),
        (ADMIN, DEPT_A, True),
        (SECOND_ADMIN, CMTE_A, True),
        (ADMIN, OFFICE_B, False),
        (ADMIN, CMTE_B, False),
        (OTHER_ADMIN, CMTE_B, True),
        (OTHER_ADMIN, CMTE_A, False),
        (M1, CMTE_A, False),
        (GRID_WORKER, CMTE_A, False),
        (REGISTRAR, OFFICE_A, False),
        (ADMIN, UNKNOWN_ORG, False),
        (ADMIN, ZERO_ID, False),
    ],
)
def test_is_office_admin_for(ledger, who, oid, expected):
    assert is_admin_for(ledger, who, oid) is expected


# -- gas ------------------------------------------------------------------------------


def test_every_call_uses_at_most_60_percent_of_its_gas_limit(ledger):
    mc = ledger.membership
    office = org_id("gas-office")
    first_admin, second_admin = new_address(ledger, "gas-admin-1"), new_address(ledger, "gas-admin-2")
    signers = {n: [new_address(ledger, f"gas-signer-{n}-{i}") for i in range(n)] for n in (1, 3, 10)}
    worker, resident = new_address(ledger, "gas-worker"), new_address(ledger, "gas-resident")
    steps: list[tuple[str, str, Call, int]] = [
        ("createOffice", REGISTRAR, mc.create_office(office, first_admin), GAS_CREATE_OFFICE),
        ("addMember(office admin)", REGISTRAR, mc.add_member(second_admin, office, Role.OFFICE_ADMIN), GAS_ADD_MEMBER),
        *(
            (
                f"createCommittee(n={n})",
                ADMIN,
                mc.create_committee(org_id(f"gas-cmte-{n}"), OFFICE_A, members, n),
                GAS_COMMITTEE_BASE + GAS_COMMITTEE_PER_MEMBER * n,
            )
            for n, members in signers.items()
        ),
        (
            "createDepartment",
            ADMIN,
            mc.create_department(org_id("gas-dept"), OFFICE_A, DepartmentKind.OTHER),
            GAS_CREATE_DEPARTMENT,
        ),
        (
            "addMember(committee member)",
            ADMIN,
            mc.add_member(new_address(ledger, "gas-m"), CMTE_A, Role.COMMITTEE_MEMBER),
            GAS_ADD_MEMBER,
        ),
        ("addMember(grid worker)", ADMIN, mc.add_member(worker, CMTE_A, Role.GRID_WORKER), GAS_ADD_MEMBER),
        (
            "addMember(resident by grid worker)",
            GRID_WORKER,
            mc.add_member(resident, CMTE_A, Role.RESIDENT),
            GAS_ADD_MEMBER,
        ),
        ("suspendMember(signer)", ADMIN, mc.suspend(ledger.address_of(M1)), GAS_STATUS_CHANGE),
        ("suspendMember(admin)", ADMIN, mc.suspend(ledger.address_of(SECOND_ADMIN)), GAS_STATUS_CHANGE),
        ("reinstateMember(signer)", ADMIN, mc.reinstate(ledger.address_of(SUSPENDED)), GAS_STATUS_CHANGE),
        ("revokeMember(active signer)", ADMIN, mc.revoke(ledger.address_of(M2)), GAS_STATUS_CHANGE),
        ("revokeMember(suspended signer)", ADMIN, mc.revoke(ledger.address_of(M1)), GAS_STATUS_CHANGE),
        ("setThreshold", ADMIN, mc.set_threshold(CMTE_A, 3), GAS_SET_THRESHOLD),
    ]

    results = send_all(ledger, [(signer, call) for _, signer, call, _ in steps])

    measured = {}
    for (row, receipt), (name, _, call, limit) in zip(results, steps, strict=True):
        assert_mined(row, receipt)
        assert call.gas == limit
        assert ledger.w3.eth.get_transaction(receipt["transactionHash"])["gas"] == limit
        measured[name] = (receipt["gasUsed"], limit)
    print("\ngasUsed / limit per call:")
    for name, (used, limit) in measured.items():
        print(f"  {name:38s} {used:>9,} / {limit:>9,}  ({used / limit:.0%})")
    over = {name: f"{used}/{limit}" for name, (used, limit) in measured.items() if used > 0.6 * limit}
    assert not over, f"calls above 60% of their gas limit: {over}"


def test_large_committee_creation_stays_within_60_percent_of_its_gas_limit(ledger):
    """Regression: with 80k gas per member, committees of 15+ exceeded the margin."""
    n = 15
    members = [new_address(ledger, f"gas-signer-{i}") for i in range(n)]

    row, receipt = send(ledger, ADMIN, ledger.membership.create_committee(org_id("gas-cmte"), OFFICE_A, members, n))

    assert_mined(row, receipt)
    assert receipt["gasUsed"] <= 0.6 * (GAS_COMMITTEE_BASE + GAS_COMMITTEE_PER_MEMBER * n)
