"""AccessLogAnchor on chain: the contract itself keeps the log append-only."""

from __future__ import annotations

import pytest

from ledger.anchor import GAS_APPEND_BASE, GAS_APPEND_PER_HASH, AnchorCalls
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
