"""The keeper of the managed Anvil: runs it, and persists its chain only when consistent.

Anvil can dump its own state (``--state-interval``), but its dump is not a snapshot: it
reads the block list, then the accounts, while the miner goes on. A block mined between
the two reads leaves a dump whose accounts hold that block's effects (nonces used,
storage written) without the block, its transactions, receipts or events. Loaded after
a crash, such a chain refuses the lost transactions when they are sent again ("nonce too
low") although nothing shows they ever happened. Measured here: one dump in four under a
steady load of transfers.

So the keeper takes the dumps itself (``anvil_dumpState``) and writes one only when it is
consistent (:func:`inconsistencies`): every externally owned account's nonce equals the
number of its transactions in the dump's blocks. Every change of state on this chain comes
from a transaction (no block rewards, zero fees), and every transaction bumps its sender's
nonce, so a block's effects are in the dump exactly when its transactions are. A dump
that fails the check is taken again; the file on disk is only ever replaced whole (write,
fsync, rename), so a crash at any moment leaves the last consistent chain.

The keeper is the node from the outside: ``LocalNode`` starts it in a session of its own
(Anvil is its child, in the same process group, and dies with it), a SIGTERM makes it
write a last snapshot and stop Anvil, and it exits when Anvil does (a supervisor restarts
both). Run as ``python -m node.keeper``; settings come from the environment.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Attempts at a consistent dump before the keeper keeps the previous one and says so.
DUMP_ATTEMPTS = 20
#: Seconds between two attempts (a block is being mined: let it finish).
DUMP_RETRY = 0.02


@dataclass(frozen=True)
class Snapshot:
    block: int
    attempts: int
    size: int


def inconsistencies(state: Mapping[str, Any]) -> list[tuple[str, int, int]]:
    """Accounts whose nonce disagrees with the transactions in the dump's blocks:
    ``(address, nonce in the accounts, transactions sent in the blocks)``. Empty when the
    dump is a consistent snapshot of one block."""
    sent: dict[str, int] = {}
    for tx in state.get("transactions") or []:
        info = tx["info"]
        sender = str(info["from"]).lower()
        sent[sender] = max(sent.get(sender, 0), _int(info["nonce"]) + 1)
    bad: list[tuple[str, int, int]] = []
    for address, account in (state.get("accounts") or {}).items():
        if account.get("code") not in (None, "", "0x"):
            continue  # a contract: its nonce counts the contracts it created, not transactions
        nonce = _int(account.get("nonce", 0))
        if nonce != sent.get(address.lower(), 0):
            bad.append((address, nonce, sent.get(address.lower(), 0)))
    return bad


def best_block(state: Mapping[str, Any]) -> int:
    return _int(state.get("best_block_number", 0))


def write_atomically(path: Path, data: bytes) -> None:
    """Replaces ``path`` with ``data`` whole: a crash leaves the old file or the new one."""
    draft = path.with_name(path.name + ".writing")
    with open(draft, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(draft, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def take_snapshot(
    dump: Callable[[], bytes],
    path: Path,
    *,
    attempts: int = DUMP_ATTEMPTS,
    pause: Callable[[float], None] = time.sleep,
) -> Snapshot | None:
    """Dumps until a dump is consistent, then writes it to ``path``. None (and the file
    untouched) when no attempt was consistent."""
    for attempt in range(1, attempts + 1):
        raw = dump()
        state = json.loads(raw)
        if not inconsistencies(state):
            write_atomically(path, raw)
            return Snapshot(block=best_block(state), attempts=attempt, size=len(raw))
        pause(DUMP_RETRY)
    return None


def _int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


class Keeper:
    """Runs Anvil and snapshots its chain every ``interval`` seconds."""

    def __init__(self, command: list[str], state_path: Path, rpc_url: str, interval: float, *, log: Any) -> None:
        self.command = command
        self.state_path = state_path
        self.rpc_url = rpc_url
        self.interval = interval
        self.log = log
        self.stopping = threading.Event()
        self.process: subprocess.Popen[bytes] | None = None
        self.last_block = -1

    def say(self, message: str) -> None:
        print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} keeper: {message}", file=self.log, flush=True)

    def dump(self) -> bytes:
        from .local import _rpc

        reply = _rpc(self.rpc_url, "anvil_dumpState", timeout=30.0)
        return gzip.decompress(bytes.fromhex(str(reply)[2:]))

    def snapshot(self) -> Snapshot | None:
        try:
            taken = take_snapshot(self.dump, self.state_path)
        except Exception as exc:  # noqa: BLE001 - a failed dump keeps the last good one; say why
            self.say(f"snapshot failed, the last one is kept: {type(exc).__name__}: {exc}")
            return None
        if taken is None:
            self.say(f"no consistent dump in {DUMP_ATTEMPTS} attempts; the last snapshot is kept")
        elif taken.attempts > 1 or taken.block != self.last_block:
            self.last_block = taken.block
            if taken.attempts > 1:
                self.say(f"snapshot at block {taken.block} after {taken.attempts} attempts (a block was being mined)")
        return taken

    def run(self) -> int:
        signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())
        signal.signal(signal.SIGINT, lambda *_: self.stopping.set())
        self.process = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=self.state_path.parent,
            preexec_fn=_die_with_parent,
        )
        Path(self.state_path.parent / "anvil.pid").write_text(str(self.process.pid))
        self.say(f"Anvil started (pid {self.process.pid})")
        ready = False
        while not self.stopping.wait(self.interval if ready else 0.1):
            code = self.process.poll()
            if code is not None:
                self.say(f"Anvil exited with code {code}; the keeper exits (the last snapshot is kept)")
                return code or 1
            if not ready:
                ready = self._answers()
                continue
            self.snapshot()
        if self.process.poll() is None and self._answers():
            taken = self.snapshot()
            if taken is not None:
                self.say(f"stopping: last snapshot at block {taken.block}")
        with contextlib.suppress(ProcessLookupError):
            self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return 0

    def _answers(self) -> bool:
        from ledger.errors import NodeError

        from .local import _rpc

        try:
            _rpc(self.rpc_url, "eth_blockNumber", timeout=0.5)
        except NodeError:
            return False
        return True


def _die_with_parent() -> None:
    """Anvil gets SIGKILL when the keeper dies, however it dies (Linux; elsewhere the
    process group is killed by whoever kills the keeper)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def main(argv: list[str] | None = None) -> int:
    """``python -m node.keeper STATE_FILE RPC_URL INTERVAL -- ANVIL ARGS...`` (as
    :class:`node.local.LocalNode` starts it)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 5 or args[3] != "--":
        print("usage: python -m node.keeper STATE_FILE RPC_URL INTERVAL -- ANVIL [ARGS...]", file=sys.stderr)
        return 2
    state_path, rpc_url, interval, command = Path(args[0]), args[1], float(args[2]), args[4:]
    return Keeper(command, state_path, rpc_url, interval, log=sys.stdout).run()


if __name__ == "__main__":
    sys.exit(main())
