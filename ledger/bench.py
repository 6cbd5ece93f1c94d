"""``gridledger bench chain``: outbox writes against the node's raw ceiling.

Both legs run in one process against one dedicated Anvil (1 s interval mining, the
production default), one after the other, so they share the machine's conditions:

* **ceiling**: N Membership writes signed in advance, then sent straight to the node
  with ``eth_sendRawTransaction`` in JSON-RPC batches, until the last is mined;
* **outbox**: N Membership writes through the outbox, as the application makes them:
  each signed and stored in its own database transaction (SQLite, WAL, full sync)
  while a ``gridledger worker`` process sends them, records receipts and indexes the
  events, until the last is recorded as mined.

Throughput is N divided by the time from the first write to the last receipt.
Timings belong here, never in tests.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy import func, select

from .context import Ledger
from .membership import Role, org_id
from .organisations import Organisations
from .outbox import BATCH
from .settings import PROJECT_ROOT, Settings
from .store.models import OutboxTx

DOC = PROJECT_ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench:chain:begin -->", "<!-- bench:chain:end -->"


@dataclass(frozen=True)
class Leg:
    name: str
    count: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.count / self.seconds


def _random_address() -> str:
    return "0x" + os.urandom(20).hex()


def _wait_all_mined(ledger: Ledger, hashes: list[str], timeout: float = 300) -> None:
    """Waits as the worker does: receipts are asked for only when a new block arrived,
    so the waiting does not load the node being measured."""
    pending = list(hashes)
    deadline = time.monotonic() + timeout
    seen_head = -1
    while pending:
        head = ledger.w3.eth.block_number
        if head != seen_head:
            seen_head = head
            still: list[str] = []
            for offset in range(0, len(pending), BATCH):
                chunk = pending[offset : offset + BATCH]
                replies = ledger.outbox._batch([("eth_getTransactionReceipt", [h]) for h in chunk])
                still.extend(h for h, r in zip(chunk, replies) if not r.get("result"))
            pending = still
        if pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(pending)} transactions not mined")
            time.sleep(0.02)


def ceiling(ledger: Ledger, signer_label: str, committee: bytes, count: int) -> Leg:
    signer = ledger.account(signer_label)
    nonce = ledger.w3.eth.get_transaction_count(signer.address, "pending")
    raws: list[str] = []
    hashes: list[str] = []
    for i in range(count):
        call = ledger.membership.add_member(_random_address(), committee, Role.RESIDENT)
        tx: dict[str, Any] = {
            "nonce": nonce + i,
            "gasPrice": 0,
            "gas": call.gas,
            "to": call.to,
            "data": call.data,
            "value": 0,
            "chainId": ledger.settings.chain_id,
        }
        signed = signer.sign_transaction(tx)
        raws.append("0x" + bytes(signed.raw_transaction).hex())
        hashes.append("0x" + bytes(signed.hash).hex())
    start = time.perf_counter()
    for offset in range(0, count, 500):
        replies = ledger.outbox._batch([("eth_sendRawTransaction", [raw]) for raw in raws[offset : offset + 500]])
        errors = [r["error"] for r in replies if "error" in r]
        if errors:
            raise RuntimeError(f"the node refused pre-signed transactions: {errors[:2]}")
    _wait_all_mined(ledger, hashes)
    return Leg("ceiling (pre-signed, raw)", count, time.perf_counter() - start)


def through_outbox(ledger: Ledger, signer_label: str, committee: bytes, count: int) -> Leg:
    """Writes stored one DB transaction each, sent by a ``gridledger worker`` process."""
    signer = ledger.account(signer_label)
    ledger.outbox.prepare(signer)
    ledger.indexer().run_once()  # the worker will index only this leg's own events
    worker = subprocess.Popen(
        [sys.executable, "-m", "ledger.cli", "worker", "--interval", "0.02"],
        env={**os.environ, **_env(ledger.settings)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        # A production worker is long-running: start timing once it is up, not while Python imports.
        assert worker.stdout is not None
        worker.stdout.readline()
        threading.Thread(target=worker.stdout.read, daemon=True).start()  # keep the pipe drained
        hashes: list[str] = []
        start = time.perf_counter()
        for _ in range(count):
            call = ledger.membership.add_member(_random_address(), committee, Role.RESIDENT)
            with ledger.store.session() as session, session.begin():
                hashes.append(ledger.outbox.enqueue(session, signer, call).tx_hash)
        deadline = time.monotonic() + 300
        while _mined(ledger, signer.address) < count:
            if time.monotonic() > deadline:
                raise TimeoutError("the worker did not get every write mined in 300 s")
            time.sleep(0.02)
        elapsed = time.perf_counter() - start
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    return Leg("outbox (sign + store + send + receipt)", count, elapsed)


def _mined(ledger: Ledger, sender: str) -> int:
    with ledger.store.session() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(OutboxTx).where(OutboxTx.sender == sender, OutboxTx.status == "mined")
            )
            or 0
        )


def _env(settings: Settings) -> dict[str, str]:
    return {
        "GRIDLEDGER_VAR": str(settings.var_dir),
        "GRIDLEDGER_NODE_PORT": str(settings.node_port),
        "GRIDLEDGER_KEY_PASSWORD": settings.key_password or "",
        "GRIDLEDGER_BLOCK_TIME": f"{settings.block_time:g}",
        "DATABASE_URL": settings.db_url,
    }


def run(count: int, *, write_docs: bool = True, rounds: int = 5, console: Console | None = None) -> list[Leg]:
    console = console or Console()
    from node.deploy import deploy
    from node.local import LocalNode

    with tempfile.TemporaryDirectory(prefix="gridledger-bench-") as tmp:
        var = Path(tmp)
        port = _free_port()
        settings = Settings.from_env(
            {
                "GRIDLEDGER_VAR": str(var),
                "GRIDLEDGER_NODE_PORT": str(port),
                "GRIDLEDGER_KEY_PASSWORD": "bench",
                "GRIDLEDGER_BLOCK_TIME": "1",
                "GRIDLEDGER_KDF_WORK": str(2**10),
                "GRIDLEDGER_STATE_INTERVAL": "3600",
            }
        )
        node = LocalNode(settings)
        node.start()
        ledger = Ledger.open(settings, upgrade=True)
        try:
            deploy(ledger)
            orgs = Organisations(ledger)
            orgs.create_office("bench-office", "Bench", "bench-admin")
            orgs.create_committee("bench-cmte", "Bench committee", "bench-office", ["bench-m1"], 1)
            orgs.add_member("bench-grid-1", "bench-cmte", Role.GRID_WORKER)
            orgs.add_member("bench-grid-2", "bench-cmte", Role.GRID_WORKER)
            committee = org_id("bench-cmte")
            legs: list[Leg] = []
            for r in range(rounds):  # alternate, so drift in the machine's load hits both
                console.print(f"round {r + 1}/{rounds}: ceiling…")
                legs.append(ceiling(ledger, "bench-grid-1", committee, count))
                console.print(f"  {legs[-1].rate:,.0f} tx/s; outbox…")
                legs.append(through_outbox(ledger, "bench-grid-2", committee, count))
                console.print(f"  {legs[-1].rate:,.0f} tx/s")
            chain_height = ledger.w3.eth.block_number
        finally:
            ledger.close()
            node.stop()
    ceiling_rates = [leg.rate for leg in legs[0::2]]
    outbox_rates = [leg.rate for leg in legs[1::2]]
    result = _report(count, rounds, ceiling_rates, outbox_rates, chain_height)
    console.print(result)
    if write_docs:
        _write_docs(result)
    return legs


def _report(count: int, rounds: int, ceiling_rates: list[float], outbox_rates: list[float], height: int) -> str:
    c, o = statistics.median(ceiling_rates), statistics.median(outbox_rates)
    ratio = o / c
    paired = statistics.median(x / y for x, y in zip(outbox_rates, ceiling_rates))
    lines = [
        BEGIN,
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"Anvil 1.7.1 with 1 s interval mining; N = {count:,} Membership `addMember` writes per leg, "
        f"{rounds} rounds alternating the legs (chain height at the end: {height:,} blocks).",
        "",
        "| leg | median tx/s | all rounds (tx/s) |",
        "|---|---:|---|",
        f"| ceiling: pre-signed raw transactions straight to the node | {c:,.0f} | {', '.join(f'{r:,.0f}' for r in ceiling_rates)} |",
        f"| outbox: sign + store (one DB transaction each) + send + receipt | {o:,.0f} | {', '.join(f'{r:,.0f}' for r in outbox_rates)} |",
        "",
        f"Outbox / ceiling: **{ratio:.0%}** of medians, {paired:.0%} as the median of each round's ratio "
        f"(goal ≥ 70 %); outbox throughput **{o:,.0f} tx/s** (goal ≥ 1,000).",
        END,
    ]
    return "\n".join(lines)


def _write_docs(section: str) -> None:
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        text = head + section + tail
    else:
        text = text.rstrip() + "\n\n## Chain writes: outbox against the raw ceiling\n\n" + section + "\n"
    DOC.write_text(text, encoding="utf-8")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
