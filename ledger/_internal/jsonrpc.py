"""Raw JSON-RPC over kept-alive HTTP connections: the chain view's hot reads.

Why not web3's provider on this path: every web process refreshes the chain head every
``HEAD_MAX_AGE`` (0.1 s), and one ``eth_getBlockByNumber`` through the provider costs about
ten times the CPU of the same POST on a connection kept open (its request session,
middleware and logging around a few hundred bytes; see scripts/bench/readpath.py). Writes
and everything else still go through web3.

One :class:`JsonRpc` per process (:attr:`ledger.context.Ledger.rpc`), thread-safe: a thread
takes an idle connection or opens one, and gives it back after the reply, so concurrent
readers never wait for each other's round trip; in a single-threaded process that is one
connection. A connection that fails is closed; a request that failed on a connection kept
from before (the node closed it meanwhile, or restarted) is sent once more on a new one,
which is safe because only reads are sent here. Any other transport failure, a timeout
included (the same timeout as web3's), raises :class:`NodeError`, as does an error reply.
"""

from __future__ import annotations

import http.client
import itertools
import os
import threading
from typing import Any
from urllib.parse import urlsplit

import orjson
from web3 import Web3

from ..errors import ConfigurationError, NodeError

DEFAULT_TIMEOUT = 30.0  # seconds, as ledger.chain.connect gives web3
#: The methods this client sends: reads only (a failed request is sent again, which is safe
#: only for a read; and nothing here may ask the node to sign).
READS = frozenset({
    "eth_blockNumber", "eth_call", "eth_chainId", "eth_getBlockByNumber", "eth_getLogs",
    "eth_getTransactionReceipt",
})  # fmt: skip
MAX_IDLE = 16  # idle connections kept; beyond, a returned one is closed


class JsonRpc:
    """JSON-RPC reads to one node (thread-safe; share one per process)."""

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(f"the node's JSON-RPC URL must be http:// or https://; got {url!r}")
        self.url = url
        self.timeout = timeout
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._headers = {"Content-Type": "application/json", "Connection": "keep-alive"}
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._pid = os.getpid()

    @classmethod
    def of(cls, w3: Web3) -> JsonRpc:
        """A client for the node ``w3`` talks to, with the same timeout."""
        provider = w3.provider
        url = getattr(provider, "endpoint_uri", None)
        if not isinstance(url, str):
            raise ConfigurationError(f"the chain view needs an HTTP node; web3 talks through {type(provider).__name__}")
        kwargs = provider.get_request_kwargs() if hasattr(provider, "get_request_kwargs") else {}
        timeout = dict(kwargs).get("timeout", DEFAULT_TIMEOUT)
        return cls(url, timeout=float(timeout))

    def call(self, method: str, params: list[Any]) -> Any:
        """The ``result`` of one request; raises :class:`NodeError` on an error reply or
        when the node cannot be asked; :class:`ConfigurationError` for a method that is not a
        read (:data:`READS`)."""
        if method not in READS:
            raise ConfigurationError(f"{method} is not a read: it goes through web3, never over this client")
        body = orjson.dumps({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params})
        reply = self._post(body)
        if not isinstance(reply, dict) or ("result" not in reply and "error" not in reply):
            raise NodeError(f"{method}: the node's reply is not JSON-RPC: {str(reply)[:200]!r}")
        if "error" in reply:
            error = reply["error"]
            raise NodeError(f"{method} failed: {error.get('message') if isinstance(error, dict) else error}")
        return reply["result"]

    def close(self) -> None:
        """Closes the idle connections (one in use closes when it is given back)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def _post(self, body: bytes) -> Any:
        while True:
            connection, kept = self._take()
            try:
                connection.request("POST", self._path, body, self._headers)
                response = connection.getresponse()
                data = response.read()
            except TimeoutError as exc:
                connection.close()
                raise NodeError(f"the chain cannot be asked: {type(exc).__name__}: {exc}") from exc
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                if kept:
                    continue  # the node closed a kept connection: once more on another, at last a new one
                raise NodeError(f"the chain cannot be asked: {type(exc).__name__}: {exc}") from exc
            if response.will_close:
                connection.close()
            else:
                self._give(connection)
            try:
                reply = orjson.loads(data)
            except orjson.JSONDecodeError as exc:
                raise NodeError(
                    f"the chain cannot be asked: the node answered HTTP {response.status}: {data[:200]!r}"
                ) from exc
            if response.status != 200 and not (isinstance(reply, dict) and "error" in reply):
                raise NodeError(f"the chain cannot be asked: the node answered HTTP {response.status}")
            return reply

    def _take(self) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._pid != os.getpid():  # a forked child never shares its parent's sockets
                self._idle, self._pid = [], os.getpid()
            if self._idle:
                return self._idle.pop(), True
        kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        return kind(self._host, self._port, timeout=self.timeout), False

    def _give(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < MAX_IDLE:
                self._idle.append(connection)
                return
        connection.close()
