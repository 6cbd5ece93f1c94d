"""The chain's state as access decisions need it, kept in process memory.

The database is a cache of the chain and is never trusted for a decision (see
``docs/reliability.md``). Who an account is (organisation, role, status), what a record
is (committee, subject, category, heads and commitments), what a grant says, whether it
is active, and how far the access log is anchored are asked of the chain here, never of
a table a database user could edit.

Asking the chain on every read would cost an ``eth_call`` per question, so answers are
remembered and forgotten by the chain's own events: every change of these states emits
an event that names what changed in its indexed arguments (the account, the
organisation, the record, the grant), and every checkpoint emits ``CheckpointAppended``.
When the head moves on, one ``eth_getLogs`` over the new blocks of the deployed
contracts gives those names, and everything remembered under them is forgotten (the
checkpoint whenever the anchor contract logged anything). So:

* an answer read at block B is remembered only while the head is still B when it comes
  back (had another reader moved the head on meanwhile, the events in between were read
  before the answer existed and could not make it forgotten);
* things the chain does not know (an unknown account, a record not committed yet) are
  never remembered: they are asked again next time;
* a head that went backwards, a jump of more than :data:`MAX_SCAN` blocks, or a log read
  that failed forgets everything.

The head is re-read when older than :data:`HEAD_MAX_AGE`, so a withdrawal or a
suspension takes effect from the first block that includes it, at most that long after
it is mined. For ``isActive`` the rule is the contract's own: a *yes* from the chain is
remembered until the grant's ``validUntil`` or an event naming the grant; a *no* is
asked again at a fresh head before it is believed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar, cast

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import event_abi_to_log_topic, keccak
from web3 import Web3
from web3.contract import Contract

from ._internal.jsonrpc import JsonRpc
from .chain import abi_type, checksum_address, jsonable
from .errors import NodeError
from .formats import from_hex, to_hex
from .membership import DepartmentKind, OrgKind, Role, Status, name_of

HEAD_MAX_AGE = 0.1  # seconds a chain head may be used for decisions
MAX_SCAN = 2_000  # blocks of events read at once (Besu's eth_getLogs bound); beyond, forget all
MAX_ENTRIES = 200_000  # answers remembered per kind; the oldest go first beyond it


class ChainStatus(StrEnum):
    """``ConsentRegistry.Status``, in its order (the chain's number is the index). What a grant's
    status is shown as, time included, is :class:`ledger.grants.GrantStatus`."""

    NONE = "none"
    ACTIVE = "active"
    WITHDRAWN = "withdrawn"
    REVOKED = "revoked"


GRANT_STATUSES = tuple(ChainStatus)

T = TypeVar("T")


@dataclass(frozen=True)
class MemberState:
    """An account's membership as the chain has it."""

    address: str
    org_id: str
    role: str  # office-admin | committee-member | grid-worker | department-officer | resident
    status: str  # active | suspended | revoked

    @property
    def active(self) -> bool:
        return self.status == "active"

    def acts_as(self, *roles: str) -> bool:
        return self.active and self.role in roles


@dataclass(frozen=True)
class OrgState:
    """An organisation as the chain has it. Kind and parent never change; a committee's
    threshold and count of active signers change with ``ThresholdChanged`` and with its
    members' events, each of which names the organisation (so the answer is forgotten)."""

    org_id: str
    kind: str  # office | committee | department
    department_kind: str | None
    parent_id: str | None  # None for an office
    threshold: int = 0  # committees: signatures needed to certify a record (k)
    active_signers: int = 0  # committees: active committee members (the n of k-of-n)

    @property
    def office(self) -> str:
        """The office governing it (itself for an office)."""
        return self.org_id if self.parent_id is None else self.parent_id


@dataclass(frozen=True)
class RecordState:
    """``RecordLedger.head``: committee, subject and category are fixed at version 1."""

    record_id: str
    committee_id: str
    subject: str
    category: int
    version: int
    content_hash: str
    certified_version: int
    erased: bool


@dataclass(frozen=True)
class GrantState:
    """``ConsentRegistry.grantOf``; everything but the status is fixed at issue."""

    grant_id: str
    resident: str
    department: str
    categories: int
    purpose: int
    legal_basis: int
    valid_from: int
    valid_until: int
    terms_hash: str
    status: ChainStatus  # active | withdrawn | revoked
    relayer: str | None


@dataclass(frozen=True)
class CheckpointState:
    """A checkpoint of the access log on ``AccessLogAnchor`` (``index`` counts from 0)."""

    index: int
    size: int
    root: str
    anchored_at: int  # block timestamp, seconds
    anchorer: str


def word(value: str) -> str:
    """The 32-byte topic word an event carries for an id or an address (lower-case hex)."""
    return "0x" + value.lower().removeprefix("0x").rjust(64, "0")


class ChainView:
    """Answers from the chain, remembered until the chain's events say they changed.

    Thread-safe; share one per process (:attr:`ledger.context.Ledger.view`)."""

    def __init__(
        self,
        w3: Web3,
        contracts: Mapping[str, Contract],
        *,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = MAX_ENTRIES,
        client: JsonRpc | None = None,
    ) -> None:
        """``client`` sends the view's reads (the head, its events, ``eth_call``); by default
        one of its own to the node ``w3`` talks to."""
        self.w3 = w3
        self.client = client if client is not None else JsonRpc.of(w3)
        self.membership = contracts["Membership"]
        self.records = contracts["RecordLedger"]
        self.consent = contracts["ConsentRegistry"]
        self.anchor = contracts["AccessLogAnchor"]
        self._addresses = [c.address for c in contracts.values()]
        self._functions: dict[tuple[str, str], tuple[bytes, list[str], list[str]]] = {}
        for c in contracts.values():
            for item in cast(list[dict[str, Any]], c.abi):
                if item.get("type") == "function":
                    inputs = [abi_type(i) for i in item["inputs"]]
                    selector = keccak(text=f"{item['name']}({','.join(inputs)})")[:4]
                    self._functions[(c.address, item["name"])] = (
                        selector, inputs, [abi_type(o) for o in item.get("outputs", [])]
                    )  # fmt: skip
        self._anchor_address = self.anchor.address.lower()
        self._checkpoint_topic = next(
            "0x" + event_abi_to_log_topic(item).hex()  # type: ignore[arg-type]
            for item in self.anchor.abi
            if item.get("type") == "event" and item.get("name") == "CheckpointAppended"
        )
        self.clock = clock
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._refresh = threading.Lock()
        self._head: tuple[float, int, int] | None = None  # (read at, number, timestamp)
        self._memo: dict[str, dict[Any, tuple[Any, tuple[str, ...]]]] = {}  # kind -> key -> (answer, words)
        self._named: dict[str, set[tuple[str, Any]]] = {}  # topic word -> the (kind, key) it forgets
        self.asked: dict[str, int] = {}  # eth_calls made per contract function (for tests and benchmarks)

    # -- the head ----------------------------------------------------------------------

    def head(self, *, newer_than: int | None = None) -> tuple[int, int]:
        """(number, timestamp) of the chain's head, at most HEAD_MAX_AGE old (read afresh
        when it is not past block ``newer_than``). Raises :class:`NodeError`."""
        with self._lock:
            head = self._head
        if head is not None and self.clock() - head[0] <= HEAD_MAX_AGE and newer_than is None:
            return head[1], head[2]
        with self._refresh:  # one reader refreshes; the others wait for it, not the node
            with self._lock:
                head = self._head
            stale = head is None or self.clock() - head[0] > HEAD_MAX_AGE
            if stale or (newer_than is not None and head is not None and head[1] <= newer_than):
                head = self._advance(head)
        assert head is not None
        return head[1], head[2]

    def _advance(self, old: tuple[float, int, int] | None) -> tuple[float, int, int]:
        try:
            block = self.client.call("eth_getBlockByNumber", ["latest", False])
        except NodeError:
            raise
        except Exception as exc:  # noqa: BLE001 - any transport failure means "unreachable"
            raise NodeError(f"the chain cannot be asked: {type(exc).__name__}: {exc}") from exc
        new = (self.clock(), int(block["number"], 16), int(block["timestamp"], 16))
        forget: set[str] | None = set()
        if old is None or new[1] < old[1] or new[1] - old[1] > MAX_SCAN:
            forget = None  # first look, the chain went back, or too long away: trust nothing remembered
        elif new[1] > old[1]:
            try:
                logs = self.client.call("eth_getLogs", [
                    {"address": self._addresses, "fromBlock": hex(old[1] + 1), "toBlock": hex(new[1])}
                ])  # fmt: skip
                forget = {topic.lower() for log in logs for topic in log["topics"][1:]}
                if any(str(log["address"]).lower() == self._anchor_address for log in logs):
                    forget.add("checkpoint")
            except Exception:  # noqa: BLE001 - cannot tell what changed: forget everything
                forget = None
        with self._lock:
            if forget is None:
                self._memo.clear()
                self._named.clear()
            else:
                for name in forget:
                    for kind, key in self._named.pop(name, ()):
                        self._memo.get(kind, {}).pop(key, None)
            self._head = new
        return new

    # -- remembering ---------------------------------------------------------------------

    def _answer(
        self, kind: str, key: Any, words: tuple[str, ...], ask: Callable[[int], T | None], *, head: int | None = None
    ) -> T | None:
        """The remembered answer, else ``ask(block)`` at the head, remembered when it is not
        None and the head has not moved on meanwhile."""
        number = self.head()[0] if head is None else head
        with self._lock:
            found = self._memo.get(kind, {}).get(key)
        if found is not None:
            return found[0]  # type: ignore[no-any-return]
        try:
            value = ask(number)
        except NodeError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise NodeError(f"the chain cannot be asked: {type(exc).__name__}: {exc}") from exc
        with self._lock:
            if value is not None and self._head is not None and self._head[1] == number:
                entries = self._memo.setdefault(kind, {})
                if len(entries) >= self.max_entries:  # the oldest goes
                    oldest = next(iter(entries))
                    for name in entries.pop(oldest)[1]:
                        self._named.get(name, set()).discard((kind, oldest))
                entries[key] = (value, words)
                for name in words:
                    self._named.setdefault(name, set()).add((kind, key))
        return value

    def _call(self, contract: Contract, name: str, args: list[Any], block: int) -> Any:
        """One ``eth_call`` of a contract view at ``block``, encoded and decoded here from the
        ABI (web3's contract call costs ten times the node's answer); counted per function."""
        selector, inputs, outputs = self._functions[(contract.address, name)]
        with self._lock:
            self.asked[name] = self.asked.get(name, 0) + 1
        result = self.client.call("eth_call", [
            {"to": contract.address, "data": "0x" + (selector + abi_encode(inputs, args)).hex()}, hex(block)
        ])  # fmt: skip
        values = abi_decode(outputs, bytes.fromhex(str(result)[2:]))
        return values[0] if len(values) == 1 else tuple(values)

    def forget(self) -> None:
        """Forgets every answer (the next questions go to the chain)."""
        with self._lock:
            self._memo.clear()
            self._named.clear()
            self._head = None

    # -- questions -----------------------------------------------------------------------

    def member(self, address: str) -> MemberState | None:
        """The account's membership, or None when the chain does not know the account."""
        checksum = checksum_address(address)

        def ask(block: int) -> MemberState | None:
            org, role, status = self._call(self.membership, "member", [checksum], block)
            if int(status) == Status.NONE:
                return None
            return MemberState(checksum, to_hex(bytes(org)), name_of(Role(role)), name_of(Status(status)))

        return self._answer("member", checksum, (word(checksum),), ask)

    def organisation(self, org_id: str) -> OrgState | None:
        key = org_id.lower()

        def ask(block: int) -> OrgState | None:
            found = self._call(self.membership, "organisation", [from_hex(key)], block)
            kind = OrgKind(found[0])
            if kind == OrgKind.NONE:
                return None
            dept = DepartmentKind(found[1])
            parent = None if kind == OrgKind.OFFICE else to_hex(bytes(found[2]))
            return OrgState(key, name_of(kind), name_of(dept) if dept else None, parent, int(found[3]), int(found[4]))

        return self._answer("org", key, (word(key),), ask)

    def record(self, record_id: str) -> RecordState | None:
        """The record's head, or None when the chain has no version of it."""
        key = record_id.lower()

        def ask(block: int) -> RecordState | None:
            committee, subject, category, version, content_hash, certified, erased = self._call(
                self.records, "head", [from_hex(key)], block
            )
            if int(version) == 0:
                return None
            return RecordState(
                key, to_hex(bytes(committee)), checksum_address(subject), int(category), int(version),
                to_hex(bytes(content_hash)), int(certified), bool(erased),
            )  # fmt: skip

        return self._answer("record", key, (word(key),), ask)

    def version_hash(self, record_id: str, version: int) -> str | None:
        """The commitment of a version (fixed once committed), or None when there is none."""
        key = (record_id.lower(), int(version))

        def ask(block: int) -> str | None:
            found = self._call(self.records, "versionOf", [from_hex(key[0]), key[1]], block)
            content_hash = bytes(found[0])
            return None if content_hash == bytes(32) else to_hex(content_hash)

        return self._answer("version", key, (), ask)

    def grant(self, grant_id: str) -> GrantState | None:
        key = grant_id.lower()

        def ask(block: int) -> GrantState | None:
            g = self._call(self.consent, "grantOf", [from_hex(key)], block)
            if int(g[8]) == 0:
                return None
            relayer = checksum_address(g[10])
            return GrantState(
                key, checksum_address(g[0]), to_hex(bytes(g[1])), int(g[2]), int(g[3]), int(g[4]), int(g[5]),
                int(g[6]), to_hex(bytes(g[7])), GRANT_STATUSES[int(g[8])], None if int(relayer, 16) == 0 else relayer,
            )  # fmt: skip

        return self._answer("grant", key, (word(key),), ask)

    def is_active(self, grant_id: str, org: str, category: int) -> tuple[bool, int]:
        """``ConsentRegistry.isActive`` for ``org`` and ``category`` at the head, and the head
        block the answer holds for. A *no* from a remembered head is asked again at a fresh
        one (the grant may be newer than the head). Raises :class:`NodeError`."""
        active, number = self._ask_active(grant_id, org, category, self.head())
        if not active:
            fresh = self.head(newer_than=number)
            if fresh[0] > number:
                active, number = self._ask_active(grant_id, org, category, fresh)
        return active, number

    def _ask_active(self, grant_id: str, org: str, category: int, head: tuple[int, int]) -> tuple[bool, int]:
        number, stamp = head
        key = (grant_id.lower(), org.lower(), int(category))

        def ask(block: int) -> int | None:
            """The grant's validUntil when the chain says it is active, else None."""
            active = self._call(self.consent, "isActive", [from_hex(key[0]), from_hex(key[1]), key[2], stamp], block)
            if not active:
                return None
            found = self.grant(key[0])
            return None if found is None else found.valid_until

        with self._lock:
            remembered = self._memo.get("active", {}).get(key)
        if remembered is not None and stamp < remembered[0]:
            return True, number
        if remembered is not None:
            with self._lock:
                self._memo["active"].pop(key, None)
        until = self._answer("active", key, (word(key[0]),), ask, head=number)
        return until is not None and stamp < until, number

    def checkpoint(self) -> CheckpointState | None:
        """The newest checkpoint of the access log on chain, or None before the first."""

        def ask(block: int) -> CheckpointState | None:
            (size, root, anchored_at, anchorer), count = self._call(self.anchor, "latest", [], block)
            if int(count) == 0:
                return None
            return CheckpointState(int(count) - 1, int(size), to_hex(bytes(root)), int(anchored_at), str(anchorer))

        return self._answer("checkpoint", "latest", ("checkpoint",), ask)

    def checkpoint_tx(self, checkpoint: CheckpointState, tx_hash: str | None) -> tuple[str, int] | None:
        """(tx hash, block) when transaction ``tx_hash`` is the one that appended
        ``checkpoint`` (its receipt holds the anchor contract's ``CheckpointAppended`` with
        the checkpoint's index, size and root), else None. The database names the
        candidate; the chain confirms it."""
        if not tx_hash:
            return None
        key = (checkpoint.index, tx_hash.lower())

        def ask(_block: int) -> tuple[str, int] | None:
            receipt = self.client.call("eth_getTransactionReceipt", [key[1]])
            if receipt is None or int(receipt.get("status", "0x0"), 16) != 1:
                return None
            for log in receipt["logs"]:
                topics = [str(t).lower() for t in log["topics"]]
                if str(log["address"]).lower() != self._anchor_address or topics[:1] != [self._checkpoint_topic]:
                    continue
                data = bytes.fromhex(log["data"][2:])
                if (
                    len(topics) > 1
                    and int(topics[1], 16) == checkpoint.index
                    and len(data) >= 64
                    and int.from_bytes(data[:32], "big") == checkpoint.size
                    and to_hex(data[32:64]) == checkpoint.root.lower()
                ):
                    return str(jsonable(receipt["transactionHash"])), int(receipt["blockNumber"], 16)
            return None

        return self._answer("checkpoint-tx", key, (), ask)
