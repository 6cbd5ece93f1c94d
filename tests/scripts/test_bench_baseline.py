"""The web benchmark's no-ledger baseline (``scripts/bench/baseline_app.py``) does what it
claims: a known token and record give the record and a committed audit row, an unknown token
401 and an unknown record 404 with nothing written, on a SQLite file with the store's
settings; it is served with the app's gunicorn flags, and goal 1 is judged from the pairs.
No timings here: the benchmark measures (scripts/bench/web.py)."""

from __future__ import annotations

import importlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from ledger.cli.serve import gunicorn_command
from ledger.store import make_engine

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
OFFICER = "0x00000000000000000000000000000000000000a1"
OTHER_OFFICER = "0x00000000000000000000000000000000000000b2"
RECORD = "0x" + "11" * 32
OTHER_RECORD = "0x" + "22" * 32
DOCUMENT: dict[str, Any] = {
    "recordId": RECORD,
    "version": 1,
    "certified": True,
    "category": "health",
    "content": {"blood_type": "AB", "chronic_conditions": ["高血压"], "allergies": []},
    "fields": [{"label": "Blood type", "value": "AB"}],
}


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The ``bench`` package of scripts/ (its entry points put scripts/ on the path; so do we)."""
    monkeypatch.syspath_prepend(str(SCRIPTS))
    yield importlib.import_module("bench")


@pytest.fixture
def baseline(bench: ModuleType) -> ModuleType:
    return importlib.import_module("bench.baseline_app")


@pytest.fixture
def database(baseline: ModuleType, tmp_path: Path) -> Path:
    path = tmp_path / "baseline.db"
    baseline.populate(
        path,
        {"token-a": OFFICER, "token-b": OTHER_OFFICER},
        [(RECORD, DOCUMENT), (OTHER_RECORD, {**DOCUMENT, "recordId": OTHER_RECORD})],
    )
    return path


class Clock:
    def __init__(self, start: int) -> None:
        self.now = start

    def __call__(self) -> int:
        self.now += 1_000
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(1_700_000_000_000)


@pytest.fixture
def app(baseline: ModuleType, database: Path, clock: Clock) -> Iterator[Flask]:
    made: Flask = baseline.create_app(database, clock=clock)
    yield made
    made.extensions[baseline.EXTENSION].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def audit_rows(database: Path) -> list[tuple[Any, ...]]:
    """The audit table as another connection sees it: only what was committed."""
    conn = sqlite3.connect(database)
    try:
        return conn.execute("SELECT id, officer, record_id, at FROM audit ORDER BY id").fetchall()
    finally:
        conn.close()


def read(client: FlaskClient, record_id: str, token: str | None = "token-a") -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.post(f"/records/{record_id}/read", headers=headers, json={})


def test_a_read_answers_the_record_and_commits_its_audit_row(client: FlaskClient, database: Path) -> None:
    answer = read(client, RECORD)

    assert answer.status_code == 200
    body = answer.get_json()
    assert {k: v for k, v in body.items() if k != "access"} == DOCUMENT
    assert body["access"] == {"seq": 1, "officer": OFFICER, "at": 1_700_000_001_000}
    assert audit_rows(database) == [(1, OFFICER, RECORD, 1_700_000_001_000)]


def test_each_read_writes_its_own_audit_row_for_its_officer(client: FlaskClient, database: Path) -> None:
    first = read(client, RECORD, "token-a").get_json()
    second = read(client, OTHER_RECORD, "token-b").get_json()

    assert (first["access"]["seq"], second["access"]["seq"]) == (1, 2)
    assert second["recordId"] == OTHER_RECORD
    assert audit_rows(database) == [
        (1, OFFICER, RECORD, 1_700_000_001_000),
        (2, OTHER_OFFICER, OTHER_RECORD, 1_700_000_002_000),
    ]


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer token-unknown"},
        {},
        {"Authorization": "token-a"},  # no scheme
        {"Authorization": "Basic token-a"},
        {"Authorization": "Bearer "},
    ],
    ids=["unknown token", "no header", "no scheme", "other scheme", "empty token"],
)
def test_no_known_token_is_401_and_nothing_is_written(
    client: FlaskClient, database: Path, headers: dict[str, str]
) -> None:
    answer = client.post(f"/records/{RECORD}/read", headers=headers, json={})

    assert answer.status_code == 401
    assert answer.get_json()["error"] == "unauthorised"
    assert "content" not in answer.get_json()
    assert audit_rows(database) == []


def test_an_unknown_record_is_404_and_nothing_is_written(client: FlaskClient, database: Path) -> None:
    answer = read(client, "0x" + "33" * 32)

    assert answer.status_code == 404
    assert answer.get_json()["error"] == "not-found"
    assert audit_rows(database) == []


def test_the_baseline_database_has_the_settings_of_the_ledgers_store(
    app: Flask, baseline: ModuleType, tmp_path: Path
) -> None:
    pragmas = ("journal_mode", "synchronous", "busy_timeout", "foreign_keys", "secure_delete")
    ledger_engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        with ledger_engine.connect() as conn:
            expected = {p: conn.execute(text(f"PRAGMA {p}")).scalar() for p in pragmas}
    finally:
        ledger_engine.dispose()
    with app.extensions[baseline.EXTENSION].engine.connect() as conn:
        found = {p: conn.execute(text(f"PRAGMA {p}")).scalar() for p in pragmas}

    assert found == expected
    assert (found["journal_mode"], found["synchronous"]) == ("wal", 2)  # WAL, FULL


def test_the_served_baseline_needs_a_populated_database(
    baseline: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(baseline.DATABASE_ENV, raising=False)
    with pytest.raises(RuntimeError, match=baseline.DATABASE_ENV):
        baseline.create_app()
    monkeypatch.setenv(baseline.DATABASE_ENV, str(tmp_path / "missing.db"))
    with pytest.raises(RuntimeError, match="populate"):
        baseline.create_app()


def test_the_baseline_is_served_with_the_flags_of_gridledger_serve(bench: ModuleType) -> None:
    web = importlib.import_module("bench.web")
    served = gunicorn_command("127.0.0.1", 8123, 3, 5)
    command = web.baseline_command(8123, 3, 5)

    assert command[-1] == "bench.baseline_app:create_app()"
    at = served.index("--config")
    without_app = served[:at] + served[at + 2 : -1]  # the web app's module preload and the app itself
    assert command[: len(without_app)] == without_app
    assert command[len(without_app) :] == ["--pythonpath", str(SCRIPTS), "bench.baseline_app:create_app()"]


def _window(web: ModuleType, scenario: str, concurrency: int, round_no: int, count: int, p99_ms: float) -> Any:
    latencies = [0.001] * 98 + [p99_ms / 1e3] * 2  # p99 of these: p99_ms
    return web.Window(
        scenario=scenario, concurrency=concurrency, round=round_no, count=count, seconds=1.0, latencies=latencies,
        statuses={"200": count}, errors=[], body_bytes=300, cpu={}, load=1.0,
    )  # fmt: skip


def test_goal_one_is_judged_from_the_pairs_at_4_and_16_connections(bench: ModuleType) -> None:
    web = importlib.import_module("bench.web")

    def windows(read: tuple[int, float], base: tuple[int, float], at: tuple[int, ...] = (4, 16)) -> list[Any]:
        return [
            _window(web, key, c, r, *figures)
            for c in at
            for r in (1, 2, 3)
            for key, figures in (("read", read), ("baseline", base))
        ]

    met = web.goal_one(windows((2_400, 9.0), (2_800, 10.0)))
    assert [(row.concurrency, round(row.ratio, 3), row.misses()) for row in met] == [(4, 0.857, []), (16, 0.857, [])]
    assert web.goal_one_verdict(met) == "met"

    slow = web.goal_one(windows((1_500, 9.0), (1_800, 10.0)))  # 0.83×, but under 2,000 req/s
    assert slow[0].misses() == ["1,500 < 2,000 req/s"]
    assert web.goal_one_verdict(slow) == "not met"

    worse = web.goal_one(windows((2_400, 11.0), (2_500, 10.0)))
    assert worse[0].misses() == ["p99 11.0 ms > 10.0 ms"]

    far = web.goal_one(windows((2_000, 9.0), (4_000, 10.0)))
    assert far[0].misses() == ["0.50× < 0.8×"]

    half = web.goal_one(windows((2_400, 9.0), (2_800, 10.0), at=(4,)))
    assert web.goal_one_verdict(half) == "not judged"
    assert "Not measured at 16 connections" in web.goal_one_lines(half, {})[0]
