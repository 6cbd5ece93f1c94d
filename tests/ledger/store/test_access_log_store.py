"""The access log's tables on SQLite and PostgreSQL: two independent appenders (as two
processes would be, each with its own engine and group commit) never collide, number
the log and each resident without gaps, and the stored subtrees give the same root."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import select

from ledger.accesslog import AccessLog, Draft, _per_resident
from ledger.merkle import MerkleTree
from ledger.seal import Sealer
from ledger.store import Store, make_engine, migrate
from ledger.store.models import AccessEvent

RESIDENTS = ["0x" + f"{i:040x}" for i in range(1, 5)]


def _draft(i: int) -> Draft:
    return Draft(action="read", outcome="allowed", resident=RESIDENTS[i % 4], accessor="0x" + "ab" * 20,
                 time=1_763_700_000_000 + i, basis="duty", category="health")  # fmt: skip


def test_two_appenders_number_the_log_without_gaps_and_hash_it(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate(engine)
    stores = [Store(engine), Store(make_engine(db_url))]
    sealer = Sealer.from_password("test-password")
    logs = [AccessLog(s, sealer) for s in stores]
    errors: list[BaseException] = []

    def append(log: AccessLog, worker: int) -> None:
        try:
            for i in range(25):
                log.record(_draft(worker * 1000 + i))
            log.append([_draft(worker * 1000 + 100 + i) for i in range(10)])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(logs[w % 2], w)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        log = logs[0]
        assert log.size() == 6 * 35
        with stores[0].session() as session:
            seqs = list(session.scalars(select(AccessEvent.seq).order_by(AccessEvent.seq)))
            assert seqs == list(range(6 * 35))
            for resident in RESIDENTS:
                numbers = sorted(
                    session.scalars(select(AccessEvent.resident_seq).where(AccessEvent.resident == resident))
                )
                assert numbers == list(range(len(numbers)))
        assert log.extend() == 6 * 35
        memory = MerkleTree.of(log.leaf_hashes(0, 6 * 35))
        assert log.tree().root(6 * 35) == memory.root()
        assert log.tree().inclusion_proof(77, 200) == memory.inclusion_proof(77, 200)
        assert log.inclusion_proof(log.tree(), 77, 200) == memory.inclusion_proof(77, 200)  # bulk-fetched
    finally:
        for store in stores:
            store.close()


def test_finding_a_residents_next_number_costs_the_same_however_many_events_they_have(tmp_path: Path) -> None:
    """The statement an append numbers a resident's next event with seeks the (resident,
    resident_seq) index: the SQLite VM steps it takes do not grow with the resident's events. A
    ``GROUP BY`` over them did, and made each read of a much-read resident dearer than the last."""
    engine = make_engine(f"sqlite:///{tmp_path / 'log.db'}")
    migrate(engine)
    store = Store(engine)
    log = AccessLog(store, Sealer.from_password("test-password"))
    numbering = _per_resident("max(resident_seq)", 2)
    asked = (RESIDENTS[0], RESIDENTS[1])  # the second has no event: its answer is NULL

    def steps() -> tuple[int, list[tuple[str, int | None]]]:
        counted = 0

        def tick() -> int:
            nonlocal counted
            counted += 1
            return 0  # go on

        with store.driver() as connection:
            connection.set_progress_handler(tick, 1)  # called at every VM instruction
            try:
                cursor = connection.cursor()
                cursor.execute(numbering, asked)
                found = cursor.fetchall()
                cursor.close()
            finally:
                connection.set_progress_handler(None, 1)
        return counted, found

    try:
        log.append([_draft(4 * i) for i in range(10)])  # every 4th draft is RESIDENTS[0]'s
        few, found = steps()
        assert found == [(RESIDENTS[0], 9), (RESIDENTS[1], None)]
        log.append([_draft(4 * i) for i in range(10, 3_000)])
        many, found = steps()
        assert found == [(RESIDENTS[0], 2_999), (RESIDENTS[1], None)]
        assert many == few, (few, many)
    finally:
        store.close()
        engine.dispose()
