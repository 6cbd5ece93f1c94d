"""The background worker: the outbox's sender, the indexer and the log's anchorer.

Each runs in its own thread, so sending never waits behind indexing a busy block,
and a checkpoint never waits behind either. Errors are reported and retried on the
next cycle; the node or the database being away for a while is normal operation, not
a crash (though reads fail closed if anchoring stays down past its limit).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .anchoring import Anchorer
from .context import Ledger
from .errors import LedgerError, NotFoundError
from .indexer import Indexer

Report = Callable[[str], None]
ANCHOR_TICK = 0.1  # seconds between the anchorer's looks at the log (checkpoints are paced by settings)
ANCHORER_RECHECK = 5.0  # seconds between looks for a designated anchorer while there is none


class Worker:
    def __init__(self, ledger: Ledger, *, interval: float = 0.5, anchor: bool = True, report: Report = print) -> None:
        self.ledger = ledger
        self.interval = interval
        self.report = report
        self.stop = threading.Event()
        self.anchor = anchor
        self.anchorer: Anchorer | None = None
        self._anchorer_checked = 0.0
        self._anchorer_problem = ""

    def _find_anchorer(self) -> Anchorer | None:
        """The anchorer, once its account exists and is designated; asked again every
        ANCHORER_RECHECK seconds until then (an office may designate it while we run)."""
        if self.anchorer is not None or time.monotonic() - self._anchorer_checked < ANCHORER_RECHECK:
            return self.anchorer
        self._anchorer_checked = time.monotonic()
        label = self.ledger.settings.anchorer
        try:
            account = self.ledger.account(label)
            office = self.ledger.contract("AccessLogAnchor").functions.anchorerOffice(account.address).call()
        except NotFoundError:
            problem = f"no anchorer account {label!r}: the access log is not anchored (see 'gridledger log anchorer')"
        else:
            if bytes(office) != bytes(32):
                self.anchorer = Anchorer(self.ledger, account, report=self.report)
                return self.anchorer
            problem = f"{label} is not a designated anchorer: the access log is not anchored"
        if problem != self._anchorer_problem:  # say it once, not every few seconds
            self.report(problem)
            self._anchorer_problem = problem
        return None

    def once(self) -> None:
        """One cycle of each, in order: send and record, index, anchor."""
        self._send_cycle()
        self._index_cycle(self.ledger.indexer())
        if self.anchor:
            self._anchor_cycle()

    def run(self) -> None:
        """Runs the loops until :attr:`stop` is set (or Ctrl-C)."""
        indexer = self.ledger.indexer()
        threads = [
            threading.Thread(target=self._loop, args=(self._send_cycle,), name="gridledger-sender", daemon=True),
            threading.Thread(
                target=self._loop, args=(lambda: self._index_cycle(indexer),), name="gridledger-indexer", daemon=True
            ),
        ]
        if self.anchor:
            threads.append(
                threading.Thread(
                    target=self._loop, args=(self._anchor_cycle, ANCHOR_TICK), name="gridledger-anchorer", daemon=True
                )
            )
        for thread in threads:
            thread.start()
        try:
            while not self.stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            self.stop.set()
        for thread in threads:
            thread.join(timeout=30)

    def _loop(self, cycle: Callable[[], None], interval: float | None = None) -> None:
        while not self.stop.is_set():
            try:
                cycle()
            except LedgerError as exc:
                self.report(f"cycle failed, will retry: {exc}")
            except Exception as exc:  # noqa: BLE001 - a transport hiccup must not kill the worker
                self.report(f"cycle failed unexpectedly, will retry: {type(exc).__name__}: {exc}")
            self.stop.wait(self.interval if interval is None else interval)

    def _send_cycle(self) -> None:
        done = self.ledger.outbox.pump()
        if any(done.values()):
            self.report(f"outbox: {done['requeued']} requeued, {done['sent']} sent, {done['settled']} settled")
        if done["conflicts"]:
            self.report(f"outbox: {done['conflicts']} write(s) in conflict: their nonce was used by another "
                        "transaction; see 'gridledger outbox'")  # fmt: skip

    def _index_cycle(self, indexer: Indexer) -> None:
        events = indexer.run_once()
        if events:
            self.report(f"indexed {events} events")

    def _anchor_cycle(self) -> None:
        anchorer = self._find_anchorer()
        if anchorer is None:
            return
        sent = anchorer.cycle()
        if sent is not None:
            self.report(f"checkpoint: {sent.size} events (from {sent.prev_size}) sent as {sent.tx_hash}")
