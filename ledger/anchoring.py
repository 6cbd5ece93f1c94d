"""Anchoring the access log: a checkpoint ``(size, root)`` to AccessLogAnchor every
interval or every N events, whichever comes first, each with the consistency proof from
the checkpoint before.

Checkpoints are pipelined: the next one is proven from the last one *sent*, not the last
one mined, since one sender's transactions land in nonce order. If one is refused, the
ones sent after it fail too; once they have all settled, anchoring starts again from the
last checkpoint the chain accepted. How long the oldest unanchored event has waited is
the log's health (see :func:`ledger.access.health`): past the limit, reads fail closed.

With a :class:`~ledger.lease.Lease` (the worker's), a cycle does nothing unless the lease is
held, and a checkpoint is stored only in a transaction fenced by it: of several workers, one
anchors, and one that took over starts from what the database and the chain hold (the queued
checkpoints, then the last anchored one, then the chain's latest), never from memory.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from sqlalchemy import delete, or_, select, update

from .accesslog import AccessLog
from .anchor import AnchorCalls
from .context import Ledger
from .errors import LeaseLost, NodeError
from .formats import from_hex, to_hex
from .lease import RENEW_EVERY, Lease
from .store.models import LogCheckpoint, OutboxTx, utcnow

MAX_IN_FLIGHT = 4
# How many of the newest checkpoints settle() compares with their transactions' blocks: more
# than a node can lose between two of its snapshots.
RECHECKED = 1000


@dataclass(frozen=True)
class Sent:
    size: int
    prev_size: int
    tx_hash: str


class Anchorer:
    def __init__(
        self,
        ledger: Ledger,
        account: LocalAccount,
        *,
        log: AccessLog | None = None,
        interval: float | None = None,
        every: int | None = None,
        report: Callable[[str], None] = print,
        lease: Lease | None = None,
    ) -> None:
        self.ledger = ledger
        self.lease = lease  # None: the caller vouches that nothing else anchors (tests, benchmarks)
        self.account = account
        self.log = log or ledger.log
        self.interval = ledger.settings.anchor_interval if interval is None else interval
        self.every = ledger.settings.anchor_every if every is None else every
        self.report = report
        self.contract = ledger.contract("AccessLogAnchor")
        self.calls = AnchorCalls(self.contract)
        self._last_sent = 0.0

    def cycle(self) -> Sent | None:
        """Settles sent checkpoints, then sends the next one when it is due."""
        if self.lease is not None and not self.lease.held():
            return None
        self.ledger.outbox.pump()
        self.settle()
        with self.ledger.store.session() as session:
            in_flight = list(
                session.scalars(
                    select(LogCheckpoint).where(LogCheckpoint.status == "queued").order_by(LogCheckpoint.size)
                )
            )
        anchored = self.log.anchored()
        provable = {0, anchored.size if anchored else 0}
        for row in in_flight:
            if row.prev_size not in provable:
                return None  # sent after a refused checkpoint, so doomed too: let it settle first
            provable.add(row.size)
        if len(in_flight) >= MAX_IN_FLIGHT:
            return None
        if in_flight:
            base_size, base_root = in_flight[-1].size, from_hex(in_flight[-1].root)
        elif anchored is not None:
            base_size, base_root = anchored.size, from_hex(anchored.root)
        else:
            base_size, base_root = self._chain_latest()
        size = self.log.size()
        if size <= base_size:
            return None
        if time.monotonic() - self._last_sent < self.interval and size - base_size < self.every:
            return None
        self.log.extend(size)
        tree = self.log.tree()
        root = tree.root(size)
        if base_size and tree.root(base_size) != base_root:
            self.report(
                f"the log's first {base_size} leaves no longer give checkpoint root {to_hex(base_root)}: "
                "the database was altered; not anchoring (run 'gridledger verify log')"
            )
            return None
        proof = tree.consistency_proof(base_size, size) if base_size else []
        # The frontier rides along after the arguments: what a restore needs to resume the log here.
        call = self.calls.append(size, root, proof, tree.frontier(size))
        self.ledger.outbox.prepare(self.account)
        with self.ledger.store.session() as session, session.begin():
            if self.lease is not None:
                self.lease.fence(session)  # raises LeaseLost if another worker took over meanwhile
            queued = self.ledger.outbox.enqueue(session, self.account, call)
            session.add(LogCheckpoint(size=size, root=to_hex(root), prev_size=base_size, tx_hash=queued.tx_hash))
        # Keep a fixed rate: the next checkpoint is due one interval after this one was due,
        # not after it was sent (unless we fell a whole interval behind).
        now, on_schedule = time.monotonic(), self._last_sent + self.interval
        self._last_sent = on_schedule if 0 <= now - on_schedule < self.interval else now
        self.ledger.outbox.pump()
        return Sent(size, base_size, queued.tx_hash)

    def settle(self) -> int:
        """Marks queued checkpoints anchored or failed from their transactions' outcome.

        A checkpoint whose block the node lost is queued again too, whether its transaction
        is still waiting to be sent again or has already landed elsewhere (the outbox's
        sender may record the new receipt before this looks): it is anchored where it
        landed last, not where it first did. Blocks are lost only from the chain's tip, so
        only the newest checkpoints are compared."""
        with self.ledger.store.session() as session, session.begin():
            floor = session.scalar(
                select(LogCheckpoint.size).order_by(LogCheckpoint.size.desc()).offset(RECHECKED - 1).limit(1)
            )
            moved = (
                select(OutboxTx.tx_hash)
                .where(
                    OutboxTx.tx_hash == LogCheckpoint.tx_hash,
                    or_(OutboxTx.status != "mined", OutboxTx.block_number != LogCheckpoint.block_number),
                )
                .exists()
            )
            session.execute(
                update(LogCheckpoint)
                .where(LogCheckpoint.status == "anchored", LogCheckpoint.size >= (floor or 0), moved)
                .values(status="queued", block_number=None, anchored_at=None, chain_index=None)
            )
        with self.ledger.store.session() as session:
            pending = session.execute(
                select(
                    LogCheckpoint.size,
                    LogCheckpoint.tx_hash,
                    OutboxTx.status,
                    OutboxTx.block_number,
                    OutboxTx.error_name,
                )
                .join(OutboxTx, OutboxTx.tx_hash == LogCheckpoint.tx_hash)
                .where(LogCheckpoint.status == "queued", OutboxTx.status.in_(("mined", "reverted", "conflict")))
                .order_by(LogCheckpoint.size)
            ).all()
        settled = newest = 0
        for size, tx_hash, status, block, error in pending:
            values: dict[str, object]
            if status == "mined":
                receipt = self.ledger.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
                logs = self.contract.events.CheckpointAppended().process_receipt(receipt)
                index = int(logs[0]["args"]["index"]) if logs else None
                values = {"status": "anchored", "block_number": block, "anchored_at": utcnow(), "chain_index": index}
            else:
                # Forgotten, so the same size can be anchored again; the outbox keeps the failure.
                self.report(f"checkpoint of size {size} was refused ({error or status}); anchoring restarts")
                with self.ledger.store.session() as session, session.begin():
                    session.execute(delete(LogCheckpoint).where(LogCheckpoint.size == size))
                settled += 1
                continue
            with self.ledger.store.session() as session, session.begin():
                session.execute(update(LogCheckpoint).where(LogCheckpoint.size == size).values(**values))
            settled += 1
            newest = max(newest, block or 0)
        self.ledger.saw_block(newest)
        return settled

    def _chain_latest(self) -> tuple[int, bytes]:
        checkpoint, _count = self.contract.functions.latest().call()
        return int(checkpoint[0]), bytes(checkpoint[1])

    def run_until_anchored(self, timeout: float = 60.0) -> None:
        """Anchors everything appended so far and waits until the chain has it (for the
        CLI and tests; the worker runs :meth:`cycle` forever)."""
        target = self.log.size()
        deadline = time.monotonic() + timeout
        self._last_sent = 0.0
        renewed = time.monotonic()
        while True:
            if self.lease is not None and time.monotonic() - renewed >= RENEW_EVERY:
                renewed = time.monotonic()
                if not self.lease.renew():
                    raise LeaseLost("another worker took the anchoring lease: it anchors the rest")
            self.cycle()
            anchored = self.log.anchored()
            if target == 0 or (anchored is not None and anchored.size >= target):
                return
            if time.monotonic() > deadline:
                raise NodeError(f"the access log was not anchored to size {target} within {timeout:.0f} s")
            time.sleep(0.1)


def anchor_now(ledger: Ledger, *, timeout: float = 60.0, report: Callable[[str], None] = print) -> None:
    """Anchors everything logged so far and waits until the chain has it: here, under the
    anchoring lease, or by the worker that holds the lease (taking over if it goes away)."""
    lease = Lease(ledger.store)
    target = ledger.log.size()
    deadline = time.monotonic() + timeout
    said = False
    while True:
        if lease.acquire():
            try:
                anchorer = Anchorer(ledger, ledger.account(ledger.settings.anchorer), report=report, lease=lease)
                anchorer.run_until_anchored(max(deadline - time.monotonic(), 1.0))
            finally:
                lease.release()
            return
        anchored = ledger.log.anchored()
        if target == 0 or (anchored is not None and anchored.size >= target):
            return
        if not said:
            found = lease.state()
            report(f"{found.holder if found else 'another worker'} holds the anchoring lease: waiting for it to anchor")
            said = True
        if time.monotonic() > deadline:
            raise NodeError(f"the access log was not anchored to size {target} within {timeout:.0f} s")
        time.sleep(0.2)


def designate_anchorer(ledger: Ledger, office_code: str, actor: str) -> tuple[LocalAccount, str | None]:
    """Creates (or reuses) the installation's anchorer account and has an admin of
    ``office_code`` designate it on AccessLogAnchor. Returns it and the transaction
    (None when it was designated already)."""
    from .membership import org_id

    account = ledger.new_account(ledger.settings.anchorer, "service")
    contract = ledger.contract("AccessLogAnchor")
    if bytes(contract.functions.anchorerOffice(account.address).call()) != bytes(32):
        return account, None
    call = AnchorCalls(contract).designate(account.address, org_id(office_code))
    return account, ledger.submit(ledger.account(actor), call)
