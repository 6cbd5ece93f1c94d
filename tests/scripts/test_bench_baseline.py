"""The web benchmark's no-ledger baseline (``scripts/bench/baseline_app.py``) does what it
claims: a known token and record give the record and a committed audit row, an unknown token
401 and an unknown record 404 with nothing written, on a SQLite file with the store's
settings and on a PostgreSQL schema of its own (when PostgreSQL is reachable); it is served
with the app's gunicorn flags, and goal 1 is judged from the pairs. The benchmarks'
``--database postgresql`` makes a schema of its own and drops it, and says so clearly when no
PostgreSQL answers. No timings here: the benchmark measures (scripts/bench/web.py)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, inspect, text

from ledger.cli.serve import gunicorn_command
from ledger.store import make_engine
from tests.conftest import postgres_url

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
def chain(bench: ModuleType) -> ModuleType:
    return importlib.import_module("bench.chain")


@pytest.fixture
def postgres(chain: ModuleType) -> str:
    """The PostgreSQL database the store tests use, as the benchmarks' base URL; skipped when unreachable."""
    base = postgres_url()
    if base is None:
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
    return base


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | Path]:
    """Where the baseline's tables go: a SQLite file, or a fresh PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield tmp_path / "baseline.db"
        return
    base = request.getfixturevalue("postgres")
    with request.getfixturevalue("chain").postgres_schema("t_baseline", base) as url:
        yield url


def populate_two(baseline: ModuleType, database: str | Path) -> None:
    baseline.populate(
        database,
        {"token-a": OFFICER, "token-b": OTHER_OFFICER},
        [(RECORD, DOCUMENT), (OTHER_RECORD, {**DOCUMENT, "recordId": OTHER_RECORD})],
    )


@pytest.fixture
def database(baseline: ModuleType, empty_database: str | Path) -> str | Path:
    populate_two(baseline, empty_database)
    return empty_database


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
def app(baseline: ModuleType, database: str | Path, clock: Clock) -> Iterator[Flask]:
    made: Flask = baseline.create_app(database, clock=clock)
    yield made
    made.extensions[baseline.EXTENSION].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def audit_rows(baseline: ModuleType, database: str | Path) -> list[tuple[Any, ...]]:
    """The audit table as another connection sees it: only what was committed."""
    engine = create_engine(baseline.database_url(database))
    try:
        with engine.connect() as conn:
            return [
                tuple(row) for row in conn.execute(text("SELECT id, officer, record_id, at FROM audit ORDER BY id"))
            ]
    finally:
        engine.dispose()


def read(client: FlaskClient, record_id: str, token: str | None = "token-a") -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.post(f"/records/{record_id}/read", headers=headers, json={})


def test_a_read_answers_the_record_and_commits_its_audit_row(
    client: FlaskClient, baseline: ModuleType, database: str | Path
) -> None:
    answer = read(client, RECORD)

    assert answer.status_code == 200
    body = answer.get_json()
    assert {k: v for k, v in body.items() if k != "access"} == DOCUMENT
    assert body["access"] == {"seq": 1, "officer": OFFICER, "at": 1_700_000_001_000}
    assert audit_rows(baseline, database) == [(1, OFFICER, RECORD, 1_700_000_001_000)]


def test_each_read_writes_its_own_audit_row_for_its_officer(
    client: FlaskClient, baseline: ModuleType, database: str | Path
) -> None:
    first = read(client, RECORD, "token-a").get_json()
    second = read(client, OTHER_RECORD, "token-b").get_json()

    assert (first["access"]["seq"], second["access"]["seq"]) == (1, 2)
    assert second["recordId"] == OTHER_RECORD
    assert audit_rows(baseline, database) == [
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
    client: FlaskClient, baseline: ModuleType, database: str | Path, headers: dict[str, str]
) -> None:
    answer = client.post(f"/records/{RECORD}/read", headers=headers, json={})

    assert answer.status_code == 401
    assert answer.get_json()["error"] == "unauthorised"
    assert "content" not in answer.get_json()
    assert audit_rows(baseline, database) == []


def test_an_unknown_record_is_404_and_nothing_is_written(
    client: FlaskClient, baseline: ModuleType, database: str | Path
) -> None:
    answer = read(client, "0x" + "33" * 32)

    assert answer.status_code == 404
    assert answer.get_json()["error"] == "not-found"
    assert audit_rows(baseline, database) == []


def test_the_baseline_database_has_the_settings_of_the_ledgers_store(baseline: ModuleType, tmp_path: Path) -> None:
    populate_two(baseline, tmp_path / "baseline.db")
    app = baseline.create_app(tmp_path / "baseline.db")
    pragmas = ("journal_mode", "synchronous", "busy_timeout", "foreign_keys", "secure_delete")
    ledger_engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        with ledger_engine.connect() as conn:
            expected = {p: conn.execute(text(f"PRAGMA {p}")).scalar() for p in pragmas}
    finally:
        ledger_engine.dispose()
    try:
        with app.extensions[baseline.EXTENSION].engine.connect() as conn:
            found = {p: conn.execute(text(f"PRAGMA {p}")).scalar() for p in pragmas}
    finally:
        app.extensions[baseline.EXTENSION].close()

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


def test_populating_again_replaces_the_rows_and_keeps_the_audit(
    client: FlaskClient, baseline: ModuleType, database: str | Path
) -> None:
    read(client, RECORD)
    baseline.populate(database, {"token-a": OTHER_OFFICER}, [(RECORD, {**DOCUMENT, "version": 2})])

    answer = read(client, RECORD).get_json()

    assert (answer["version"], answer["access"]["officer"], answer["access"]["seq"]) == (2, OTHER_OFFICER, 2)
    assert [row[1] for row in audit_rows(baseline, database)] == [OFFICER, OTHER_OFFICER]


@pytest.mark.postgres
def test_on_postgresql_the_baseline_keeps_to_its_own_schema(
    baseline: ModuleType, chain: ModuleType, postgres: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with chain.postgres_schema("t_baseline", postgres) as url:
        schema = url.rsplit("%3D", 1)[1]
        with pytest.raises(RuntimeError, match="populate"):  # an empty schema is no baseline database
            baseline.create_app(url)
        populate_two(baseline, url)
        monkeypatch.setenv(baseline.DATABASE_ENV, url)  # as gunicorn's workers find it
        app = baseline.create_app()
        try:
            assert read(app.test_client(), RECORD).status_code == 200
            engine = create_engine(postgres)
            try:
                tables = set(inspect(engine).get_table_names(schema=schema))
                assert tables == {"tokens", "records", "audit"}
                assert not {"tokens", "records", "audit"} & set(inspect(engine).get_table_names(schema="public"))
            finally:
                engine.dispose()
        finally:
            app.extensions[baseline.EXTENSION].close()


@pytest.mark.postgres
def test_a_benchmark_schema_is_made_fresh_and_dropped_on_the_way_out(chain: ModuleType, postgres: str) -> None:
    with chain.postgres_schema("t_bench", postgres) as first, chain.postgres_schema("t_bench", postgres) as second:
        assert first != second
        schemas = [url.rsplit("%3D", 1)[1] for url in (first, second)]
        engine = create_engine(first)
        try:
            with engine.connect() as conn:
                assert conn.execute(text("SELECT current_schema()")).scalar() == schemas[0]
        finally:
            engine.dispose()
    admin = create_engine(postgres)
    try:
        with admin.connect() as conn:
            left = conn.execute(
                text("SELECT nspname FROM pg_namespace WHERE nspname = ANY(:names)"), {"names": schemas}
            ).all()
    finally:
        admin.dispose()
    assert left == []


def test_no_postgresql_is_a_clear_error_before_anything_starts(
    chain: ModuleType, bench: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    closed = f"postgresql+psycopg://postgres@127.0.0.1:{chain._free_port()}/test"  # nothing listens there
    unreachable = pytest.raises(chain.DatabaseUnavailable, match="PostgreSQL is not reachable")
    with unreachable, chain.postgres_schema("t_bench", closed):
        pytest.fail("a schema on a server that does not answer")
    with pytest.raises(SystemExit) as exited, chain.exit_when_unavailable(), chain.postgres_schema("t_bench", closed):
        pass
    assert exited.value.code == 2
    assert capsys.readouterr().err.startswith("error: --database postgresql: PostgreSQL is not reachable")


@pytest.mark.parametrize("script", ["web", "bulk", "audit"])
def test_the_benchmarks_take_the_database_and_keep_postgresql_out_of_the_sqlite_sections(
    bench: ModuleType, script: str, capsys: pytest.CaptureFixture[str]
) -> None:
    module = importlib.import_module(f"bench.{script}")
    with pytest.raises(SystemExit):
        module.main(["--help"])
    assert "--database {sqlite,postgresql}" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exited:
        module.main(["--database", "postgresql", "--write-docs"])
    assert exited.value.code == 2
    assert "--write-docs writes the SQLite section" in capsys.readouterr().err


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
