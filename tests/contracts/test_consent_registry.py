"""The ConsentRegistry contract on chain: who may issue, relay, withdraw and revoke a
grant, which relayed signatures count, and the one rule ``isActive``.

As in ``test_membership_contract.py``, every test sends real, locally signed
transactions through the outbox without a preflight, so a refused call is mined as a
reverted transaction: we check the custom error's name and arguments, that the receipt
holds no log, and that grants and nonces did not change. Relayed requests are EIP-712
``Grant`` and ``Withdraw`` messages built here with eth-account from the domain
constants, so the tests also pin the types and the domain. Times come from the chain's
latest block; the chain (and its clock) is reverted after each test.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_utils import event_abi_to_log_topic, keccak
from hexbytes import HexBytes
from web3.logs import DISCARD

from ledger.consent import GAS_ISSUE, GAS_ISSUE_WITH_SIG, GAS_REVOKE, GAS_WITHDRAW, GAS_WITHDRAW_WITH_SIG
from ledger.membership import DepartmentKind, Role, org_id
from ledger.outbox import Call
from tests.onchain import (
    ADMIN,
    CMTE_A,
    CMTE_B,
    DEPT_A,
    GRID_WORKER,
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
    assert_cases,
    assert_mined,
    assert_reverted,
    hexid,
    send,
    send_all,
)

pytestmark = pytest.mark.chain

# -- the session world (labels as in conftest.World) ----------------------------------

M1, M2 = "cmte-a-m1", "cmte-a-m2"
POLICE_A = org_id("dept-a-police")  # office-a's second department
DEPT_B = org_id("dept-b-health")  # made by the tests that need it (the fixture other_office_department)


ZERO = bytes(32)

# IConsentRegistry.Status
NONE, ACTIVE, WITHDRAWN, REVOKED_STATUS = 0, 1, 2, 3

DOMAIN_NAME = "gridledger ConsentRegistry"
DOMAIN_VERSION = "1"
EIP712_DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
GRANT_TYPE = [
    {"name": "grantId", "type": "bytes32"},
    {"name": "resident", "type": "address"},
    {"name": "department", "type": "bytes32"},
    {"name": "categories", "type": "uint64"},
    {"name": "purpose", "type": "uint16"},
    {"name": "legalBasis", "type": "uint8"},
    {"name": "validFrom", "type": "uint64"},
    {"name": "validUntil", "type": "uint64"},
    {"name": "termsHash", "type": "bytes32"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
WITHDRAW_TYPE = [
    {"name": "grantId", "type": "bytes32"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

# Gas limits for these tests; the library's constants are set from what they measure.

#: grantOf() of an id never issued
NO_GRANT = (ZERO_ADDRESS, ZERO, 0, 0, 0, 0, 0, ZERO, NONE, 0, ZERO_ADDRESS)
#: categories 1, 5 and 63
MASK = (1 << 1) | (1 << 5) | (1 << 63)


# -- helpers ------------------------------------------------------------------------


def new_id() -> bytes:
    return os.urandom(32)


def addr(ledger, label: str) -> str:
    return ledger.address_of(label)


def contract(ledger):
    return ledger.contract("ConsentRegistry")


def now(ledger) -> int:
    return int(ledger.w3.eth.get_block("latest")["timestamp"])


def block_time(ledger, receipt) -> int:
    return int(ledger.w3.eth.get_block(receipt["blockNumber"])["timestamp"])


def advance(ledger, seconds: int) -> None:
    """Moves the chain's clock forward and mines a block at the new time."""
    ledger.w3.provider.make_request("evm_increaseTime", [seconds])
    ledger.w3.provider.make_request("evm_mine", [])


@dataclass(frozen=True)
class Terms:
    """IConsentRegistry.GrantTerms"""

    grant_id: bytes
    department: bytes
    categories: int
    purpose: int
    legal_basis: int
    valid_from: int
    valid_until: int
    terms_hash: bytes

    def abi(self) -> tuple:
        return dataclasses.astuple(self)

    def replace(self, **changes: Any) -> Terms:
        return dataclasses.replace(self, **changes)


def new_terms(ledger, **changes: Any) -> Terms:
    """Terms for the world's health department, valid from a minute ago for a day."""
    t = now(ledger)
    terms = Terms(new_id(), DEPT_A, MASK, 12, 1, t - 60, t + 86_400, keccak(os.urandom(32)))
    return terms.replace(**changes)


def cr_call(ledger, fn: str, args: list[Any], gas: int) -> Call:
    c = contract(ledger)
    data = bytes(HexBytes(c.encode_abi(fn, args=args)))
    return Call(to=c.address, data=data, gas=gas, purpose=f"consentRegistry.{fn}")


def issue(ledger, terms: Terms) -> Call:
    return cr_call(ledger, "issue", [terms.abi()], GAS_ISSUE)


def issue_with_sig(ledger, terms: Terms, resident: str, deadline: int, signature: bytes) -> Call:
    return cr_call(ledger, "issueWithSig", [terms.abi(), resident, deadline, signature], GAS_ISSUE_WITH_SIG)


def withdraw(ledger, grant_id: bytes) -> Call:
    return cr_call(ledger, "withdraw", [grant_id], GAS_WITHDRAW)


def withdraw_with_sig(ledger, grant_id: bytes, deadline: int, signature: bytes) -> Call:
    return cr_call(ledger, "withdrawWithSig", [grant_id, deadline, signature], GAS_WITHDRAW_WITH_SIG)


def revoke(ledger, grant_id: bytes, reason_hash: bytes) -> Call:
    return cr_call(ledger, "revoke", [grant_id, reason_hash], GAS_REVOKE)


def grant_of(ledger, grant_id: bytes) -> tuple:
    """(resident, department, categories, purpose, legalBasis, validFrom, validUntil,
    termsHash, status, statusAt, relayer)"""
    return tuple(contract(ledger).functions.grantOf(grant_id).call())


def nonce_of(ledger, label: str) -> int:
    return int(contract(ledger).functions.nonces(addr(ledger, label)).call())


def is_active(ledger, grant_id: bytes, org: bytes, category: int, at: int) -> bool:
    return bool(contract(ledger).functions.isActive(grant_id, org, category, at).call())


def state(ledger, grant_ids: Sequence[bytes], labels: Sequence[str] = (RESIDENT,)) -> dict:
    return {
        "grants": {g: grant_of(ledger, g) for g in grant_ids},
        "nonces": {label: nonce_of(ledger, label) for label in labels},
    }


def events(ledger, receipt, name: str) -> list[dict]:
    event = getattr(contract(ledger).events, name)()
    return [dict(e["args"]) for e in event.process_receipt(receipt, errors=DISCARD)]


def event_names(ledger, receipt) -> list[str]:
    """The names of the receipt's logs, in emission order (all from ConsentRegistry)."""
    c = contract(ledger)
    topics = {bytes(event_abi_to_log_topic(item)): item["name"] for item in c.abi if item["type"] == "event"}
    names = []
    for log in receipt["logs"]:
        assert log["address"] == c.address
        names.append(topics[bytes(log["topics"][0])])
    return names


def typed(ledger, primary: str, fields: list[dict], message: dict, domain: dict | None) -> SignableMessage:
    return encode_typed_data(
        full_message={
            "types": {"EIP712Domain": EIP712_DOMAIN_TYPE, primary: fields},
            "primaryType": primary,
            "domain": {
                "name": DOMAIN_NAME,
                "version": DOMAIN_VERSION,
                "chainId": ledger.w3.eth.chain_id,
                "verifyingContract": contract(ledger).address,
                **(domain or {}),
            },
            "message": message,
        }
    )


def grant_message(
    ledger, terms: Terms, resident: str, nonce: int, deadline: int, domain: dict | None = None
) -> SignableMessage:
    message = {
        "grantId": terms.grant_id,
        "resident": resident,
        "department": terms.department,
        "categories": terms.categories,
        "purpose": terms.purpose,
        "legalBasis": terms.legal_basis,
        "validFrom": terms.valid_from,
        "validUntil": terms.valid_until,
        "termsHash": terms.terms_hash,
        "nonce": nonce,
        "deadline": deadline,
    }
    return typed(ledger, "Grant", GRANT_TYPE, message, domain)


def withdraw_message(ledger, grant_id: bytes, nonce: int, deadline: int, domain: dict | None = None) -> SignableMessage:
    return typed(ledger, "Withdraw", WITHDRAW_TYPE, {"grantId": grant_id, "nonce": nonce, "deadline": deadline}, domain)


def sign(ledger, label: str, message: SignableMessage) -> bytes:
    return bytes(Account.sign_message(message, ledger.account(label).key).signature)


def signed_grant(ledger, terms: Terms, label: str = RESIDENT, deadline: int | None = None) -> tuple[int, bytes]:
    """(deadline, signature) of ``label`` over a Grant of ``terms`` with their next nonce."""
    deadline = now(ledger) + 3_600 if deadline is None else deadline
    resident = addr(ledger, label)
    return deadline, sign(ledger, label, grant_message(ledger, terms, resident, nonce_of(ledger, label), deadline))


def high_s_twin(signature: bytes) -> bytes:
    """The other valid ECDSA signature of the same message: s -> n - s, v flipped."""
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    return r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])


def add_resident(ledger, label: str) -> str:
    """A second resident of cmte-a, added by the grid worker."""
    account = ledger.new_account(label, "member").address
    assert_mined(*send(ledger, GRID_WORKER, ledger.membership.add_member(account, CMTE_A, Role.RESIDENT)))
    return label


@pytest.fixture
def other_office_department(ledger) -> bytes:
    """A health department under office-b, made by office-b's admin for this test only."""
    assert_mined(
        *send(ledger, OTHER_ADMIN, ledger.membership.create_department(DEPT_B, OFFICE_B, DepartmentKind.HEALTH))
    )
    return DEPT_B


@pytest.fixture
def grant(ledger) -> Terms:
    """A grant the world's resident issued to the health department."""
    terms = new_terms(ledger)
    assert_mined(*send(ledger, RESIDENT, issue(ledger, terms)))
    return terms


# -- domain ---------------------------------------------------------------------------


def test_eip712_domain_is_what_signers_use(ledger):
    c = contract(ledger)
    assert tuple(c.functions.eip712Domain().call()) == (
        b"\x0f",  # name, version, chainId, verifyingContract
        DOMAIN_NAME,
        DOMAIN_VERSION,
        ledger.w3.eth.chain_id,
        c.address,
        ZERO,
        [],
    )
    assert nonce_of(ledger, RESIDENT) == 0


# -- issue ----------------------------------------------------------------------------


def test_resident_issues_a_grant(ledger):
    terms, resident = new_terms(ledger), addr(ledger, RESIDENT)

    row, receipt = send(ledger, RESIDENT, issue(ledger, terms))

    assert_mined(row, receipt)
    assert event_names(ledger, receipt) == ["GrantIssued"]
    assert events(ledger, receipt, "GrantIssued") == [
        {
            "grantId": terms.grant_id,
            "resident": resident,
            "department": DEPT_A,
            "categories": MASK,
            "purpose": terms.purpose,
            "legalBasis": terms.legal_basis,
            "validFrom": terms.valid_from,
            "validUntil": terms.valid_until,
            "termsHash": terms.terms_hash,
            "relayer": ZERO_ADDRESS,
        }
    ]
    assert grant_of(ledger, terms.grant_id) == (
        resident,
        DEPT_A,
        MASK,
        terms.purpose,
        terms.legal_basis,
        terms.valid_from,
        terms.valid_until,
        terms.terms_hash,
        ACTIVE,
        block_time(ledger, receipt),
        ZERO_ADDRESS,
    )
    assert nonce_of(ledger, RESIDENT) == 0  # a direct grant uses no nonce


@pytest.mark.parametrize(
    "caller", [M1, GRID_WORKER, SUSPENDED, REVOKED, OTHER_MEMBER, ADMIN, OFFICER, STRANGER, REGISTRAR]
)
def test_only_an_active_resident_issues(ledger, caller):
    terms = new_terms(ledger)

    row, receipt = send(ledger, caller, issue(ledger, terms))

    assert_reverted(row, receipt, "ConsentRegistryNotResident", account=addr(ledger, caller))
    assert grant_of(ledger, terms.grant_id) == NO_GRANT


def test_a_suspended_resident_cannot_issue(ledger):
    assert_mined(*send(ledger, ADMIN, ledger.membership.suspend(addr(ledger, RESIDENT))))
    terms = new_terms(ledger)

    row, receipt = send(ledger, RESIDENT, issue(ledger, terms))

    assert_reverted(row, receipt, "ConsentRegistryNotResident", account=addr(ledger, RESIDENT))
    assert grant_of(ledger, terms.grant_id) == NO_GRANT


def test_issue_refuses_invalid_terms(ledger, grant):
    t = new_terms(ledger)
    gid = hexid(t.grant_id)
    cases = [
        ("zero id", t.replace(grant_id=ZERO), "ConsentRegistryZeroId", {}),
        ("existing id", grant.replace(terms_hash=new_id()), "ConsentRegistryGrantExists",
         {"grantId": hexid(grant.grant_id)}),
        ("a committee", t.replace(department=CMTE_A), "ConsentRegistryNotDepartment", {"department": hexid(CMTE_A)}),
        ("an office", t.replace(department=OFFICE_A), "ConsentRegistryNotDepartment",
         {"department": hexid(OFFICE_A)}),
        ("unknown org", t.replace(department=UNKNOWN_ORG), "ConsentRegistryNotDepartment",
         {"department": hexid(UNKNOWN_ORG)}),
        ("zero org", t.replace(department=ZERO), "ConsentRegistryNotDepartment", {"department": hexid(ZERO)}),
        ("no categories", t.replace(categories=0), "ConsentRegistryNoCategories", {"grantId": gid}),
        ("empty window", t.replace(valid_until=t.valid_from), "ConsentRegistryInvalidWindow",
         {"validFrom": t.valid_from, "validUntil": t.valid_from}),
        ("reversed window", t.replace(valid_from=t.valid_until, valid_until=t.valid_from),
         "ConsentRegistryInvalidWindow", {"validFrom": t.valid_until, "validUntil": t.valid_from}),
    ]  # fmt: skip
    before = state(ledger, [t.grant_id, grant.grant_id, ZERO])

    results = send_all(ledger, [(RESIDENT, issue(ledger, terms)) for _, terms, _, _ in cases])

    assert_cases(results, cases)
    assert state(ledger, [t.grant_id, grant.grant_id, ZERO]) == before


def test_a_resident_cannot_grant_to_another_offices_department(ledger, other_office_department):
    """Regression: a resident of cmte-a (office-a) could grant to a department of office-b.
    The department must hang under the office of the resident's committee."""
    terms = new_terms(ledger, department=other_office_department)

    row, receipt = send(ledger, RESIDENT, issue(ledger, terms))

    assert_reverted(
        row, receipt, "ConsentRegistryOtherOffice",
        department=hexid(DEPT_B), departmentOffice=hexid(OFFICE_B), residentOffice=hexid(OFFICE_A),
    )  # fmt: skip
    assert grant_of(ledger, terms.grant_id) == NO_GRANT

    # the same terms to either department of the resident's own office still work
    for department in (DEPT_A, POLICE_A):
        same_office = terms.replace(grant_id=new_id(), department=department)
        assert_mined(*send(ledger, RESIDENT, issue(ledger, same_office)))
        assert grant_of(ledger, same_office.grant_id)[1] == department


def test_a_resident_of_another_office_grants_only_within_it(ledger, other_office_department):
    """The rule is the resident's own office, not office-a's: cmte-b's resident grants to
    office-b's department and not to office-a's."""
    resident_b = ledger.new_account("cmte-b-resident", "member").address
    assert_mined(*send(ledger, OTHER_MEMBER, ledger.membership.add_member(resident_b, CMTE_B, Role.RESIDENT)))
    to_a, to_b = new_terms(ledger), new_terms(ledger, department=other_office_department)

    (refused_row, refused), (mined_row, mined) = send_all(
        ledger, [("cmte-b-resident", issue(ledger, to_a)), ("cmte-b-resident", issue(ledger, to_b))]
    )

    assert_reverted(
        refused_row, refused, "ConsentRegistryOtherOffice",
        department=hexid(DEPT_A), departmentOffice=hexid(OFFICE_A), residentOffice=hexid(OFFICE_B),
    )  # fmt: skip
    assert_mined(mined_row, mined)
    assert (grant_of(ledger, to_a.grant_id), grant_of(ledger, to_b.grant_id)[:2]) == (NO_GRANT, (resident_b, DEPT_B))


# -- issueWithSig ---------------------------------------------------------------------


@pytest.mark.parametrize("relayer", [GRID_WORKER, M1])
def test_relayer_issues_a_grant_the_resident_signed(ledger, relayer):
    terms, resident = new_terms(ledger), addr(ledger, RESIDENT)
    deadline, signature = signed_grant(ledger, terms)

    row, receipt = send(ledger, relayer, issue_with_sig(ledger, terms, resident, deadline, signature))

    assert_mined(row, receipt)
    assert event_names(ledger, receipt) == ["GrantIssued"]
    (event,) = events(ledger, receipt, "GrantIssued")
    assert (event["grantId"], event["resident"], event["relayer"]) == (terms.grant_id, resident, addr(ledger, relayer))
    assert grant_of(ledger, terms.grant_id) == (
        resident,
        *terms.abi()[1:],
        ACTIVE,
        block_time(ledger, receipt),
        addr(ledger, relayer),
    )
    assert nonce_of(ledger, RESIDENT) == 1


@pytest.mark.parametrize("caller", [OTHER_MEMBER, SUSPENDED, REVOKED, RESIDENT, ADMIN, OFFICER, STRANGER, REGISTRAR])
def test_only_a_relayer_of_the_residents_committee_relays(ledger, caller):
    terms, resident = new_terms(ledger), addr(ledger, RESIDENT)
    deadline, signature = signed_grant(ledger, terms)
    before = state(ledger, [terms.grant_id])

    row, receipt = send(ledger, caller, issue_with_sig(ledger, terms, resident, deadline, signature))

    assert_reverted(row, receipt, "ConsentRegistryNotRelayer", caller=addr(ledger, caller), resident=resident)
    assert state(ledger, [terms.grant_id]) == before


def test_a_relayed_grant_needs_an_active_resident(ledger):
    terms = new_terms(ledger)
    member_deadline, member_sig = signed_grant(ledger, terms, M2)
    stranger_deadline, stranger_sig = signed_grant(ledger, terms, STRANGER)
    m2, stranger, grid = addr(ledger, M2), addr(ledger, STRANGER), addr(ledger, GRID_WORKER)
    cases = [
        ("a committee member", issue_with_sig(ledger, terms, m2, member_deadline, member_sig),
         "ConsentRegistryNotResident", {"account": m2}),
        ("an unknown account", issue_with_sig(ledger, terms, stranger, stranger_deadline, stranger_sig),
         "ConsentRegistryNotRelayer", {"caller": grid, "resident": stranger}),
    ]  # fmt: skip

    results = send_all(ledger, [(GRID_WORKER, call) for _, call, _, _ in cases])

    assert_cases(results, cases)
    assert grant_of(ledger, terms.grant_id) == NO_GRANT
    assert (nonce_of(ledger, M2), nonce_of(ledger, STRANGER)) == (0, 0)

    resident = addr(ledger, RESIDENT)
    deadline, signature = signed_grant(ledger, terms)
    assert_mined(*send(ledger, ADMIN, ledger.membership.suspend(resident)))

    row, receipt = send(ledger, GRID_WORKER, issue_with_sig(ledger, terms, resident, deadline, signature))

    assert_reverted(row, receipt, "ConsentRegistryNotResident", account=resident)
    assert (grant_of(ledger, terms.grant_id), nonce_of(ledger, RESIDENT)) == (NO_GRANT, 0)


def test_relayed_grant_refuses_signatures_that_are_not_the_residents(ledger):
    """The attack list: each relayed request is refused and uses no nonce."""
    other = add_resident(ledger, "cmte-a-resident-2")
    resident, other_address = addr(ledger, RESIDENT), addr(ledger, other)
    terms = new_terms(ledger)
    deadline = now(ledger) + 3_600
    good = grant_message(ledger, terms, resident, 0, deadline)

    def recovered(message: SignableMessage, signature: bytes) -> str:
        return Account.recover_message(message, signature=signature)

    def signed_other(message: SignableMessage, sent_terms: Terms = terms, sent_deadline: int = deadline) -> tuple:
        """The resident signed ``message``; the contract checks ``good``-like terms."""
        signature = sign(ledger, RESIDENT, message)
        expected = grant_message(ledger, sent_terms, resident, 0, sent_deadline)
        return (
            issue_with_sig(ledger, sent_terms, resident, sent_deadline, signature),
            "ConsentRegistryInvalidSigner",
            {"signer": recovered(expected, signature), "resident": resident},
        )

    resident_sig = sign(ledger, RESIDENT, good)
    past = now(ledger) - 1
    wider = terms.replace(categories=2**64 - 1)
    chain_id = ledger.w3.eth.chain_id
    record_ledger = ledger.contract("RecordLedger").address
    cases = {
        "signed by a committee member": (
            issue_with_sig(ledger, terms, resident, deadline, sign(ledger, M1, good)),
            "ConsentRegistryInvalidSigner",
            {"signer": addr(ledger, M1), "resident": resident},
        ),
        "signed by another resident": (
            issue_with_sig(ledger, terms, resident, deadline, sign(ledger, other, good)),
            "ConsentRegistryInvalidSigner",
            {"signer": other_address, "resident": resident},
        ),
        "relayed naming another resident": (
            issue_with_sig(ledger, terms, other_address, deadline, resident_sig),
            "ConsentRegistryInvalidSigner",
            {
                "signer": recovered(grant_message(ledger, terms, other_address, 0, deadline), resident_sig),
                "resident": other_address,
            },
        ),
        "terms widened after signing": signed_other(good, sent_terms=wider),
        "deadline moved after signing": signed_other(good, sent_deadline=deadline + 1),
        "a future nonce": signed_other(grant_message(ledger, terms, resident, 1, deadline)),
        "for another chain id": signed_other(
            grant_message(ledger, terms, resident, 0, deadline, {"chainId": chain_id + 1})
        ),
        "for another contract": signed_other(
            grant_message(ledger, terms, resident, 0, deadline, {"verifyingContract": record_ledger})
        ),
        "a Withdraw signature": signed_other(withdraw_message(ledger, terms.grant_id, 0, deadline)),
        "a high-s signature": (
            issue_with_sig(ledger, terms, resident, deadline, high_s_twin(resident_sig)),
            "ConsentRegistryInvalidSigner",
            {"signer": ZERO_ADDRESS, "resident": resident},
        ),
        "a 64-byte signature": (
            issue_with_sig(ledger, terms, resident, deadline, resident_sig[:64]),
            "ConsentRegistryInvalidSigner",
            {"signer": ZERO_ADDRESS, "resident": resident},
        ),
        "past its deadline": (
            issue_with_sig(
                ledger, terms, resident, past, sign(ledger, RESIDENT, grant_message(ledger, terms, resident, 0, past))
            ),
            "ConsentRegistryExpiredSignature",
            {"deadline": past},
        ),
    }
    before = state(ledger, [terms.grant_id], [RESIDENT, other])

    results = send_all(ledger, [(GRID_WORKER, call) for call, _, _ in cases.values()])

    assert_cases(results, [(case, error, args) for case, (_, error, args) in cases.items()])
    assert state(ledger, [terms.grant_id], [RESIDENT, other]) == before

    # and the resident's own signature still works
    assert_mined(*send(ledger, GRID_WORKER, issue_with_sig(ledger, terms, resident, deadline, resident_sig)))


def test_a_relayed_grant_cannot_be_replayed(ledger):
    terms, resident = new_terms(ledger), addr(ledger, RESIDENT)
    deadline, signature = signed_grant(ledger, terms)
    call = issue_with_sig(ledger, terms, resident, deadline, signature)

    # One after the other: two senders' transactions in one block have no guaranteed order.
    assert_mined(*send(ledger, GRID_WORKER, call))
    replay = send(ledger, M1, call)

    # the nonce moved on, so the same signature now recovers to an unrelated address
    replayed = Account.recover_message(grant_message(ledger, terms, resident, 1, deadline), signature=signature)
    assert_reverted(*replay, "ConsentRegistryInvalidSigner", signer=replayed, resident=resident)
    assert nonce_of(ledger, RESIDENT) == 1
    assert grant_of(ledger, terms.grant_id)[-1] == addr(ledger, GRID_WORKER)


def test_a_relayed_signature_expires_after_its_deadline(ledger):
    terms, resident = new_terms(ledger), addr(ledger, RESIDENT)
    deadline, signature = signed_grant(ledger, terms, deadline=now(ledger) + 30)
    advance(ledger, 3_600)

    row, receipt = send(ledger, GRID_WORKER, issue_with_sig(ledger, terms, resident, deadline, signature))

    assert_reverted(row, receipt, "ConsentRegistryExpiredSignature", deadline=deadline)
    assert (grant_of(ledger, terms.grant_id), nonce_of(ledger, RESIDENT)) == (NO_GRANT, 0)


def test_a_relayed_grant_is_checked_like_a_direct_one(ledger, grant):
    resident = addr(ledger, RESIDENT)
    empty = new_terms(ledger, categories=0)
    again = grant.replace(terms_hash=new_id())
    cases = [
        ("no categories", empty, "ConsentRegistryNoCategories", {"grantId": hexid(empty.grant_id)}),
        ("existing id", again, "ConsentRegistryGrantExists", {"grantId": hexid(grant.grant_id)}),
    ]
    calls = [(GRID_WORKER, issue_with_sig(ledger, t, resident, *signed_grant(ledger, t))) for _, t, _, _ in cases]
    before = state(ledger, [empty.grant_id, grant.grant_id])

    results = send_all(ledger, calls)

    assert_cases(results, cases)
    assert state(ledger, [empty.grant_id, grant.grant_id]) == before  # nonce unused


def test_a_relayed_grant_cannot_go_to_another_offices_department(ledger, other_office_department):
    """Regression: the resident's own signature does not make another office's department
    acceptable; the refusal uses no nonce."""
    resident = addr(ledger, RESIDENT)
    terms = new_terms(ledger, department=other_office_department)
    deadline, signature = signed_grant(ledger, terms)

    row, receipt = send(ledger, GRID_WORKER, issue_with_sig(ledger, terms, resident, deadline, signature))

    assert_reverted(
        row, receipt, "ConsentRegistryOtherOffice",
        department=hexid(DEPT_B), departmentOffice=hexid(OFFICE_B), residentOffice=hexid(OFFICE_A),
    )  # fmt: skip
    assert (grant_of(ledger, terms.grant_id), nonce_of(ledger, RESIDENT)) == (NO_GRANT, 0)

    # a signature for the resident's own office's department is relayed as before
    same_office = terms.replace(department=DEPT_A)
    assert_mined(
        *send(ledger, GRID_WORKER, issue_with_sig(ledger, same_office, resident, *signed_grant(ledger, same_office)))
    )
    assert (grant_of(ledger, same_office.grant_id)[:2], nonce_of(ledger, RESIDENT)) == ((resident, DEPT_A), 1)


# -- withdraw -------------------------------------------------------------------------


def test_resident_withdraws_their_grant(ledger, grant):
    resident = addr(ledger, RESIDENT)
    assert is_active(ledger, grant.grant_id, DEPT_A, 1, now(ledger))

    row, receipt = send(ledger, RESIDENT, withdraw(ledger, grant.grant_id))

    assert_mined(row, receipt)
    assert event_names(ledger, receipt) == ["GrantWithdrawn"]
    assert events(ledger, receipt, "GrantWithdrawn") == [
        {"grantId": grant.grant_id, "resident": resident, "relayer": ZERO_ADDRESS}
    ]
    assert grant_of(ledger, grant.grant_id)[8:] == (WITHDRAWN, block_time(ledger, receipt), ZERO_ADDRESS)
    assert grant_of(ledger, grant.grant_id)[:8] == (resident, *grant.abi()[1:])
    assert not is_active(ledger, grant.grant_id, DEPT_A, 1, now(ledger))


@pytest.mark.parametrize("caller", [M1, GRID_WORKER, ADMIN, OFFICER, OTHER_MEMBER, STRANGER, REGISTRAR])
def test_only_the_grants_resident_withdraws_it(ledger, grant, caller):
    before = state(ledger, [grant.grant_id])

    row, receipt = send(ledger, caller, withdraw(ledger, grant.grant_id))

    assert_reverted(
        row, receipt, "ConsentRegistryUnauthorized", caller=addr(ledger, caller), grantId=hexid(grant.grant_id)
    )
    assert state(ledger, [grant.grant_id]) == before


def test_a_resident_cannot_withdraw_someone_elses_grant(ledger, grant):
    other = add_resident(ledger, "cmte-a-resident-2")
    before = state(ledger, [grant.grant_id], [RESIDENT, other])

    row, receipt = send(ledger, other, withdraw(ledger, grant.grant_id))

    assert_reverted(
        row, receipt, "ConsentRegistryUnauthorized", caller=addr(ledger, other), grantId=hexid(grant.grant_id)
    )
    assert state(ledger, [grant.grant_id], [RESIDENT, other]) == before


@pytest.mark.parametrize("change", ["suspend", "revoke"])
def test_a_resident_who_left_can_still_withdraw(ledger, grant, change):
    """Withdrawing consent never depends on the resident's membership."""
    assert_mined(*send(ledger, ADMIN, getattr(ledger.membership, change)(addr(ledger, RESIDENT))))

    row, receipt = send(ledger, RESIDENT, withdraw(ledger, grant.grant_id))

    assert_mined(row, receipt)
    assert grant_of(ledger, grant.grant_id)[8] == WITHDRAWN


def test_withdraw_refuses_unknown_and_inactive_grants(ledger, grant):
    revoked = new_terms(ledger)
    unknown = new_id()
    assert_mined(*send(ledger, RESIDENT, issue(ledger, revoked)))
    assert_mined(*send(ledger, ADMIN, revoke(ledger, revoked.grant_id, new_id())))
    assert_mined(*send(ledger, RESIDENT, withdraw(ledger, grant.grant_id)))
    cases = [
        ("unknown", unknown, "ConsentRegistryUnknownGrant", {"grantId": hexid(unknown)}),
        ("withdrawn", grant.grant_id, "ConsentRegistryNotActive",
         {"grantId": hexid(grant.grant_id), "status": WITHDRAWN}),
        ("revoked", revoked.grant_id, "ConsentRegistryNotActive",
         {"grantId": hexid(revoked.grant_id), "status": REVOKED_STATUS}),
    ]  # fmt: skip
    ids = [unknown, grant.grant_id, revoked.grant_id]
    before = state(ledger, ids)

    results = send_all(ledger, [(RESIDENT, withdraw(ledger, gid)) for _, gid, _, _ in cases])

    assert_cases(results, cases)
    assert state(ledger, ids) == before


# -- withdrawWithSig ------------------------------------------------------------------


@pytest.mark.parametrize("relayer", [GRID_WORKER, M1])
def test_relayer_withdraws_with_the_residents_signature(ledger, grant, relayer):
    deadline = now(ledger) + 600
    signature = sign(ledger, RESIDENT, withdraw_message(ledger, grant.grant_id, 0, deadline))

    row, receipt = send(ledger, relayer, withdraw_with_sig(ledger, grant.grant_id, deadline, signature))

    assert_mined(row, receipt)
    assert event_names(ledger, receipt) == ["GrantWithdrawn"]
    assert events(ledger, receipt, "GrantWithdrawn") == [
        {"grantId": grant.grant_id, "resident": addr(ledger, RESIDENT), "relayer": addr(ledger, relayer)}
    ]
    assert grant_of(ledger, grant.grant_id)[8:10] == (WITHDRAWN, block_time(ledger, receipt))
    assert grant_of(ledger, grant.grant_id)[10] == ZERO_ADDRESS  # the issuing relayer, here none
    assert nonce_of(ledger, RESIDENT) == 1


def test_relayed_withdrawal_refuses_what_is_not_the_residents(ledger, grant):
    other = add_resident(ledger, "cmte-a-resident-2")
    resident, gid = addr(ledger, RESIDENT), grant.grant_id
    deadline = now(ledger) + 600
    good = withdraw_message(ledger, gid, 0, deadline)
    signature = sign(ledger, RESIDENT, good)
    unknown, past = new_id(), now(ledger) - 1

    def recovered(message: SignableMessage) -> str:
        return Account.recover_message(good, signature=sign(ledger, RESIDENT, message))

    chain_id = ledger.w3.eth.chain_id
    other_grant = withdraw_message(ledger, new_id(), 0, deadline)
    other_chain = withdraw_message(ledger, gid, 0, deadline, {"chainId": chain_id + 1})
    cases = [
        ("another committee's relayer", OTHER_MEMBER, withdraw_with_sig(ledger, gid, deadline, signature),
         "ConsentRegistryNotRelayer", {"caller": addr(ledger, OTHER_MEMBER), "resident": resident}),
        ("the officer as relayer", OFFICER, withdraw_with_sig(ledger, gid, deadline, signature),
         "ConsentRegistryNotRelayer", {"caller": addr(ledger, OFFICER), "resident": resident}),
        ("unknown grant", GRID_WORKER, withdraw_with_sig(ledger, unknown, deadline, signature),
         "ConsentRegistryUnknownGrant", {"grantId": hexid(unknown)}),
        ("signed by another resident", GRID_WORKER, withdraw_with_sig(ledger, gid, deadline, sign(ledger, other, good)),
         "ConsentRegistryInvalidSigner", {"signer": addr(ledger, other), "resident": resident}),
        ("signed by the grid worker", GRID_WORKER,
         withdraw_with_sig(ledger, gid, deadline, sign(ledger, GRID_WORKER, good)),
         "ConsentRegistryInvalidSigner", {"signer": addr(ledger, GRID_WORKER), "resident": resident}),
        ("signed for another grant", GRID_WORKER,
         withdraw_with_sig(ledger, gid, deadline, sign(ledger, RESIDENT, other_grant)),
         "ConsentRegistryInvalidSigner", {"signer": recovered(other_grant), "resident": resident}),
        ("signed for another chain", GRID_WORKER,
         withdraw_with_sig(ledger, gid, deadline, sign(ledger, RESIDENT, other_chain)),
         "ConsentRegistryInvalidSigner", {"signer": recovered(other_chain), "resident": resident}),
        ("past its deadline", GRID_WORKER,
         withdraw_with_sig(ledger, gid, past, sign(ledger, RESIDENT, withdraw_message(ledger, gid, 0, past))),
         "ConsentRegistryExpiredSignature", {"deadline": past}),
    ]  # fmt: skip
    before = state(ledger, [gid, unknown], [RESIDENT, other])

    results = send_all(ledger, [(who, call) for _, who, call, _, _ in cases])

    assert_cases(results, cases)
    assert state(ledger, [gid, unknown], [RESIDENT, other]) == before


def test_a_relayed_withdrawal_cannot_be_replayed(ledger, grant):
    deadline = now(ledger) + 600
    signature = sign(ledger, RESIDENT, withdraw_message(ledger, grant.grant_id, 0, deadline))
    call = withdraw_with_sig(ledger, grant.grant_id, deadline, signature)

    results = send_all(ledger, [(GRID_WORKER, call), (GRID_WORKER, call)])

    assert_mined(*results[0])
    replayed = Account.recover_message(withdraw_message(ledger, grant.grant_id, 1, deadline), signature=signature)
    assert_reverted(*results[1], "ConsentRegistryInvalidSigner", signer=replayed, resident=addr(ledger, RESIDENT))
    assert nonce_of(ledger, RESIDENT) == 1


def test_a_relayed_withdrawal_of_an_inactive_grant_is_refused(ledger, grant):
    assert_mined(*send(ledger, ADMIN, revoke(ledger, grant.grant_id, new_id())))
    deadline = now(ledger) + 600
    signature = sign(ledger, RESIDENT, withdraw_message(ledger, grant.grant_id, 0, deadline))
    before = state(ledger, [grant.grant_id])

    row, receipt = send(ledger, GRID_WORKER, withdraw_with_sig(ledger, grant.grant_id, deadline, signature))

    assert_reverted(row, receipt, "ConsentRegistryNotActive", grantId=hexid(grant.grant_id), status=REVOKED_STATUS)
    assert state(ledger, [grant.grant_id]) == before


# -- revoke ---------------------------------------------------------------------------


@pytest.mark.parametrize("admin", [ADMIN, SECOND_ADMIN])
def test_office_admin_revokes_a_grant(ledger, grant, admin):
    reason = keccak(text="consent obtained under a wrong legal basis")

    row, receipt = send(ledger, admin, revoke(ledger, grant.grant_id, reason))

    assert_mined(row, receipt)
    assert event_names(ledger, receipt) == ["GrantRevoked"]
    assert events(ledger, receipt, "GrantRevoked") == [
        {"grantId": grant.grant_id, "by": addr(ledger, admin), "reasonHash": reason}
    ]
    assert grant_of(ledger, grant.grant_id)[8:] == (REVOKED_STATUS, block_time(ledger, receipt), ZERO_ADDRESS)
    assert not is_active(ledger, grant.grant_id, DEPT_A, 1, now(ledger))


@pytest.mark.parametrize("caller", [OTHER_ADMIN, OFFICER, M1, GRID_WORKER, RESIDENT, OTHER_MEMBER, STRANGER, REGISTRAR])
def test_only_an_admin_of_the_departments_office_revokes(ledger, grant, caller):
    before = state(ledger, [grant.grant_id])

    row, receipt = send(ledger, caller, revoke(ledger, grant.grant_id, new_id()))

    assert_reverted(
        row, receipt, "ConsentRegistryUnauthorized", caller=addr(ledger, caller), grantId=hexid(grant.grant_id)
    )
    assert state(ledger, [grant.grant_id]) == before


def test_a_suspended_admin_cannot_revoke(ledger, grant):
    assert_mined(*send(ledger, ADMIN, ledger.membership.suspend(addr(ledger, SECOND_ADMIN))))
    before = state(ledger, [grant.grant_id])

    row, receipt = send(ledger, SECOND_ADMIN, revoke(ledger, grant.grant_id, new_id()))

    assert_reverted(
        row, receipt, "ConsentRegistryUnauthorized", caller=addr(ledger, SECOND_ADMIN), grantId=hexid(grant.grant_id)
    )
    assert state(ledger, [grant.grant_id]) == before


def test_revoke_refuses_unknown_and_inactive_grants_and_statuses_stay_apart(ledger, grant):
    withdrawn, unknown = new_terms(ledger), new_id()
    assert_mined(*send(ledger, RESIDENT, issue(ledger, withdrawn)))
    assert_mined(*send(ledger, RESIDENT, withdraw(ledger, withdrawn.grant_id)))
    assert_mined(*send(ledger, ADMIN, revoke(ledger, grant.grant_id, new_id())))
    cases = [
        ("unknown", ADMIN, revoke(ledger, unknown, new_id()), "ConsentRegistryUnknownGrant",
         {"grantId": hexid(unknown)}),
        ("withdrawn", ADMIN, revoke(ledger, withdrawn.grant_id, new_id()), "ConsentRegistryNotActive",
         {"grantId": hexid(withdrawn.grant_id), "status": WITHDRAWN}),
        ("revoked again", SECOND_ADMIN, revoke(ledger, grant.grant_id, new_id()), "ConsentRegistryNotActive",
         {"grantId": hexid(grant.grant_id), "status": REVOKED_STATUS}),
        ("withdraw after revoke", RESIDENT, withdraw(ledger, grant.grant_id), "ConsentRegistryNotActive",
         {"grantId": hexid(grant.grant_id), "status": REVOKED_STATUS}),
    ]  # fmt: skip
    ids = [unknown, withdrawn.grant_id, grant.grant_id]
    before = state(ledger, ids)

    results = send_all(ledger, [(who, call) for _, who, call, _, _ in cases])

    assert_cases(results, cases)
    assert state(ledger, ids) == before
    assert (grant_of(ledger, withdrawn.grant_id)[8], grant_of(ledger, grant.grant_id)[8]) == (
        WITHDRAWN,
        REVOKED_STATUS,
    )


# -- isActive -------------------------------------------------------------------------


def test_is_active_is_the_rule_for_org_category_and_window(ledger):
    start = now(ledger) + 1_000
    terms = new_terms(ledger, valid_from=start, valid_until=start + 1_000)
    assert_mined(*send(ledger, RESIDENT, issue(ledger, terms)))
    gid, end = terms.grant_id, start + 1_000
    cases = [
        ("in scope at validFrom", (gid, DEPT_A, 1, start), True),
        ("in scope just before validUntil", (gid, DEPT_A, 5, end - 1), True),
        ("category 63, the top bit", (gid, DEPT_A, 63, start + 1), True),
        ("another department's grant", (gid, org_id("dept-a-civil"), 1, start), False),
        ("the office", (gid, OFFICE_A, 1, start), False),
        ("the committee", (gid, CMTE_A, 1, start), False),
        ("a category not in the mask", (gid, DEPT_A, 2, start), False),
        ("category 0", (gid, DEPT_A, 0, start), False),
        ("category 64", (gid, DEPT_A, 64, start), False),
        ("category 65 (bit 1 if it wrapped)", (gid, DEPT_A, 65, start), False),
        ("category max", (gid, DEPT_A, 65_535, start), False),
        ("before validFrom", (gid, DEPT_A, 1, start - 1), False),
        ("at validUntil", (gid, DEPT_A, 1, end), False),
        ("after validUntil", (gid, DEPT_A, 1, end + 10_000), False),
        ("an unknown grant", (new_id(), DEPT_A, 1, start), False),
        ("an unknown grant, zero org", (new_id(), ZERO, 1, start), False),
    ]
    for case, args, expected in cases:
        assert is_active(ledger, *args) is expected, case


def test_is_active_is_false_after_withdraw_and_after_revoke(ledger, grant):
    second = new_terms(ledger)
    assert_mined(*send(ledger, RESIDENT, issue(ledger, second)))
    at = now(ledger)
    assert is_active(ledger, grant.grant_id, DEPT_A, 1, at)
    assert is_active(ledger, second.grant_id, DEPT_A, 1, at)

    assert_mined(*send(ledger, RESIDENT, withdraw(ledger, grant.grant_id)))
    assert_mined(*send(ledger, ADMIN, revoke(ledger, second.grant_id, new_id())))

    assert not is_active(ledger, grant.grant_id, DEPT_A, 1, at)
    assert not is_active(ledger, second.grant_id, DEPT_A, 1, at)


def test_expiry_follows_from_time_and_is_not_a_stored_status(ledger):
    terms = new_terms(ledger, valid_until=now(ledger) + 60)
    assert_mined(*send(ledger, RESIDENT, issue(ledger, terms)))
    assert is_active(ledger, terms.grant_id, DEPT_A, 1, now(ledger))

    advance(ledger, 3_600)

    assert now(ledger) >= terms.valid_until
    assert not is_active(ledger, terms.grant_id, DEPT_A, 1, now(ledger))
    assert is_active(ledger, terms.grant_id, DEPT_A, 1, terms.valid_until - 1)
    assert grant_of(ledger, terms.grant_id)[8] == ACTIVE
    # an expired grant can still be withdrawn, so the resident's history says so
    assert_mined(*send(ledger, RESIDENT, withdraw(ledger, terms.grant_id)))


# -- gas ------------------------------------------------------------------------------


def test_every_call_uses_at_most_60_percent_of_its_gas_limit(ledger):
    resident = addr(ledger, RESIDENT)
    direct, relayed, third = new_terms(ledger), new_terms(ledger), new_terms(ledger)
    deadline = now(ledger) + 3_600
    grant_sig = sign(ledger, RESIDENT, grant_message(ledger, relayed, resident, 0, deadline))
    withdraw_sig = sign(ledger, RESIDENT, withdraw_message(ledger, relayed.grant_id, 1, deadline))
    steps = [
        ("issue", RESIDENT, issue(ledger, direct)),
        ("issueWithSig", GRID_WORKER, issue_with_sig(ledger, relayed, resident, deadline, grant_sig)),
        ("issue(third)", RESIDENT, issue(ledger, third)),
        ("withdraw", RESIDENT, withdraw(ledger, direct.grant_id)),
        ("withdrawWithSig", GRID_WORKER, withdraw_with_sig(ledger, relayed.grant_id, deadline, withdraw_sig)),
        ("revoke", ADMIN, revoke(ledger, third.grant_id, new_id())),
    ]

    measured = {}
    for name, signer, call in steps:
        row, receipt = send(ledger, signer, call)
        assert_mined(row, receipt)
        measured[name] = (receipt["gasUsed"], call.gas)
    print("\ngasUsed / limit per call:")
    for name, (used, limit) in measured.items():
        print(f"  {name:28s} {used:>9,} / {limit:>9,}  ({used / limit:.0%})")
    over = {name: f"{used}/{limit}" for name, (used, limit) in measured.items() if used > 0.6 * limit}
    assert not over, f"calls above 60% of their gas limit: {over}"
