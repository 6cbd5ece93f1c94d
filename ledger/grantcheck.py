"""Whether a grant lets a department read a category now: ``ConsentRegistry.isActive``,
asked of the chain, without asking it on every read.

``isActive(grant, org, category, t)`` depends only on the grant's own stored fields
(status, department, categories, validity window) and on ``t``. Those fields change
only in a transaction that emits ``GrantWithdrawn`` or ``GrantRevoked`` for that grant.
So a *yes* from the chain at block B stays a yes at a later head as long as no such
event for the grant appeared since B and the head's time is before the grant's
``validUntil``. This class asks ``isActive`` on first use, remembers yeses, reads the
new blocks' status events once per head (one ``eth_getLogs`` for all grants) and
forgets the yes of every grant named in them. A *no* is never remembered past its
block. Any doubt (a failed log read, a head that went backwards) forgets everything.

The head is re-read when older than :data:`HEAD_MAX_AGE`, so a withdrawal stops reads
from the first block that includes it, at most that long after it is mined.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from eth_utils import event_abi_to_log_topic
from web3 import Web3

from .chain import rpc
from .errors import NodeError
from .formats import from_hex

HEAD_MAX_AGE = 0.1  # seconds a chain head may be used for grant decisions
MAX_SCAN = 2_000  # blocks of status events read at once (Besu's eth_getLogs bound); beyond, forget all
_STATUS_EVENTS = ("GrantWithdrawn", "GrantRevoked")


class GrantCheck:
    def __init__(self, w3: Web3, consent: Any) -> None:
        self.w3 = w3
        self.consent = consent  # the ConsentRegistry contract
        self._topics = [
            "0x" + event_abi_to_log_topic(item).hex()
            for item in consent.abi
            if item.get("type") == "event" and item["name"] in _STATUS_EVENTS
        ]
        self._lock = threading.Lock()
        self._refresh = threading.Lock()
        self._head: tuple[float, int, int] | None = None  # (read at, number, timestamp)
        self._yes: dict[tuple[str, str, int], int] = {}  # (grant, org, category) -> validUntil
        self.chain_calls = 0  # isActive calls made (for tests and benchmarks)

    def head(self, *, newer_than: int | None = None) -> tuple[int, int]:
        """(number, timestamp) of the chain's head, at most HEAD_MAX_AGE old (read afresh
        when it is not past block ``newer_than``)."""
        with self._lock:
            head = self._head
        if head is not None and time.monotonic() - head[0] <= HEAD_MAX_AGE and newer_than is None:
            return head[1], head[2]
        with self._refresh:  # one reader refreshes; the others wait for it, not the node
            with self._lock:
                head = self._head
            stale = head is None or time.monotonic() - head[0] > HEAD_MAX_AGE
            if stale or (newer_than is not None and head is not None and head[1] <= newer_than):
                head = self._advance(head)
        assert head is not None
        return head[1], head[2]

    def _advance(self, old: tuple[float, int, int] | None) -> tuple[float, int, int]:
        try:
            block = self.w3.eth.get_block("latest")
        except Exception as exc:  # noqa: BLE001 - any transport failure means "unreachable"
            raise NodeError(f"{type(exc).__name__}: {exc}") from exc
        new = (time.monotonic(), int(block["number"]), int(block["timestamp"]))
        forget: set[str] | None = set()
        if old is None or new[1] < old[1] or new[1] - old[1] > MAX_SCAN:
            forget = None  # first look, the chain went back, or too long away: trust nothing remembered
        elif new[1] > old[1]:
            try:
                logs = rpc(self.w3, "eth_getLogs", [{
                    "address": self.consent.address, "fromBlock": hex(old[1] + 1), "toBlock": hex(new[1]),
                    "topics": [self._topics],
                }])  # fmt: skip
                forget = {log["topics"][1] for log in logs if len(log["topics"]) > 1}
            except Exception:  # noqa: BLE001 - cannot tell what changed: forget everything
                forget = None
        with self._lock:
            if forget is None:
                self._yes.clear()
            elif forget:
                self._yes = {k: v for k, v in self._yes.items() if k[0] not in forget}
            self._head = new
        return new

    def is_active(self, grant: str, org: str, category: int) -> tuple[bool, int]:
        """Whether ``grant`` is active for ``org`` and ``category`` at the head; and the
        head block the answer holds for. A *no* from a remembered head is asked again at a
        fresh one (the grant may be newer than the head). Raises :class:`NodeError` when
        the chain cannot be asked."""
        active, number = self._ask(grant, org, category, self.head())
        if not active:
            fresh = self.head(newer_than=number)
            if fresh[0] > number:
                active, number = self._ask(grant, org, category, fresh)
        return active, number

    def _ask(self, grant: str, org: str, category: int, head: tuple[int, int]) -> tuple[bool, int]:
        number, stamp = head
        key = (grant, org, category)
        with self._lock:
            until = self._yes.get(key)
        if until is not None and stamp < until:
            return True, number
        active, until = self._query(grant, org, category, number, stamp)
        with self._lock:
            self.chain_calls += 1
            # Remember a yes only while the head is still the block it holds for: had another
            # reader moved the head on meanwhile, the status events of the blocks in between
            # were read before this yes existed, and could not make it forgotten.
            if active and self._head is not None and self._head[1] == number:
                self._yes[key] = until
        return active, number

    def _query(self, grant: str, org: str, category: int, number: int, stamp: int) -> tuple[bool, int]:
        """``isActive`` at block ``number``, and the grant's ``validUntil`` when it is."""
        try:
            active = bool(
                self.consent.functions.isActive(from_hex(grant), from_hex(org), category, stamp).call(
                    block_identifier=number
                )
            )
            until = (
                int(self.consent.functions.grantOf(from_hex(grant)).call(block_identifier=number)[6]) if active else 0
            )
        except Exception as exc:  # noqa: BLE001
            raise NodeError(f"{type(exc).__name__}: {exc}") from exc
        return active, until
