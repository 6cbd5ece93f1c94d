"""A real local webhook receiver for the tests: ``http.server`` in a thread on 127.0.0.1,
checking every request with the library's reference function (:func:`ledger.webhooks.verify_signature`).

Its ``mode`` says how it answers: ``ok`` (204 once the signature checks out, 400 when not),
``fail`` (500), ``slow`` (holds the request until released, or ten seconds: past the sender's
timeout whatever the machine's load, then answers 204). :meth:`Receiver.stop` closes the port (connections are refused);
:meth:`Receiver.start` opens it again on the same port."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ledger.errors import SignatureRejected
from ledger.webhooks import HEADER_ID, verify_signature


@dataclass(frozen=True)
class Arrival:
    id: str
    body: bytes
    mode: str  # how it was answered
    verified: bool
    problem: str | None

    @property
    def data(self) -> dict[str, Any]:
        return dict(json.loads(self.body)["data"])


class Receiver:
    def __init__(self, now: Callable[[], float]) -> None:
        self.secret = ""  # the subscription's, as its officer was shown it
        self.now = now
        self.mode = "ok"
        self.arrivals: list[Arrival] = []
        self.release = threading.Event()
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/gridledger?source=test"

    @property
    def accepted(self) -> list[Arrival]:
        """Requests answered 2xx with a valid signature: what the receiving system acted on."""
        return [a for a in self.arrivals if a.verified and a.mode == "ok"]

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                pass

            def do_POST(self) -> None:  # noqa: N802 - the base class's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                mode = receiver.mode
                problem = None
                try:
                    verify_signature(receiver.secret, self.headers, body, now=receiver.now())
                except SignatureRejected as exc:
                    problem = str(exc.problem)
                with receiver._lock:
                    receiver.arrivals.append(Arrival(self.headers.get(HEADER_ID, ""), body, mode, problem is None, problem))
                if problem is not None:
                    self._answer(400)
                elif mode == "fail":
                    self._answer(500)
                elif mode == "slow":
                    receiver.release.wait(10.0)
                    self._answer(204)
                else:
                    self._answer(204)

            def _answer(self, status: int) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender gave up waiting (a slow answer)

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
