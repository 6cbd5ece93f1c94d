"""AccessLogAnchor on chain: the contract itself keeps the log append-only."""

from __future__ import annotations

import pytest
from eth_account import Account
from web3.exceptions import ContractPanicError

from ledger.anchor import GAS_APPEND_BASE, GAS_APPEND_PER_HASH, AnchorCalls
from ledger.chain import revert_data
from ledger.merkle import MerkleTree, leaf_hash
from tests.onchain import (
    ADMIN,
    CMTE_A,
    GRID_WORKER,
    OFFICE_A,
    OFFICE_B,
    OTHER_ADMIN,
    STRANGER,
    SUSPENDED,
    ZERO_ADDRESS,
    assert_mined,
    assert_reverted,
    hexid,
    send,
)

ANCHORER = "log-anchorer"
SWEPT = 48  # every pair of sizes up to here, past the 2^5 boundary
LEAVES = [leaf_hash(f'{{"seq":{i}}}'.encode()) for i in range(300)]


@pytest.fixture
def anchor(ledger):  # type: ignore[no-untyped-def]
    return AnchorCalls(ledger.contract("AccessLogAnchor"))


@pytest.fixture
def anchorer(ledger, anchor):  # type: ignore[no-untyped-def]
    address = ledger.new_account(ANCHORER, "member").address
    assert_mined(*send(ledger, ADMIN, anchor.designate(address, OFFICE_A)))
    return address


def _latest(ledger):  # type: ignore[no-untyped-def]
    checkpoint, count = ledger.contract("AccessLogAnchor").functions.latest().call()
    return checkpoint[0], checkpoint[1], count


def test_an_office_admin_designates_and_removes_an_anchorer(ledger, anchor) -> None:  # type: ignore[no-untyped-def]
    address = ledger.new_account(ANCHORER, "member").address
    row, receipt = send(ledger, ADMIN, anchor.designate(address, OFFICE_A))
    assert_mined(row, receipt)
    (event,) = ledger.contract("AccessLogAnchor").events.AnchorerDesignated().process_receipt(receipt)
    assert (event.args.anchorer, event.args.officeId, event.args.by) == (address, OFFICE_A, ledger.address_of(ADMIN))
    assert ledger.contract("AccessLogAnchor").functions.anchorerOffice(address).call() == OFFICE_A

    assert_reverted(
        *send(ledger, OTHER_ADMIN, anchor.remove(address)),
        "AccessLogAnchorUnauthorized",
        caller=ledger.address_of(OTHER_ADMIN),
        officeId=hexid(OFFICE_A),
    )
    assert_mined(*send(ledger, ADMIN, anchor.remove(address)))
    assert ledger.contract("AccessLogAnchor").functions.anchorerOffice(address).call() == bytes(32)


@pytest.mark.parametrize(
    ("caller", "office"),
    [
        (OTHER_ADMIN, OFFICE_A),
        (STRANGER, OFFICE_A),
        (SUSPENDED, OFFICE_A),
        (GRID_WORKER, OFFICE_A),
        (ADMIN, OFFICE_B),
        (ADMIN, CMTE_A),
    ],
)
def test_only_an_admin_of_the_office_designates(ledger, anchor, caller, office) -> None:  # type: ignore[no-untyped-def]
    target = ledger.new_account(ANCHORER, "member").address
    assert_reverted(
        *send(ledger, caller, anchor.designate(target, office)),
        "AccessLogAnchorUnauthorized",
        caller=ledger.address_of(caller),
        officeId=hexid(office),
    )


def test_zero_address_cannot_be_an_anchorer(ledger, anchor) -> None:  # type: ignore[no-untyped-def]
    assert_reverted(*send(ledger, ADMIN, anchor.designate(ZERO_ADDRESS, OFFICE_A)), "AccessLogAnchorZeroAddress")


def test_honest_growth_is_accepted_checkpoint_by_checkpoint(ledger, anchor, anchorer) -> None:  # type: ignore[no-untyped-def]
    tree = MerkleTree.of(LEAVES)
    previous = 0
    for index, size in enumerate([1, 2, 3, 8, 9, 64, 100, 128, 257, 300]):
        proof = tree.consistency_proof(previous, size) if previous else []
        row, receipt = send(ledger, ANCHORER, anchor.append(size, tree.root(size), proof))
        assert_mined(row, receipt)
        (event,) = ledger.contract("AccessLogAnchor").events.CheckpointAppended().process_receipt(receipt)
        assert (event.args.index, event.args.size, event.args.root, event.args.anchorer) == (
            index,
            size,
            tree.root(size),
            anchorer,
        )
        assert receipt["gasUsed"] <= 0.6 * (GAS_APPEND_BASE + GAS_APPEND_PER_HASH * len(proof))
        previous = size
    assert _latest(ledger) == (300, tree.root(300), 10)


@pytest.mark.slow
def test_every_pair_of_sizes_up_to_48_verifies_on_chain_as_in_the_library(ledger, anchor, anchorer) -> None:  # type: ignore[no-untyped-def]
    """The on-chain check (its bit arithmetic, its hashing) against ``ledger/merkle.py``: each
    size1 is anchored, then every size2 after it is asked of the contract without mining,
    with the library's proof (accepted) and with that proof's last hash flipped (refused
    with one of the contract's own errors). The calls after each size1 go in one JSON-RPC
    batch of ``eth_call``s against the latest block, the one that holds size1's checkpoint."""
    tree = MerkleTree.of(LEAVES)
    contract = ledger.contract("AccessLogAnchor")
    own_errors = {item["name"] for item in contract.abi if item["type"] == "error"}
    previous = 0
    for size1 in range(1, SWEPT + 1):
        proof = tree.consistency_proof(previous, size1) if previous else []
        assert_mined(*send(ledger, ANCHORER, anchor.append(size1, tree.root(size1), proof)))
        assert _latest(ledger)[0] == size1
        previous = size1
        asked = []
        for size2 in range(size1 + 1, SWEPT + 1):
            good = tree.consistency_proof(size1, size2)
            bad = [*good[:-1], good[-1][:-1] + bytes([good[-1][-1] ^ 1])]
            for proof2, accepted in ((good, True), (bad, False)):
                data = "0x" + anchor.append(size2, tree.root(size2), proof2).data.hex()  # the calldata the anchorer sends
                asked.append((size2, accepted, {"from": anchorer, "to": contract.address, "data": data}))
        if not asked:
            continue
        replies = ledger.w3.provider.make_batch_request([("eth_call", [call, "latest"]) for *_, call in asked])
        assert isinstance(replies, list) and len(replies) == len(asked), replies
        replies = sorted(replies, key=lambda reply: reply["id"])
        for (size2, accepted, _call), reply in zip(asked, replies, strict=True):
            if accepted:
                assert "error" not in reply and "result" in reply, (size1, size2, reply)
            else:
                assert "error" in reply, (size1, size2, "a flipped hash was accepted")
                refusal = ledger.decoder.decode(revert_data(reply["error"]))
                assert refusal.name in own_errors, (size1, size2, refusal.name, reply["error"])


def _anchor_first(ledger, anchor, size: int) -> MerkleTree:  # type: ignore[no-untyped-def]
    tree = MerkleTree.of(LEAVES)
    assert_mined(*send(ledger, ANCHORER, anchor.append(size, tree.root(size), [])))
    return tree


def test_a_root_that_rewrites_history_is_refused(ledger, anchor, anchorer) -> None:  # type: ignore[no-untyped-def]
    tree = _anchor_first(ledger, anchor, 10)
    forged_leaves = list(LEAVES[:20])
    forged_leaves[3] = leaf_hash(b"an entry rewritten after the fact")
    forged = MerkleTree.of(forged_leaves)
    assert_reverted(
        *send(ledger, ANCHORER, anchor.append(20, forged.root(20), forged.consistency_proof(10, 20))),
        "AccessLogAnchorInconsistent",
        size=10,
        newSize=20,
    )
    # nor may an honest proof be paired with a root that is not the tree's
    assert_reverted(
        *send(ledger, ANCHORER, anchor.append(20, forged.root(20), tree.consistency_proof(10, 20))),
        "AccessLogAnchorInconsistent",
        size=10,
        newSize=20,
    )
    assert _latest(ledger) == (10, tree.root(10), 1)


def test_a_smaller_or_equal_size_is_refused(ledger, anchor, anchorer) -> None:  # type: ignore[no-untyped-def]
    tree = _anchor_first(ledger, anchor, 10)
    assert_reverted(
        *send(ledger, ANCHORER, anchor.append(9, tree.root(9), [])), "AccessLogAnchorNotGrowing", size=10, newSize=9
    )
    assert_reverted(
        *send(ledger, ANCHORER, anchor.append(10, tree.root(10), [])), "AccessLogAnchorNotGrowing", size=10, newSize=10
    )


def test_a_bad_proof_is_refused(ledger, anchor, anchorer) -> None:  # type: ignore[no-untyped-def]
    tree = _anchor_first(ledger, anchor, 6)
    proof = tree.consistency_proof(6, 13)
    flipped = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
    assert_reverted(
        *send(ledger, ANCHORER, anchor.append(13, tree.root(13), flipped)),
        "AccessLogAnchorInconsistent",
        size=6,
        newSize=13,
    )
    assert_reverted(
        *send(ledger, ANCHORER, anchor.append(13, tree.root(13), proof[:-1])),
        "AccessLogAnchorProofLength",
        given=len(proof) - 1,
        expected=len(proof),
    )
    assert_reverted(
        *send(ledger, ANCHORER, anchor.append(13, tree.root(13), [])), "AccessLogAnchorProofLength", given=0, expected=1
    )


def test_the_first_checkpoint_takes_no_proof(ledger, anchor, anchorer) -> None:  # type: ignore[no-untyped-def]
    tree = MerkleTree.of(LEAVES)
    assert_reverted(
        *send(ledger, ANCHORER, anchor.append(5, tree.root(5), [tree.root(5)])),
        "AccessLogAnchorProofLength",
        given=1,
        expected=0,
    )


def test_a_stranger_or_removed_anchorer_cannot_append(ledger, anchor, anchorer) -> None:  # type: ignore[no-untyped-def]
    tree = MerkleTree.of(LEAVES)
    assert_reverted(
        *send(ledger, STRANGER, anchor.append(5, tree.root(5), [])),
        "AccessLogAnchorNotAnchorer",
        caller=ledger.address_of(STRANGER),
    )
    assert_reverted(
        *send(ledger, ADMIN, anchor.append(5, tree.root(5), [])),
        "AccessLogAnchorNotAnchorer",
        caller=ledger.address_of(ADMIN),
    )  # office admins designate; they do not anchor
    assert_mined(*send(ledger, ADMIN, anchor.remove(anchorer)))
    assert_reverted(
        *send(ledger, ANCHORER, anchor.append(5, tree.root(5), [])), "AccessLogAnchorNotAnchorer", caller=anchorer
    )
    assert _latest(ledger) == (0, bytes(32), 0)


# -- storage: two slots a checkpoint, packed by the compiler (size 56 bits, time 40, anchorer 160)

MAX_SIZE = 2**56 - 1
# An anchorer whose address has its highest bits set (the top of the packed slot): the key is
# keccak256("gridledger test anchorer 3760"), found by counting up until the address began 0xfff.
HIGH_KEY = bytes.fromhex("95e8b16593d14a4d52433ae2b250fb42f20fce66aec389085d98d271477728e9")
HIGH_ADDRESS = "0xfffb8C084c1b1C9837D5aedaDB89AB7BBFC6E779"


def _send_as(ledger, signer, call):  # type: ignore[no-untyped-def]
    """``send`` for an account held outside the keystore."""
    ledger.outbox.prepare(signer)
    with ledger.store.session() as session, session.begin():
        tx_hash = ledger.outbox.enqueue(session, signer, call, preflight=False).tx_hash
    (row,) = ledger.outbox.wait([tx_hash], timeout=30, interval=0.05)
    return row, ledger.w3.eth.get_transaction_receipt(tx_hash)


def _block_time(ledger, receipt) -> int:  # type: ignore[no-untyped-def]
    return int(ledger.w3.eth.get_block(receipt["blockNumber"])["timestamp"])


def test_each_checkpoint_reads_back_as_it_was_appended(ledger, anchor, anchorer) -> None:  # type: ignore[no-untyped-def]
    tree = MerkleTree.of(LEAVES)
    contract = ledger.contract("AccessLogAnchor")
    appended = []
    previous = 0
    for size in (3, 64, 65, 300):
        proof = tree.consistency_proof(previous, size) if previous else []
        row, receipt = send(ledger, ANCHORER, anchor.append(size, tree.root(size), proof))
        assert_mined(row, receipt)
        appended.append((size, tree.root(size), _block_time(ledger, receipt), anchorer))
        previous = size
    assert [tuple(contract.functions.checkpointAt(i).call()) for i in range(4)] == appended
    checkpoint, count = contract.functions.latest().call()
    assert (tuple(checkpoint), count) == (appended[-1], 4)


def test_a_checkpoint_past_the_last_panics_as_an_array_would(ledger, anchor, anchorer) -> None:  # type: ignore[no-untyped-def]
    contract = ledger.contract("AccessLogAnchor")
    with pytest.raises(ContractPanicError):
        contract.functions.checkpointAt(0).call()
    _anchor_first(ledger, anchor, 5)
    assert contract.functions.checkpointAt(0).call()[0] == 5
    with pytest.raises(ContractPanicError):
        contract.functions.checkpointAt(1).call()


def test_the_largest_size_and_a_high_anchorer_round_trip(ledger, anchor) -> None:  # type: ignore[no-untyped-def]
    signer = Account.from_key(HIGH_KEY)
    assert signer.address == HIGH_ADDRESS
    assert_mined(*send(ledger, ADMIN, anchor.designate(signer.address, OFFICE_A)))
    root = b"\xff" * 32
    row, receipt = _send_as(ledger, signer, anchor.append(MAX_SIZE, root, []))
    assert_mined(row, receipt)
    (event,) = ledger.contract("AccessLogAnchor").events.CheckpointAppended().process_receipt(receipt)
    assert (event.args.index, event.args.size, event.args.root, event.args.anchorer) == (
        0,
        MAX_SIZE,
        root,
        HIGH_ADDRESS,
    )
    expected = (MAX_SIZE, root, _block_time(ledger, receipt), HIGH_ADDRESS)
    contract = ledger.contract("AccessLogAnchor")
    assert tuple(contract.functions.checkpointAt(0).call()) == expected
    checkpoint, count = contract.functions.latest().call()
    assert (tuple(checkpoint), count) == (expected, 1)
    # nothing can follow the largest size: growth past it does not fit
    assert_reverted(
        *_send_as(ledger, signer, anchor.append(MAX_SIZE + 1, root, [root])),
        "AccessLogAnchorSizeTooLarge",
        newSize=MAX_SIZE + 1,
        limit=MAX_SIZE,
    )


@pytest.mark.parametrize("size", [MAX_SIZE + 1, 2**64 - 1])
def test_a_size_past_56_bits_is_refused(ledger, anchor, anchorer, size) -> None:  # type: ignore[no-untyped-def]
    assert_reverted(
        *send(ledger, ANCHORER, anchor.append(size, b"\x01" * 32, [])),
        "AccessLogAnchorSizeTooLarge",
        newSize=size,
        limit=MAX_SIZE,
    )
    assert _latest(ledger) == (0, bytes(32), 0)


def _set_next_time(ledger, timestamp: int) -> None:  # type: ignore[no-untyped-def]
    result = ledger.w3.provider.make_request("evm_setNextBlockTimestamp", [timestamp])
    assert "error" not in result, result


def test_a_time_near_40_bits_round_trips(ledger, anchor, anchorer) -> None:  # type: ignore[no-untyped-def]
    _set_next_time(ledger, 2**40 - 20)
    row, receipt = send(ledger, ANCHORER, anchor.append(7, b"\x07" * 32, []))
    assert_mined(row, receipt)
    at = _block_time(ledger, receipt)
    assert 2**40 - 20 <= at < 2**40
    assert ledger.contract("AccessLogAnchor").functions.checkpointAt(0).call()[2] == at


def test_a_time_past_40_bits_is_refused(ledger, anchor, anchorer) -> None:  # type: ignore[no-untyped-def]
    _set_next_time(ledger, 2**40)
    row, receipt = send(ledger, ANCHORER, anchor.append(7, b"\x07" * 32, []))
    assert_reverted(row, receipt, "SafeCastOverflowedUintDowncast", bits=40, value=_block_time(ledger, receipt))
    assert _latest(ledger) == (0, bytes(32), 0)


def test_time_is_back_to_now_after_the_40_bit_tests(ledger) -> None:  # type: ignore[no-untyped-def]
    """The session's chain is shared: the tests above must not leave its clock in the far future."""
    assert ledger.w3.eth.get_block("latest")["timestamp"] < 2**33
