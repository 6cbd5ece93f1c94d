"""The RecordLedger contract on chain: who may commit, certify and erase, which version
chain it accepts, and which approval signatures count towards k.

As in ``test_membership_contract.py``, every test sends real, locally signed
transactions through the outbox without a preflight, so a refused call is mined as a
reverted transaction: we check the custom error's name and arguments, that the receipt
holds no log, and that the record's head and versions did not change. Approvals are
EIP-712 ``RecordApproval`` signatures built here with eth-account from the domain
constants (not from the contract), so the tests also pin the type and the domain.
"""

from __future__ import annotations

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

from ledger.membership import Role
from ledger.outbox import Call
from ledger.records import GAS_CERTIFY_BASE, GAS_CERTIFY_PER_SIGNATURE, GAS_COMMIT, GAS_ERASE
from tests.onchain import (
    ADMIN,
    CMTE_A,
    CMTE_B,
    DEPT_A,
    GRID_WORKER,
    M1,
    M2,
    M3,
    MEMBERS,
    OFFICE_A,
    OFFICER,
    OTHER_ADMIN,
    OTHER_MEMBER,
    REGISTRAR,
    RESIDENT,
    REVOKED,
    SECOND_ADMIN,
    STRANGER,
    SUSPENDED,
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


ZERO = bytes(32)
CATEGORY = 7

DOMAIN_NAME = "gridledger RecordLedger"
DOMAIN_VERSION = "1"
EIP712_DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
RECORD_APPROVAL_TYPE = [
    {"name": "recordId", "type": "bytes32"},
    {"name": "version", "type": "uint32"},
    {"name": "contentHash", "type": "bytes32"},
]
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

# Gas limits for these tests; the library's constants are set from what they measure.

#: version() as it reads for a version that was never committed
NO_VERSION = (ZERO, ZERO, ZERO_ADDRESS, 0, False)


# -- helpers ------------------------------------------------------------------------


def new_id() -> bytes:
    return os.urandom(32)


def addr(ledger, label: str) -> str:
    return ledger.address_of(label)


def contract(ledger):
    return ledger.contract("RecordLedger")


def rl_call(ledger, fn: str, args: list[Any], gas: int) -> Call:
    c = contract(ledger)
    return Call(to=c.address, data=bytes(HexBytes(c.encode_abi(fn, args=args))), gas=gas, purpose=f"recordLedger.{fn}")


def commit(
    ledger, record_id: bytes, version: int, content_hash: bytes, prev_hash: bytes, subject: str, category=CATEGORY
):
    return rl_call(ledger, "commit", [record_id, version, content_hash, prev_hash, subject, category], GAS_COMMIT)


def certify(ledger, record_id: bytes, version: int, signatures: Sequence[bytes]) -> Call:
    gas = GAS_CERTIFY_BASE + GAS_CERTIFY_PER_SIGNATURE * len(signatures)
    return rl_call(ledger, "certify", [record_id, version, list(signatures)], gas)


def erase(ledger, record_id: bytes, reason_hash: bytes) -> Call:
    return rl_call(ledger, "erase", [record_id, reason_hash], GAS_ERASE)


def head(ledger, record_id: bytes) -> tuple:
    """(committeeId, subject, category, version, contentHash, certifiedVersion, erased)"""
    return tuple(contract(ledger).functions.head(record_id).call())


def version_of(ledger, record_id: bytes, version: int) -> tuple:
    """(contentHash, prevHash, committer, committedAt, certified)"""
    return tuple(contract(ledger).functions.versionOf(record_id, version).call())


def state(ledger, record_id: bytes) -> dict:
    """Everything the contract holds about a record (and the version after its head)."""
    h = head(ledger, record_id)
    return {"head": h, "versions": [version_of(ledger, record_id, v) for v in range(1, h[3] + 2)]}


def block_time(ledger, receipt) -> int:
    return int(ledger.w3.eth.get_block(receipt["blockNumber"])["timestamp"])


def events(ledger, receipt, name: str) -> list[dict]:
    event = getattr(contract(ledger).events, name)()
    return [dict(e["args"]) for e in event.process_receipt(receipt, errors=DISCARD)]


def event_names(ledger, receipt) -> list[str]:
    """The names of the receipt's logs, in emission order (all from RecordLedger)."""
    c = contract(ledger)
    topics = {bytes(event_abi_to_log_topic(item)): item["name"] for item in c.abi if item["type"] == "event"}
    names = []
    for log in receipt["logs"]:
        assert log["address"] == c.address
        names.append(topics[bytes(log["topics"][0])])
    return names


def approval(
    ledger, record_id: bytes, version: int, content_hash: bytes, domain: dict[str, Any] | None = None
) -> SignableMessage:
    """The EIP-712 RecordApproval members sign; ``domain`` overrides fields of the domain."""
    return encode_typed_data(
        full_message={
            "types": {"EIP712Domain": EIP712_DOMAIN_TYPE, "RecordApproval": RECORD_APPROVAL_TYPE},
            "primaryType": "RecordApproval",
            "domain": {
                "name": DOMAIN_NAME,
                "version": DOMAIN_VERSION,
                "chainId": ledger.w3.eth.chain_id,
                "verifyingContract": contract(ledger).address,
                **(domain or {}),
            },
            "message": {"recordId": record_id, "version": version, "contentHash": content_hash},
        }
    )


def digest_of(message: SignableMessage) -> bytes:
    return keccak(b"\x19" + message.version + message.header + message.body)


def sign(ledger, label: str, message: SignableMessage) -> bytes:
    return bytes(Account.sign_message(message, ledger.account(label).key).signature)


def by_address(ledger, labels: Sequence[str]) -> list[str]:
    """``labels`` in the order certify wants: by signer address, increasing."""
    return sorted(labels, key=lambda label: int(addr(ledger, label), 16))


def approvals(ledger, labels: Sequence[str], record_id: bytes, version: int, content_hash: bytes) -> list[bytes]:
    message = approval(ledger, record_id, version, content_hash)
    return [sign(ledger, label, message) for label in by_address(ledger, labels)]


def high_s_twin(signature: bytes) -> bytes:
    """The other valid ECDSA signature of the same message: s -> n - s, v flipped."""
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    return r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])


@dataclass(frozen=True)
class Record:
    id: bytes
    hash: bytes  # version 1's content hash


@pytest.fixture
def record(ledger) -> Record:
    """Version 1 of a record about the world's resident, committed by a cmte-a member."""
    rec = Record(new_id(), new_id())
    assert_mined(*send(ledger, M1, commit(ledger, rec.id, 1, rec.hash, ZERO, addr(ledger, RESIDENT))))
    return rec


# -- domain ---------------------------------------------------------------------------


def test_eip712_domain_and_digest_are_as_signers_compute_them(ledger):
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
    record_id, content_hash = new_id(), new_id()
    for version in (1, 2, 2**32 - 1):
        expected = digest_of(approval(ledger, record_id, version, content_hash))
        assert c.functions.approvalDigest(record_id, version, content_hash).call() == expected


# -- commit ---------------------------------------------------------------------------


def test_committee_member_commits_the_first_version(ledger):
    record_id, content_hash = new_id(), new_id()
    m1, resident = addr(ledger, M1), addr(ledger, RESIDENT)

    row, receipt = send(ledger, M1, commit(ledger, record_id, 1, content_hash, ZERO, resident))

    assert_mined(row, receipt)
    assert event_names(ledger, receipt) == ["RecordCommitted"]
    assert events(ledger, receipt, "RecordCommitted") == [
        {
            "recordId": record_id,
            "version": 1,
            "contentHash": content_hash,
            "prevHash": ZERO,
            "committeeId": CMTE_A,
            "subject": resident,
            "category": CATEGORY,
            "committer": m1,
        }
    ]
    assert head(ledger, record_id) == (CMTE_A, resident, CATEGORY, 1, content_hash, 0, False)
    assert version_of(ledger, record_id, 1) == (content_hash, ZERO, m1, block_time(ledger, receipt), False)
    assert version_of(ledger, record_id, 2) == NO_VERSION


def test_grid_worker_opens_a_record_in_the_highest_category(ledger):
    record_id, content_hash, resident = new_id(), new_id(), addr(ledger, RESIDENT)

    row, receipt = send(ledger, GRID_WORKER, commit(ledger, record_id, 1, content_hash, ZERO, resident, 63))

    assert_mined(row, receipt)
    assert head(ledger, record_id) == (CMTE_A, resident, 63, 1, content_hash, 0, False)
    assert version_of(ledger, record_id, 1)[2] == addr(ledger, GRID_WORKER)


def test_members_and_grid_worker_extend_the_version_chain(ledger, record):
    resident = addr(ledger, RESIDENT)
    h2, h3 = new_id(), new_id()

    row2, receipt2 = send(ledger, GRID_WORKER, commit(ledger, record.id, 2, h2, record.hash, resident))
    row3, receipt3 = send(ledger, M2, commit(ledger, record.id, 3, h3, h2, resident))

    assert_mined(row2, receipt2)
    assert_mined(row3, receipt3)
    assert events(ledger, receipt3, "RecordCommitted") == [
        {
            "recordId": record.id,
            "version": 3,
            "contentHash": h3,
            "prevHash": h2,
            "committeeId": CMTE_A,
            "subject": resident,
            "category": CATEGORY,
            "committer": addr(ledger, M2),
        }
    ]
    assert head(ledger, record.id) == (CMTE_A, resident, CATEGORY, 3, h3, 0, False)
    assert [version_of(ledger, record.id, v)[:3] for v in (1, 2, 3)] == [
        (record.hash, ZERO, addr(ledger, M1)),
        (h2, record.hash, addr(ledger, GRID_WORKER)),
        (h3, h2, addr(ledger, M2)),
    ]
    assert version_of(ledger, record.id, 2)[3] == block_time(ledger, receipt2)


@pytest.mark.parametrize(
    ("caller", "caller_org"),
    [
        (SUSPENDED, CMTE_A),
        (REVOKED, CMTE_A),
        (RESIDENT, CMTE_A),
        (ADMIN, OFFICE_A),
        (OFFICER, DEPT_A),
        (STRANGER, ZERO),
        (REGISTRAR, ZERO),
    ],
)
def test_first_version_needs_an_active_member_or_grid_worker(ledger, caller, caller_org):
    """A new record would belong to the caller's own organisation, which they must act for."""
    record_id = new_id()
    before = state(ledger, record_id)

    row, receipt = send(ledger, caller, commit(ledger, record_id, 1, new_id(), ZERO, addr(ledger, RESIDENT)))

    assert_reverted(
        row, receipt, "RecordLedgerUnauthorized", caller=addr(ledger, caller), committeeId=hexid(caller_org)
    )
    assert state(ledger, record_id) == before


def test_another_committees_member_cannot_open_a_record_about_our_resident(ledger):
    record_id, resident = new_id(), addr(ledger, RESIDENT)

    row, receipt = send(ledger, OTHER_MEMBER, commit(ledger, record_id, 1, new_id(), ZERO, resident))

    assert_reverted(row, receipt, "RecordLedgerSubjectNotResident", subject=resident, committeeId=hexid(CMTE_B))
    assert head(ledger, record_id)[3] == 0


@pytest.mark.parametrize("caller", [OTHER_MEMBER, SUSPENDED, REVOKED, RESIDENT, ADMIN, OFFICER, STRANGER])
def test_only_the_records_committee_commits_later_versions(ledger, record, caller):
    before = state(ledger, record.id)

    row, receipt = send(ledger, caller, commit(ledger, record.id, 2, new_id(), record.hash, addr(ledger, RESIDENT)))

    assert_reverted(row, receipt, "RecordLedgerUnauthorized", caller=addr(ledger, caller), committeeId=hexid(CMTE_A))
    assert state(ledger, record.id) == before


def test_a_suspended_member_loses_the_right_to_commit_at_once(ledger, record):
    assert_mined(*send(ledger, ADMIN, ledger.membership.suspend(addr(ledger, M1))))
    before = state(ledger, record.id)

    row, receipt = send(ledger, M1, commit(ledger, record.id, 2, new_id(), record.hash, addr(ledger, RESIDENT)))

    assert_reverted(row, receipt, "RecordLedgerUnauthorized", caller=addr(ledger, M1), committeeId=hexid(CMTE_A))
    assert state(ledger, record.id) == before


def test_of_two_concurrent_updates_one_wins_and_the_other_is_stale(ledger, record):
    resident = addr(ledger, RESIDENT)
    ours, theirs = new_id(), new_id()

    results = send_all(
        ledger,
        [
            (M1, commit(ledger, record.id, 2, ours, record.hash, resident)),
            (GRID_WORKER, commit(ledger, record.id, 2, theirs, record.hash, resident)),
        ],
    )

    mined = [i for i, (row, _) in enumerate(results) if row.status == "mined"]
    assert len(mined) == 1, [row.status for row, _ in results]
    winner, loser = mined[0], 1 - mined[0]
    assert_reverted(*results[loser], "RecordLedgerStaleVersion", recordId=hexid(record.id), head=2, given=2)
    assert head(ledger, record.id)[3:5] == (2, (ours, theirs)[winner])


def test_commit_refuses_stale_versions(ledger, record):
    resident, other_record = addr(ledger, RESIDENT), new_id()
    rid = hexid(record.id)
    cases = [
        ("version 1 again", commit(ledger, record.id, 1, new_id(), ZERO, resident), "RecordLedgerStaleVersion",
         {"recordId": rid, "head": 1, "given": 1}),
        ("skips a version", commit(ledger, record.id, 3, new_id(), record.hash, resident), "RecordLedgerStaleVersion",
         {"recordId": rid, "head": 1, "given": 3}),
        ("version 0", commit(ledger, record.id, 0, new_id(), record.hash, resident), "RecordLedgerStaleVersion",
         {"recordId": rid, "head": 1, "given": 0}),
        ("new record at version 2", commit(ledger, other_record, 2, new_id(), ZERO, resident),
         "RecordLedgerStaleVersion", {"recordId": hexid(other_record), "head": 0, "given": 2}),
    ]  # fmt: skip
    before = state(ledger, record.id), state(ledger, other_record)

    results = send_all(ledger, [(M1, call) for _, call, _, _ in cases])

    assert_cases(results, cases)
    assert (state(ledger, record.id), state(ledger, other_record)) == before


def test_commit_refuses_a_stale_prev_hash(ledger, record):
    resident, other_record, wrong = addr(ledger, RESIDENT), new_id(), new_id()
    rid = hexid(record.id)
    cases = [
        ("another hash", commit(ledger, record.id, 2, new_id(), wrong, resident), "RecordLedgerStalePrevHash",
         {"recordId": rid, "head": hexid(record.hash), "given": hexid(wrong)}),
        ("zero", commit(ledger, record.id, 2, new_id(), ZERO, resident), "RecordLedgerStalePrevHash",
         {"recordId": rid, "head": hexid(record.hash), "given": hexid(ZERO)}),
        ("version 1 with a prev hash", commit(ledger, other_record, 1, new_id(), wrong, resident),
         "RecordLedgerStalePrevHash", {"recordId": hexid(other_record), "head": hexid(ZERO), "given": hexid(wrong)}),
    ]  # fmt: skip
    before = state(ledger, record.id), state(ledger, other_record)

    results = send_all(ledger, [(GRID_WORKER, call) for _, call, _, _ in cases])

    assert_cases(results, cases)
    assert (state(ledger, record.id), state(ledger, other_record)) == before


def test_commit_refuses_invalid_input(ledger, record):
    resident, m2, stranger = addr(ledger, RESIDENT), addr(ledger, M2), addr(ledger, STRANGER)
    new, rid = new_id(), hexid(record.id)
    cmte_a = hexid(CMTE_A)
    cases = [
        ("zero id", commit(ledger, ZERO, 1, new_id(), ZERO, resident), "RecordLedgerZeroId", {}),
        ("zero content hash, new", commit(ledger, new, 1, ZERO, ZERO, resident), "RecordLedgerZeroContentHash",
         {"recordId": hexid(new)}),
        ("zero content hash, v2", commit(ledger, record.id, 2, ZERO, record.hash, resident),
         "RecordLedgerZeroContentHash", {"recordId": rid}),
        ("category 64", commit(ledger, new, 1, new_id(), ZERO, resident, 64), "RecordLedgerInvalidCategory",
         {"category": 64}),
        ("category max", commit(ledger, new, 1, new_id(), ZERO, resident, 65535), "RecordLedgerInvalidCategory",
         {"category": 65535}),
        ("subject a member", commit(ledger, new, 1, new_id(), ZERO, m2), "RecordLedgerSubjectNotResident",
         {"subject": m2, "committeeId": cmte_a}),
        ("subject a stranger", commit(ledger, new, 1, new_id(), ZERO, stranger), "RecordLedgerSubjectNotResident",
         {"subject": stranger, "committeeId": cmte_a}),
        ("subject zero", commit(ledger, new, 1, new_id(), ZERO, ZERO_ADDRESS), "RecordLedgerSubjectNotResident",
         {"subject": ZERO_ADDRESS, "committeeId": cmte_a}),
        ("subject changed", commit(ledger, record.id, 2, new_id(), record.hash, m2), "RecordLedgerSubjectChanged",
         {"recordId": rid, "subject": resident, "given": m2}),
        ("category changed", commit(ledger, record.id, 2, new_id(), record.hash, resident, CATEGORY + 1),
         "RecordLedgerCategoryChanged", {"recordId": rid, "category": CATEGORY, "given": CATEGORY + 1}),
    ]  # fmt: skip
    before = state(ledger, record.id), state(ledger, new)

    results = send_all(ledger, [(M1, call) for _, call, _, _ in cases])

    assert_cases(results, cases)
    assert (state(ledger, record.id), state(ledger, new)) == before


def test_the_subject_must_still_be_an_active_resident_at_later_versions(ledger, record):
    resident = addr(ledger, RESIDENT)
    assert_mined(*send(ledger, ADMIN, ledger.membership.suspend(resident)))
    before = state(ledger, record.id)

    row, receipt = send(ledger, M1, commit(ledger, record.id, 2, new_id(), record.hash, resident))

    assert_reverted(row, receipt, "RecordLedgerSubjectNotResident", subject=resident, committeeId=hexid(CMTE_A))
    assert state(ledger, record.id) == before


# -- certify --------------------------------------------------------------------------


@pytest.mark.parametrize("submitter", [M1, GRID_WORKER])
def test_k_active_members_certify_the_head_version(ledger, record, submitter):
    signers = by_address(ledger, [M2, M3])  # the submitter need not sign
    signatures = approvals(ledger, signers, record.id, 1, record.hash)
    before = head(ledger, record.id)

    row, receipt = send(ledger, submitter, certify(ledger, record.id, 1, signatures))

    assert_mined(row, receipt)
    assert event_names(ledger, receipt) == ["RecordCertified"]
    assert events(ledger, receipt, "RecordCertified") == [
        {
            "recordId": record.id,
            "version": 1,
            "contentHash": record.hash,
            "signers": [addr(ledger, s) for s in signers],
            "by": addr(ledger, submitter),
        }
    ]
    assert head(ledger, record.id) == (*before[:5], 1, False)
    assert version_of(ledger, record.id, 1)[4] is True


def test_signatures_beyond_k_are_accepted(ledger, record):
    signers = by_address(ledger, MEMBERS)

    row, receipt = send(
        ledger, M1, certify(ledger, record.id, 1, approvals(ledger, signers, record.id, 1, record.hash))
    )

    assert_mined(row, receipt)
    assert events(ledger, receipt, "RecordCertified")[0]["signers"] == [addr(ledger, s) for s in signers]
    assert head(ledger, record.id)[5] == 1


def test_a_new_version_needs_its_own_certification(ledger, record):
    resident, h2 = addr(ledger, RESIDENT), new_id()
    assert_mined(
        *send(ledger, M1, certify(ledger, record.id, 1, approvals(ledger, [M1, M2], record.id, 1, record.hash)))
    )

    assert_mined(*send(ledger, M1, commit(ledger, record.id, 2, h2, record.hash, resident)))
    assert head(ledger, record.id) == (CMTE_A, resident, CATEGORY, 2, h2, 1, False)
    assert version_of(ledger, record.id, 2)[4] is False

    assert_mined(
        *send(ledger, GRID_WORKER, certify(ledger, record.id, 2, approvals(ledger, [M2, M3], record.id, 2, h2)))
    )
    assert head(ledger, record.id) == (CMTE_A, resident, CATEGORY, 2, h2, 2, False)
    assert [version_of(ledger, record.id, v)[4] for v in (1, 2)] == [True, True]


@pytest.mark.parametrize("caller", [OTHER_MEMBER, SUSPENDED, REVOKED, RESIDENT, ADMIN, OFFICER, STRANGER])
def test_only_the_records_committee_submits_certifications(ledger, record, caller):
    signatures = approvals(ledger, [M1, M2], record.id, 1, record.hash)
    before = state(ledger, record.id)

    row, receipt = send(ledger, caller, certify(ledger, record.id, 1, signatures))

    assert_reverted(row, receipt, "RecordLedgerUnauthorized", caller=addr(ledger, caller), committeeId=hexid(CMTE_A))
    assert state(ledger, record.id) == before


def test_certify_refuses_unknown_records_and_versions_other_than_the_head(ledger, record):
    h2, unknown = new_id(), new_id()
    assert_mined(*send(ledger, M1, commit(ledger, record.id, 2, h2, record.hash, addr(ledger, RESIDENT))))
    rid = hexid(record.id)
    cases = [
        ("unknown record", certify(ledger, unknown, 1, approvals(ledger, [M1, M2], unknown, 1, record.hash)),
         "RecordLedgerUnknownRecord", {"recordId": hexid(unknown)}),
        ("an older version", certify(ledger, record.id, 1, approvals(ledger, [M1, M2], record.id, 1, record.hash)),
         "RecordLedgerStaleVersion", {"recordId": rid, "head": 2, "given": 1}),
        ("a future version", certify(ledger, record.id, 3, approvals(ledger, [M1, M2], record.id, 3, h2)),
         "RecordLedgerStaleVersion", {"recordId": rid, "head": 2, "given": 3}),
    ]  # fmt: skip
    before = state(ledger, record.id), state(ledger, unknown)

    results = send_all(ledger, [(M1, call) for _, call, _, _ in cases])

    assert_cases(results, cases)
    assert (state(ledger, record.id), state(ledger, unknown)) == before


def test_a_version_is_certified_once(ledger, record):
    signatures = approvals(ledger, [M1, M2], record.id, 1, record.hash)
    assert_mined(*send(ledger, M1, certify(ledger, record.id, 1, signatures)))
    before = state(ledger, record.id)

    row, receipt = send(
        ledger, M1, certify(ledger, record.id, 1, approvals(ledger, MEMBERS, record.id, 1, record.hash))
    )

    assert_reverted(row, receipt, "RecordLedgerAlreadyCertified", recordId=hexid(record.id), version=1)
    assert state(ledger, record.id) == before


def test_certify_needs_k_signatures(ledger, record):
    rid = hexid(record.id)
    cases = [
        ("none", certify(ledger, record.id, 1, []), "RecordLedgerNotEnoughSignatures",
         {"recordId": rid, "given": 0, "threshold": 2}),
        ("one of two", certify(ledger, record.id, 1, approvals(ledger, [M1], record.id, 1, record.hash)),
         "RecordLedgerNotEnoughSignatures", {"recordId": rid, "given": 1, "threshold": 2}),
    ]  # fmt: skip
    before = state(ledger, record.id)

    results = send_all(ledger, [(M1, call) for _, call, _, _ in cases])

    assert_cases(results, cases)
    assert state(ledger, record.id) == before


def test_certify_reads_the_threshold_when_it_certifies(ledger, record):
    assert_mined(*send(ledger, ADMIN, ledger.membership.set_threshold(CMTE_A, 3)))
    two = approvals(ledger, [M1, M2], record.id, 1, record.hash)

    row, receipt = send(ledger, M1, certify(ledger, record.id, 1, two))

    assert_reverted(row, receipt, "RecordLedgerNotEnoughSignatures", recordId=hexid(record.id), given=2, threshold=3)
    assert_mined(
        *send(ledger, M1, certify(ledger, record.id, 1, approvals(ledger, MEMBERS, record.id, 1, record.hash)))
    )


def test_certify_refuses_signatures_that_do_not_count(ledger, record):
    """The attack list: each bad signature comes first, followed by enough valid ones, so
    the contract must refuse it rather than count around it."""
    rid, h = record.id, record.hash
    head_approval = approval(ledger, rid, 1, h)
    valid = {label: sign(ledger, label, head_approval) for label in MEMBERS}
    low, high = by_address(ledger, [M1, M2])
    cmte_a = hexid(CMTE_A)

    def not_member(label: str) -> tuple:
        return (
            [sign(ledger, label, head_approval), valid[M1], valid[M2]],
            "RecordLedgerSignerNotMember",
            {"index": 0, "signer": addr(ledger, label), "committeeId": cmte_a},
        )

    def signed_over(message: SignableMessage) -> tuple:
        """M1 signed something other than this head's approval: it recovers to an
        unrelated address, which is not a member."""
        bad = sign(ledger, M1, message)
        recovered = Account.recover_message(head_approval, signature=bad)
        return (
            [bad, valid[M2], valid[M3]],
            "RecordLedgerSignerNotMember",
            {"index": 0, "signer": recovered, "committeeId": cmte_a},
        )

    def invalid(signature: bytes) -> tuple:
        return ([signature, valid[M1], valid[M2]], "RecordLedgerInvalidSignature", {"index": 0})

    extra = by_address(ledger, [M1, M2, STRANGER])
    chain_id = ledger.w3.eth.chain_id
    cases = {
        "a non-member": not_member(STRANGER),
        "a suspended member": not_member(SUSPENDED),
        "a revoked member": not_member(REVOKED),
        "a member of another committee": not_member(OTHER_MEMBER),
        "the grid worker (not a signer)": not_member(GRID_WORKER),
        "the resident": not_member(RESIDENT),
        "an office admin": not_member(ADMIN),
        "a non-member among k valid ones": (
            [sign(ledger, label, head_approval) for label in extra],
            "RecordLedgerSignerNotMember",
            {"index": extra.index(STRANGER), "signer": addr(ledger, STRANGER), "committeeId": cmte_a},
        ),
        "a duplicate signer": (
            [valid[low], valid[low]],
            "RecordLedgerSignersNotSorted",
            {"index": 1, "previous": addr(ledger, low), "signer": addr(ledger, low)},
        ),
        "unsorted signers": (
            [valid[high], valid[low]],
            "RecordLedgerSignersNotSorted",
            {"index": 1, "previous": addr(ledger, high), "signer": addr(ledger, low)},
        ),
        "a high-s signature": invalid(high_s_twin(valid[M3])),
        "a 64-byte signature": invalid(valid[M3][:64]),
        "a 66-byte signature": invalid(valid[M3] + b"\x00"),
        "v = 29": invalid(valid[M3][:64] + b"\x1d"),
        "an empty signature": invalid(b""),
        "over another version": signed_over(approval(ledger, rid, 2, h)),
        "over another content hash": signed_over(approval(ledger, rid, 1, new_id())),
        "over another record": signed_over(approval(ledger, new_id(), 1, h)),
        "for another chain id": signed_over(approval(ledger, rid, 1, h, {"chainId": chain_id + 1})),
        "for another contract": signed_over(
            approval(ledger, rid, 1, h, {"verifyingContract": ledger.contract("ConsentRegistry").address})
        ),
        "for another domain name": signed_over(approval(ledger, rid, 1, h, {"name": "gridledger ConsentRegistry"})),
        "for another domain version": signed_over(approval(ledger, rid, 1, h, {"version": "2"})),
    }
    before = state(ledger, rid)

    results = send_all(ledger, [(M1, certify(ledger, rid, 1, sigs)) for sigs, _, _ in cases.values()])

    assert_cases(results, [(case, error, args) for case, (_, error, args) in cases.items()])
    assert state(ledger, rid) == before


def test_the_high_s_twin_recovers_to_the_member_yet_is_refused(ledger, record):
    """ecrecover accepts both (s, v) and (n - s, v'); only the low-s form may count,
    or one approval could be submitted as two different signatures."""
    message = approval(ledger, record.id, 1, record.hash)
    low, high = by_address(ledger, [M1, M2])
    twin = high_s_twin(sign(ledger, high, message))
    r, s, v = twin[:32], twin[32:64], twin[64]
    raw = digest_of(message) + v.to_bytes(32, "big") + r + s
    recovered = ledger.w3.eth.call({"to": "0x" + "00" * 19 + "01", "data": raw})
    assert recovered[12:].hex() == addr(ledger, high)[2:].lower()  # the precompile takes it

    row, receipt = send(ledger, M1, certify(ledger, record.id, 1, [sign(ledger, low, message), twin]))

    assert_reverted(row, receipt, "RecordLedgerInvalidSignature", index=1)
    assert head(ledger, record.id)[5] == 0


def test_committees_keep_their_records_apart(ledger):
    """cmte-b (k = 1) keeps its own record; cmte-a and office-a have no power over it."""
    resident_b = ledger.new_account("cmte-b-resident", "member").address
    assert_mined(*send(ledger, OTHER_MEMBER, ledger.membership.add_member(resident_b, CMTE_B, Role.RESIDENT)))
    record_id, h = new_id(), new_id()

    row, receipt = send(ledger, OTHER_MEMBER, commit(ledger, record_id, 1, h, ZERO, resident_b))

    assert_mined(row, receipt)
    assert events(ledger, receipt, "RecordCommitted")[0]["committeeId"] == CMTE_B
    assert head(ledger, record_id) == (CMTE_B, resident_b, CATEGORY, 1, h, 0, False)
    ours = approvals(ledger, [M1], record_id, 1, h)
    before = state(ledger, record_id)
    results = send_all(
        ledger,
        [
            (M1, commit(ledger, record_id, 2, new_id(), h, resident_b)),
            (M1, certify(ledger, record_id, 1, ours)),
            (OTHER_MEMBER, certify(ledger, record_id, 1, ours)),
            (ADMIN, erase(ledger, record_id, new_id())),
        ],
    )
    m1, cmte_b = addr(ledger, M1), hexid(CMTE_B)
    assert_reverted(*results[0], "RecordLedgerUnauthorized", caller=m1, committeeId=cmte_b)
    assert_reverted(*results[1], "RecordLedgerUnauthorized", caller=m1, committeeId=cmte_b)
    assert_reverted(*results[2], "RecordLedgerSignerNotMember", index=0, signer=m1, committeeId=cmte_b)
    assert_reverted(*results[3], "RecordLedgerUnauthorized", caller=addr(ledger, ADMIN), committeeId=cmte_b)
    assert state(ledger, record_id) == before

    row, receipt = send(
        ledger, OTHER_MEMBER, certify(ledger, record_id, 1, approvals(ledger, [OTHER_MEMBER], record_id, 1, h))
    )

    assert_mined(row, receipt)
    assert events(ledger, receipt, "RecordCertified")[0]["signers"] == [addr(ledger, OTHER_MEMBER)]
    assert head(ledger, record_id)[5] == 1


# -- erase ----------------------------------------------------------------------------


@pytest.mark.parametrize("admin", [ADMIN, SECOND_ADMIN])
def test_office_admin_erases_a_record(ledger, record, admin):
    reason = keccak(text="resident moved away; data deleted under the retention rule")
    before = head(ledger, record.id)

    row, receipt = send(ledger, admin, erase(ledger, record.id, reason))

    assert_mined(row, receipt)
    assert event_names(ledger, receipt) == ["RecordErased"]
    assert events(ledger, receipt, "RecordErased") == [
        {"recordId": record.id, "reasonHash": reason, "by": addr(ledger, admin)}
    ]
    assert head(ledger, record.id) == (*before[:6], True)  # the commitments stay
    assert version_of(ledger, record.id, 1)[0] == record.hash


def test_an_erased_record_takes_no_more_versions_or_certifications(ledger, record):
    assert_mined(*send(ledger, ADMIN, erase(ledger, record.id, new_id())))
    rid = hexid(record.id)
    cases = [
        ("commit", M1, commit(ledger, record.id, 2, new_id(), record.hash, addr(ledger, RESIDENT)),
         "RecordLedgerErased", {"recordId": rid}),
        ("certify", M1, certify(ledger, record.id, 1, approvals(ledger, [M1, M2], record.id, 1, record.hash)),
         "RecordLedgerErased", {"recordId": rid}),
        ("erase again", SECOND_ADMIN, erase(ledger, record.id, new_id()), "RecordLedgerErased", {"recordId": rid}),
    ]  # fmt: skip
    before = state(ledger, record.id)

    results = send_all(ledger, [(who, call) for _, who, call, _, _ in cases])

    assert_cases(results, cases)
    assert state(ledger, record.id) == before


@pytest.mark.parametrize("caller", [OTHER_ADMIN, M1, GRID_WORKER, OFFICER, RESIDENT, STRANGER, REGISTRAR, OTHER_MEMBER])
def test_only_an_admin_of_the_committees_office_erases(ledger, record, caller):
    before = state(ledger, record.id)

    row, receipt = send(ledger, caller, erase(ledger, record.id, new_id()))

    assert_reverted(row, receipt, "RecordLedgerUnauthorized", caller=addr(ledger, caller), committeeId=hexid(CMTE_A))
    assert state(ledger, record.id) == before


def test_a_suspended_admin_cannot_erase(ledger, record):
    assert_mined(*send(ledger, ADMIN, ledger.membership.suspend(addr(ledger, SECOND_ADMIN))))
    before = state(ledger, record.id)

    row, receipt = send(ledger, SECOND_ADMIN, erase(ledger, record.id, new_id()))

    assert_reverted(
        row, receipt, "RecordLedgerUnauthorized", caller=addr(ledger, SECOND_ADMIN), committeeId=hexid(CMTE_A)
    )
    assert state(ledger, record.id) == before


def test_erase_refuses_an_unknown_record(ledger):
    unknown = new_id()

    row, receipt = send(ledger, ADMIN, erase(ledger, unknown, new_id()))

    assert_reverted(row, receipt, "RecordLedgerUnknownRecord", recordId=hexid(unknown))
    assert head(ledger, unknown) == (ZERO, ZERO_ADDRESS, 0, 0, ZERO, 0, False)


# -- gas ------------------------------------------------------------------------------


def test_every_call_uses_at_most_60_percent_of_its_gas_limit(ledger, record):
    resident, h2 = addr(ledger, RESIDENT), new_id()
    other, h_other = new_id(), new_id()
    steps = [
        ("commit(version 1)", M1, commit(ledger, other, 1, h_other, ZERO, resident)),
        ("commit(version 2)", GRID_WORKER, commit(ledger, record.id, 2, h2, record.hash, resident)),
        ("certify(2 signatures)", M1, certify(ledger, other, 1, approvals(ledger, [M1, M2], other, 1, h_other))),
        ("certify(3 signatures)", M1, certify(ledger, record.id, 2, approvals(ledger, MEMBERS, record.id, 2, h2))),
        ("erase", ADMIN, erase(ledger, other, new_id())),
    ]

    measured = {}
    for name, signer, call in steps:  # one after the other: each builds on the one before
        row, receipt = send(ledger, signer, call)
        assert_mined(row, receipt)
        measured[name] = (receipt["gasUsed"], call.gas)
    print("\ngasUsed / limit per call:")
    for name, (used, limit) in measured.items():
        print(f"  {name:28s} {used:>9,} / {limit:>9,}  ({used / limit:.0%})")
    over = {name: f"{used}/{limit}" for name, (used, limit) in measured.items() if used > 0.6 * limit}
    assert not over, f"calls above 60% of their gas limit: {over}"
