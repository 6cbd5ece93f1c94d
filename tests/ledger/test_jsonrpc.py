"""The chain view's raw JSON-RPC client: kept-alive connections to a real node, a new
connection when the node dropped a kept one, NodeError when the node cannot be asked or
answers with an error, and the same answers as web3's provider."""

from __future__ import annotations

import threading

import pytest
from web3 import Web3

from ledger._internal.jsonrpc import JsonRpc
from ledger.chain import rpc
from ledger.errors import ConfigurationError, NodeError
from ledger.settings import Settings
from node.local import LocalNode
from tests.netproxy import Proxy


def test_answers_as_web3_does_on_one_kept_connection(anvil: LocalNode, session_settings: Settings) -> None:
    client = JsonRpc(session_settings.rpc_url, timeout=5.0)
    w3 = Web3(Web3.HTTPProvider(session_settings.rpc_url))
    try:
        assert client.call("eth_chainId", []) == rpc(w3, "eth_chainId", [])
        number = client.call("eth_blockNumber", [])
        assert client.call("eth_getBlockByNumber", [number, False]) == rpc(w3, "eth_getBlockByNumber", [number, False])
        assert len(client._idle) == 1  # one connection, kept for the next request
        kept = client._idle[0]
        client.call("eth_blockNumber", [])
        assert client._idle == [kept]
    finally:
        client.close()
    assert client._idle == []


def test_an_error_reply_is_a_node_error(anvil: LocalNode, session_settings: Settings) -> None:
    client = JsonRpc(session_settings.rpc_url, timeout=5.0)
    try:
        with pytest.raises(NodeError, match="eth_getBlockByNumber failed"):
            client.call("eth_getBlockByNumber", ["not-a-block", False])
        assert client.call("eth_blockNumber", []).startswith("0x")  # the connection is still good
    finally:
        client.close()


def test_a_node_gone_is_a_node_error_and_a_dropped_connection_is_replaced(
    anvil: LocalNode, session_settings: Settings
) -> None:
    proxy = Proxy(session_settings.node_port)
    proxy.restore()
    client = JsonRpc(proxy.url, timeout=5.0)
    try:
        assert client.call("eth_blockNumber", []).startswith("0x")
        proxy.cut()  # the kept connection is reset and nobody listens
        with pytest.raises(NodeError, match="cannot be asked"):
            client.call("eth_blockNumber", [])
        assert client._idle == []
        proxy.restore()
        assert client.call("eth_blockNumber", []).startswith("0x")
        proxy.cut()
        proxy.restore()  # the node is back, but the connection kept from before was dropped
        assert client.call("eth_blockNumber", []).startswith("0x")
    finally:
        proxy.cut()
        client.close()


def test_concurrent_callers_each_get_their_own_answer(anvil: LocalNode, session_settings: Settings) -> None:
    client = JsonRpc(session_settings.rpc_url, timeout=5.0)
    number = client.call("eth_blockNumber", [])
    errors: list[BaseException] = []

    def caller(offset: int) -> None:
        try:
            for i in range(20):
                block = hex(max(0, int(number, 16) - (offset + i) % 3))
                assert client.call("eth_getBlockByNumber", [block, False])["number"] == block
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    client.close()
    assert errors == []


def test_the_timeout_is_web3s_and_only_http_is_accepted() -> None:
    w3 = Web3(Web3.HTTPProvider("http://127.0.0.1:1/rpc", request_kwargs={"timeout": 7}))
    client = JsonRpc.of(w3)
    assert (client.url, client.timeout) == ("http://127.0.0.1:1/rpc", 7.0)
    assert JsonRpc.of(Web3(Web3.HTTPProvider("http://127.0.0.1:1"))).timeout == 30.0
    with pytest.raises(ConfigurationError):
        JsonRpc("ws://127.0.0.1:1")


def test_only_reads_are_sent_never_a_write_or_a_signing_request(anvil: LocalNode, session_settings: Settings) -> None:
    """A failed request is sent again, which is safe only for a read; and nothing here may ask
    the node to sign. Anything else is refused before it leaves."""
    client = JsonRpc(session_settings.rpc_url)
    for method in ("eth_sendRawTransaction", "eth_sendTransaction", "eth_sign", "personal_sign", "evm_mine"):
        with pytest.raises(ConfigurationError, match="not a read"):
            client.call(method, [])
    assert int(client.call("eth_blockNumber", []), 16) >= 0
    client.close()
