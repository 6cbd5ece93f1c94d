"""Anchoring when the node loses the block that held a checkpoint."""

from __future__ import annotations

import time

from sqlalchemy import select

from ledger.access import Access
from ledger.anchoring import Anchorer
from ledger.categories import Category
from ledger.context import Ledger
from ledger.records import Records
from ledger.store.models import LogCheckpoint, OutboxTx
from ledger.verify import verify

HEALTH = {"blood_type": "O", "chronic_conditions": [], "allergies": [], "family_doctor": "李医生"}


def _rpc(ledger: Ledger, method: str, params: list[object]) -> object:
    return ledger.w3.provider.make_request(method, params)["result"]  # type: ignore[arg-type]


def _checkpoint_and_its_transaction(ledger: Ledger) -> tuple[LogCheckpoint, OutboxTx]:
    with ledger.store.session() as session:
        checkpoint = session.scalars(select(LogCheckpoint).order_by(LogCheckpoint.size.desc())).first()
        assert checkpoint is not None
        tx = session.scalars(select(OutboxTx).where(OutboxTx.tx_hash == checkpoint.tx_hash)).one()
        return checkpoint, tx


def test_a_checkpoint_whose_block_was_lost_is_anchored_where_it_landed_again(ledger: Ledger, world) -> None:  # type: ignore[no-untyped-def]
    """The crash campaign's seed 2097144389: the node lost the block holding an anchored
    checkpoint, the outbox sent the same bytes again and recorded the new receipt before
    the anchorer looked, so the checkpoint stayed 'anchored' at the lost block and
    ``verify`` found its row differing from the chain."""
    records = Records(ledger)
    record_id, _ = records.add(actor=world.grid_worker, subject=world.resident, category=Category.HEALTH, content=HEALTH)
    records.sign(record_id, signer=world.members[0])
    records.sign(record_id, signer=world.members[1])
    ledger.outbox.pump()
    Access(ledger).read(record_id, accessor=world.members[0])
    before = _rpc(ledger, "evm_snapshot", [])

    anchorer = Anchorer(ledger, ledger.account(ledger.settings.anchorer))
    anchorer.run_until_anchored()
    checkpoint, tx = _checkpoint_and_its_transaction(ledger)
    assert checkpoint.status == "anchored" and checkpoint.block_number == tx.block_number
    lost_block = checkpoint.block_number
    assert lost_block is not None

    # The node loses the block (as a restart from an older snapshot does), and makes others
    # in its place, so the checkpoint cannot land at the same height again.
    assert _rpc(ledger, "evm_revert", [before]) is True
    for _ in range(lost_block - ledger.w3.eth.block_number + 2):
        _rpc(ledger, "evm_mine", [])

    # The outbox (the worker's sender) notices, sends the same bytes again and records where
    # they landed, all before the anchorer's next look.
    deadline = time.monotonic() + 15
    while (tx := _checkpoint_and_its_transaction(ledger)[1]).status != "mined" or tx.block_number == lost_block:
        assert time.monotonic() < deadline, f"the checkpoint's transaction was not mined again ({tx.status})"
        ledger.outbox.pump()
        time.sleep(0.05)
    assert tx.block_number is not None and tx.block_number > lost_block
    assert _checkpoint_and_its_transaction(ledger)[0].block_number == lost_block  # stale, as in the campaign

    anchorer.settle()
    checkpoint, tx = _checkpoint_and_its_transaction(ledger)
    assert checkpoint.status == "anchored"
    assert checkpoint.block_number == tx.block_number == ledger.w3.eth.get_transaction_receipt(tx.tx_hash)["blockNumber"]  # type: ignore[arg-type]
    report = verify(ledger, ["log"])
    assert report.ok, report.findings
