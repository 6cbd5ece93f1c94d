"""The managed local node: command line, missing binary, port checks, lifecycle, state."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from ledger.errors import NodeError
from node.local import LocalNode, _rpc, build_command, find_anvil

from ..conftest import free_port, make_settings


def test_build_command_is_pure_and_complete(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "var", 9999).with_(block_time=1.0)
    command = build_command(settings, "/opt/anvil")
    assert not (tmp_path / "var").exists()  # touched nothing
    flags: dict[str, str] = {}
    for arg, following in zip(command[1:], [*command[2:], ""]):
        if arg.startswith("--"):
            flags[arg] = "" if following.startswith("--") else following
    assert command[0] == "/opt/anvil"
    assert flags["--host"] == "127.0.0.1"
    assert flags["--port"] == "9999"
    assert flags["--chain-id"] == "31337"
    assert flags["--block-time"] == "1"  # interval mining, not automine
    assert flags["--gas-price"] == "0" and flags["--block-base-fee-per-gas"] == "0"
    assert int(flags["--gas-limit"]) >= 1_000_000_000
    # Anvil neither dumps nor loads by itself: its keeper snapshots (see node/keeper.py).
    assert "--state" not in flags and "--state-interval" not in flags and "--dump-state" not in flags
    assert "--load-state" not in flags
    loading = build_command(settings, "/opt/anvil", load=True)
    assert loading[loading.index("--load-state") + 1] == str(tmp_path / "var" / "chain" / "state.json")
    assert build_command(settings, "/opt/anvil") == command


def test_missing_binary_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRIDLEDGER_ANVIL", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    settings = make_settings(tmp_path / "var", free_port()).with_(root=tmp_path)
    with pytest.raises(NodeError, match="npm ci"):
        find_anvil(settings)
    with pytest.raises(NodeError, match="npm ci"):
        LocalNode(settings).start()
    assert not (tmp_path / "var" / "chain" / "node.pid").exists()


@pytest.mark.chain
def test_port_taken_by_another_program_starts_nothing(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        node = LocalNode(make_settings(tmp_path / "var", port))
        with pytest.raises(NodeError, match=f"port {port} .* taken by another program; nothing was started"):
            node.start()
        assert node.pid() is None
        assert not node.pid_file.exists()


def test_foreign_node_on_the_port_is_refused(tmp_path: Path, anvil: LocalNode) -> None:
    intruder = LocalNode(make_settings(tmp_path / "var", anvil.settings.node_port))
    with pytest.raises(NodeError, match="a node we did not start \\(anvil/"):
        intruder.start()
    assert intruder.pid() is None
    assert anvil.status().running  # the session's node is untouched


@pytest.mark.chain
@pytest.mark.slow
def test_start_status_stop_and_state_survives(tmp_path: Path) -> None:
    node = LocalNode(make_settings(tmp_path / "var", free_port()))
    assert not node.status().running
    started = node.start()
    try:
        assert started.running and started.client_version and started.client_version.startswith("anvil/")
        assert started.chain_id == 31337
        assert node.start().pid == started.pid  # idempotent: reuses the running node
        url = node.settings.rpc_url
        while int(_rpc(url, "eth_blockNumber"), 16) < 3:
            pass
        block_2 = _rpc(url, "eth_getBlockByNumber", ["0x2", False])["hash"]
    finally:
        assert node.stop() is True
    assert not node.status().running
    assert node.stop() is False

    restarted = node.start()
    try:
        assert restarted.block_number is not None and restarted.block_number >= 3
        assert _rpc(node.settings.rpc_url, "eth_getBlockByNumber", ["0x2", False])["hash"] == block_2
    finally:
        node.stop()


@pytest.mark.chain
def test_the_genesis_block_survives_every_restart(tmp_path: Path) -> None:
    """Anvil dumps the fresh genesis block of each start beside the loaded one and, on the
    next load, takes whichever comes last: the start leaves only the chain's own."""
    from node.local import _header_hash, state_file

    node = LocalNode(make_settings(tmp_path / "var", free_port()))

    def genesis_after_start() -> str:
        node.start()
        try:
            height = int(_rpc(node.settings.rpc_url, "eth_blockNumber"), 16)
            while int(_rpc(node.settings.rpc_url, "eth_blockNumber"), 16) < height + 2:
                time.sleep(0.05)
            return str(_rpc(node.settings.rpc_url, "eth_getBlockByNumber", ["0x0", False])["hash"])
        finally:
            node.stop()

    genesis = genesis_after_start()
    assert genesis_after_start() == genesis
    path = state_file(node.settings)
    state = json.loads(path.read_text())
    zeros = [b for b in state["blocks"] if int(b["header"]["number"], 16) == 0]
    own = next(b for b in zeros if _header_hash(b["header"]) == genesis)  # the hash is computed right
    # What a start leaves in the dump: a genesis of its own, later; put it last, where a load takes it.
    fresh = json.loads(json.dumps(own))
    fresh["header"]["timestamp"] = hex(int(own["header"]["timestamp"], 16) + 7)
    rest = [b for b in state["blocks"] if b is not own]
    state["blocks"] = [own, *rest, fresh]
    path.write_text(json.dumps(state))
    assert genesis_after_start() == genesis
    assert genesis_after_start() == genesis
