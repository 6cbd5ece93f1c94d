"""The chain writer: an outbox of signed raw transactions.

Every on-chain write is signed locally and stored, with its account nonce, in the
same database transaction as the domain change that caused it (:meth:`Outbox.enqueue`
takes the caller's session and does not commit). A write is acknowledged once that
transaction commits; from then on it survives a crash of the app or of the node:

* :meth:`Outbox.send` broadcasts queued transactions in nonce order with
  ``eth_sendRawTransaction``;
* :meth:`Outbox.poll` records receipts; a revert is recorded with the decoded
  Solidity error name; a sent transaction the node forgot (its pool is not part of a
  state dump) is broadcast again;
* :meth:`Outbox.recover` notices that the node lost blocks holding our transactions
  (a restart from an older state dump) and queues exactly those again. The stored
  bytes are re-sent, so they land with the same hashes.

An acknowledged write is never given up. When the node says its nonce is used ("nonce
too low") and has no receipt for our hash, the nonce went to a transaction gridledger did
not send from this outbox: a fault (a key used elsewhere, a node that lost blocks but kept
their effects), not an outcome. The row becomes ``conflict``, is said on the worker's
output and in ``gridledger status``, and is asked for its receipt again every cycle, so a
node that catches up settles it; nothing marks it done without the chain's receipt.

Block hashes chain, so checking the newest block we recorded is enough to know that
nothing older changed: the check costs one request per cycle.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from sqlalchemy import CursorResult, Table, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from web3 import Web3

from ._internal.txsign import sign_legacy
from .chain import Call, ErrorDecoder, rpc, simulate
from .errors import ContractRevert, NodeError, StoreError
from .store import Store
from .store.models import NonceCursor, OutboxTx, utcnow

PENDING = ("queued", "sent")
#: Requests per JSON-RPC batch: within Besu's default limit of 1,024.
BATCH = 1_000

# Built once: the hot path of every write reuses their compiled form.
# Plain table statements, not ORM-enabled ones: no identity-map bookkeeping (3x faster).
_NONCES = cast(Table, NonceCursor.__table__)
_TAKE_NONCE = (
    update(_NONCES)
    .where(_NONCES.c.sender == bindparam("signer"))
    .values(next_nonce=_NONCES.c.next_nonce + 1)
    .returning(_NONCES.c.next_nonce)
)
_TXS = cast(Table, OutboxTx.__table__)
_INSERT_TX = insert(_TXS)
_RECORD_RECEIPT = (
    update(_TXS)
    # Not IN (…): an expanding IN cannot be executed for many rows at once.
    .where(_TXS.c.id == bindparam("row_id"), or_(_TXS.c.status == "sent", _TXS.c.status == "conflict"))
    .values(
        status=bindparam("new_status"),
        block_number=bindparam("block_number"),
        block_hash=bindparam("block_hash"),
        gas_used=bindparam("gas_used"),
        contract_address=bindparam("contract_address"),
        error_name=bindparam("error_name"),
        error_detail=bindparam("error_detail"),
    )
)


@dataclass(frozen=True)
class Queued:
    """A write stored in the outbox: its transaction hash is known before it is sent."""

    tx_hash: str
    sender: str
    nonce: int


class Outbox:
    """Signs, stores, sends and tracks chain writes."""

    def __init__(
        self,
        store: Store,
        w3: Web3,
        decoder: ErrorDecoder,
        *,
        chain_id: int,
        resend_after: float = 3.0,
        head_poll: float = 0.05,
    ):
        self.store = store
        self.w3 = w3
        self.decoder = decoder
        self.chain_id = chain_id
        self.resend_after = resend_after
        self.head_poll = head_poll  # seconds between looks at the head while waiting for a block
        self._polled_head = -1
        self._polled_at = 0.0
        self._pumping = threading.Lock()  # the worker's sender and anchoring threads both pump
        self._conflicts = 0  # found by the last send

    # -- writing -----------------------------------------------------------------

    def prepare(self, signer: LocalAccount) -> None:
        """Makes sure ``signer`` has a nonce cursor (from the chain on first use).

        Runs in its own short transaction, before the domain transaction that will
        call :meth:`enqueue`.
        """
        address = signer.address
        with self.store.session() as session:
            if session.get(NonceCursor, address) is not None:
                return
        chain_nonce = int(self.w3.eth.get_transaction_count(to_checksum_address(address), "pending"))
        with self.store.session() as session:
            stored = session.scalar(select(func.max(OutboxTx.nonce)).where(OutboxTx.sender == address))
            session.add(NonceCursor(sender=address, next_nonce=max(chain_nonce, -1 if stored is None else stored + 1)))
            try:
                session.commit()
            except IntegrityError:
                session.rollback()  # another process made it first: fine

    def enqueue(self, session: Session, signer: LocalAccount, call: Call, *, preflight: bool = False) -> Queued:
        """Signs ``call`` with the next nonce of ``signer`` and adds it to ``session``.

        Does not commit: the caller commits it together with its domain change.
        With ``preflight``, the call is first simulated against the latest block and
        a revert is raised as :class:`ContractRevert` before anything is written.
        """
        if preflight and call.to is not None:
            simulate(
                self.w3,
                self.decoder,
                {"from": signer.address, "to": call.to, "data": "0x" + call.data.hex(), "gas": call.gas},
            )
        nonce = session.execute(_TAKE_NONCE, {"signer": signer.address}).scalar_one_or_none()
        if nonce is None:
            raise StoreError(f"no nonce cursor for {signer.address}: call Outbox.prepare() first")
        to = to_checksum_address(call.to) if call.to is not None else None
        signed = sign_legacy(
            bytes(signer.key),
            nonce=nonce - 1,
            gas_price=0,
            gas=call.gas,
            to=None if to is None else bytes.fromhex(to[2:]),
            value=0,
            data=call.data,
            chain_id=self.chain_id,
        )
        queued = Queued(tx_hash="0x" + signed.hash.hex(), sender=signer.address, nonce=nonce - 1)
        session.execute(
            _INSERT_TX,
            {
                "sender": queued.sender,
                "nonce": queued.nonce,
                "tx_hash": queued.tx_hash,
                "raw_tx": signed.raw,
                "to_address": to,
                "purpose": call.purpose,
                "status": "queued",
                "send_count": 0,
                "created_at": utcnow(),
            },
        )
        return queued

    # -- sending and tracking ----------------------------------------------------

    def pump(self) -> dict[str, int]:
        """One cycle: notice lost blocks, send what is queued, record receipts."""
        with self._pumping:
            requeued = self.recover()
            sent = self.send()
            settled = self.poll()
        return {"requeued": requeued, "sent": sent, "settled": settled, "conflicts": self._conflicts}

    def send(self, limit: int = 10_000) -> int:
        """Broadcasts queued transactions, each sender's in nonce order. Returns how many."""
        with self.store.session() as session:
            rows = session.execute(
                select(OutboxTx.id, OutboxTx.raw_tx, OutboxTx.tx_hash, OutboxTx.sender, OutboxTx.nonce)
                .where(OutboxTx.status == "queued")
                .order_by(OutboxTx.sender, OutboxTx.nonce)
                .limit(limit)
            ).all()
        self._conflicts = 0
        if not rows:
            return 0
        accepted: list[int] = []
        errors: dict[int, str] = {}
        too_low: list[Any] = []
        for chunk in _chunks(rows, BATCH):
            replies = self._batch([("eth_sendRawTransaction", ["0x" + r.raw_tx.hex()]) for r in chunk])
            for row, reply in zip(chunk, replies, strict=False):
                error = reply.get("error")
                if error is None or _already_known(error):
                    accepted.append(row.id)
                elif _nonce_too_low(error):
                    too_low.append(row)
                else:
                    errors[row.id] = str(error.get("message", error))
        conflicts: list[Any] = []
        if too_low:  # ours, mined before (a receipt exists), or the nonce went to another transaction
            receipts = self._batch([("eth_getTransactionReceipt", [r.tx_hash]) for r in too_low])
            for row, reply in zip(too_low, receipts, strict=False):
                if reply.get("result"):
                    accepted.append(row.id)
                else:
                    conflicts.append(row)
        self._conflicts = len(conflicts)
        now = utcnow()
        with self.store.session() as session, session.begin():
            for row in conflicts:
                session.execute(
                    update(OutboxTx)
                    .where(OutboxTx.id == row.id)
                    .values(
                        status="conflict",
                        sent_at=now,
                        last_error=(
                            f"nonce {row.nonce} of {row.sender} was used by a transaction this outbox did not send; "
                            "the write is not on chain (see 'Outbox conflicts' in docs/operations.md)"
                        ),
                    )
                )
            for chunk in _chunks(accepted, BATCH):
                session.execute(
                    update(OutboxTx)
                    .where(OutboxTx.id.in_(chunk), OutboxTx.status == "queued")
                    .values(status="sent", sent_at=now, send_count=OutboxTx.send_count + 1, last_error=None)
                )
            for row_id, message in errors.items():
                session.execute(update(OutboxTx).where(OutboxTx.id == row_id).values(last_error=message[:2000]))
        return len(accepted)

    def poll(self) -> int:
        """Records receipts of sent transactions; re-broadcasts ones the node forgot.

        Receipts are asked for only when a new block arrived (nothing can have been
        mined otherwise) or when a sent transaction is overdue."""
        head = int(rpc(self.w3, "eth_blockNumber", []), 16)
        now = time.monotonic()
        if head == self._polled_head and now - self._polled_at < self.resend_after:
            return 0
        with self.store.session() as session:
            rows = session.execute(
                select(OutboxTx.id, OutboxTx.tx_hash, OutboxTx.sent_at, OutboxTx.status)
                .where(OutboxTx.status.in_(("sent", "conflict")))
                .order_by(OutboxTx.id)
            ).all()
        self._polled_head, self._polled_at = head, now
        if not rows:
            return 0
        settled = 0
        stale_before = utcnow() - timedelta(seconds=self.resend_after)
        forgotten: list[int] = []
        for chunk in _chunks(rows, BATCH):
            replies = self._batch([("eth_getTransactionReceipt", [r.tx_hash]) for r in chunk])
            outcomes: list[tuple[int, dict[str, Any]]] = []
            for row, reply in zip(chunk, replies):
                receipt = reply.get("result")
                if receipt:
                    outcomes.append((row.id, receipt))
                elif row.status == "sent" and (row.sent_at is None or _aware(row.sent_at) < stale_before):
                    forgotten.append(row.id)
            settled += self._record(outcomes)
        if forgotten:
            self._mark_forgotten(forgotten)
        return settled

    def _record(self, outcomes: list[tuple[int, dict[str, Any]]]) -> int:
        if not outcomes:
            return 0
        reasons = {row_id: self._revert_reason(r) for row_id, r in outcomes if int(r["status"], 16) != 1}
        values = []
        for row_id, receipt in outcomes:
            revert = reasons.get(row_id)
            values.append(
                {
                    "row_id": row_id,
                    "new_status": "mined" if revert is None else "reverted",
                    "block_number": int(receipt["blockNumber"], 16),
                    "block_hash": receipt["blockHash"],
                    "gas_used": int(receipt["gasUsed"], 16),
                    "contract_address": receipt.get("contractAddress"),
                    "error_name": None if revert is None else (revert.name or "(no reason)"),
                    "error_detail": None if revert is None else json.dumps(revert.args_by_name, default=str),
                }
            )
        with self.store.session() as session, session.begin():
            session.connection().execute(_RECORD_RECEIPT, values)
        return len(outcomes)

    def _mark_forgotten(self, row_ids: list[int]) -> None:
        """Sent but unknown to the node after a while: it may have dropped them. Send again.

        A row whose nonce the chain already used is checked for a receipt first."""
        with self.store.session() as session, session.begin():
            session.execute(
                update(OutboxTx).where(OutboxTx.id.in_(row_ids), OutboxTx.status == "sent").values(status="queued")
            )

    def _revert_reason(self, receipt: dict[str, Any]) -> ContractRevert:
        """Why a transaction reverted, decoded to the Solidity error.

        The transaction's own trace (``debug_traceTransaction`` with the call tracer,
        served by Anvil, Geth and Besu with its DEBUG API) gives the revert data at the
        transaction's position in its block. Where the node does not trace, the call is
        replayed with ``eth_call`` at its block and then at the parent: right unless the
        revert depended on an earlier transaction in the same block."""
        tx_hash = receipt["transactionHash"]
        traced = self.w3.provider.make_request("debug_traceTransaction", [tx_hash, {"tracer": "callTracer"}])  # type: ignore[arg-type]
        result = traced.get("result")
        if isinstance(result, dict) and result.get("error"):
            return self.decoder.decode(result.get("output") or "0x")
        tx = rpc(self.w3, "eth_getTransactionByHash", [tx_hash])
        if not tx:
            return ContractRevert("", raw="")
        call = {"from": tx["from"], "to": tx.get("to"), "data": tx["input"], "gas": int(tx["gas"], 16)}
        number = int(receipt["blockNumber"], 16)
        for block in (number, max(number - 1, 0)):
            try:
                simulate(self.w3, self.decoder, call, block)
            except ContractRevert as revert:
                return revert
            except NodeError:
                continue
        if int(receipt["gasUsed"], 16) >= int(tx["gas"], 16):
            return ContractRevert("OutOfGas", {"gas": int(tx["gas"], 16)})
        return ContractRevert("", raw="")

    def recover(self) -> int:
        """Queues again every transaction recorded in a block the node no longer has.

        Returns how many were queued again."""
        with self.store.session() as session:
            newest = session.execute(
                select(OutboxTx.block_number, OutboxTx.block_hash)
                .where(OutboxTx.status.in_(("mined", "reverted")))
                .order_by(OutboxTx.block_number.desc())
                .limit(1)
            ).first()
            if newest is None or self._block_hash(newest.block_number) == newest.block_hash:
                return 0
            recorded = session.execute(
                select(OutboxTx.block_number, OutboxTx.block_hash)
                .where(OutboxTx.status.in_(("mined", "reverted")))
                .group_by(OutboxTx.block_number, OutboxTx.block_hash)
                .order_by(OutboxTx.block_number.desc())
            ).all()
        lost: list[tuple[int, str]] = []
        for number, block_hash in recorded:
            if number is None or block_hash is None:
                continue
            if self._block_hash(number) == block_hash:
                break  # every older block is intact too: hashes chain
            lost.append((number, block_hash))
        if not lost:
            return 0
        requeued = 0
        with self.store.session() as session, session.begin():
            for number, block_hash in lost:
                result = session.execute(
                    update(OutboxTx)
                    .where(OutboxTx.block_number == number, OutboxTx.block_hash == block_hash)
                    .values(
                        status="queued",
                        block_number=None,
                        block_hash=None,
                        gas_used=None,
                        contract_address=None,
                        error_name=None,
                        error_detail=None,
                    )
                )
                requeued += cast(CursorResult[Any], result).rowcount or 0
        return requeued

    def _block_hash(self, number: int) -> str | None:
        block = rpc(self.w3, "eth_getBlockByNumber", [hex(number), False])
        return None if block is None else str(block["hash"])

    def _batch(self, calls: list[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
        try:
            replies = cast(Any, self.w3.provider).make_batch_request(calls)
        except Exception as exc:  # noqa: BLE001 - transport failure
            raise NodeError(f"the node did not answer a batch of {len(calls)} requests: {exc}") from exc
        if isinstance(replies, dict):  # a batch-level error
            raise NodeError(f"the node refused a batch request: {replies.get('error')}")
        return sorted(replies, key=lambda r: r["id"]) if all("id" in r for r in replies) else list(replies)

    # -- waiting ---------------------------------------------------------------------

    def wait(self, tx_hashes: Sequence[str], timeout: float = 60.0, interval: float = 0.2) -> list[OutboxTx]:
        """Pumps until the given transactions are mined or reverted; returns their rows.

        Between pumps it watches the node's head (``eth_blockNumber`` every ``head_poll``
        seconds) and pumps again as soon as a new block is there, the only thing that can
        mine them, or after ``interval`` at the latest (a resend falls due on the clock).

        Raises :class:`NodeError` on timeout. Reverts are returned, not raised: the
        caller decides (see :func:`raise_for_revert`)."""
        deadline = time.monotonic() + timeout
        wanted = list(tx_hashes)
        while True:
            self.pump()
            with self.store.session() as session:
                rows = list(session.scalars(select(OutboxTx).where(OutboxTx.tx_hash.in_(wanted))))
            if len(rows) == len(wanted) and all(r.status not in PENDING for r in rows):
                order = {h: i for i, h in enumerate(wanted)}
                return sorted(rows, key=lambda r: order[r.tx_hash])
            if time.monotonic() > deadline:
                pending = [r.tx_hash for r in rows if r.status in PENDING]
                raise NodeError(f"{len(pending)} transaction(s) not mined within {timeout:.0f} s, e.g. {pending[:3]}")
            self._await_block(min(interval, max(0.0, deadline - time.monotonic())))

    def _await_block(self, longest: float) -> None:
        """Returns once the node's head differs from the one the last pump saw, or after
        ``longest`` seconds. A failed look returns at once: the next pump says what is wrong."""
        until = time.monotonic() + longest
        while True:
            left = until - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(self.head_poll, left))
            try:
                head = int(rpc(self.w3, "eth_blockNumber", []), 16)
            except Exception:  # noqa: BLE001 - the pump that follows raises it, as before
                return
            if head != self._polled_head:
                return

    def counts(self) -> dict[str, int]:
        with self.store.session() as session:
            return {
                status: n
                for status, n in session.execute(select(OutboxTx.status, func.count()).group_by(OutboxTx.status))
            }


def raise_for_revert(rows: Iterable[OutboxTx]) -> None:
    """Raises the first revert among ``rows`` as :class:`ContractRevert`."""
    for row in rows:
        if row.status == "reverted":
            args = json.loads(row.error_detail or "{}")
            raise ContractRevert(row.error_name or "", args)


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _already_known(error: dict[str, Any]) -> bool:
    message = str(error.get("message", "")).lower()
    return "already known" in message or "already imported" in message or "known transaction" in message


def _nonce_too_low(error: dict[str, Any]) -> bool:
    message = str(error.get("message", "")).lower()
    return "nonce too low" in message or "nonce is too low" in message


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
