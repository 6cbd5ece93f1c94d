"""The off-chain store on SQLite and PostgreSQL: migrations, durability settings,
and the outbox's nonce allocation inside the caller's transaction."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest
from eth_account import Account
from sqlalchemy import inspect, select, text

from ledger.errors import StoreError
from ledger.outbox import Call, Outbox
from ledger.store import Store, make_engine, migrate, require_current
from ledger.store.models import Base, NonceCursor, OrgProfile, OutboxTx

CALL = Call(to="0x000000000000000000000000000000000000dEaD", data=b"\x01\x02", gas=50_000, purpose="test.write")


def _store(db_url: str) -> Store:
    engine = make_engine(db_url)
    migrate(engine)
    return Store(engine)


def test_migrations_create_every_table(db_url: str) -> None:
    store = _store(db_url)
    try:
        tables = set(inspect(store.engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        assert "alembic_version" in tables
        require_current(store.engine)  # no complaint at head
        migrate(store.engine)  # idempotent
    finally:
        store.close()


def test_an_unmigrated_database_is_refused_with_advice(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with pytest.raises(StoreError, match="run 'gridledger init'"):
            require_current(engine)
    finally:
        engine.dispose()


def test_sqlite_runs_in_wal_mode_with_full_sync(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def _outbox(store: Store) -> Outbox:
    return Outbox(store, w3=None, decoder=None, chain_id=31337)  # type: ignore[arg-type]


def test_a_write_and_its_domain_change_commit_or_roll_back_together(db_url: str) -> None:
    store = _store(db_url)
    outbox = _outbox(store)
    signer = Account.create()
    try:
        with store.session() as session, session.begin():
            session.add(NonceCursor(sender=signer.address, next_nonce=7))
        with pytest.raises(RuntimeError), store.session() as session, session.begin():
            session.add(OrgProfile(org_id="0x" + "11" * 32, code="rolled-back", name_zh="某", name_en="x"))
            outbox.enqueue(session, signer, CALL)
            raise RuntimeError("domain change failed")
        with store.session() as session:
            assert session.scalars(select(OutboxTx)).all() == []
            assert session.get(OrgProfile, "0x" + "11" * 32) is None
            assert session.get(NonceCursor, signer.address).next_nonce == 7  # type: ignore[union-attr]

        with store.session() as session, session.begin():
            session.add(OrgProfile(org_id="0x" + "22" * 32, code="kept", name_zh="乙", name_en="y"))
            row = outbox.enqueue(session, signer, CALL)
        with store.session() as session:
            stored = session.scalars(select(OutboxTx)).one()
        assert (stored.nonce, stored.status, stored.tx_hash) == (7, "queued", row.tx_hash)
        # The stored bytes are a complete, signed transaction for our chain and nonce.
        decoded = Account.recover_transaction(stored.raw_tx)
        assert decoded == signer.address
    finally:
        store.close()


def test_concurrent_writers_get_distinct_consecutive_nonces(db_url: str) -> None:
    store = _store(db_url)
    outbox = _outbox(store)
    signer = Account.create()
    with store.session() as session, session.begin():
        session.add(NonceCursor(sender=signer.address, next_nonce=0))
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for _ in range(n):
                with store.session() as session, session.begin():
                    outbox.enqueue(session, signer, CALL)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(15,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        with store.session() as session:
            nonces = sorted(session.scalars(select(OutboxTx.nonce)))
        assert nonces == list(range(60))
    finally:
        store.close()


def test_enqueue_without_a_cursor_is_a_clear_error(db_url: str) -> None:
    store = _store(db_url)
    try:
        with (
            pytest.raises(StoreError, match=r"call Outbox.prepare\(\) first"),
            store.session() as session,
            session.begin(),
        ):
            _outbox(store).enqueue(session, Account.create(), CALL)
    finally:
        store.close()


def test_migrations_match_the_models(db_url: str) -> None:
    """A model changed without a migration (or the reverse) fails here."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    store = _store(db_url)
    try:
        with store.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    finally:
        store.close()


def test_serialised_writes_exclude_other_processes_stores_and_threads(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Two stores on one SQLite file stand for two web workers: while one holds the writer
    lock, the other waits for it (in flock, not in SQLite's sleeping busy handler)."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    first, second = _store(url), Store(make_engine(url))
    order: list[str] = []
    inside = threading.Event()
    try:
        with first.serialised_writes():
            order.append("first in")
            waiter = threading.Thread(target=lambda: _enter(second, order, inside))
            waiter.start()
            assert not inside.wait(0.3), "the second store got the lock while the first held it"
            order.append("first out")
        waiter.join(5)
        assert order == ["first in", "first out", "second in"]
        assert (tmp_path / "store.db.writer-lock").exists()
    finally:
        first.close()
        second.close()


def _enter(store: Store, order: list[str], inside: threading.Event) -> None:
    with store.serialised_writes():
        order.append("second in")
        inside.set()


def _idle(connection: Any) -> bool:
    """No transaction open on a driver connection (sqlite3 or psycopg)."""
    if hasattr(connection, "in_transaction"):
        return not connection.in_transaction
    return bool(connection.info.transaction_status == 0)  # psycopg's IDLE


def test_the_driver_path_keeps_one_connection_per_thread_and_leaves_no_transaction_open(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate(engine)
    store = Store(engine)
    size = store.driver_sql("SELECT size FROM log_head WHERE id = ?")
    try:
        with store.driver() as first:
            cursor = first.cursor()
            cursor.execute(size, (1,))
            assert cursor.fetchone() == (0,)
            cursor.close()
            with store.driver() as nested:  # a nested use: one of the pool's, not the one in use
                assert nested is not first
        assert _idle(first)  # the read's transaction, if any, is not left holding a snapshot
        with store.driver() as again:
            assert again is first
        others: list[Any] = []

        def use() -> None:
            with store.driver() as connection:
                others.append(connection)

        thread = threading.Thread(target=use)
        thread.start()
        thread.join()
        assert len(others) == 1 and others[0] is not first  # each thread its own

        with pytest.raises(engine.dialect.loaded_dbapi.Error), store.driver() as broken:
            broken.cursor().execute("SELECT * FROM no_such_table")
        with store.driver() as after_error:  # a driver error may have broken it: made afresh
            assert after_error is not first
            after_error.cursor().execute(size, (1,))
        assert _idle(after_error)

        with pytest.raises(StoreError), store.driver() as kept:  # the library's own errors keep it
            raise StoreError("not the driver's")
        with store.driver() as same:
            assert same is kept is after_error

        store.close()
        with store.driver() as reopened:  # a closed store's connections are not used again
            assert reopened is not after_error
            inside, closed = threading.Event(), threading.Event()
            seen: list[Any] = []

            def close_meanwhile() -> None:
                inside.wait()
                store.close()  # while this thread is using its connection
                closed.set()

            closer = threading.Thread(target=close_meanwhile)
            closer.start()
            inside.set()
            closed.wait()
            closer.join()
            cursor = reopened.cursor()  # still open: closing it is left to this thread
            cursor.execute(size, (1,))
            seen.append(cursor.fetchone())
            cursor.close()
        assert seen == [(0,)]
        with store.driver() as after_close:
            assert after_close is not reopened
    finally:
        store.close()
        engine.dispose()


def test_a_forked_process_makes_its_own_driver_connection(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate(engine)
    store = Store(engine)
    try:
        with store.driver() as parents:
            pass
        pid = os.fork()
        if pid == 0:  # the child: never the parent's connection, never closing it
            code = 1
            try:
                with store.driver() as childs:
                    cursor = childs.cursor()
                    cursor.execute(store.driver_sql("SELECT size FROM log_head WHERE id = ?"), (1,))
                    code = 0 if childs is not parents and cursor.fetchone() == (0,) else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        with store.driver() as still:  # the parent's is still its own, and still works
            assert still is parents
            cursor = still.cursor()
            cursor.execute(store.driver_sql("SELECT size FROM log_head WHERE id = ?"), (1,))
            assert cursor.fetchone() == (0,)
    finally:
        store.close()
        engine.dispose()
