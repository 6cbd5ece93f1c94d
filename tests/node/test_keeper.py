"""The node's keeper: a snapshot is written only when it holds every block whose effects
it holds, so a chain restarted after ``kill -9`` never refuses its own lost transactions."""

from __future__ import annotations

import gzip
import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from node.keeper import inconsistencies, take_snapshot
from node.local import LocalNode, _rpc, build_command, find_anvil, state_file

from ..conftest import free_port, make_settings


def _state(accounts: dict[str, int], sent: list[tuple[str, int]], code: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "best_block_number": 3,
        "accounts": {a: {"nonce": n, "code": (code or {}).get(a, "0x")} for a, n in accounts.items()},
        "transactions": [{"info": {"from": sender, "nonce": hex(nonce)}} for sender, nonce in sent],
    }


def test_a_dump_whose_nonces_match_its_transactions_is_consistent() -> None:
    assert inconsistencies(_state({"0xA": 2, "0xB": 0}, [("0xa", 0), ("0xa", 1)])) == []


def test_effects_without_their_block_are_found() -> None:
    # The accounts say 0xA sent three transactions; the blocks hold two: a block is missing.
    assert inconsistencies(_state({"0xA": 3}, [("0xa", 0), ("0xa", 1)])) == [("0xA", 3, 2)]


def test_a_block_without_its_effects_is_found() -> None:
    assert inconsistencies(_state({"0xA": 1}, [("0xa", 0), ("0xa", 1)])) == [("0xA", 1, 2)]


def test_contracts_nonces_count_creations_not_transactions() -> None:
    assert inconsistencies(_state({"0xC": 1}, [], code={"0xC": "0x6080"})) == []


def test_an_inconsistent_dump_is_never_written(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(b"the last good one")
    bad = json.dumps(_state({"0xA": 3}, [("0xa", 0)])).encode()
    assert take_snapshot(lambda: bad, path, attempts=3, pause=lambda _s: None) is None
    assert path.read_bytes() == b"the last good one"
    dumps = iter([bad, json.dumps(_state({"0xA": 1}, [("0xa", 0)])).encode()])
    taken = take_snapshot(lambda: next(dumps), path, pause=lambda _s: None)
    assert taken is not None and taken.attempts == 2
    assert inconsistencies(json.loads(path.read_bytes())) == []


class _Senders:
    """Transfers from a few fresh accounts as fast as the node takes them."""

    def __init__(self, url: str, count: int = 3) -> None:
        self.url = url
        self.accounts = [Account.create() for _ in range(count)]
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._send, args=(a,), daemon=True) for a in self.accounts]

    def __enter__(self) -> _Senders:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=10)

    def _send(self, account: Any) -> None:
        nonce = 0
        while not self.stop.is_set():
            tx = account.sign_transaction({"nonce": nonce, "gasPrice": 0, "gas": 21_000, "to": account.address,
                                           "value": 0, "chainId": 31337})  # fmt: skip
            try:
                _rpc(self.url, "eth_sendRawTransaction", ["0x" + tx.raw_transaction.hex()])
            except Exception:  # noqa: BLE001 - the node is going away: stop quietly
                time.sleep(0.05)
                continue
            nonce += 1
            time.sleep(0.002)


@pytest.mark.chain
@pytest.mark.slow
def test_snapshots_of_a_mining_anvil_are_consistent(tmp_path: Path, record_property: Any) -> None:
    """Anvil's own dump, taken while it mines, often holds a block's effects without the
    block; the keeper's snapshot never does."""
    settings = make_settings(tmp_path / "var", free_port())
    settings.chain_dir.mkdir(parents=True)
    anvil = subprocess.Popen(build_command(settings, find_anvil(settings)), stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                _rpc(settings.rpc_url, "eth_blockNumber", timeout=0.5)
                break
            except Exception:  # noqa: BLE001 - starting
                assert time.monotonic() < deadline
                time.sleep(0.05)
        raw_inconsistent = 0

        def dump() -> bytes:
            nonlocal raw_inconsistent
            raw = gzip.decompress(bytes.fromhex(str(_rpc(settings.rpc_url, "anvil_dumpState"))[2:]))
            raw_inconsistent += bool(inconsistencies(json.loads(raw)))
            return raw

        path = tmp_path / "state.json"
        with _Senders(settings.rpc_url):
            time.sleep(1.0)
            for _ in range(30):
                assert take_snapshot(dump, path) is not None
                assert inconsistencies(json.loads(path.read_bytes())) == []
        record_property("raw_dumps_inconsistent", raw_inconsistent)
    finally:
        anvil.kill()
        anvil.wait()


@pytest.mark.chain
@pytest.mark.slow
def test_a_killed_node_restarts_from_a_consistent_snapshot_with_its_blocks(tmp_path: Path) -> None:
    node = LocalNode(make_settings(tmp_path / "var", free_port()))
    node.start()
    url = node.settings.rpc_url
    with _Senders(url):
        time.sleep(3.0)
        node.kill()
    assert node.pid() is None and node.anvil_pid() is None  # Anvil died with its keeper
    state = json.loads(state_file(node.settings).read_text())
    assert inconsistencies(state) == []
    head = int(state["best_block_number"])
    assert head > 0
    hashes = {int(b["header"]["number"], 16) for b in state["blocks"]}
    assert set(range(head + 1)) <= hashes
    node.start()
    try:
        assert int(_rpc(url, "eth_blockNumber"), 16) >= head
        for tx in state["transactions"][-5:]:  # the last transactions it kept have their receipts
            receipt = _rpc(url, "eth_getTransactionReceipt", [tx["info"]["transaction_hash"]])
            assert receipt is not None and int(receipt["blockNumber"], 16) <= head
    finally:
        node.stop()


@pytest.mark.chain
def test_anvil_alone_killed_takes_its_keeper_down_so_a_supervisor_sees_it(tmp_path: Path) -> None:
    import os
    import signal

    node = LocalNode(make_settings(tmp_path / "var", free_port()))
    node.start()
    try:
        anvil = node.anvil_pid()
        assert anvil is not None
        os.kill(anvil, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while node.pid() is not None:
            assert time.monotonic() < deadline, "the keeper outlived its Anvil"
            time.sleep(0.05)
        assert "Anvil exited" in node.log_file.read_text()
    finally:
        node.stop()
