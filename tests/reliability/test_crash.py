"""The crash campaign: a bounded, seeded load through the real services with ``kill -9``
of the node (three times, once within a second of an acknowledged write), of the worker
and of a web worker; afterwards nothing acknowledged is lost or doubled.

The load: record writes through the library (the API has none), grants through the API
(a resident's token) and logged reads through the API (a department officer's token),
against a node of the test's own (the keeper and Anvil), a real worker process and a
real gunicorn with two workers. The test is the supervisor: it restarts what it killed.

What must hold afterwards:

* every acknowledged write (the call returned, the HTTP answer was 201) is on chain
  exactly once, with the very hash the outbox stored, and indexed in the database;
  every sender's chain nonce equals the transactions the outbox signed for it; no row is
  left in conflict or unsent;
* every acknowledged read (HTTP 200 with content) has its own log entry, under the seq
  it was answered with, and the chain's checkpoint covers it;
* after each restart of the node, everything appended before it is anchored within 10 s;
* ``verify all`` is clean.

A failure names its seed; ``GRIDLEDGER_CRASH_SEED=<seed>`` replays the same schedule.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from ledger.anchoring import designate_anchorer
from ledger.categories import Category
from ledger.consent import Consent, LegalBasis, Purpose
from ledger.context import Ledger
from ledger.errors import LedgerError
from ledger.membership import DepartmentKind, Role
from ledger.organisations import Organisations
from ledger.records import Records
from ledger.settings import Settings
from ledger.store.models import AccessEvent, ChainGrant, ChainRecordVersion, GrantTerms, OutboxTx, Record
from ledger.verify import verify
from node.deploy import deploy
from node.keeper import inconsistencies
from node.local import LocalNode, state_file
from webapp.users import create_token

from ..conftest import free_port, make_settings
from .databases import BACKENDS, empty_database

pytestmark = [pytest.mark.chain, pytest.mark.slow]

HEALTH = {"blood_type": "A", "chronic_conditions": [], "allergies": [], "family_doctor": "王医生"}
PROPERTY = {"certificate_number": "京2024000123", "address": "碧湖路 1 号 3 单元", "area_m2": 88.5}
RESIDENTS = 4
LOAD_SECONDS = 36.0
#: When the node is killed (seconds into the load), and how long it stays down.
NODE_KILLS = ((5.0, 9.0), (15.0, 19.0), (25.0, 29.0))
WORKER_KILL = (11.0, 13.0)
WEB_KILL = (21.0, 23.0)
REANCHOR_LIMIT = 10.0


@dataclass
class Installation:
    settings: Settings
    env: dict[str, str]
    node: LocalNode
    records: list[str]  # certified, one per resident, each under a grant below
    grants: list[str]
    officer_token: str
    resident_tokens: list[str]
    residents: list[str]


@dataclass
class Tally:
    """What the load was told was done (acknowledged) and what it saw."""

    writes: list[str] = field(default_factory=list)  # transaction hashes of acknowledged writes
    records: list[str] = field(default_factory=list)
    grants: list[str] = field(default_factory=list)
    reads: list[tuple[int, str]] = field(default_factory=list)  # (seq, record id)
    refused: int = 0
    last_ack: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ack(self) -> None:
        self.last_ack = time.monotonic()


@contextlib.contextmanager
def _install(tmp_path: Path, url: str) -> Iterator[Installation]:
    settings = make_settings(tmp_path / "var", free_port(), DATABASE_URL=url)
    env = dict(
        os.environ, PYTHONUNBUFFERED="1", GRIDLEDGER_VAR=str(settings.var_dir), DATABASE_URL=url,
        GRIDLEDGER_NODE_PORT=str(settings.node_port), GRIDLEDGER_KEY_PASSWORD="test-password",
        GRIDLEDGER_KDF_WORK=str(settings.kdf_work), GRIDLEDGER_BLOCK_TIME=str(settings.block_time),
        GRIDLEDGER_STATE_INTERVAL=str(settings.state_interval),
    )  # fmt: skip
    node = LocalNode(settings)
    node.start()
    ledger = Ledger.open(settings, upgrade=True)
    try:
        deploy(ledger)
        orgs = Organisations(ledger)
        orgs.create_office("office-c", "Crash Office", "c-admin")
        orgs.create_committee("cmte-c", "Crash Committee", "office-c", ["c-m1"], 1)
        orgs.create_department("dept-c", "Health C", "office-c", DepartmentKind.HEALTH)
        orgs.add_member("c-grid", "cmte-c", Role.GRID_WORKER)
        orgs.add_member("c-officer", "dept-c", Role.DEPARTMENT_OFFICER)
        residents = [f"c-res-{i}" for i in range(RESIDENTS)]
        for resident in residents:
            orgs.add_member(resident, "cmte-c", Role.RESIDENT, actor="c-grid")
        designate_anchorer(ledger, "office-c", "c-admin")
        records, consent = Records(ledger), Consent(ledger)
        record_ids, grant_ids = [], []
        until = int(time.time()) + 365 * 86_400
        for resident in residents:
            record, _ = records.add(actor="c-grid", subject=resident, category=Category.HEALTH, content=HEALTH)
            records.sign(record, signer="c-m1")
            grant, _ = consent.issue(resident=resident, department="dept-c", categories=[Category.HEALTH],
                                     purpose=Purpose.HEALTH_MANAGEMENT, legal_basis=LegalBasis.CONSENT,
                                     valid_until=until)  # fmt: skip
            record_ids.append(record)
            grant_ids.append(grant)
        ledger.indexer().run_once()
        officer = create_token(ledger, "c-officer", "crash load").token
        resident_tokens = [create_token(ledger, r, "crash load").token for r in residents]
    finally:
        ledger.close()
    try:
        yield Installation(settings, env, node, record_ids, grant_ids, officer, resident_tokens, residents)
    finally:
        node.stop()


class Services:
    """The worker and the web app as real processes, killed and restarted on demand."""

    def __init__(self, inst: Installation, logs: Path) -> None:
        self.inst = inst
        self.logs = logs
        logs.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.worker: subprocess.Popen[bytes] | None = None
        self.web: subprocess.Popen[bytes] | None = None

    def _start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        out = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it
        return subprocess.Popen([sys.executable, "-m", "ledger.cli", *args], env=self.inst.env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip

    def start_worker(self) -> None:
        self.worker = self._start("worker", "worker", "--interval", "0.2")

    def start_web(self) -> None:
        self.web = self._start("web", "serve", "--port", str(self.port), "--workers", "2", "--threads", "4")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/api/v1/ping", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.2)
        raise AssertionError("the web app did not answer: " + (self.logs / "web.log").read_text()[-2000:])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def web_workers(self) -> list[int]:
        assert self.web is not None
        found = subprocess.run(["pgrep", "-P", str(self.web.pid)], capture_output=True, text=True).stdout.split()
        return [int(p) for p in found]

    def stop(self) -> None:
        for process in (self.web, self.worker):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()

    def tail(self, name: str) -> str:
        """The log's end, after the start of each of its last errors (a database error's own
        line ends in a dump of its parameters that would fill the end alone)."""
        text = (self.logs / f"{name}.log").read_text(errors="replace")
        errors = [line[:400] for line in text.splitlines() if "Error" in line or "error" in line][-8:]
        return "errors, each cut at 400 characters:\n" + "\n".join(errors) + "\nthe end:\n" + text[-3000:]


class Load:
    """Three seeded streams until stopped: record writes, grants, logged reads."""

    def __init__(self, inst: Installation, url: str, rng: random.Random) -> None:
        self.inst = inst
        self.url = url
        self.tally = Tally()
        self.stop = threading.Event()
        self.seeds = [rng.randrange(2**32) for _ in range(3)]
        self.threads = [
            threading.Thread(target=self._loop, args=(self._write, self.seeds[0]), daemon=True),
            threading.Thread(target=self._loop, args=(self._grant, self.seeds[1]), daemon=True),
            threading.Thread(target=self._loop, args=(self._read, self.seeds[2]), daemon=True),
        ]
        self.errors: list[str] = []

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def _loop(self, step: Callable[[random.Random, Any], None], seed: int) -> None:
        rng = random.Random(seed)
        http = requests.Session()
        http.trust_env = False
        ledger = Ledger.open(self.inst.settings)
        try:
            context = (ledger, http)
            while not self.stop.is_set():
                try:
                    step(rng, context)
                except (LedgerError, requests.RequestException, OSError):
                    pass  # not acknowledged: the node or a service is down; try again
                except Exception as exc:  # noqa: BLE001 - reported at the end, with the seed
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                self.stop.wait(rng.uniform(0.05, 0.25))
        finally:
            ledger.close()

    def _write(self, rng: random.Random, context: Any) -> None:
        ledger, _http = context
        resident = rng.choice(self.inst.residents)
        content = {**PROPERTY, "area_m2": rng.randint(20, 200)}  # a category that allows several a resident
        record, tx = Records(ledger, wait=False).add(actor="c-grid", subject=resident, category=Category.PROPERTY,
                                                      content=content)  # fmt: skip
        with self.tally.lock:
            self.tally.records.append(record)
            self.tally.writes.append(tx)
            self.tally.ack()

    def _grant(self, rng: random.Random, context: Any) -> None:
        _ledger, http = context
        token = rng.choice(self.inst.resident_tokens)
        until = (date.today() + timedelta(days=rng.randint(30, 300))).isoformat()
        answer = http.post(f"{self.url}/api/v1/resident/grants", timeout=15, headers={"Authorization": f"Bearer {token}"},
                           json={"department": "dept-c", "categories": ["health"], "purpose": "health-management",
                                 "validUntil": until})  # fmt: skip
        if answer.status_code == 201:
            with self.tally.lock:
                self.tally.grants.append(answer.json()["grantId"])
                self.tally.ack()

    def _read(self, rng: random.Random, context: Any) -> None:
        _ledger, http = context
        which = rng.randrange(len(self.inst.records))
        record, grant = self.inst.records[which], self.inst.grants[which]
        answer = http.post(f"{self.url}/api/v1/department/records/{record}/read", timeout=15,
                           headers={"Authorization": f"Bearer {self.inst.officer_token}"},
                           json={"grantId": grant})  # fmt: skip
        if answer.status_code == 200:
            body = answer.json()
            assert body["content"]["family_doctor"] == HEALTH["family_doctor"]
            with self.tally.lock:
                self.tally.reads.append((int(body["access"]["seq"]), record))
        else:
            with self.tally.lock:
                self.tally.refused += 1


def _chain_checkpoint(ledger: Ledger) -> int:
    checkpoint, _count = ledger.contract("AccessLogAnchor").functions.latest().call()
    return int(checkpoint[0])


def _log_size(ledger: Ledger) -> int:
    with ledger.store.session() as db:
        return int(db.scalar(select(func.count()).select_from(AccessEvent)) or 0)


def _reanchor_time(inst: Installation, since: float, deadline: float) -> float | None:
    """Seconds from ``since`` until the chain's checkpoint covers the log as it stood then."""
    ledger = Ledger.open(inst.settings)
    try:
        target = _log_size(ledger)
        while time.monotonic() < deadline:
            try:
                if _chain_checkpoint(ledger) >= target:
                    return time.monotonic() - since
            except Exception:  # noqa: BLE001 - the node may still be starting
                pass
            time.sleep(0.1)
        return None
    finally:
        ledger.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_nothing_acknowledged_is_lost_across_kill_9(tmp_path: Path, backend: str, record_property: Any) -> None:
    seed = int(os.environ.get("GRIDLEDGER_CRASH_SEED") or random.randrange(2**32))
    record_property("seed", seed)
    try:
        with empty_database(backend, tmp_path) as url, _install(tmp_path, url) as inst:
            _campaign(inst, tmp_path, random.Random(seed), record_property)
    except BaseException as exc:
        raise AssertionError(f"crash campaign failed with seed {seed} (replay: GRIDLEDGER_CRASH_SEED={seed}): "
                             f"{type(exc).__name__}: {exc}") from exc  # fmt: skip


def _campaign(inst: Installation, tmp_path: Path, rng: random.Random, record_property: Any) -> None:
    services = Services(inst, tmp_path / "logs")
    services.start_worker()
    services.start_web()
    load = Load(inst, services.url, rng)
    schedule = [("node", rng.uniform(*window)) for window in NODE_KILLS]
    schedule += [("worker", rng.uniform(*WORKER_KILL)), ("web", rng.uniform(*WEB_KILL))]
    schedule.sort(key=lambda item: item[1])
    reanchor: list[float | None] = []
    started = time.monotonic()
    load.start()
    try:
        first_node = True
        for what, at in schedule:
            time.sleep(max(0.0, started + at - time.monotonic()))
            if what == "node":
                if first_node:  # within a second of an acknowledged write
                    first_node = False
                    acked = load.tally.last_ack
                    while load.tally.last_ack == acked:
                        time.sleep(0.01)
                    time.sleep(rng.uniform(0.1, 0.9))
                inst.node.kill()
                state = json.loads(state_file(inst.settings).read_text())
                assert not inconsistencies(state), "the node's persisted chain holds effects without their blocks"
                time.sleep(rng.uniform(0.5, 2.0))
                inst.node.start()
                back = time.monotonic()
                reanchor.append(_reanchor_time(inst, back, back + 30))
            elif what == "worker":
                assert services.worker is not None
                os.killpg(services.worker.pid, signal.SIGKILL)
                services.worker.wait()
                time.sleep(rng.uniform(0.5, 1.5))
                services.start_worker()
            else:
                victims = services.web_workers()
                assert victims, "gunicorn has no workers"
                os.kill(rng.choice(victims), signal.SIGKILL)  # the master starts another
        time.sleep(max(0.0, started + LOAD_SECONDS - time.monotonic()))
    finally:
        load.finish()
    tally = load.tally
    record_property("acknowledged_writes", len(tally.writes) + len(tally.grants))
    record_property("acknowledged_reads", len(tally.reads))
    record_property("reanchor_seconds", reanchor)
    print(f"crash campaign: {len(tally.writes)} record writes and {len(tally.grants)} grants acknowledged, "
          f"{len(tally.reads)} reads served ({tally.refused} refused), anchored again after each node restart in "
          + ", ".join("-" if r is None else f"{r:.1f} s" for r in reanchor))  # fmt: skip
    assert not load.errors, load.errors[:5]
    assert len(tally.writes) >= 20 and len(tally.grants) >= 10 and len(tally.reads) >= 20, (
        f"too little load to prove anything: {len(tally.writes)} writes, {len(tally.grants)} grants, "
        f"{len(tally.reads)} reads\n{services.tail('web')}"
    )
    for seconds in reanchor:
        assert seconds is not None and seconds <= REANCHOR_LIMIT, (reanchor, services.tail("worker"))

    ledger = Ledger.open(inst.settings)
    try:
        _drain(ledger, services, tally)
        _assert_nothing_lost(ledger, tally)
        report = verify(ledger, catch_up=True)
        assert report.exit_code == 0, ([f.json() for f in report.findings[:10]], report.problems)
    finally:
        ledger.close()
        services.stop()


def _drain(ledger: Ledger, services: Services, tally: Tally) -> None:
    """Waits until the worker has mined, indexed and anchored everything."""
    grant_txs: list[str] = []
    state = "nothing looked at yet"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        # The chain first, then the outbox: a checkpoint mined after the outbox was looked at
        # would make the log anchored while its row is still 'sent' (its receipt not yet recorded).
        checkpoint, size = _chain_checkpoint(ledger), _log_size(ledger)
        anchored = checkpoint >= size
        with ledger.store.session() as db:
            pending = db.scalar(
                select(func.count()).select_from(OutboxTx).where(OutboxTx.status.in_(("queued", "sent")))
            )
            grant_txs = list(db.scalars(select(GrantTerms.tx_hash).where(GrantTerms.grant_id.in_(tally.grants))))
            indexed = db.scalar(select(func.count()).select_from(ChainRecordVersion)
                                .where(ChainRecordVersion.record_id.in_(tally.records)))  # fmt: skip
            indexed_grants = db.scalar(select(func.count()).select_from(ChainGrant)
                                       .where(ChainGrant.grant_id.in_(tally.grants)))  # fmt: skip
        caught_up = indexed == len(tally.records) and indexed_grants == len(tally.grants)
        if not pending and caught_up and len(grant_txs) == len(tally.grants) and anchored:
            tally.writes.extend(grant_txs)
            return
        state = (f"outbox rows queued or sent {pending}; records indexed {indexed} of {len(tally.records)}; grants "
                 f"indexed {indexed_grants} of {len(tally.grants)}, with a transaction {len(grant_txs)}; log "
                 f"{size} events, the chain's checkpoint {checkpoint}")  # fmt: skip
        time.sleep(0.2)
    raise AssertionError(f"the worker did not catch up within 60 s: {state}\n{services.tail('worker')}")


def _assert_nothing_lost(ledger: Ledger, tally: Tally) -> None:
    w3 = ledger.w3
    with ledger.store.session() as db:
        rows = {r.tx_hash: r for r in db.scalars(select(OutboxTx).where(OutboxTx.tx_hash.in_(tally.writes)))}
        by_status = dict(db.execute(select(OutboxTx.status, func.count()).group_by(OutboxTx.status)).all())
        signed = dict(db.execute(select(OutboxTx.sender, func.count()).group_by(OutboxTx.sender)).all())
        logged = dict(db.execute(select(AccessEvent.seq, AccessEvent.record_id)).all())
        records = db.scalar(select(func.count()).select_from(Record).where(Record.record_id.in_(tally.records)))
    if set(by_status) - {"mined"}:  # say which: the worker kept running after the drain
        with ledger.store.session() as db:
            stray = [(r.id, r.sender, r.nonce, r.purpose, r.status, r.created_at, r.sent_at, r.send_count, r.block_number)
                     for r in db.scalars(select(OutboxTx).where(OutboxTx.status != "mined"))]  # fmt: skip
        raise AssertionError(f"outbox rows not mined: {by_status}: {stray}; head {w3.eth.block_number}")
    assert len(rows) == len(set(tally.writes)) == len(tally.writes), "an acknowledged write has no outbox row"
    for tx_hash, row in rows.items():
        receipt = w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        assert receipt["status"] == 1 and receipt["blockHash"].to_0x_hex() == row.block_hash, tx_hash
    for sender, count in signed.items():  # exactly once: no nonce skipped, none used twice
        assert w3.eth.get_transaction_count(sender) == count, sender
    assert records == len(tally.records)
    seqs = [seq for seq, _record in tally.reads]
    assert len(set(seqs)) == len(seqs), "two reads were answered with the same log entry"
    for seq, record in tally.reads:
        assert logged.get(seq) == record, f"read {seq} of {record} was served without its log entry"
    assert _chain_checkpoint(ledger) > max(seqs)
