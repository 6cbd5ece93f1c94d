"""Worker failover (issue 11), on the session's Anvil, SQLite and PostgreSQL.

Two real ``gridledger worker`` processes share a database and the node while events are
appended continuously: exactly one holds the anchoring lease and anchors; ``kill -9`` of it
hands the lease to the other, which carries on from the checkpoints the first left queued.
Afterwards every event is anchored, the chain's checkpoints grow strictly with no size
twice and none refused, and the database's checkpoints are exactly the chain's.

Also the claim that lets a standby keep sending and lets web processes index beside the
worker: two indexers racing over the same blocks store each event once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, func, select
from sqlalchemy.exc import IntegrityError

from ledger.accesslog import Draft
from ledger.anchoring import anchor_now
from ledger.chain import CONTRACTS, artifact
from ledger.context import Ledger
from ledger.indexer import Indexer
from ledger.lease import TTL, Lease, LeaseState, read_lease
from ledger.projections import REBUILT_TABLES
from ledger.settings import Settings
from ledger.store import Store, make_engine, migrate
from ledger.store.models import ChainEvent, IndexCursor, LogCheckpoint, OutboxTx
from ledger.worker import Worker

from ..conftest import World
from .databases import BACKENDS, empty_database, world_copy

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class WorkerProcess:
    """A ``gridledger worker`` subprocess, its output in a file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def lines(self, containing: str) -> list[str]:
        return [line for line in self.output().splitlines() if containing in line]


@dataclass
class Appender:
    """Appends access events continuously from a thread of its own, as web processes do."""

    ledger: Ledger
    stop: threading.Event = field(default_factory=threading.Event)
    appended: int = 0
    errors: list[BaseException] = field(default_factory=list)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.ledger.log.append([_draft(self.appended + i) for i in range(3)])
                self.appended += 3
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                self.errors.append(exc)
                return
            self.stop.wait(0.05)


def _draft(i: int) -> Draft:
    return Draft(
        action="read", outcome="allowed", resident="0x" + f"{i % 7 + 1:040x}", accessor="0x" + "ab" * 20,
        time=1_763_700_000_000 + i, record_id="0x" + f"{i:064x}", category="health", organisation="0x" + "cd" * 32,
        basis="duty", purpose=2, block=1,
    )  # fmt: skip


@pytest.fixture(params=BACKENDS)
def installation(
    request: pytest.FixtureRequest, world: World, session_settings: Settings, tmp_path: Path
) -> Iterator[Settings]:
    """The world's installation on a backend of its own; the chain's world comes back after."""
    world.revert()  # from the world, whatever ran before
    with world_copy(request.param, world.db_path, tmp_path) as url:
        try:
            yield session_settings.with_(database_url=url)
        finally:
            world.revert()


def _wait_for(condition: Callable[[], Any], what: str, timeout: float = 60.0, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(step)


def _env(settings: Settings) -> dict[str, str]:
    return dict(
        os.environ, PYTHONUNBUFFERED="1", GRIDLEDGER_VAR=str(settings.var_dir), DATABASE_URL=settings.db_url,
        GRIDLEDGER_NODE_PORT=str(settings.node_port), GRIDLEDGER_KEY_PASSWORD="test-password",
        GRIDLEDGER_KDF_WORK=str(settings.kdf_work), GRIDLEDGER_BLOCK_TIME=str(settings.block_time),
        GRIDLEDGER_ANCHOR_INTERVAL="0.5",
    )  # fmt: skip


def _start(settings: Settings, name: str, folder: Path) -> WorkerProcess:
    log = folder / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "ledger.cli", "worker", "--interval", "0.2"],
            cwd=ROOT, env=_env(settings), stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    return WorkerProcess(name, process, log)


def _chain_checkpoints(ledger: Ledger) -> list[tuple[int, int, str]]:
    """(index, size, root) of every checkpoint on chain."""
    anchor = ledger.contract("AccessLogAnchor")
    _latest, count = anchor.functions.latest().call()
    found = []
    for index in range(int(count)):
        checkpoint = anchor.functions.checkpointAt(index).call()
        found.append((index, int(checkpoint[0]), "0x" + bytes(checkpoint[1]).hex()))
    return found


def _queued_checkpoint(ledger: Ledger) -> int | None:
    with ledger.store.session() as session:
        return session.scalar(select(LogCheckpoint.size).where(LogCheckpoint.status == "queued").limit(1))


def _holder_pid(lease: LeaseState | None) -> int | None:
    return None if lease is None else int(lease.holder.split(":")[1])


@pytest.mark.chain
@pytest.mark.slow
def test_kill_9_of_the_anchoring_worker_hands_anchoring_to_the_other_with_nothing_lost_or_doubled(
    installation: Settings, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    ledger = Ledger.open(installation)
    appender = Appender(ledger)
    feeder = threading.Thread(target=appender.run, name="appender", daemon=True)
    workers: list[WorkerProcess] = []
    try:
        before = _chain_checkpoints(ledger)
        start_size = ledger.log.size()
        workers = [_start(installation, name, tmp_path) for name in ("one", "two")]
        by_pid = {w.pid: w for w in workers}
        feeder.start()

        # Exactly one takes the lease and anchors; the other stands by.
        lease = _wait_for(lambda: read_lease(ledger.store), "a worker to take the anchoring lease")
        first = by_pid[_holder_pid(lease) or 0]
        (standby,) = (w for w in workers if w is not first)
        _wait_for(lambda: len(first.lines("checkpoint:")) >= 3, "three checkpoints by the lease holder")
        _wait_for(lambda: standby.lines("standing by"), "the other worker to stand by")
        assert not standby.lines("checkpoint:") and not standby.lines("took the anchoring lease")
        anchored_before_kill = ledger.log.anchored()
        assert anchored_before_kill is not None

        # kill -9 of the anchoring worker, while events keep coming and a checkpoint of its is in
        # flight (queued in the database, perhaps sent, not yet settled).
        in_flight = _wait_for(lambda: _queued_checkpoint(ledger), "a checkpoint in flight", step=0.005)
        os.kill(first.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        first.process.wait(timeout=30)
        last = read_lease(ledger.store)
        assert last is not None and last.holder == lease.holder
        taken = _wait_for(
            lambda: (found := read_lease(ledger.store)) is not None and found.holder != lease.holder and found,
            "the standby to take the lease",
            timeout=60,
        )
        took_over = time.monotonic() - killed_at
        assert _holder_pid(taken) == standby.pid
        _wait_for(lambda: standby.lines("checkpoint:"), "a checkpoint by the new holder")
        first_checkpoint = time.monotonic() - killed_at
        _wait_for(lambda: len(standby.lines("checkpoint:")) >= 3, "events to keep coming under the new holder")
        appender.stop.set()
        feeder.join(timeout=30)
        assert not appender.errors, appender.errors
        total = start_size + appender.appended

        def caught_up() -> bool:
            anchored = ledger.log.anchored()
            return anchored is not None and anchored.size == total

        _wait_for(caught_up, f"all {total} events to be anchored", timeout=60)
        record_property("failover_s", round(took_over, 2))
        record_property("failover_to_first_checkpoint_s", round(first_checkpoint, 2))
        record_property("events", appender.appended)

        # The standby waited for the lease to expire, then took it: one holder at a time.
        assert taken.acquired_at >= last.expires_at
        assert took_over < 2 * TTL  # within two lease lifetimes (10 s), the bound
        took = standby.lines("took the anchoring lease")
        assert len(took) == 1 and "expired" in took[0], standby.output()

        # Every event anchored; the chain's checkpoints grow strictly, none twice, none refused.
        chain = _chain_checkpoints(ledger)[len(before) :]
        sizes = [size for _index, size, _root in chain]
        assert sizes == sorted(set(sizes)) and sizes[-1] == total
        assert len(chain) >= 4
        tree = ledger.log.tree()
        assert all(root == "0x" + tree.root(size).hex() for _index, size, root in chain)
        # The database's checkpoints are exactly the chain's, each proven from the one before.
        with ledger.store.session() as session:
            rows = list(session.scalars(select(LogCheckpoint).order_by(LogCheckpoint.size)))
            refused = session.scalar(
                select(func.count()).where(OutboxTx.purpose == "anchor.append", OutboxTx.status != "mined")
            )
        assert [(r.chain_index, r.size, r.root, r.status) for r in rows] == [(*c, "anchored") for c in chain]
        assert [r.prev_size for r in rows] == [before[-1][1] if before else 0] + sizes[:-1]
        assert refused == 0
        assert in_flight in sizes  # the checkpoint in flight at the kill was anchored, once
        for worker in workers:
            assert "refused" not in worker.output(), worker.output()
        status = subprocess.run(
            [sys.executable, "-m", "ledger.cli", "log", "status"], cwd=ROOT, env=_env(installation),
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert status.returncode == 0, status.stdout + status.stderr
        assert f"anchoring lease: held by {taken.holder}, renewed" in status.stdout, status.stdout

        # The survivor stops cleanly on SIGTERM and gives the lease back.
        standby.process.send_signal(signal.SIGTERM)
        assert standby.process.wait(timeout=60) == 0, standby.output()
        assert "released the anchoring lease" in standby.output()
        survivor = read_lease(ledger.store)
        assert survivor is not None and survivor.released and survivor.holder == taken.holder
    finally:
        appender.stop.set()
        for worker in workers:
            if worker.process.poll() is None:
                worker.process.kill()
                worker.process.wait(timeout=30)
        ledger.close()


@pytest.mark.chain
def test_the_worker_says_when_it_takes_loses_and_waits_for_the_lease_and_indexes_only_holding_it(
    installation: Settings,
) -> None:
    """The worker's lease keeper, driven by hand with an injected clock (no threads, no sleeps)."""
    now = [0.0]

    def lease(store: Store, holder: str) -> Lease:
        return Lease(store, holder=holder, clock=lambda: 1_800_000_000 + now[0], monotonic=lambda: now[0])

    ledger = Ledger.open(installation)
    said: list[str] = []
    try:
        worker = Worker(ledger, report=said.append, lease=lease(ledger.store, "w:1:a"))
        other = lease(ledger.store, "w:2:b")
        indexed: list[int] = []

        class Counting(Indexer):
            def run_once(self, *, to_block: int | None = None) -> int:
                indexed.append(1)
                return 0

        worker_indexer = Counting(ledger.store, ledger.w3, {}, start_block=0)

        def look() -> str:
            worker._lease_looked = -1e9  # due now, whatever the real clock says
            before = len(said)
            worker._lease_cycle()
            return " / ".join(said[before:])

        assert look() == "took the anchoring lease as w:1:a (nobody had held it): anchoring and indexing"
        worker._index_cycle(worker_indexer)
        assert indexed == [1]
        now[0] += 1.5
        assert look() == ""  # renewed, nothing to say
        now[0] += TTL
        _expired_for_everyone(worker)
        assert other.acquire()
        assert look() == "lost the anchoring lease to w:2:b: not anchoring or indexing"
        worker._index_cycle(worker_indexer)
        assert indexed == [1]  # the holder indexes, not it
        assert look() == "standing by: w:2:b holds the anchoring lease"
        assert look() == ""  # said once
        other.release()
        assert look() == "took the anchoring lease as w:1:a (released by w:2:b): anchoring and indexing"
        assert worker.lease is not None
        worker.lease.release()
    finally:
        ledger.close()


def _expired_for_everyone(worker: Worker) -> None:
    """On PostgreSQL the expired holder's advisory lock goes with its session (as at its death)."""
    lease = worker.lease
    if lease is not None and lease._lock is not None:
        lease._lock.close()
        lease._lock = None


@pytest.mark.chain
def test_log_anchor_waits_for_the_lease_holder_and_takes_over_when_it_goes(ledger: Ledger) -> None:
    """``gridledger log anchor`` beside a running worker leaves the anchoring to it, and
    anchors itself once the lease is free."""
    other = Lease(ledger.store, holder="another-worker")
    assert other.acquire()
    ledger.log.append([_draft(i) for i in range(5)])
    said: list[str] = []
    done: list[BaseException | None] = []

    def anchor() -> None:
        try:
            anchor_now(ledger, timeout=60, report=said.append)
            done.append(None)
        except BaseException as exc:  # noqa: BLE001 - reported below
            done.append(exc)

    thread = threading.Thread(target=anchor)
    thread.start()
    _wait_for(lambda: any("another-worker holds the anchoring lease: waiting" in line for line in said), "it to wait")
    assert ledger.log.anchored() is None and not done  # the holder (which does nothing here) anchors, not it
    other.release()
    thread.join(timeout=120)
    assert done == [None]
    anchored = ledger.log.anchored()
    assert anchored is not None and anchored.size == ledger.log.size()
    state = read_lease(ledger.store)
    assert state is not None and state.released and state.holder != "another-worker"


@pytest.mark.chain
@pytest.mark.parametrize("kind", BACKENDS)
def test_two_indexers_racing_over_the_same_blocks_store_each_event_once(
    kind: str, ledger: Ledger, tmp_path: Path
) -> None:
    """Why a standby worker or a web process may index beside the worker: a window's events
    commit at most once (the loser's transaction is rolled back whole) and the projections
    come out exactly as one indexer alone makes them."""
    contracts = {name: (ledger.deployment.address(name), artifact(ledger.settings, name)["abi"]) for name in CONTRACTS}
    head = ledger.w3.eth.block_number

    collisions: list[int] = []
    together = threading.Barrier(2, timeout=30)

    class Racing(Indexer):
        """Both read their first window before either stores it (a collision for sure); then free."""

        first = True

        def fetch(self, start: int, end: int) -> list[Any]:
            events = super().fetch(start, end)
            if self.first:
                self.first = False
                together.wait()
            return events

        def _read_window(self, start: int, end: int) -> int:
            try:
                return super()._read_window(start, end)
            except IntegrityError:
                collisions.append(start)  # the other stored this window first: ours rolled back whole
                raise

    def indexer(store: Store) -> Indexer:
        return Racing(store, ledger.w3, contracts, start_block=ledger.deployment.block, window=2)

    with empty_database("sqlite", tmp_path) as alone_url, empty_database(kind, tmp_path) as raced_url:
        alone, raced = Store(make_engine(alone_url)), Store(make_engine(raced_url))
        try:
            for store in (alone, raced):
                migrate(store.engine)
            Indexer(alone, ledger.w3, contracts, start_block=ledger.deployment.block).run_once(to_block=head)
            failures: list[str] = []

            def race() -> None:
                mine = indexer(raced)
                while True:
                    try:
                        mine.run_once(to_block=head)
                    except Exception as exc:  # noqa: BLE001 - SQLite's busy snapshot: the worker retries too
                        failures.append(type(exc).__name__)
                        if len(failures) > 1_000:
                            return
                        continue
                    with raced.session() as session:
                        cursor = session.get(IndexCursor, "events")
                    if cursor is not None and cursor.block_number >= head:
                        return

            threads = [threading.Thread(target=race) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
            assert set(failures) <= {"OperationalError"}, failures  # SQLite: "database is locked", retried
            assert collisions, "the two indexers never stored the same window"
            assert _tables(raced) == _tables(alone)
            with raced.session() as session:
                events = session.scalar(select(func.count()).select_from(ChainEvent))
                distinct = session.scalar(
                    select(func.count()).select_from(
                        select(ChainEvent.block_number, ChainEvent.log_index).distinct().subquery()
                    )
                )
            assert events == distinct and events > 20
        finally:
            alone.close()
            raced.close()


def _tables(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every indexed table's rows, without surrogate ids, in a stable order."""
    meta = MetaData()
    meta.reflect(store.engine)
    names = [ChainEvent.__tablename__, *(table.__tablename__ for table in REBUILT_TABLES)]
    found: dict[str, list[tuple[Any, ...]]] = {}
    with store.engine.connect() as connection:
        for name in names:
            table = meta.tables[name]
            columns = [c for c in table.columns if c.name != "id"]
            found[name] = sorted(tuple(row) for row in connection.execute(select(*columns)))
    return found
