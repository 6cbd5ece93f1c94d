"""The no-ledger baseline of the web benchmark (``scripts/bench/web.py``): what a department
system without a ledger does for a logged read, and nothing more.

``POST /records/<id>/read`` with ``Authorization: Bearer <token>``: look the token up (401
when it is unknown), SELECT the record (404 when there is none), INSERT an audit row and
commit it, answer the record as JSON with the audit row's number. No grant, no membership, no
chain, no seal: the logged read of the API (``POST /api/v1/department/records/<id>/read``)
is measured against this, side by side in the same run (issue 14, goal 1).

So that the ratio measures what the ledger adds and not a different database set-up, the
baseline opens its own SQLite file with the store's engine (:func:`ledger.store.make_engine`:
WAL, ``synchronous=FULL``, the same busy timeout and connection pool), and its writers queue
on the store's file lock (:meth:`ledger.store.Store.serialised_writes`) as the access log's do,
not in SQLite's sleeping busy handler. Each read is its own transaction and its own commit: a
system without a ledger has no group commit.

Served by gunicorn with the flags of ``gridledger serve`` (the benchmark builds the command)::

    GRIDLEDGER_BENCH_BASELINE_DB=var/baseline.db .venv/bin/python -m gunicorn --workers 2 \\
        --threads 8 --worker-class gthread --pythonpath scripts 'bench.baseline_app:create_app()'

The tables are ``tokens(token, officer)``, ``records(id, content)`` (a JSON document) and
``audit(id, officer, record_id, at)`` (``at`` in milliseconds); :func:`populate` fills them.
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
from sqlalchemy import text
from sqlalchemy.engine import Engine

from ledger.store import Store, make_engine

#: Where the served app finds its database (gunicorn calls :func:`create_app` with no arguments).
DATABASE_ENV = "GRIDLEDGER_BENCH_BASELINE_DB"
#: The app's state in ``app.extensions``.
EXTENSION = "bench_baseline"

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS tokens (token TEXT PRIMARY KEY, officer TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS records (id TEXT PRIMARY KEY, content TEXT NOT NULL)",  # content: JSON text
    "CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY, officer TEXT NOT NULL, record_id TEXT NOT NULL, "
    "at INTEGER NOT NULL)",
)
_TOKEN = text("SELECT officer FROM tokens WHERE token = :token")
_RECORD = text("SELECT content FROM records WHERE id = :record_id")
_AUDIT = text("INSERT INTO audit (officer, record_id, at) VALUES (:officer, :record_id, :at)")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def engine_for(database: str | Path) -> Engine:
    """The store's engine on the baseline's own SQLite file (the store's pragmas and pool)."""
    return make_engine(f"sqlite:///{Path(database)}")


def populate(database: str | Path, tokens: Mapping[str, str], records: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
    """Creates the tables and fills them: ``tokens`` maps a bearer token to its officer,
    ``records`` gives each record's id and its JSON document. Existing rows are replaced."""
    engine = engine_for(database)
    try:
        with engine.begin() as conn:
            for statement in SCHEMA:
                conn.execute(text(statement))
            conn.execute(
                text("INSERT OR REPLACE INTO tokens (token, officer) VALUES (:token, :officer)"),
                [{"token": token, "officer": officer} for token, officer in tokens.items()],
            )
            conn.execute(
                text("INSERT OR REPLACE INTO records (id, content) VALUES (:id, :content)"),
                [{"id": rid, "content": json.dumps(document, ensure_ascii=False)} for rid, document in records],
            )
    finally:
        engine.dispose()


def _refused(status: int, error: str, message: str) -> ResponseReturnValue:
    return jsonify(error=error, message=message), status


def create_app(database: str | Path | None = None, clock: Callable[[], int] = now_ms) -> Flask:
    """The baseline app on ``database`` (default: the file named by ``GRIDLEDGER_BENCH_BASELINE_DB``);
    ``clock`` gives the audit row's time in milliseconds."""
    if database is None:
        database = os.environ.get(DATABASE_ENV, "")
        if not database:
            raise RuntimeError(f"the baseline needs its database: set {DATABASE_ENV} to the file populate() made")
    if not Path(database).is_file():
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
                seq = conn.execute(_AUDIT, {"officer": officer, "record_id": record_id, "at": at}).lastrowid
                conn.commit()
        return jsonify({**json.loads(content), "access": {"seq": seq, "officer": officer, "at": at}})

    return app
