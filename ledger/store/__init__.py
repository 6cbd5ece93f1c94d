"""The off-chain store: engine, sessions and migrations.

SQLite in WAL mode is the embedded default (``var/gridledger.db``); PostgreSQL is
used when ``DATABASE_URL`` names it. The schema is created and upgraded only by the
Alembic migrations under ``migrations/``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import ColumnElement, LargeBinary, create_engine, event, type_coerce
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ledger.errors import StoreError
from ledger.settings import Settings

try:
    import fcntl as _flock
except ImportError:  # Windows: SQLite's own busy handler only
    _flock = None  # type: ignore[assignment]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: SQLite's page cache per connection, in KiB.
CACHE_KIB = 32_768


class RawBinary(LargeBinary):
    """A binary column read as whatever the driver hands back (bytes, memoryview, or text a
    tamperer wrote into SQLite), for the checks that must report a wrong type, not crash."""

    cache_ok = True

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        return None


def as_stored(column: Any) -> ColumnElement[Any]:
    """``column`` (binary) as :class:`RawBinary`, under its own name."""
    return type_coerce(column, RawBinary()).label(column.name)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, full sync, foreign keys and a busy timeout."""
    kwargs: dict[str, Any] = {"future": True}
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit that returned is on disk; an acknowledged write survives power loss.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Erasure by crypto-shredding: deleted content and salts are overwritten, not just unlinked.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # 32 MiB of page cache per connection, not SQLite's 2 MiB: the access log's indexes on random
    # keys (record, resident) touch a page each per row, and an append of 200,000 rows costs a
    # sixth less CPU per row with it (docs/benchmarks.md). Filled only as pages are read.
    cursor.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    cursor.close()


@cache
def _driver_sql(sql: str, paramstyle: str) -> str:
    if paramstyle == "qmark":
        return sql
    if paramstyle not in ("format", "pyformat"):
        raise StoreError(f"the database driver's parameter style {paramstyle!r} is not supported")
    return sql.replace("%", "%%").replace("?", "%s")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Brings the schema to the newest migration (or to ``revision``)."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    """The migration the schema is at (None for an empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def require_current(engine: Engine) -> None:
    """Raises :class:`StoreError` unless the schema is at the newest migration."""
    head = ScriptDirectory.from_config(alembic_config(str(engine.url))).get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    if current != head:
        raise StoreError(
            f"the database at {engine.url.render_as_string(hide_password=True)} is at migration "
            f"{current or 'none'}, the code needs {head}; run 'gridledger init'"
        )


class _Slot:
    """One thread's driver connection (:meth:`Store.driver`)."""

    __slots__ = ("fairy", "connection", "pid", "generation", "busy")

    def __init__(self, fairy: Any, pid: int, generation: int) -> None:
        self.fairy = fairy  # the engine's connection, detached from its pool
        self.connection = fairy.dbapi_connection  # its driver connection
        self.pid = pid  # the process that made it
        self.generation = generation  # the store's generation it belongs to
        self.busy = False  # in use by its thread now

    def close(self) -> None:
        with suppress(Exception):
            self.fairy.close()


class Store:
    """The database of one gridledger installation: an engine and a session factory."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False, future=True)
        self._writer_thread_lock = threading.Lock()
        self._writer_file: int | None = None
        database = engine.url.database if engine.url.get_backend_name() == "sqlite" else None
        self._writer_path = Path(database + ".writer-lock") if database and database != ":memory:" else None
        # The threads' own driver connections (:meth:`driver`); a new generation drops them all.
        self._held = threading.local()  # .slot: this thread's _Slot
        self._held_lock = threading.Lock()
        self._slots: list[_Slot] = []
        self._generation = 0
        dbapi = engine.dialect.loaded_dbapi
        self._driver_errors: tuple[type[BaseException], ...] = (dbapi.Error,)

    @classmethod
    def open(cls, settings: Settings, *, upgrade: bool = False) -> Store:
        engine = make_engine(settings.db_url)
        if upgrade:
            migrate(engine)
        else:
            require_current(engine)
        return cls(engine)

    def session(self) -> Session:
        return self.sessions()

    @contextmanager
    def driver(self) -> Iterator[Any]:
        """This thread's own connection, as the driver's own (``sqlite3``, ``psycopg``), for the
        few fixed statements of the hot path (a logged read): SQLAlchemy's execution around a
        statement, and a pool's check-out and check-in around each use, cost several times the
        statement itself. Statements go through :meth:`driver_sql`; the caller commits what it
        writes. Whatever is left open is rolled back on leaving, as a pool does on check-in.

        The connection is made the first time a thread asks (the engine's, with its settings) and
        kept by the thread, outside the pool: a forked child, a closed store, or a driver error
        that may have broken it makes it be dropped and made afresh. A nested use in the same
        thread gets one of the pool's connections."""
        slot: _Slot | None = getattr(self._held, "slot", None)
        if slot is not None and slot.busy:
            with self._pooled_driver() as connection:
                yield connection
            return
        if slot is not None:
            slot.busy = True  # before the generation is looked at: a close() now leaves it open
            if slot.pid != os.getpid():  # the parent's, across a fork: forgotten, never closed here
                slot = None
            elif slot.generation != self._generation:
                self._drop(slot)
                slot = None
        if slot is None:
            slot = self._new_slot()
        connection = slot.connection
        try:
            yield connection
        except BaseException as exc:
            failed = False
            try:
                connection.rollback()
            except Exception:  # noqa: BLE001 - the error that got here is the one to report
                failed = True
            if failed or isinstance(exc, self._driver_errors):
                self._drop(slot)
            raise
        else:
            connection.rollback()  # a read's transaction, if the driver opened one; nothing when committed
            if slot.generation != self._generation:  # the store was closed meanwhile
                self._drop(slot)
        finally:
            slot.busy = False

    @contextmanager
    def _pooled_driver(self) -> Iterator[Any]:
        connection = self.engine.raw_connection()
        try:
            yield connection
        except BaseException:
            with suppress(Exception):  # the error that got here is the one to report
                connection.rollback()
            raise
        finally:
            connection.close()

    def _new_slot(self) -> _Slot:
        fairy = self.engine.raw_connection()
        fairy.detach()  # the pool forgets it: this thread keeps it
        slot = _Slot(fairy, os.getpid(), self._generation)
        slot.busy = True
        self._held.slot = slot
        with self._held_lock:
            self._slots.append(slot)
        return slot

    def _drop(self, slot: _Slot) -> None:
        if getattr(self._held, "slot", None) is slot:
            self._held.slot = None
        with self._held_lock, suppress(ValueError):
            self._slots.remove(slot)
        slot.close()

    def driver_sql(self, sql: str) -> str:
        """``sql`` written with ``?`` placeholders, in the driver's parameter style."""
        return _driver_sql(sql, self.engine.dialect.paramstyle)

    @contextmanager
    def serialised_writes(self) -> Iterator[None]:
        """Around a hot write transaction (the access log's appends): on a SQLite file,
        writers of every process queue on an exclusive ``flock`` and wake the moment it is
        released, instead of in SQLite's busy handler, which sleeps 1, 2, 5, 10… ms between
        tries and left the cores idle while web workers waited for each other. PostgreSQL's
        row locks already queue this way: there it does nothing."""
        if self._writer_path is None or _flock is None:
            yield
            return
        with self._writer_thread_lock:  # flock excludes other processes; this, other threads
            if self._writer_file is None:
                self._writer_file = os.open(self._writer_path, os.O_RDWR | os.O_CREAT, 0o600)
            _flock.flock(self._writer_file, _flock.LOCK_EX)
            try:
                yield
            finally:
                _flock.flock(self._writer_file, _flock.LOCK_UN)

    def close(self) -> None:
        with self._held_lock:  # each thread makes a new one when it asks again
            self._generation += 1
            slots, self._slots = self._slots, []
        for slot in slots:
            # One in use is dropped by its thread when it is done; one a forked parent made is the parent's.
            if not slot.busy and slot.pid == os.getpid():
                slot.close()
        with self._writer_thread_lock:
            if self._writer_file is not None:
                os.close(self._writer_file)
                self._writer_file = None
        self.engine.dispose()
