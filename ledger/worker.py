"""The background worker: the outbox's sender and the indexer, side by side.

Each runs in its own thread, so sending never waits behind indexing a busy block
(and the reverse). Errors are reported and retried on the next cycle; the node or
the database being away for a while is normal operation, not a crash.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from .context import Ledger
from .errors import LedgerError
from .indexer import Indexer

Report = Callable[[str], None]


class Worker:
    def __init__(self, ledger: Ledger, *, interval: float = 0.5, report: Report = print) -> None:
        self.ledger = ledger
        self.interval = interval
        self.report = report
        self.stop = threading.Event()

    def once(self) -> None:
        """One cycle of each, in order: send and record, then index."""
        self._send_cycle()
        self._index_cycle(self.ledger.indexer())

    def run(self) -> None:
        """Runs both loops until :attr:`stop` is set (or Ctrl-C)."""
        indexer = self.ledger.indexer()
        threads = [
            threading.Thread(target=self._loop, args=(self._send_cycle,), name="gridledger-sender", daemon=True),
            threading.Thread(
                target=self._loop, args=(lambda: self._index_cycle(indexer),), name="gridledger-indexer", daemon=True
            ),
        ]
        for thread in threads:
            thread.start()
        try:
            while not self.stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            self.stop.set()
        for thread in threads:
            thread.join(timeout=30)

    def _loop(self, cycle: Callable[[], None]) -> None:
        while not self.stop.is_set():
            try:
                cycle()
            except LedgerError as exc:
                self.report(f"cycle failed, will retry: {exc}")
            except Exception as exc:  # noqa: BLE001 - a transport hiccup must not kill the worker
                self.report(f"cycle failed unexpectedly, will retry: {type(exc).__name__}: {exc}")
            self.stop.wait(self.interval)

    def _send_cycle(self) -> None:
        done = self.ledger.outbox.pump()
        if any(done.values()):
            self.report(f"outbox: {done['requeued']} requeued, {done['sent']} sent, {done['settled']} settled")

    def _index_cycle(self, indexer: Indexer) -> None:
        events = indexer.run_once()
        if events:
            self.report(f"indexed {events} events")
