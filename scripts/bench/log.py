"""``scripts/bench_log.py``: the verifiable access log under load, on one private Anvil.

Everything runs in one process against one dedicated Anvil (1 s interval mining, the
production default) and a SQLite database (WAL, full sync) in a temporary var dir:

1. **throughput**: reader threads call ``Access.read`` (the library path: basis check,
   durable group-committed append, content) on random certified records for a fixed
   time after a warm-up, while an :class:`~ledger.anchoring.Anchorer` cycles in a
   background thread every 0.1 s as ``gridledger worker`` does (default anchor interval,
   1 s). Grant reads are by department officers under the residents' active grants (the
   grant check asks ``ConsentRegistry.isActive`` of the chain once per grant, see
   ``ledger/chainview.py``); duty
   reads are by committee members (their membership from the same view). Events/s is the growth of the log
   over the window.
2. **append → anchored**: for every read of the measured windows, the time from
   ``read`` returning to the moment a poller (every 20 ms) first sees a checkpoint with
   ``size > seq`` recorded as anchored in ``log_checkpoints``; wall clock on both sides.
3. **proofs**: inclusion proofs through the database-backed tree
   (``AccessLog.tree().inclusion_proof``) for random leaves against the newest anchored
   size, with a fresh tree per proof (a proof request) and with one tree reused (a
   bundle); then ``merkle.verify_inclusion`` of those proofs.
4. **audit**: the log is topped up with realistic events (real residents, records and
   grants; some refused, some emergency) by ``AccessLog.append`` in batches of 2,000 and
   anchored; grants are topped up with real grants issued on chain through the outbox
   (``Consent(wait=False).issue``); then ``audit.run`` with and without integrity.
5. **gas**: of the checkpoints the anchorer sent during (1): ``gasUsed`` of their
   ``anchor.append`` transactions and the events each covered (``size - prev_size``).

Timings belong here, never in tests.
"""

from __future__ import annotations

import argparse
import bisect
import os
import platform
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from rich.console import Console
from sqlalchemy import func, select

from ledger import formats
from ledger.access import Access, now_ms
from ledger.accesslog import MAX_BATCH, AccessLog, Appended, Draft
from ledger.anchoring import Anchorer, designate_anchorer
from ledger.categories import Category, mask
from ledger.consent import TERMS_FORMAT, Consent, LegalBasis, Purpose
from ledger.context import Ledger
from ledger.errors import AccessRefused, Refusal
from ledger.membership import DepartmentKind, Role, org_id
from ledger.merkle import verify_inclusion
from ledger.organisations import Organisations
from ledger.records import Records
from ledger.settings import PROJECT_ROOT
from ledger.store.models import ChainGrant, ChainRecordVersion, GrantTerms, LogCheckpoint, Member, OutboxTx

from .chain import _env, private_chain

DOC = PROJECT_ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench:log:begin -->", "<!-- bench:log:end -->"
SECTION = "## Access log"

OFFICE, COMMITTEE, DEPARTMENT = "bench-office", "bench-cmte", "bench-dept"
DEPARTMENT_NAME = "Bench health"
ADMIN, GRID = "bench-admin", "bench-grid"
MEMBERS = tuple(f"bench-m{i}" for i in range(1, 5))
OFFICERS = tuple(f"bench-officer-{i}" for i in range(1, 9))
YEAR = 365 * 86_400
POLL = 0.02  # seconds between looks at log_checkpoints
ANCHOR_TICK = 0.1  # as ledger.worker.ANCHOR_TICK
BLOOD = ("A", "B", "AB", "O", "unknown")
CONDITIONS = ("hypertension", "diabetes", "asthma", "高血压", "冠心病")

Report = Callable[[str], None]


# -- the world --------------------------------------------------------------------------------


@dataclass
class World:
    residents: list[str]  # addresses
    records: list[str]  # one certified health record per resident, same order
    officers: list[str]  # addresses of the department's officers
    members: list[str]  # addresses of the committee's members
    committee: str  # organisation ids (hex)
    department: str
    anchorer: Any  # LocalAccount


def _sync(ledger: Ledger, hashes: Sequence[str], timeout: float = 300.0) -> None:
    """``ledger.sync`` in slices (an IN list of 100,000 hashes is beyond SQLite's limit)."""
    for offset in range(0, len(hashes), 2_000):
        ledger.outbox.wait(list(hashes[offset : offset + 2_000]), timeout=timeout)
    ledger.indexer().run_once()


def build_world(ledger: Ledger, residents: int, say: Report) -> World:
    """An office, a committee (threshold 1), a health department with officers, and
    ``residents`` residents each with one certified health record and one active grant
    to the department; the installation's anchorer designated."""
    from node.deploy import deploy

    began = time.perf_counter()
    deploy(ledger)
    orgs = Organisations(ledger)
    orgs.create_office(OFFICE, "Bench office", ADMIN)
    orgs.create_committee(COMMITTEE, "Bench committee", OFFICE, list(MEMBERS), 1)
    orgs.create_department(DEPARTMENT, DEPARTMENT_NAME, OFFICE, DepartmentKind.HEALTH)
    orgs.add_member(GRID, COMMITTEE, Role.GRID_WORKER)
    anchorer, _tx = designate_anchorer(ledger, OFFICE, ADMIN)
    quick = Organisations(ledger, wait=False)
    hashes = [quick.add_member(label, DEPARTMENT, Role.DEPARTMENT_OFFICER, actor=ADMIN) for label in OFFICERS]
    labels = [f"bench-resident-{i}" for i in range(residents)]
    hashes += [quick.add_member(label, COMMITTEE, Role.RESIDENT, actor=GRID) for label in labels]
    _sync(ledger, hashes)
    say(
        f"world: organisations, {len(OFFICERS)} officers and {residents} residents ({time.perf_counter() - began:.0f} s)"
    )

    records = Records(ledger, wait=False)
    rng = random.Random(1)
    ids: list[str] = []
    hashes = []
    for label in labels:
        content = {"blood_type": rng.choice(BLOOD), "chronic_conditions": [rng.choice(CONDITIONS)], "allergies": []}
        rid, tx = records.add(actor=GRID, subject=label, category=Category.HEALTH, content=content)
        ids.append(rid)
        hashes.append(tx)
    _sync(ledger, hashes)
    hashes = []
    for rid in ids:
        outcome = records.sign(rid, signer=MEMBERS[0])
        assert outcome.certify_tx is not None
        hashes.append(outcome.certify_tx)
    _sync(ledger, hashes)
    with ledger.store.session() as session:
        certified = session.scalar(
            select(func.count()).select_from(ChainRecordVersion).where(ChainRecordVersion.certified_tx.is_not(None))
        )
    if certified != residents:
        raise RuntimeError(f"{certified} of {residents} records certified: the world is wrong")
    say(f"world: {residents} certified records ({time.perf_counter() - began:.0f} s)")

    issued = issue_grants(ledger, labels, residents, say)
    if issued != residents:
        raise RuntimeError(f"{issued} of {residents} grants active: the world is wrong")
    say(f"world: {residents} grants ({time.perf_counter() - began:.0f} s)")
    return World(
        residents=[ledger.address_of(label) for label in labels],
        records=ids,
        officers=[ledger.address_of(label) for label in OFFICERS],
        members=[ledger.address_of(label) for label in MEMBERS],
        committee="0x" + org_id(COMMITTEE).hex(),
        department="0x" + org_id(DEPARTMENT).hex(),
        anchorer=anchorer,
    )


def _grant_count(ledger: Ledger) -> int:
    with ledger.store.session() as session:
        return int(session.scalar(select(func.count()).select_from(ChainGrant)) or 0)


def issue_grants(ledger: Ledger, residents: Sequence[str], count: int, say: Report, threads: int = 1) -> int:
    """Issues ``count`` real grants (health, to the bench department, a year) through
    ``Consent(wait=False).issue``, residents taken in turn, while a background thread
    sends them; then waits for them all and indexes. Returns the grants on chain."""
    sender = Loop("bench-pump", _pump(ledger), 0.5).start()
    hashes: list[str] = []
    lock = threading.Lock()
    began = time.perf_counter()
    progress = [0]

    def issuer(part: int) -> None:
        consent = Consent(ledger, wait=False)
        until = int(time.time()) + 2 * YEAR
        for i in range(part, count, threads):
            _gid, tx = consent.issue(
                resident=residents[i % len(residents)], department=DEPARTMENT, categories=[Category.HEALTH],
                purpose=Purpose.HEALTH_MANAGEMENT, legal_basis=LegalBasis.CONSENT, valid_until=until,
            )  # fmt: skip
            with lock:
                hashes.append(tx)
                progress[0] += 1
                if progress[0] % 10_000 == 0:
                    say(f"grants: {progress[0]:,} stored ({progress[0] / (time.perf_counter() - began):,.0f}/s)")

    try:
        workers = [threading.Thread(target=issuer, args=(p,), name=f"bench-issue-{p}") for p in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    finally:
        sender.stop()
    _sync(ledger, hashes, timeout=600)
    return _grant_count(ledger)


def _pump(ledger: Ledger) -> Callable[[], None]:
    def pump() -> None:
        ledger.outbox.pump()

    return pump


def enqueue_grants(ledger: Ledger, residents: Sequence[str], count: int, say: Report, per_tx: int = 500) -> int:
    """The direct path, as scripts/bench/chain.py's grants leg: the same ``ConsentRegistry.issue``
    calls and ``grant_terms`` rows as ``Consent.issue`` makes (terms, hash, resident as
    sender), signed and stored ``per_tx`` to a database transaction, without its
    per-grant chain-time request and preflight simulation; a background thread sends
    them. Waits until all are mined, indexes, and returns the grants on chain."""
    consent = Consent(ledger, wait=False)
    dept_id = org_id(DEPARTMENT)
    accounts = [ledger.account(label) for label in residents]
    for account in accounts:
        ledger.outbox.prepare(account)
    start = int(ledger.w3.eth.get_block("latest")["timestamp"])
    until = start + 2 * YEAR
    categories = [Category.HEALTH]
    with ledger.store.session() as session:
        first_row = int(session.scalar(select(func.max(OutboxTx.id))) or 0)
    sender = Loop("bench-pump", _pump(ledger), 0.5).start()
    began = time.perf_counter()
    try:
        for offset in range(0, count, per_tx):
            with ledger.store.session() as session, session.begin():
                for i in range(offset, min(count, offset + per_tx)):
                    account = accounts[i % len(accounts)]
                    grant_id = formats.new_id()
                    terms = {
                        "format": TERMS_FORMAT, "grantId": formats.to_hex(grant_id),
                        "controller": {"department": formats.to_hex(dept_id), "code": DEPARTMENT, "name": DEPARTMENT_NAME},
                        "categories": [c.slug for c in categories],
                        "purpose": {"code": int(Purpose.HEALTH_MANAGEMENT), "name": "health_management", "text": ""},
                        "legalBasis": {"code": int(LegalBasis.CONSENT), "name": "consent"},
                        "validFrom": start, "validUntil": until, "notice": "", "jurisdiction": "CN",
                        "collectionMethod": "issued by the resident",
                    }  # fmt: skip
                    terms_hash = formats.terms_hash(terms)
                    fields = (grant_id, dept_id, mask(categories), int(Purpose.HEALTH_MANAGEMENT),
                              int(LegalBasis.CONSENT), start, until, terms_hash)  # fmt: skip
                    queued = ledger.outbox.enqueue(session, account, consent.calls.issue(fields))
                    session.add(GrantTerms(
                        grant_id=formats.to_hex(grant_id), resident=account.address, department=formats.to_hex(dept_id),
                        categories=mask(categories), purpose=int(Purpose.HEALTH_MANAGEMENT),
                        legal_basis=int(LegalBasis.CONSENT), valid_from=start, valid_until=until,
                        terms=formats.canonical_json(terms).decode(), terms_hash=formats.to_hex(terms_hash),
                        status="active", relayer=None, tx_hash=queued.tx_hash,
                    ))  # fmt: skip
            done = min(count, offset + per_tx)
            if done % 20_000 < per_tx:
                say(f"grants: {done:,} signed and stored ({done / (time.perf_counter() - began):,.0f}/s)")
        deadline = time.monotonic() + 1_800
        while True:
            with ledger.store.session() as session:
                settled = dict(
                    session.execute(
                        select(OutboxTx.status, func.count())
                        .where(OutboxTx.id > first_row, OutboxTx.status.in_(("mined", "reverted", "dropped")))
                        .group_by(OutboxTx.status)
                    ).all()
                )
            if sum(settled.values()) >= count:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"grants not all mined in 30 min: {settled}, pump failures {sender.failures[-3:]}")
            time.sleep(1.0)
    finally:
        sender.stop()
    if settled.get("reverted") or settled.get("dropped"):
        raise RuntimeError(f"grants failed on chain: {settled}")
    say(f"grants: {count:,} mined ({time.perf_counter() - began:.0f} s); indexing")
    ledger.indexer().run_once()
    return _grant_count(ledger)


# -- the anchoring worker and the poller ------------------------------------------------------


class Loop:
    """Runs ``cycle`` every ``interval`` seconds in a daemon thread until stopped, as
    ``ledger.worker.Worker._loop`` does (failures are counted and retried)."""

    def __init__(self, name: str, cycle: Callable[[], None], interval: float) -> None:
        self.cycle = cycle
        self.interval = interval
        self.stop_event = threading.Event()
        self.failures: list[str] = []
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.cycle()
            except Exception as exc:  # noqa: BLE001 - as the worker: report and retry
                self.failures.append(f"{type(exc).__name__}: {exc}")
            self.stop_event.wait(self.interval)

    def start(self) -> Loop:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=60)


class AnchorWatch:
    """Polls ``log_checkpoints`` every 20 ms; remembers when each anchored size was first seen."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.sizes: list[int] = []
        self.seen: list[float] = []  # wall clock (time.time()) of first sight
        self._last = -1
        self.loop = Loop("bench-anchor-watch", self._poll, POLL)

    def _poll(self) -> None:
        with self.ledger.store.session() as session:
            found = list(
                session.scalars(
                    select(LogCheckpoint.size)
                    .where(LogCheckpoint.status == "anchored", LogCheckpoint.size > self._last)
                    .order_by(LogCheckpoint.size)
                )
            )
        now = time.time()
        for size in found:
            self.sizes.append(size)
            self.seen.append(now)
            self._last = size

    def anchored_at(self, seq: int) -> float | None:
        """When a checkpoint covering ``seq`` was first seen anchored."""
        i = bisect.bisect_right(self.sizes, seq)
        return self.seen[i] if i < len(self.seen) else None

    def covered(self) -> int:
        return self.sizes[-1] if self.sizes else 0


# -- 1 and 2: sustained reads with the anchorer running ---------------------------------------


class CountingLog(AccessLog):
    """The library's log, remembering the size of each group commit (one list append)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batches: list[int] = []

    def append(self, drafts: Sequence[Draft]) -> list[Appended]:
        self.batches.append(len(drafts))
        return super().append(drafts)


@dataclass
class Window:
    basis: str
    threads: int
    round: int
    events: int
    seconds: float
    refused: int
    errors: list[str]
    latencies: list[float] = field(default_factory=list)  # seconds, read returned -> anchored seen
    to_checkpoint: list[float] = field(default_factory=list)  # read returned -> its checkpoint sent
    recorded: list[float] = field(default_factory=list)  # read returned -> anchored_at (the anchorer's record)
    batch: float = 0.0  # mean events per group commit in the window
    load: float = 0.0  # the machine's 1-minute load average at the end of the window

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def read_window(
    ledger: Ledger,
    access: Access,
    world: World,
    watch: AnchorWatch,
    *,
    basis: str,
    threads: int,
    seconds: float,
    warmup: float,
    round_no: int,
) -> Window:
    """``threads`` readers for ``warmup + seconds``; events/s over the last ``seconds``."""
    accessors = world.officers if basis == "grant" else world.members
    stop = threading.Event()
    samples: list[list[tuple[int, float]]] = [[] for _ in range(threads)]
    refused = [0] * threads
    errors: list[str] = []

    def reader(n: int) -> None:
        rng = random.Random(n * 7919 + round_no)
        who = accessors[n % len(accessors)]
        out = samples[n]
        records = world.records
        while not stop.is_set():
            try:
                got = access.read(rng.choice(records), accessor=who, basis=basis)
                out.append((got.seq, time.time()))
            except AccessRefused:
                refused[n] += 1
            except Exception as exc:  # noqa: BLE001 - counted and shown: the run is then not valid
                errors.append(f"{type(exc).__name__}: {exc}")
                time.sleep(0.01)

    log = access.log
    batches = log.batches if isinstance(log, CountingLog) else []
    workers = [threading.Thread(target=reader, args=(n,), name=f"bench-reader-{n}") for n in range(threads)]
    for w in workers:
        w.start()
    try:
        time.sleep(warmup)
        size0, wall0, t0, b0 = log.size(), time.time(), time.perf_counter(), len(batches)
        time.sleep(seconds)
        size1, wall1, t1, b1 = log.size(), time.time(), time.perf_counter(), len(batches)
    finally:
        stop.set()
        for w in workers:
            w.join()
    window = Window(basis, threads, round_no, size1 - size0, t1 - t0, sum(refused), errors)
    window.batch = statistics.mean(batches[b0:b1]) if b1 > b0 else 0.0
    window.load = os.getloadavg()[0]
    measured = [(seq, at) for out in samples for seq, at in out if wall0 <= at <= wall1]
    # Wait (the anchorer keeps running) until every measured read is anchored.
    last = max((seq for seq, _ in measured), default=-1)
    deadline = time.monotonic() + 120
    while watch.covered() <= last and time.monotonic() < deadline:
        time.sleep(0.05)
    created = _checkpoint_times(ledger)
    sizes = [s for s, _, _ in created]
    for seq, at in measured:
        anchored = watch.anchored_at(seq)
        if anchored is not None:
            window.latencies.append(anchored - at)
        i = bisect.bisect_right(sizes, seq)
        if i < len(created):
            window.to_checkpoint.append(created[i][1] - at)
            window.recorded.append(created[i][2] - at)
    if len(window.latencies) < len(measured):
        window.errors.append(f"{len(measured) - len(window.latencies)} measured reads not anchored within 120 s")
    return window


def _checkpoint_times(ledger: Ledger) -> list[tuple[int, float, float]]:
    """(size, when sent, when recorded anchored) of anchored checkpoints, by size."""
    with ledger.store.session() as session:
        rows = session.execute(
            select(LogCheckpoint.size, LogCheckpoint.created_at, LogCheckpoint.anchored_at)
            .where(LogCheckpoint.status == "anchored", LogCheckpoint.anchored_at.is_not(None))
            .order_by(LogCheckpoint.size)
        ).all()
    return [(int(size), _wall(sent), _wall(anchored)) for size, sent, anchored in rows if anchored is not None]


@dataclass
class Gas:
    """The checkpoints sent during the reads: gas, events, and where their time went."""

    checkpoints: int
    gas: list[int]
    events: list[int]
    sent_to_anchored: list[float] = field(default_factory=list)  # created_at -> anchored_at (the anchorer's clock)
    poller_lag: list[float] = field(default_factory=list)  # anchored_at -> first seen by the poller

    @property
    def per_event(self) -> list[float]:
        return [g / e for g, e in zip(self.gas, self.events) if e]


def checkpoint_gas(ledger: Ledger, after_size: int, up_to: int, watch: AnchorWatch) -> Gas:
    """Gas and events of the anchored checkpoints with ``after_size < size <= up_to``."""
    with ledger.store.session() as session:
        rows = session.execute(
            select(
                LogCheckpoint.size, LogCheckpoint.prev_size, LogCheckpoint.created_at, LogCheckpoint.anchored_at,
                OutboxTx.gas_used, OutboxTx.purpose,
            )
            .join(OutboxTx, OutboxTx.tx_hash == LogCheckpoint.tx_hash)
            .where(LogCheckpoint.status == "anchored", LogCheckpoint.size > after_size, LogCheckpoint.size <= up_to)
            .order_by(LogCheckpoint.size)
        ).all()  # fmt: skip
    rows = [r for r in rows if r.purpose == "anchor.append" and r.gas_used is not None]
    gas = Gas(len(rows), [int(r.gas_used) for r in rows], [int(r.size - r.prev_size) for r in rows])
    seen = dict(zip(watch.sizes, watch.seen))
    for r in rows:
        if r.anchored_at is not None:
            anchored = _wall(r.anchored_at)
            gas.sent_to_anchored.append(anchored - _wall(r.created_at))
            if r.size in seen:
                gas.poller_lag.append(seen[r.size] - anchored)
    return gas


def _wall(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


@contextmanager
def anchoring(
    ledger: Ledger, world: World, watch: AnchorWatch, where: str = "thread", interval: float | None = None
) -> Iterator[None]:
    """An anchorer cycling every 0.1 s (in a background thread of this process, or in a
    ``gridledger worker`` process), and the poller."""
    if where == "process":
        with worker_process(ledger, interval):
            watch.loop.start()
            try:
                yield
            finally:
                watch.loop.stop()
        return
    anchorer = Anchorer(ledger, world.anchorer, interval=interval, report=lambda _m: None)

    def cycle() -> None:
        anchorer.cycle()

    loop = Loop("bench-anchorer", cycle, ANCHOR_TICK).start()
    watch.loop.start()
    try:
        yield
    finally:
        loop.stop()
        watch.loop.stop()
        if loop.failures:
            raise RuntimeError(f"the anchorer failed {len(loop.failures)} times, e.g. {loop.failures[:2]}")


@contextmanager
def worker_process(ledger: Ledger, interval: float | None = None) -> Iterator[subprocess.Popen[str]]:
    """``gridledger worker`` (sender, indexer and anchorer threads) in its own process."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "ledger.cli", "worker", "--interval", "0.5"],
        env={
            **os.environ,
            **_env(ledger.settings),
            "GRIDLEDGER_ANCHOR_INTERVAL": f"{ledger.settings.anchor_interval if interval is None else interval:g}",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert worker.stdout is not None
        worker.stdout.readline()  # "worker running ...": it is up
        threading.Thread(target=worker.stdout.read, daemon=True).start()  # keep the pipe drained
        yield worker
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


# -- 3: proofs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Proofs:
    size: int
    fresh_rate: float  # proofs/s, AccessLog.inclusion_proof with a new DB-backed tree per proof
    reused_rate: float  # proofs/s, the same with one DB-backed tree for all
    verify_rate: float  # verifications/s
    count: int
    lookup_rate: float = 0.0  # proofs/s, MerkleTree.inclusion_proof on a fresh tree: one lookup per subtree


def proofs(ledger: Ledger, count: int, seconds: float = 10.0) -> Proofs:
    log = AccessLog(ledger.store)
    anchored = log.anchored()
    assert anchored is not None
    size, root = anchored.size, bytes.fromhex(anchored.root[2:])
    rng = random.Random(3)
    seqs = [rng.randrange(size) for _ in range(count)]

    def timed(prove: Callable[[int], list[bytes]]) -> tuple[float, list[list[bytes]]]:
        made: list[list[bytes]] = []
        start = time.perf_counter()
        for seq in seqs:
            made.append(prove(seq))
            if time.perf_counter() - start > seconds:
                break
        return len(made) / (time.perf_counter() - start), made

    fresh_rate, made = timed(lambda seq: log.inclusion_proof(log.tree(), seq, size))
    shared = log.tree()
    reused_rate, _ = timed(lambda seq: log.inclusion_proof(shared, seq, size))
    lookup_rate, looked_up = timed(lambda seq: log.tree().inclusion_proof(seq, size))
    if looked_up != made[: len(looked_up)]:
        raise RuntimeError("AccessLog.inclusion_proof and MerkleTree.inclusion_proof disagree")
    leaves = {seq: log.leaf_hashes(seq, seq + 1)[0] for seq in seqs[: len(made)]}
    start = time.perf_counter()
    rounds = 0
    while time.perf_counter() - start < min(seconds, 3.0) or rounds == 0:
        for seq, proof in zip(seqs, made):
            verify_inclusion(seq, size, leaves[seq], proof, root)
        rounds += 1
    verify_rate = rounds * len(made) / (time.perf_counter() - start)
    return Proofs(size, fresh_rate, reused_rate, verify_rate, len(made), lookup_rate)


# -- 4: the audit over a big log --------------------------------------------------------------


def top_up_events(ledger: Ledger, world: World, total: int, say: Report) -> tuple[int, float]:
    """Appends realistic events until the log holds ``total``: officers' reads under the
    residents' real grants (85 %), committee reviews (8 %), emergencies (2 %), refusals
    (5 %). Returns (events appended, seconds)."""
    log = ledger.log  # appending seals every leaf: the ledger's log has the sealer
    missing = total - log.size()
    if missing <= 0:
        return 0, 0.0
    with ledger.store.session() as session:
        grants: dict[str, list[tuple[str, int]]] = {}
        for gid, resident, purpose in session.execute(
            select(ChainGrant.grant_id, ChainGrant.resident, ChainGrant.purpose).where(ChainGrant.status == "active")
        ):
            grants.setdefault(resident, []).append((gid, purpose))
        committee_members = list(
            session.scalars(select(Member.address).where(Member.org_id == world.committee, Member.role != "resident"))
        )
    rng = random.Random(4)
    pairs = list(zip(world.residents, world.records))
    appended = 0
    began = time.perf_counter()
    while appended < missing:
        block = int(ledger.w3.eth.block_number)
        drafts: list[Draft] = []
        for _ in range(min(MAX_BATCH, missing - appended - len(drafts))):
            resident, record = rng.choice(pairs)
            officer = rng.choice(world.officers)
            kind = rng.random()
            common: dict[str, Any] = dict(action="read", resident=resident, time=now_ms(), record_id=record,
                                          category="health")  # fmt: skip
            if kind < 0.85:
                gid, purpose = rng.choice(grants[resident])
                drafts.append(Draft(outcome="allowed", accessor=officer, organisation=world.department, basis="grant",
                                    grant_id=gid, purpose=purpose, block=block, **common))  # fmt: skip
            elif kind < 0.93:
                drafts.append(Draft(outcome="allowed", accessor=rng.choice(committee_members),
                                    organisation=world.committee, basis="duty", purpose=int(Purpose.RECORD_REVIEW),
                                    **common))  # fmt: skip
            elif kind < 0.95:
                drafts.append(Draft(outcome="allowed", accessor=officer, organisation=world.department,
                                    basis="emergency", purpose=int(Purpose.EMERGENCY_RESPONSE),
                                    justification="老人昏倒，急救需要过敏史 collapsed, allergies needed", **common))  # fmt: skip
            elif kind < 0.975:  # an officer trying a duty read
                drafts.append(Draft(outcome="refused", reason=Refusal.NO_DUTY, accessor=officer,
                                    organisation=world.department, basis="duty", **common))  # fmt: skip
            else:  # a committee member trying a grant read
                drafts.append(Draft(outcome="refused", reason=Refusal.NOT_AUTHORISED, accessor=rng.choice(committee_members),
                                    organisation=world.committee, basis="grant", **common))  # fmt: skip
        log.append(drafts)
        appended += len(drafts)
        if appended % 100_000 < MAX_BATCH:
            say(f"events: {appended:,} of {missing:,} appended ({appended / (time.perf_counter() - began):,.0f}/s)")
    return appended, time.perf_counter() - began


@dataclass
class AuditTimes:
    events: int
    grants: int
    with_integrity: list[float]
    without_integrity: list[float]
    parts: dict[str, float]  # the integrity checks timed on their own
    findings: dict[str, int]
    integrity_ok: bool


def audit_times(ledger: Ledger, rounds: int, say: Report) -> AuditTimes:
    from ledger import audit
    from ledger.verify import PARTS, verify

    full: list[float] = []
    plain: list[float] = []
    result = None
    for r in range(rounds):  # alternate, so drift in the machine's load hits both
        result = audit.run(ledger, integrity=True)
        full.append(result.seconds)
        light = audit.run(ledger, integrity=False)
        plain.append(light.seconds)
        say(f"audit round {r + 1}/{rounds}: {result.seconds:.1f} s with integrity, {light.seconds:.1f} s without")
    assert result is not None
    parts: dict[str, float] = {}
    start = time.perf_counter()
    ledger.indexer().fetch_all()
    parts["chain events read once (Indexer.fetch_all)"] = time.perf_counter() - start
    for name in PARTS:
        parts[f"verify {name}"] = verify(ledger, (name,)).seconds
    return AuditTimes(
        events=result.events, grants=_grant_count(ledger), with_integrity=full, without_integrity=plain,
        parts=parts, findings=dict(result.counts()), integrity_ok=result.integrity is not None and result.integrity.ok,
    )  # fmt: skip


# -- the run ----------------------------------------------------------------------------------


@dataclass
class Options:
    residents: int = 200
    threads: tuple[int, ...] = (8, 32, 64)
    bases: tuple[str, ...] = ("grant", "duty")
    seconds: float = 20.0
    warmup: float = 5.0
    rounds: int = 3
    events: int = 1_000_000
    grants: int = 100_000
    grant_threads: int = 2
    grant_path: str = "direct"  # direct | consent
    audit_rounds: int = 1
    proofs: int = 20_000
    anchorer: str = "thread"  # thread | process
    anchor_interval: float = 1.0  # seconds (GRIDLEDGER_ANCHOR_INTERVAL; the default is 1)
    parts: tuple[str, ...] = ("reads", "audit")
    write_docs: bool = True


@dataclass
class Results:
    options: Options
    windows: list[Window] = field(default_factory=list)
    gas: Gas | None = None
    proofs: Proofs | None = None
    audit: AuditTimes | None = None
    setup: dict[str, float] = field(default_factory=dict)  # step -> seconds
    anchor_failures: list[str] = field(default_factory=list)
    total_seconds: float = 0.0
    commit: str = ""  # the code measured: taken at the start (the library is imported by then)


def run(options: Options, console: Console | None = None) -> Results:
    console = console or Console()

    def say(message: str) -> None:
        console.print(f"{datetime.now():%H:%M:%S} {message}", markup=False, highlight=False, soft_wrap=True)

    results = Results(options, commit=_commit())
    began = time.perf_counter()
    with private_chain("gridledger-bench-log-", deployed=False) as ledger:
        _run(ledger, options, results, say)
    results.total_seconds = time.perf_counter() - began
    if _commit() != results.commit:
        say(f"the code changed during the run: measured {results.commit}, now {_commit()}")
    section = report(results)
    console.print(section, markup=False, highlight=False, soft_wrap=True)
    if options.write_docs:
        write_docs(section)
        say(f"written to {DOC}")
    return results


def _run(ledger: Ledger, options: Options, results: Results, say: Report) -> None:
    step = time.perf_counter()
    world = build_world(ledger, options.residents, say)
    results.setup["world"] = time.perf_counter() - step

    # 1, 2 and 5: reads with the anchorer running.
    access = Access(ledger, CountingLog(ledger.store, ledger.sealer))
    watch = AnchorWatch(ledger)
    first_size = access.log.size()
    with anchoring(ledger, world, watch, options.anchorer, options.anchor_interval):
        for r in range(1, options.rounds + 1 if "reads" in options.parts else 1):
            for threads in options.threads:
                for basis in options.bases:
                    window = read_window(
                        ledger, access, world, watch, basis=basis, threads=threads,
                        seconds=options.seconds, warmup=options.warmup, round_no=r,
                    )  # fmt: skip
                    results.windows.append(window)
                    lat = _percentiles(window.latencies)
                    say(
                        f"round {r}/{options.rounds}, {basis}, {threads} threads: {window.rate:,.0f} events/s "
                        f"(group commits of {window.batch:.1f}); append→anchored p50 {lat[0]:.2f} s, p95 {lat[1]:.2f} s; "
                        f"load {window.load:.1f}"
                        + (f"; {window.refused} refused" if window.refused else "")
                        + (f"; ERRORS {len(window.errors)}: {window.errors[:2]}" if window.errors else "")
                    )
    last_size = watch.covered()
    results.gas = checkpoint_gas(ledger, first_size, last_size, watch)
    if "audit" not in options.parts:
        return

    # 4: the audit's data: grants on chain, events in the log, all anchored.
    step = time.perf_counter()
    missing = options.grants - _grant_count(ledger)
    if missing > 0:
        labels = [f"bench-resident-{i}" for i in range(options.residents)]
        if options.grant_path == "consent":
            issue_grants(ledger, labels, missing, say, threads=options.grant_threads)
        else:
            enqueue_grants(ledger, labels, missing, say)
    results.setup["grants"] = time.perf_counter() - step
    say(f"grants: {_grant_count(ledger):,} on chain ({results.setup['grants']:.0f} s)")
    appended, seconds = top_up_events(ledger, world, options.events, say)
    results.setup["events"] = seconds
    step = time.perf_counter()
    Anchorer(ledger, world.anchorer, report=say).run_until_anchored(timeout=1_800)
    results.setup["anchor"] = time.perf_counter() - step
    say(f"events: {appended:,} appended in {seconds:.0f} s, anchored in {results.setup['anchor']:.0f} s")

    results.proofs = proofs(ledger, options.proofs)
    say(
        f"proofs at size {results.proofs.size:,}: {results.proofs.fresh_rate:,.0f}/s (fresh tree), "
        f"{results.proofs.reused_rate:,.0f}/s (one tree); verify {results.proofs.verify_rate:,.0f}/s"
    )
    results.audit = audit_times(ledger, options.audit_rounds, say)


# -- the report -------------------------------------------------------------------------------


def _percentiles(values: Sequence[float], points: Sequence[int] = (50, 95)) -> tuple[float, ...]:
    """The given percentiles (default p50, p95) of ``values``; NaN when there are none."""
    if len(values) < 2:
        return tuple(values[0] if values else float("nan") for _ in points)
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return tuple(statistics.median(values) if p == 50 else cuts[p - 1] for p in points)


def _commit(paths: Sequence[str] = ("ledger", "node", "scripts/bench"), own: str = "scripts/bench/log.py") -> str:
    """The commit measured, and whether the code under ``paths`` (but the benchmark ``own``) differed from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", *paths], cwd=PROJECT_ROOT, capture_output=True, text=True
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "an unknown commit"
    others = [line[3:] for line in changed if not line.endswith(own)]
    return f"commit {head}" + (f" (with uncommitted changes to {', '.join(others)})" if others else "")


class _Loaded(Protocol):
    load: float


def _load_range(windows: Sequence[_Loaded]) -> str:
    loads = [w.load for w in windows]
    return f"{min(loads):.1f}–{max(loads):.1f}" if loads else "unknown"


def _fmt_rates(windows: Sequence[Window]) -> str:
    rates = [w.rate for w in windows]
    return f"**{statistics.median(rates):,.0f}** ({', '.join(f'{r:,.0f}' for r in rates)})"


def report(results: Results) -> str:
    o = results.options
    lines = [
        BEGIN,
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"SQLite (WAL, full sync), Anvil with 1 s interval mining; anchor interval {o.anchor_interval:g} s, anchorer cycling every "
        f"0.1 s {'in a thread of the same process' if o.anchorer == 'thread' else 'in a gridledger worker process'}; "
        f"{o.residents} residents with one certified record and one active "
        f"grant each; {o.rounds} rounds of {o.seconds:g} s after {o.warmup:g} s of warm-up per row, thread counts "
        f"and bases alternating; code at {results.commit}; the machine's 1-minute load average at the end of the "
        f"windows {_load_range(results.windows)} (other work shares it); whole run {results.total_seconds / 60:.0f} min.",
        "",
        "| reads (`Access.read`) | threads | events/s: median (rounds) | events per group commit | "
        "append → anchored (poller) p50 | p95 | append → anchored (`anchored_at`) p95 | read → checkpoint sent p50 |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    all_latencies: list[float] = []
    all_recorded: list[float] = []
    problems: list[str] = []
    for basis in o.bases:
        for threads in o.threads:
            windows = [w for w in results.windows if w.basis == basis and w.threads == threads]
            if not windows:
                continue
            latencies = [x for w in windows for x in w.latencies]
            waits = [x for w in windows for x in w.to_checkpoint]
            all_latencies += latencies
            all_recorded += [x for w in windows for x in w.recorded]
            p50, p95 = _percentiles(latencies)
            recorded95 = _percentiles([x for w in windows for x in w.recorded])[1]
            what = "grant (department officer)" if basis == "grant" else "duty (committee member)"
            lines.append(
                f"| {what} | {threads} | {_fmt_rates(windows)} | {statistics.mean(w.batch for w in windows):.1f} "
                f"| {p50:.2f} s | {p95:.2f} s | {recorded95:.2f} s "
                f"| {statistics.median(waits) if waits else float('nan'):.2f} s |"
            )
            for w in windows:
                if w.errors or w.refused:
                    problems.append(f"{basis}/{threads}/round {w.round}: {w.refused} refused, {w.errors[:2]}")
    p50, p95 = _percentiles(all_latencies)
    grant = [w.rate for w in results.windows if w.basis == "grant"]
    duty = [w.rate for w in results.windows if w.basis == "duty"]
    if grant and duty:
        lines += [
            "",
            f"Grant reads run at {statistics.median(grant) / statistics.median(duty):.0%} of duty reads (medians over "
            "all thread counts): the difference is the cost of the grant check (the candidates' query and "
            "`ConsentRegistry.isActive`).",
        ]
    lines += [
        "",
        f"Append → anchored over all {len(all_latencies):,} measured reads: p50 **{p50:.2f} s**, p95 **{p95:.2f} s** "
        "(from `read` returning to a poller, every 20 ms, seeing a checkpoint with size > seq anchored); by the "
        f"anchorer's own record of the moment (`LogCheckpoint.anchored_at`) p50 {_percentiles(all_recorded)[0]:.2f} s, "
        f"p95 {_percentiles(all_recorded)[1]:.2f} s. An event waits for the next checkpoint (sent every "
        f"`GRIDLEDGER_ANCHOR_INTERVAL`, here {o.anchor_interval:g} s) and then for the block that mines it (1 s "
        f"blocks), so even an idle machine puts p95 near {o.anchor_interval + 1:g} s.",
    ]
    if problems:
        lines += ["", "Problems during the reads: " + "; ".join(problems)]
    gas = results.gas
    if gas and gas.gas:
        lines += [
            "",
            f"Gas of the {gas.checkpoints} checkpoints sent during the reads (`anchor.append`, whole transaction): "
            f"median **{statistics.median(gas.gas):,.0f}** gas per checkpoint, median "
            f"{statistics.median(gas.events):,.0f} events per checkpoint, median **{statistics.median(gas.per_event):,.1f}** "
            f"gas per event (total {sum(gas.gas) / max(1, sum(gas.events)):,.1f} gas per event over "
            f"{sum(gas.events):,} events).",
        ]
        if gas.sent_to_anchored:
            sent, lag = _percentiles(gas.sent_to_anchored), _percentiles(gas.poller_lag or [0.0])
            lines += [
                "",
                f"Where a checkpoint's time goes: sent → recorded anchored by the anchorer p50 {sent[0]:.2f} s, "
                f"p95 {sent[1]:.2f} s (1 s blocks); recorded → seen by the 20 ms poller p50 {lag[0]:.2f} s, "
                f"p95 {lag[1]:.2f} s.",
            ]
    pr = results.proofs
    if pr:
        lines += [
            "",
            "| proofs at anchored size " + f"{pr.size:,}" + " | per second |",
            "|---|---:|",
            f"| `AccessLog.inclusion_proof`, a fresh `AccessLog.tree()` per proof (a proof request) "
            f"| **{pr.fresh_rate:,.0f}** |",
            f"| `AccessLog.inclusion_proof`, one `AccessLog.tree()` reused (a bundle) | **{pr.reused_rate:,.0f}** |",
            f"| `AccessLog.tree().inclusion_proof` (one lookup per subtree), fresh tree | {pr.lookup_rate:,.0f} |",
            f"| `merkle.verify_inclusion` | **{pr.verify_rate:,.0f}** |",
        ]
    au = results.audit
    if au:
        lines += [
            "",
            f"| `audit.run` over {au.events:,} events and {au.grants:,} grants | seconds (rounds) |",
            "|---|---:|",
            f"| with integrity (log against the chain's checkpoints, records, grants) | "
            f"**{statistics.median(au.with_integrity):.1f}** ({', '.join(f'{s:.1f}' for s in au.with_integrity)}) |",
            f"| without integrity (access findings only) | **{statistics.median(au.without_integrity):.1f}** "
            f"({', '.join(f'{s:.1f}' for s in au.without_integrity)}) |",
        ]
        for name, seconds in au.parts.items():
            lines.append(f"| of the integrity part, alone: {name} | {seconds:.1f} |")
        kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(au.findings.items())) or "none"
        lines += ["", f"Audit findings: {kinds}; integrity {'intact' if au.integrity_ok else 'NOT intact'}."]
    setup = results.setup
    lines += [
        "",
        "Setup (not measured above): world "
        + f"{setup.get('world', 0):.0f} s, grants {setup.get('grants', 0):.0f} s ("
        + ("one `Consent.issue` each" if o.grant_path == "consent" else "signed and stored 500 to a transaction")
        + ", sent through the outbox, mined and indexed), events appended in "
        + f"{setup.get('events', 0):.0f} s (`AccessLog.append`, batches of {MAX_BATCH:,}), anchored in "
        + f"{setup.get('anchor', 0):.0f} s.",
        "",
        f"Goals: ≥ 20,000 events/s; append → anchored p95 ≤ 2 s; audit of 1,000,000 events and 100,000 grants ≤ 60 s. "
        f"Re-run: `.venv/bin/python scripts/bench_log.py --events {o.events} --grants {o.grants} "
        f"--seconds {o.seconds:g}`.",
        END,
    ]
    return "\n".join(lines)


def write_docs(section: str, begin: str = BEGIN, end: str = END, heading: str = SECTION) -> None:
    """Replaces the text between ``begin`` and ``end`` in docs/benchmarks.md with
    ``section`` (which carries the markers), or appends it under ``heading``."""
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + section + tail
    else:
        text = text.rstrip() + f"\n\n{heading}\n\n" + section + "\n"
    DOC.write_text(text, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> Results:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--residents", type=int, default=200, help="residents, each with a record and a grant")
    parser.add_argument("--threads", default="8,32,64", help="reader thread counts, comma-separated")
    parser.add_argument("--bases", default="grant,duty", help="read bases to measure, comma-separated")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per window")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of warm-up per window")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the log for the audit")
    parser.add_argument("--grants", type=int, default=100_000, help="grants on chain for the audit")
    parser.add_argument(
        "--grant-path", choices=("direct", "consent"), default="direct",
        help="the audit's grants: signed and stored in batches (direct) or one Consent.issue each (consent)",
    )  # fmt: skip
    parser.add_argument("--grant-threads", type=int, default=2, help="threads issuing grants on the consent path")
    parser.add_argument("--audit-rounds", type=int, default=1)
    parser.add_argument("--proofs", type=int, default=20_000, help="at most this many proofs (10 s per kind)")
    parser.add_argument(
        "--anchorer", choices=("thread", "process"), default="thread",
        help="anchor from a thread of this process (as ledger/worker.py runs it) or a gridledger worker process",
    )  # fmt: skip
    parser.add_argument("--anchor-interval", type=float, default=1.0, help="seconds between checkpoints")
    parser.add_argument("--parts", default="reads,audit", help="what to run: reads (1, 2, 5), audit (3, 4)")
    parser.add_argument("--no-write-docs", dest="write_docs", action="store_false")
    args = parser.parse_args(argv)
    options = Options(
        residents=args.residents,
        threads=tuple(int(t) for t in args.threads.split(",") if t.strip()),
        bases=tuple(b.strip() for b in args.bases.split(",") if b.strip()),
        seconds=args.seconds,
        warmup=args.warmup,
        rounds=args.rounds,
        events=args.events,
        grants=args.grants,
        grant_threads=args.grant_threads,
        grant_path=args.grant_path,
        audit_rounds=args.audit_rounds,
        proofs=args.proofs,
        anchorer=args.anchorer,
        anchor_interval=args.anchor_interval,
        parts=tuple(p.strip() for p in args.parts.split(",") if p.strip()),
        write_docs=args.write_docs,
    )
    return run(options)
