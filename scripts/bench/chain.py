"""``scripts/bench_chain.py``: outbox writes against the node's raw ceiling.

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
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy import func, select

from ledger.chain import Call
from ledger.context import Ledger
from ledger.membership import Role, org_id
from ledger.organisations import Organisations
from ledger.outbox import BATCH
from ledger.settings import PROJECT_ROOT, Settings
from ledger.store.models import OutboxTx

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


@dataclass(frozen=True)
class Workload:
    """One kind of chain write: who signs it (one account per leg) and how to make one."""

    name: str
    ceiling_signer: str
    outbox_signer: str
    make: Callable[[], Call]


def ceiling(ledger: Ledger, work: Workload, count: int) -> Leg:
    signer = ledger.account(work.ceiling_signer)
    nonce = ledger.w3.eth.get_transaction_count(signer.address, "pending")
    raws: list[str] = []
    hashes: list[str] = []
    for i in range(count):
        call = work.make()
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
    _require_success(ledger, hashes[-1])
    return Leg(f"{work.name}: ceiling", count, time.perf_counter() - start)


def through_outbox(ledger: Ledger, work: Workload, count: int) -> Leg:
    """Writes stored one DB transaction each, sent by a ``gridledger worker`` process."""
    signer = ledger.account(work.outbox_signer)
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
        first_row = _last_row_id(ledger)
        start = time.perf_counter()
        for _ in range(count):
            call = work.make()
            with ledger.store.session() as session, session.begin():
                hashes.append(ledger.outbox.enqueue(session, signer, call).tx_hash)
        deadline = time.monotonic() + 300
        while _mined(ledger, signer.address, first_row) < count:
            if time.monotonic() > deadline:
                raise TimeoutError("the worker did not get every write mined in 300 s")
            time.sleep(0.02)
        elapsed = time.perf_counter() - start
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    _require_success(ledger, hashes[-1])
    return Leg(f"{work.name}: outbox", count, elapsed)


def _require_success(ledger: Ledger, tx_hash: str) -> None:
    """A benchmark of reverting transactions would measure nothing: check the last one."""
    if ledger.w3.eth.get_transaction_receipt(tx_hash)["status"] != 1:  # type: ignore[arg-type]
        raise RuntimeError(f"benchmark transaction {tx_hash} reverted: the workload is wrong")


def _mined(ledger: Ledger, sender: str, after_id: int) -> int:
    """Mined writes of ``sender`` stored after row ``after_id``: this leg's only."""
    with ledger.store.session() as session:
        query = (
            select(func.count())
            .select_from(OutboxTx)
            .where(OutboxTx.sender == sender, OutboxTx.status == "mined", OutboxTx.id > after_id)
        )
        return int(session.scalar(query) or 0)


def _last_row_id(ledger: Ledger) -> int:
    with ledger.store.session() as session:
        return int(session.scalar(select(func.max(OutboxTx.id))) or 0)


def _env(settings: Settings) -> dict[str, str]:
    return {
        "GRIDLEDGER_VAR": str(settings.var_dir),
        "GRIDLEDGER_NODE_PORT": str(settings.node_port),
        "GRIDLEDGER_KEY_PASSWORD": settings.key_password or "",
        "GRIDLEDGER_BLOCK_TIME": f"{settings.block_time:g}",
        "DATABASE_URL": settings.db_url,
    }


def workloads(ledger: Ledger) -> dict[str, Workload]:
    """The writes the ledger makes most: membership changes, record commits, grants."""
    from ledger.categories import Category
    from ledger.consent import ConsentCalls, LegalBasis, Purpose
    from ledger.records import RecordCalls

    committee, department = org_id("bench-cmte"), org_id("bench-dept")
    subject = ledger.address_of("bench-resident-0")
    records = RecordCalls(ledger.contract("RecordLedger"))
    consent = ConsentCalls(ledger.contract("ConsentRegistry"))
    far = int(time.time()) + 10 * 365 * 86_400

    def grant_terms() -> tuple[object, ...]:
        return (
            os.urandom(32),
            department,
            Category.HEALTH.bit,
            int(Purpose.HEALTH_MANAGEMENT),
            int(LegalBasis.CONSENT),
            0,
            far,
            os.urandom(32),
        )

    return {
        "membership": Workload("membership addMember", "bench-grid-1", "bench-grid-2",
                               lambda: ledger.membership.add_member(_random_address(), committee, Role.RESIDENT)),
        "records": Workload("record commit", "bench-grid-1", "bench-grid-2",
                            lambda: records.commit(os.urandom(32), 1, os.urandom(32), bytes(32), subject, int(Category.HEALTH))),
        "grants": Workload("grant issue", "bench-resident-1", "bench-resident-2", lambda: consent.issue(grant_terms())),
    }  # fmt: skip


def run(
    count: int,
    *,
    kinds: tuple[str, ...] = ("membership", "records", "grants"),
    write_docs: bool = True,
    rounds: int = 5,
    console: Console | None = None,
) -> dict[str, list[Leg]]:
    console = console or Console()
    from ledger.membership import DepartmentKind

    results: dict[str, list[Leg]] = {}
    with private_chain("gridledger-bench-") as ledger:
        orgs = Organisations(ledger)
        orgs.create_office("bench-office", "Bench", "bench-admin")
        orgs.create_committee("bench-cmte", "Bench committee", "bench-office", ["bench-m1"], 1)
        orgs.create_department("bench-dept", "Bench department", "bench-office", DepartmentKind.HEALTH)
        for label in ("bench-grid-1", "bench-grid-2"):
            orgs.add_member(label, "bench-cmte", Role.GRID_WORKER)
        for label in ("bench-resident-0", "bench-resident-1", "bench-resident-2"):
            orgs.add_member(label, "bench-cmte", Role.RESIDENT)
        available = workloads(ledger)
        for kind in kinds:
            work = available[kind]
            legs: list[Leg] = []
            for r in range(rounds):  # alternate, so drift in the machine's load hits both
                legs.append(ceiling(ledger, work, count))
                legs.append(through_outbox(ledger, work, count))
                console.print(
                    f"{work.name} round {r + 1}/{rounds}: ceiling {legs[-2].rate:,.0f} tx/s, "
                    f"outbox {legs[-1].rate:,.0f} tx/s"
                )
            results[kind] = legs
        chain_height = ledger.w3.eth.block_number
    result = _report(count, rounds, {available[k].name: v for k, v in results.items()}, chain_height)
    console.print(result)
    if write_docs:
        _write_docs(result)
    return results


def _report(count: int, rounds: int, results: dict[str, list[Leg]], height: int) -> str:
    lines = [
        BEGIN,
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"Anvil 1.7.1 with 1 s interval mining; N = {count:,} writes per leg, {rounds} rounds alternating the "
        f"ceiling and the outbox (chain height at the end: {height:,} blocks).",
        "",
        "| write | ceiling: median tx/s (rounds) | outbox: median tx/s (rounds) | outbox / ceiling |",
        "|---|---|---|---:|",
    ]
    for name, legs in results.items():
        ceiling_rates = [leg.rate for leg in legs[0::2]]
        outbox_rates = [leg.rate for leg in legs[1::2]]
        c, o = statistics.median(ceiling_rates), statistics.median(outbox_rates)
        paired = statistics.median(x / y for x, y in zip(outbox_rates, ceiling_rates))
        lines.append(
            f"| {name} | **{c:,.0f}** ({', '.join(f'{r:,.0f}' for r in ceiling_rates)}) "
            f"| **{o:,.0f}** ({', '.join(f'{r:,.0f}' for r in outbox_rates)}) | {o / c:.0%} (per round: {paired:.0%}) |"
        )
    lines += ["", "Goals: outbox ≥ 1,000 tx/s and ≥ 70 % of the ceiling.", END]
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


#: The databases a benchmark's ledger can run on (``--database``).
DATABASES = ("sqlite", "postgresql")
#: Where ``--database postgresql`` makes its schemas (a fresh one per run, dropped afterwards).
POSTGRES_ENV = "GRIDLEDGER_BENCH_POSTGRES_URL"
POSTGRES_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def add_database_option(parser: Any) -> None:
    """``--database sqlite|postgresql`` on a benchmark's argument parser."""
    parser.add_argument(
        "--database",
        choices=DATABASES,
        default="sqlite",
        help=f"the ledger's database: a SQLite file (WAL, full sync) in the run's folder, or a fresh schema in "
        f"PostgreSQL (${POSTGRES_ENV}, default {POSTGRES_DEFAULT}), dropped afterwards",
    )


class DatabaseUnavailable(RuntimeError):
    """The benchmark was asked for PostgreSQL and none answers."""


@contextmanager
def exit_when_unavailable() -> Iterator[None]:
    """Around a benchmark's run: no PostgreSQL is a one-line error and exit status 2, not a traceback."""
    try:
        yield
    except DatabaseUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def postgres_base_url() -> str:
    return os.environ.get(POSTGRES_ENV, POSTGRES_DEFAULT)


@contextmanager
def postgres_schema(prefix: str = "bench", base_url: str | None = None) -> Iterator[str]:
    """A fresh schema in the PostgreSQL database of ``base_url`` (default: :func:`postgres_base_url`);
    yields a URL whose connections use it (``search_path``), and drops it with everything in it on the
    way out. :class:`DatabaseUnavailable` when the server does not answer or refuses the connection."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import DBAPIError, NoSuchModuleError

    base = base_url or postgres_base_url()
    schema = f"{prefix}_{os.urandom(6).hex()}"
    try:
        admin = create_engine(base, connect_args={"connect_timeout": 5})
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except (DBAPIError, NoSuchModuleError, ImportError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise DatabaseUnavailable(
            f"--database postgresql: PostgreSQL is not reachable at {_hidden(base)} ({reason}); start it, or set "
            f"{POSTGRES_ENV} to a database this user may create schemas in"
        ) from exc
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _hidden(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for the message
        return "the configured URL"


def describe_database(url: str) -> str:
    """The database of a run as the reports name it, with the settings that decide a commit's cost."""
    if url.startswith("sqlite"):
        return "SQLite (WAL, full sync)"
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            version = connection.execute(text("SHOW server_version")).scalar()
            fsync = connection.execute(text("SHOW fsync")).scalar()
            commit = connection.execute(text("SHOW synchronous_commit")).scalar()
    finally:
        engine.dispose()
    return f"PostgreSQL {version} (fsync {fsync}, synchronous_commit {commit}, local TCP)"


@contextmanager
def private_chain(
    prefix: str, *, block_time: float = 1.0, deployed: bool = True, database: str = "sqlite"
) -> Iterator[Ledger]:
    """A ledger on its own Anvil (on a free port) and its own database, with the contracts
    deployed; the node is stopped on the way out. ``database``: ``sqlite``, a SQLite file in a
    temporary folder, or ``postgresql``, a fresh schema (:func:`postgres_schema`) dropped on the
    way out; ``DATABASE_URL`` names it in the settings, so every process the benchmark starts
    with :func:`_env` (gunicorn workers, ``gridledger worker``) uses the same database."""
    from node.deploy import deploy
    from node.local import LocalNode

    if database not in DATABASES:
        raise ValueError(f"unknown database {database!r}; choose from {', '.join(DATABASES)}")
    with ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix))
        url = stack.enter_context(postgres_schema("bench")) if database == "postgresql" else ""
        settings = Settings.from_env(
            {
                "GRIDLEDGER_VAR": str(Path(tmp)),
                "GRIDLEDGER_NODE_PORT": str(_free_port()),
                "GRIDLEDGER_KEY_PASSWORD": "bench",
                "GRIDLEDGER_BLOCK_TIME": f"{block_time:g}",
                "GRIDLEDGER_KDF_WORK": str(2**10),
                "GRIDLEDGER_STATE_INTERVAL": "3600",
                "DATABASE_URL": url,
            }
        )
        node = LocalNode(settings)
        node.start()
        try:
            ledger = Ledger.open(settings, upgrade=True)
            try:
                if deployed:
                    deploy(ledger)
                yield ledger
            finally:
                ledger.close()
        finally:
            node.stop()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
