"""The no-ledger baseline of the web benchmark (``scripts/bench/web.py``): what a department
system without a ledger does for a logged read, and nothing more.

``POST /records/<id>/read`` with ``Authorization: Bearer <token>``: look the token up (401
when it is unknown), SELECT the record (404 when there is none), INSERT an audit row and
commit it, answer the record as JSON with the audit row's number. No grant, no membership, no
chain, no seal: the logged read of the API (``POST /api/v1/department/records/<id>/read``)
is measured against this, side by side in the same run (issue 14, goal 1).

So that the ratio measures what the ledger adds and not a different database set-up, the
baseline runs on the same kind of database as the ledger it is measured against, with the
store's engine (:func:`ledger.store.make_engine`): its own SQLite file (WAL,
``synchronous=FULL``, the same busy timeout and connection pool), its writers queueing on the
store's file lock (:meth:`ledger.store.Store.serialised_writes`) as the access log's do, not in
SQLite's sleeping busy handler; or its own PostgreSQL schema (a URL whose ``search_path`` names
it), where row locks queue the writers and the store's lock does nothing. The SQL is the same on
both (``ON CONFLICT`` upserts, ``RETURNING`` the audit row's number). Each read is its own
transaction and its own commit: a system without a ledger has no group commit.

Served by gunicorn with the flags of ``gridledger serve`` (the benchmark builds the command)::

    GRIDLEDGER_BENCH_BASELINE_DB=var/baseline.db .venv/bin/python -m gunicorn --workers 2 \\
        --threads 8 --worker-class gthread --pythonpath scripts 'bench.baseline_app:create_app()'

(``GRIDLEDGER_BENCH_BASELINE_DB`` names a SQLite file, or is a database URL such as
``postgresql+psycopg://…?options=-csearch_path%3Dbaseline``.) The tables are ``tokens(token,
officer)``, ``records(id, content)`` (a JSON document) and ``audit(id, officer, record_id, at)``
(``at`` in milliseconds); :func:`populate` fills them.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import BigInteger, Column, Integer, MetaData, Table, Text, inspect, text
from sqlalchemy.engine import Engine

from ledger.store import Store, make_engine

#: Where the served app finds its database (gunicorn calls :func:`create_app` with no arguments).
DATABASE_ENV = "GRIDLEDGER_BENCH_BASELINE_DB"
#: The app's state in ``app.extensions``.
EXTENSION = "bench_baseline"

#: The tables, made with each database's own numbering of the audit rows (SQLite: the rowid, an
#: ``INTEGER PRIMARY KEY``; PostgreSQL: a sequence).
SCHEMA = MetaData()
Table("tokens", SCHEMA, Column("token", Text, primary_key=True), Column("officer", Text, nullable=False))
Table("records", SCHEMA, Column("id", Text, primary_key=True), Column("content", Text, nullable=False))  # JSON text
Table(
    "audit",
    SCHEMA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("officer", Text, nullable=False),
    Column("record_id", Text, nullable=False),
    Column("at", BigInteger, nullable=False),
)
_TOKEN = text("SELECT officer FROM tokens WHERE token = :token")
_RECORD = text("SELECT content FROM records WHERE id = :record_id")
_AUDIT = text("INSERT INTO audit (officer, record_id, at) VALUES (:officer, :record_id, :at) RETURNING id")
_PUT_TOKEN = text(
    "INSERT INTO tokens (token, officer) VALUES (:token, :officer) "
    "ON CONFLICT (token) DO UPDATE SET officer = excluded.officer"
)
_PUT_RECORD = text(
    "INSERT INTO records (id, content) VALUES (:id, :content) ON CONFLICT (id) DO UPDATE SET content = excluded.content"
)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def database_url(database: str | Path) -> str:
    """The URL of ``database``: a database URL as it is, anything else the path of a SQLite file."""
    if isinstance(database, str) and "://" in database:
        return database
    return f"sqlite:///{Path(database)}"


def engine_for(database: str | Path) -> Engine:
    """The store's engine on the baseline's own database (for SQLite, the store's pragmas and pool)."""
    return make_engine(database_url(database))


def populate(database: str | Path, tokens: Mapping[str, str], records: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
    """Creates the tables and fills them: ``tokens`` maps a bearer token to its officer,
    ``records`` gives each record's id and its JSON document. Existing rows are replaced."""
    engine = engine_for(database)
    try:
        with engine.begin() as conn:
            SCHEMA.create_all(conn)
            if tokens:
                conn.execute(_PUT_TOKEN, [{"token": token, "officer": officer} for token, officer in tokens.items()])
            rows = [{"id": rid, "content": json.dumps(document, ensure_ascii=False)} for rid, document in records]
            if rows:
                conn.execute(_PUT_RECORD, rows)
    finally:
        engine.dispose()


def _populated(database: str | Path) -> bool:
    url = database_url(database)
    if url.startswith("sqlite") and not Path(url.split("///", 1)[1]).is_file():
        return False  # do not make an empty file by looking
    engine = engine_for(database)
    try:
        return set(SCHEMA.tables) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _refused(status: int, error: str, message: str) -> ResponseReturnValue:
    return jsonify(error=error, message=message), status


def create_app(database: str | Path | None = None, clock: Callable[[], int] = now_ms) -> Flask:
    """The baseline app on ``database``, a SQLite file or a database URL (default: the one named
    by ``GRIDLEDGER_BENCH_BASELINE_DB``); ``clock`` gives the audit row's time in milliseconds."""
    if database is None:
        database = os.environ.get(DATABASE_ENV, "")
        if not database:
            raise RuntimeError(
                f"the baseline needs its database: set {DATABASE_ENV} to the file or URL populate() made"
            )
    if not _populated(database):
        raise RuntimeError(f"no baseline database at {database}: make it with populate() first")
    engine = engine_for(database)
    store = Store(engine)  # for its writer queue only
    app = Flask(__name__)
    app.extensions[EXTENSION] = store

    @app.get("/ping")
    def ping() -> ResponseReturnValue:
        return jsonify(ok=True)

    @app.post("/records/<record_id>/read")
    def read(record_id: str) -> ResponseReturnValue:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not token:
            return _refused(401, "unauthorised", "send Authorization: Bearer <token>")
        with engine.connect() as conn:
            officer = conn.execute(_TOKEN, {"token": token}).scalar()
            if officer is None:
                return _refused(401, "unauthorised", "this token is not known")
            content = conn.execute(_RECORD, {"record_id": record_id}).scalar()
            if content is None:
                return _refused(404, "not-found", f"no record {record_id}")
            at = clock()
            with store.serialised_writes():
                seq = conn.execute(_AUDIT, {"officer": officer, "record_id": record_id, "at": at}).scalar_one()
                conn.commit()
        return jsonify({**json.loads(content), "access": {"seq": seq, "officer": officer, "at": at}})

    return app
