"""The indexer: bounded windows, resume, and re-reading after a changed block hash."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

import ledger.indexer as indexer_module
from ledger.chain import CONTRACTS
from ledger.context import Ledger
from ledger.membership import Role, org_id
from ledger.organisations import Organisations
from ledger.store.models import ChainEvent, IndexCursor, Member, Organisation, OutboxTx, SeenBlock


def _count(ledger: Ledger, model: Any) -> int:
    with ledger.store.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_resumes_from_its_cursor_without_reading_twice(ledger: Ledger, world) -> None:  # type: ignore[no-untyped-def]
    indexer = ledger.indexer()
    indexer.run_once()
    events = _count(ledger, ChainEvent)
    with ledger.store.session() as session:
        cursor = session.get(IndexCursor, "events")
    assert cursor is not None and events > 0

    assert indexer.run_once() == 0  # nothing new: nothing stored twice
    assert _count(ledger, ChainEvent) == events

    Organisations(ledger, wait=False).add_member("late-worker", world.committee, Role.GRID_WORKER)
    ledger.outbox.wait([_last_tx(ledger)])
    fresh = ledger.indexer()  # a new process resumes from the stored cursor
    assert fresh.run_once() == 1
    assert _count(ledger, ChainEvent) == events + 1
    with ledger.store.session() as session:
        assert session.scalars(select(ChainEvent.event).order_by(ChainEvent.id.desc())).first() == "MemberAdded"


def test_reads_in_windows_no_larger_than_configured(ledger: Ledger, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    ranges: list[tuple[int, int]] = []
    real_rpc = indexer_module.rpc

    def recording_rpc(w3, method: str, params: list[Any]):  # type: ignore[no-untyped-def]
        if method == "eth_getLogs":
            ranges.append((int(params[0]["fromBlock"], 16), int(params[0]["toBlock"], 16)))
        return real_rpc(w3, method, params)

    monkeypatch.setattr(indexer_module, "rpc", recording_rpc)
    members_before = _count(ledger, Member)
    with ledger.store.session() as session, session.begin():
        for table in (Member, Organisation, ChainEvent, SeenBlock, IndexCursor):
            session.execute(table.__table__.delete())
    before = ledger.w3.eth.block_number
    windowed = indexer_module.Indexer(
        ledger.store,
        ledger.w3,
        {"Membership": (ledger.deployment.address("Membership"), ledger.contract("Membership").abi)},
        start_block=ledger.deployment.block,
        window=3,
    )
    windowed.run_once(to_block=before)
    assert ranges, "no eth_getLogs made"
    assert all(end - start + 1 <= 3 for start, end in ranges)
    assert ranges[0][0] == ledger.deployment.block and ranges[-1][1] == before
    assert all(b[0] == a[1] + 1 for a, b in zip(ranges, ranges[1:]))  # contiguous, no gaps
    assert members_before == 13  # the world's accounts with a membership (see conftest.World)
    assert _count(ledger, Member) == members_before  # every member of the world, read back window by window


def test_rereads_after_a_changed_block_hash(ledger: Ledger, world) -> None:  # type: ignore[no-untyped-def]
    orgs = Organisations(ledger)
    w3 = ledger.w3
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    # A write made outside this installation's outbox (so nothing will resend it).
    doomed = ledger.new_account("doomed-worker", "member").address
    signer = ledger.account(world.second_admin)
    call = ledger.membership.add_member(doomed, org_id(world.committee), Role.GRID_WORKER)
    signed = signer.sign_transaction(
        {
            "nonce": w3.eth.get_transaction_count(signer.address),
            "gasPrice": 0,
            "gas": call.gas,
            "to": call.to,
            "data": call.data,
            "chainId": w3.eth.chain_id,
        }
    )
    w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction), timeout=30)
    ledger.indexer().run_once()
    assert orgs.is_member("doomed-worker")

    # The node loses those blocks; other blocks take their numbers.
    assert w3.provider.make_request("evm_revert", [snapshot])["result"] is True  # type: ignore[arg-type]
    orgs.add_member("survivor-worker", world.committee, Role.GRID_WORKER)

    assert not orgs.is_member("doomed-worker")
    assert orgs.is_member("survivor-worker")
    with ledger.store.session() as session:
        added = [
            json.loads(a)["account"]
            for a in session.scalars(select(ChainEvent.args).where(ChainEvent.event == "MemberAdded"))
        ]
    assert ledger.address_of("doomed-worker") not in added
    assert ledger.address_of("survivor-worker") in added
    # Projections rebuilt consistently: committee counts unchanged by the lost member.
    committee = {o.code: o for o in orgs.organisations()}[world.committee]
    assert (committee.threshold, committee.active_signers) == (2, 3)


def test_a_window_read_before_another_indexer_rewound_is_not_stored(ledger: Ledger, world) -> None:  # type: ignore[no-untyped-def]
    """Two indexers (the worker and a web process after its own write): one reads a window
    from the cursor, the other rewinds meanwhile (a fork, a node come back from an older state)
    and commits. The first must not store its window over the rewind: it would skip every block
    the rewind has to read again and put the cursor back past them."""
    ledger.indexer().run_once()
    members, events = _count(ledger, Member), _count(ledger, ChainEvent)
    Organisations(ledger, wait=False).add_member("window-worker", world.committee, Role.GRID_WORKER)
    ledger.outbox.wait([_last_tx(ledger)])
    contracts = {n: (ledger.deployment.address(n), ledger.contract(n).abi) for n in CONTRACTS}
    rewinder = indexer_module.Indexer(ledger.store, ledger.w3, contracts, start_block=ledger.deployment.block)
    reader = indexer_module.Indexer(ledger.store, ledger.w3, contracts, start_block=ledger.deployment.block)
    real_fetch = reader.fetch
    rewound: list[int] = []

    def fetch_then_rewound(start: int, end: int) -> list[indexer_module.Event]:
        found = real_fetch(start, end)
        if not rewound:  # the other indexer, between this one's cursor and its commit
            rewound.append(start)
            rewinder.rewind(ledger.deployment.block - 1, "")
        return found

    reader.fetch = fetch_then_rewound  # type: ignore[method-assign]
    reader.run_once()
    assert rewound and rewound[0] > ledger.deployment.block  # the window began past the rewind's point
    assert _count(ledger, ChainEvent) == events + 1  # everything read again, the new block once
    assert _count(ledger, Member) == members + 1
    with ledger.store.session() as session:
        cursor = session.get(IndexCursor, "events")
    assert cursor is not None and cursor.block_number >= rewound[0]  # past the window, read again


def _last_tx(ledger: Ledger) -> str:
    with ledger.store.session() as session:
        return str(session.scalars(select(OutboxTx.tx_hash).order_by(OutboxTx.id.desc())).first())


@pytest.mark.parametrize(
    "abi_type", ["uint8", "uint16", "uint32", "uint64", "uint256", "int256", "int64", "address", "bool", "bytes32"]
)
def test_word_decoding_matches_eth_abi(abi_type: str) -> None:
    import random

    from eth_abi import decode, encode

    rng = random.Random(abi_type)
    for _ in range(200):
        if abi_type.startswith("uint"):
            value: Any = rng.randrange(2 ** int(abi_type[4:]))
        elif abi_type.startswith("int"):
            bits = int(abi_type[3:])
            value = rng.randrange(-(2 ** (bits - 1)), 2 ** (bits - 1))
        elif abi_type == "address":
            value = "0x" + rng.randbytes(20).hex()
        elif abi_type == "bool":
            value = rng.random() < 0.5
        else:
            value = rng.randbytes(32)
        word = encode([abi_type], [value])
        assert indexer_module.decode_word(abi_type, word) == decode([abi_type], word)[0]
