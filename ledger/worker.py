"""The background worker: the outbox's sender, the indexer and the log's anchorer.

Each runs in its own thread, so sending never waits behind indexing a busy block,
and a checkpoint never waits behind either. Errors are reported and retried on the
next cycle; the node or the database being away for a while is normal operation, not
a crash (though reads fail closed if anchoring stays down past its limit).

Several workers may run side by side. One of them, the holder of the anchoring lease
(:mod:`ledger.lease`, kept by a thread of its own), anchors and indexes; the others stand by
and take over within about ten seconds of its death. Every worker sends: re-sending the same
signed bytes is harmless, so no write waits for a takeover. The indexer would be safe
anywhere too (a window of events commits at most once), but a standby running it would
only repeat the holder's reads and have its transactions rolled back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING

from .anchoring import Anchorer
from .context import Ledger
from .errors import LedgerError, NotFoundError
from .indexer import Indexer
from .lease import RENEW_EVERY, TRY_EVERY, TTL, Lease, LeaseState

if TYPE_CHECKING:
    from .webhooks import Deliverer

Report = Callable[[str], None]
ANCHOR_TICK = 0.1  # seconds between the anchorer's looks at the log (checkpoints are paced by settings)
ANCHORER_RECHECK = 5.0  # seconds between looks for a designated anchorer while there is none
LEASE_TICK = 0.25  # seconds between the lease keeper's looks at its clock


class Worker:
    def __init__(
        self,
        ledger: Ledger,
        *,
        interval: float = 0.5,
        anchor: bool = True,
        report: Report = print,
        lease: Lease | None = None,
    ) -> None:
        self.ledger = ledger
        self.interval = interval
        self.report = report
        self.stop = threading.Event()
        self.anchor = anchor
        #: The anchoring lease; None with ``anchor=False`` (such a worker sends and indexes, as before).
        self.lease = (lease or Lease(ledger.store)) if anchor else None
        self.anchorer: Anchorer | None = None
        self._anchorer_checked = 0.0
        self._anchorer_problem = ""
        self._lease_looked = -1e9
        self._standby_for = ""

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
                self.anchorer = Anchorer(self.ledger, account, report=self.report, lease=self.lease)
                return self.anchorer
            problem = f"{label} is not a designated anchorer: the access log is not anchored"
        if problem != self._anchorer_problem:  # say it once, not every few seconds
            self.report(problem)
            self._anchorer_problem = problem
        return None

    def once(self) -> None:
        """One cycle of each, in order: send and record, index, anchor (if no other worker
        holds the anchoring lease; taken for the cycle and given back)."""
        self._send_cycle()
        self._index_cycle(self.ledger.indexer(), gated=False)  # one explicit pass: safe beside a running worker
        self._webhook_cycle(expiries=True)  # one explicit pass: an expiry enqueued twice is one delivery
        if self.lease is None:
            return
        if not self.lease.acquire():
            found = self.lease.state()
            self.report(f"not anchoring: {found.holder if found else 'another worker'} holds the anchoring lease")
            return
        try:
            self._anchor_cycle()
        finally:
            self.lease.release()

    def run(self) -> None:
        """Runs the loops until :attr:`stop` is set (or Ctrl-C)."""
        indexer = self.ledger.indexer()
        threads = [
            threading.Thread(target=self._loop, args=(self._send_cycle,), name="gridledger-sender", daemon=True),
            threading.Thread(
                target=self._loop, args=(lambda: self._index_cycle(indexer),), name="gridledger-indexer", daemon=True
            ),
        ]
        threads.append(threading.Thread(target=self._loop, args=(self._webhook_cycle,), name="gridledger-webhooks",
                                        daemon=True))  # fmt: skip
        if self.lease is not None:
            threads += [
                threading.Thread(target=self._loop, args=(self._lease_cycle, LEASE_TICK), name="gridledger-lease",
                                 daemon=True),
                threading.Thread(target=self._loop, args=(self._anchor_cycle, ANCHOR_TICK), name="gridledger-anchorer",
                                 daemon=True),
            ]  # fmt: skip
        for thread in threads:
            thread.start()
        try:
            while not self.stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            self.stop.set()
        for thread in threads:
            thread.join(timeout=30)
        if self.lease is not None and self.lease.holding:
            try:
                self.lease.release()
            except Exception as exc:  # noqa: BLE001 - stopping anyway: the lease expires by itself
                self.report(f"could not give the anchoring lease back ({type(exc).__name__}: {exc}); "
                            f"another worker takes it when it expires, within {TTL:.0f} s")  # fmt: skip
            else:
                self.report("released the anchoring lease")

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

    def _lease_cycle(self) -> None:
        """Renews the lease every RENEW_EVERY s while holding it; otherwise looks every
        TRY_EVERY s whether it is free. Says so when it takes, loses or waits for it."""
        lease = self.lease
        assert lease is not None
        now = time.monotonic()
        if now - self._lease_looked < (RENEW_EVERY if lease.holding else TRY_EVERY):
            return
        self._lease_looked = now
        if lease.holding:
            try:
                kept = lease.renew()
            except Exception as exc:  # noqa: BLE001 - the database away: stop anchoring now, try again later
                self.report(f"lost the anchoring lease: it could not be renewed ({type(exc).__name__}: {exc}); "
                            "not anchoring or indexing until it is taken again")  # fmt: skip
                return
            if not kept:
                found = lease.state()
                self.report(f"lost the anchoring lease to {found.holder if found else 'nobody'}: "
                            "not anchoring or indexing")  # fmt: skip
            return
        before = lease.state()
        if lease.acquire():
            self._standby_for = ""
            whose = _taken_from(before, lease.holder, lease.now_ms())
            self.report(f"took the anchoring lease as {lease.holder} ({whose}): anchoring and indexing")
        elif before is not None and before.holder != self._standby_for:
            self._standby_for = before.holder
            self.report(f"standing by: {before.holder} holds the anchoring lease")

    def _index_cycle(self, indexer: Indexer, *, gated: bool = True) -> None:
        if gated and self.lease is not None and not self.lease.held():
            return  # the lease holder indexes
        events = indexer.run_once()
        if events:
            self.report(f"indexed {events} events")
            self._settle_rights()

    def _settle_rights(self) -> None:
        """Residents' corrections whose drafted version the chain has just certified are
        decided as corrected (:meth:`ledger.rights.Rights.settle`), seen as the indexer sees it."""
        from .rights import Rights

        if getattr(self, "_rights", None) is None:
            self._rights = Rights(self.ledger)
        for done in self._rights.settle():
            self.report(f"rights: correction {done.request_id} corrected (version {done.draft_version})")

    def _anchor_cycle(self) -> None:
        if self.lease is not None and not self.lease.held():
            return  # standing by
        anchorer = self._find_anchorer()
        if anchorer is None:
            return
        sent = anchorer.cycle()
        if sent is not None:
            self.report(f"checkpoint: {sent.size} events (from {sent.prev_size}) sent as {sent.tx_hash}")

    # -- webhooks (ledger.webhooks) ------------------------------------------------------------

    @cached_property
    def _deliverer(self) -> Deliverer:
        from .webhooks import Deliverer

        return Deliverer(self.ledger)

    def _webhook_cycle(self, *, expiries: bool | None = None) -> None:
        """Expired grants into the webhook outbox (the lease holder, beside the indexer), then
        one delivery pass. Every worker delivers: each delivery is claimed row by row, so two
        workers never send the same one at once."""
        if self.ledger.settings.key_password is None:
            return  # the secrets come from the keystore password; 'gridledger worker' asks for it
        if expiries is None:
            expiries = self.lease is None or self.lease.held()
        done = self._deliverer.cycle(expiries=expiries)
        if done.any:
            self.report(f"webhooks: {done.delivered} delivered, {done.retried} to retry, {done.dead} dead, "
                        f"{done.cancelled} cancelled")  # fmt: skip


def _taken_from(before: LeaseState | None, holder: str, now_ms: int) -> str:
    """Whose the lease was, for the worker's line on taking it."""
    if before is None:
        return "nobody had held it"
    if before.holder == holder:
        return "it was still ours"
    if before.released:
        return f"released by {before.holder}"
    return f"{before.holder}'s expired {(now_ms - before.expires_at) / 1000:.1f} s ago"
