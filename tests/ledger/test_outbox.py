"""The outbox: acknowledged writes survive a crash of the node.

The node is killed with SIGKILL and restarted from an older state dump, so it has
lost the blocks holding our most recent transactions, and one acknowledged write was
never sent at all. The outbox must send the same bytes again (same hashes), the
indexer must forget the lost blocks, and nothing may be duplicated.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ledger.context import Ledger
from ledger.membership import Role
from ledger.organisations import Organisations
from ledger.store.models import Member, OutboxTx
from node.deploy import deploy
from node.local import LocalNode, state_file
from tests.conftest import free_port, make_settings


def _dumped_block(path: Path) -> int:
    try:
        value = json.loads(path.read_text())["best_block_number"]
        return int(value, 16) if isinstance(value, str) else int(value)
    except (OSError, ValueError, KeyError):
        return -1


def _wait_for_dump(path: Path, at_least: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while _dumped_block(path) < at_least:
        assert time.monotonic() < deadline, "Anvil did not dump its state in time"
        time.sleep(0.1)


@pytest.mark.chain
@pytest.mark.slow
def test_acknowledged_writes_survive_kill_and_restart_from_older_dump(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "var", free_port())
    node = LocalNode(settings)
    node.start()
    ledger = Ledger.open(settings, upgrade=True)
    try:
        deploy(ledger)
        orgs = Organisations(ledger)
        orgs.create_office("office-crash", "Crash Office", "crash-admin")
        orgs.create_committee("cmte-crash", "Crash Committee", "office-crash", ["crash-m1"], 1)
        safe_block = ledger.w3.eth.block_number

        # An older dump: everything up to here, nothing after.
        _wait_for_dump(state_file(settings), safe_block)
        older = tmp_path / "older-state.json"
        shutil.copyfile(state_file(settings), older)

        # Acknowledged and mined after the dump: will be lost by the node.
        mined_hashes = [orgs.add_member(f"crash-worker-{i}", "cmte-crash", Role.GRID_WORKER) for i in range(3)]
        lost_block = ledger.w3.eth.block_number
        assert lost_block > safe_block
        # Acknowledged (committed to the outbox) but never sent before the crash.
        admin = ledger.account("crash-admin")
        with ledger.store.session() as session, session.begin():
            row = ledger.outbox.enqueue(
                session,
                admin,
                ledger.membership.add_member(
                    ledger.new_account("crash-late", "member").address,
                    bytes.fromhex(_org_hex(ledger, "cmte-crash")[2:]),
                    Role.GRID_WORKER,
                ),
            )
            unsent_hash = row.tx_hash

        node.kill()
        shutil.copyfile(older, state_file(settings))
        node.start()
        w3 = ledger.w3
        assert w3.eth.block_number < lost_block
        for tx_hash in mined_hashes:
            assert _receipt(w3, tx_hash) is None, "the restarted node should have lost this block"

        rows = ledger.outbox.wait([*mined_hashes, unsent_hash], timeout=60)
        assert [r.status for r in rows] == ["mined"] * 4
        for tx_hash in [*mined_hashes, unsent_hash]:
            receipt = _receipt(w3, tx_hash)
            assert receipt is not None and receipt["status"] == "0x1"  # landed with the very same hash

        ledger.indexer().run_once()
        with ledger.store.session() as session:
            workers = session.scalar(select(func.count()).select_from(Member).where(Member.role == "grid-worker"))
            sent_by_admin = session.scalar(
                select(func.count()).select_from(OutboxTx).where(OutboxTx.sender == admin.address)
            )
        assert workers == 4
        # Nothing duplicated: the admin's chain nonce equals the transactions it signed.
        assert w3.eth.get_transaction_count(admin.address) == sent_by_admin
    finally:
        ledger.close()
        node.stop()


def _org_hex(ledger: Ledger, code: str) -> str:
    from ledger.membership import org_id

    return "0x" + org_id(code).hex()


def _receipt(w3, tx_hash: str):  # type: ignore[no-untyped-def]
    reply = w3.provider.make_request("eth_getTransactionReceipt", [tx_hash])
    return reply.get("result")


def test_revert_is_recorded_with_decoded_error_name(ledger: Ledger, world) -> None:  # type: ignore[no-untyped-def]
    stranger = ledger.account(world.stranger)
    ledger.outbox.prepare(stranger)
    with ledger.store.session() as session, session.begin():
        target = ledger.new_account("never-added", "member").address
        from ledger.membership import org_id

        row = ledger.outbox.enqueue(
            session, stranger, ledger.membership.add_member(target, org_id(world.committee), Role.GRID_WORKER)
        )
        tx_hash = row.tx_hash
    (done,) = ledger.outbox.wait([tx_hash])
    assert done.status == "reverted"
    assert done.error_name == "MembershipUnauthorized"
    assert json.loads(done.error_detail or "{}") == {
        "caller": stranger.address,
        "orgId": _org_hex(ledger, world.committee),
    }


def test_enqueue_is_part_of_the_callers_transaction(ledger: Ledger, world) -> None:  # type: ignore[no-untyped-def]
    """A domain change that rolls back takes its chain write with it, nonce included."""
    admin = ledger.account(world.admin)
    ledger.outbox.prepare(admin)
    from ledger.store.models import NonceCursor

    with ledger.store.session() as session:
        before = session.get(NonceCursor, admin.address).next_nonce  # type: ignore[union-attr]
    with pytest.raises(RuntimeError), ledger.store.session() as session, session.begin():
        ledger.outbox.enqueue(session, admin, ledger.membership.suspend(ledger.address_of(world.members[0])))
        raise RuntimeError("the domain change failed")
    with ledger.store.session() as session:
        assert session.get(NonceCursor, admin.address).next_nonce == before  # type: ignore[union-attr]
        assert session.scalar(select(func.count()).select_from(OutboxTx).where(OutboxTx.status == "queued")) == 0


def test_preflight_refuses_before_anything_is_written(ledger: Ledger, world) -> None:  # type: ignore[no-untyped-def]
    from ledger.errors import ContractRevert

    with pytest.raises(ContractRevert) as caught:
        Organisations(ledger).add_member("refused", world.committee, Role.GRID_WORKER, actor=world.other_admin)
    assert caught.value.name == "MembershipUnauthorized"
    with ledger.store.session() as session:
        assert session.scalar(select(func.count()).select_from(OutboxTx).where(OutboxTx.status != "mined")) == 0


def test_the_guard_rejects_node_side_signing(ledger: Ledger) -> None:
    """The suite fails any code path that asks the node to sign or list accounts."""
    from tests.conftest import ForbiddenRpc

    with pytest.raises(ForbiddenRpc):
        ledger.w3.provider.make_request("eth_sendTransaction", [{}])  # type: ignore[arg-type]
    with pytest.raises(ForbiddenRpc):
        ledger.w3.eth.accounts  # noqa: B018


@pytest.mark.chain
@pytest.mark.slow
def test_revert_that_depends_on_an_earlier_transaction_in_its_block_is_decoded_at_its_position(tmp_path: Path) -> None:
    """Regression: replaying at the block's end state reported status 3 (revoked) for
    a suspend that failed because the account was already suspended (status 2).

    Runs on its own node with 1 s blocks: Anvil can pause and resume interval mining
    only in whole seconds, and the session node mines every 0.2 s."""
    settings = make_settings(tmp_path / "var", free_port(), GRIDLEDGER_BLOCK_TIME="1")
    node = LocalNode(settings)
    node.start()
    ledger = Ledger.open(settings, upgrade=True)
    try:
        deploy(ledger)
        orgs = Organisations(ledger)
        orgs.create_office("office-same-block", "Office", "same-block-admin")
        orgs.create_committee(
            "cmte-same-block", "Committee", "office-same-block", ["same-block-m1", "same-block-m2"], 1
        )
        admin = ledger.account("same-block-admin")
        target = ledger.address_of("same-block-m1")
        w3 = ledger.w3

        def node_call(method: str, params: list[object]) -> None:
            reply = w3.provider.make_request(method, params)  # type: ignore[arg-type]
            assert "error" not in reply, reply

        node_call("evm_setIntervalMining", [0])
        try:
            with ledger.store.session() as session, session.begin():
                calls = (
                    ledger.membership.suspend(target),
                    ledger.membership.suspend(target),
                    ledger.membership.revoke(target),
                )
                hashes = [ledger.outbox.enqueue(session, admin, call).tx_hash for call in calls]
            assert ledger.outbox.send() == 3
            node_call("evm_mine", [])
        finally:
            node_call("evm_setIntervalMining", [1])
        first, second, third = ledger.outbox.wait(hashes)
        assert first.block_number == second.block_number == third.block_number
        assert (first.status, second.status, third.status) == ("mined", "reverted", "mined")
        assert second.error_name == "MembershipInvalidStatus"
        assert json.loads(second.error_detail or "{}") == {"account": target, "status": 2}
    finally:
        ledger.close()
        node.stop()
