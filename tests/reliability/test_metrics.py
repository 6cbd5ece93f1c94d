"""``/metrics`` (issue 11, "Monitoring"): the exposition is strict Prometheus text 0.0.4, its
figures are the populated installation's (its outbox, log, checkpoint on chain, last
integrity run, node), reads closed says why, a scrape reads no large table in full, only
this machine or a holder of the token may scrape, and the alert rules in
docs/operations.md name only metrics the exposition has.

Time is the app's clock (``CLOCK``), set by hand: every age is counted to it."""

from __future__ import annotations

import json
import math
import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event, insert, select, text

from ledger.access import Closed
from ledger.context import Ledger
from ledger.metrics import Checkpoint, Figures, LastVerify, collect
from ledger.settings import Settings
from ledger.store.models import AccessEvent, OutboxTx, VerifyRun
from webapp import create_app
from webapp.metrics.exposition import CONTENT_TYPE, families, render

from ..conftest import free_port
from .conftest import Backend, Populated

pytestmark = pytest.mark.chain

ROOT = Path(__file__).resolve().parents[2]
SENDER = "0x000000000000000000000000000000000000dEaD"
Series = dict[tuple[str, frozenset[tuple[str, str]]], float]

# -- a strict reading of the text format ---------------------------------------------------------

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(rf"^(?P<name>{_NAME})(?:\{{(?P<labels>[^}}]*)\}})? (?P<value>\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"(,|$)')
_VALUE = re.compile(r"^(?:[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|[+-]Inf|NaN)$")


def parse(body: str) -> Series:
    """The series of an exposition, each checked strictly: every family's HELP then TYPE
    (gauge) before its samples, each family once, its samples together, names
    ``gridledger_*``, labels and values well formed, no series twice, a final newline.
    prometheus_client's parser must read the same."""
    assert body.endswith("\n") and not body.endswith("\n\n")
    series: Series = {}
    helped: set[str] = set()
    typed: set[str] = set()
    current = None
    for line in body[:-1].split("\n"):
        if line.startswith("# HELP "):
            name, _, words = line[len("# HELP ") :].partition(" ")
            assert re.fullmatch(_NAME, name) and name.startswith("gridledger_") and words, line
            assert name not in helped, f"{name}: HELP twice"
            helped.add(name)
            current = None
        elif line.startswith("# TYPE "):
            name, _, kind = line[len("# TYPE ") :].partition(" ")
            assert name in helped and name not in typed and kind == "gauge", line
            typed.add(name)
            current = name
        else:
            found = _SAMPLE.match(line)
            assert found and found["name"] == current, f"a sample outside its family: {line!r}"
            labels: list[tuple[str, str]] = []
            raw = found["labels"]
            if raw is not None:
                at = 0
                while at < len(raw):
                    label = _LABEL.match(raw, at)
                    assert label, f"bad labels in {line!r}"
                    labels.append((label[1], label[2]))
                    at = label.end()
            assert _VALUE.match(found["value"]), line
            key = (found["name"], frozenset(labels))
            assert key not in series, f"series twice: {line!r}"
            series[key] = float(found["value"])
    assert helped == typed
    theirs = {
        (s.name, frozenset(s.labels.items())): float(s.value)
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }
    assert theirs.keys() == series.keys()
    assert all(theirs[k] == v or (math.isnan(theirs[k]) and math.isnan(v)) for k, v in series.items())
    return series


def one(series: Series, name: str, **labels: str) -> float:
    return series[(name, frozenset(labels.items()))]


def names(series: Series) -> set[str]:
    return {name for name, _labels in series}


# -- the app over a trial copy ------------------------------------------------------------------


class Scraper:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.client = app.test_client()

    def at(self, moment_ms: int) -> None:
        self.app.config["CLOCK"] = lambda: datetime.fromtimestamp(moment_ms / 1000, UTC)

    def scrape(self, **kw: Any) -> Series:
        response = self.client.get("/metrics", **kw)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.headers["Content-Type"] == CONTENT_TYPE
        assert response.headers["Cache-Control"] == "no-store"
        return parse(response.get_data(as_text=True))


@pytest.fixture
def scraper(trial: Ledger) -> Iterator[Scraper]:
    app = create_app(trial.settings, {"TESTING": True})
    yield Scraper(app)
    app.extensions["gridledger"].close()


def leaf_time(ledger: Ledger, seq: int) -> int:
    with ledger.store.engine.connect() as db:
        leaf = db.execute(select(AccessEvent.leaf).where(AccessEvent.seq == seq)).scalar_one()
    return int(json.loads(bytes(leaf))["time"])


def age(now_ms: int, then_ms: float) -> float:
    return max(0.0, (now_ms - then_ms) / 1000)


def add_outbox(ledger: Ledger, now_ms: int, rows: list[tuple[str, float]]) -> None:
    """Outbox rows of a sender of no one's, (status, seconds before ``now_ms`` it was stored)."""
    with ledger.store.engine.begin() as db:
        start = int(db.scalar(text("SELECT COUNT(*) FROM outbox WHERE sender = :s"), {"s": SENDER}) or 0)
        for nonce, (status, ago) in enumerate(rows, start):
            db.execute(insert(OutboxTx.__table__), {
                "sender": SENDER, "nonce": nonce, "tx_hash": "0x" + secrets.token_hex(32), "raw_tx": b"\x00",
                "to_address": None, "purpose": "test", "status": status, "send_count": 0,
                "created_at": datetime.fromtimestamp(now_ms / 1000, UTC) - timedelta(seconds=ago),
            })  # fmt: skip


# -- the figures ---------------------------------------------------------------------------------


def test_the_figures_are_the_installations(trial: Ledger, scraper: Scraper, populated: Populated) -> None:
    facts = populated.facts
    first_unanchored = leaf_time(trial, facts.anchored)
    now = first_unanchored + 10_000  # 10 s after the first event past the checkpoint: reads open
    add_outbox(trial, now, [("queued", 4.5), ("queued", 2.0), ("sent", 7.25), ("reverted", 60), ("dropped", 90),
                            ("dropped", 30)])  # fmt: skip
    scraper.at(now)
    head_before = trial.w3.eth.block_number
    series = scraper.scrape()
    head_after = trial.w3.eth.block_number

    # The outbox, counted the slow way: every row.
    with trial.store.engine.connect() as db:
        by_status = dict(db.execute(text("SELECT status, COUNT(*) FROM outbox GROUP BY status")).all())
    assert one(series, "gridledger_outbox_transactions", status="queued") == by_status["queued"] == 2
    assert one(series, "gridledger_outbox_transactions", status="sent") == by_status["sent"] == 1
    assert one(series, "gridledger_outbox_failed_transactions", status="reverted") == by_status["reverted"] == 1
    assert one(series, "gridledger_outbox_failed_transactions", status="dropped") == by_status["dropped"] == 2
    assert one(series, "gridledger_outbox_oldest_age_seconds", status="queued") == pytest.approx(4.5, abs=1e-3)
    assert one(series, "gridledger_outbox_oldest_age_seconds", status="sent") == pytest.approx(7.25, abs=1e-3)
    assert not any(dict(labels).get("status") == "mined" for _name, labels in series)  # not counted: see docs

    # The log and its checkpoint on chain.
    assert one(series, "gridledger_log_events") == facts.size
    assert one(series, "gridledger_log_unanchored_events") == facts.size - facts.anchored > 0
    assert one(series, "gridledger_log_oldest_unanchored_age_seconds") == pytest.approx(10.0, abs=1e-3)
    (size, _root, anchored_at, _anchorer), count = trial.contract("AccessLogAnchor").functions.latest().call()
    assert count >= 1 and one(series, "gridledger_log_checkpoint_events") == size == facts.anchored
    assert one(series, "gridledger_log_checkpoint_age_seconds") == pytest.approx(age(now, anchored_at * 1000))
    assert one(series, "gridledger_reads_fail_after_seconds") == trial.settings.anchor_fail_after == 30
    assert {dict(labels)["reason"]: value for (name, labels), value in series.items()
            if name == "gridledger_reads_closed"} == {str(reason): 0.0 for reason in Closed}  # fmt: skip

    # The last integrity run (the populated installation's own: clean and sealed).
    with trial.store.session() as db:
        run = db.scalars(select(VerifyRun).order_by(VerifyRun.at.desc())).first()
    assert run is not None
    assert one(series, "gridledger_verify_last_run_exit_code") == run.exit_code == 0
    assert one(series, "gridledger_verify_last_run_trusted") == 1
    assert one(series, "gridledger_verify_last_run_timestamp_seconds") == run.at / 1000
    assert one(series, "gridledger_verify_last_run_age_seconds") == pytest.approx(age(now, run.at))

    # The node.
    assert one(series, "gridledger_node_up") == 1
    assert head_before <= one(series, "gridledger_chain_head_block_number") <= head_after
    assert one(series, "gridledger_chain_head_age_seconds") >= 0


def test_reads_closed_says_why(trial: Ledger, scraper: Scraper, populated: Populated) -> None:
    limit = trial.settings.anchor_fail_after
    first_unanchored = leaf_time(trial, populated.facts.anchored)

    def closed(series: Series) -> set[str]:
        return {dict(labels)["reason"] for (name, labels), value in series.items()
                if name == "gridledger_reads_closed" and value == 1}  # fmt: skip

    scraper.at(first_unanchored + int(limit * 1000) - 1_000)
    assert closed(scraper.scrape()) == set()
    scraper.at(first_unanchored + int(limit * 1000) + 1_000)
    series = scraper.scrape()
    assert closed(series) == {"anchoring-stalled"}
    assert one(series, "gridledger_log_oldest_unanchored_age_seconds") == pytest.approx(limit + 1, abs=1e-3)

    # The database cut back below what the chain anchored (an old backup restored).
    with trial.store.engine.begin() as db:
        db.execute(text("UPDATE log_head SET size = 1 WHERE id = 1"))
    series = scraper.scrape()
    assert closed(series) == {"log-behind-chain"}
    assert one(series, "gridledger_log_events") == 1 and one(series, "gridledger_log_unanchored_events") == 0


def test_while_the_node_is_away_reads_count_as_closed(trial: Ledger, populated: Populated) -> None:
    from tests.netproxy import Proxy

    proxy = Proxy(trial.settings.node_port)
    proxy.restore()
    app = create_app(trial.settings.with_(rpc_url=proxy.url), {"TESTING": True})
    scraper = Scraper(app)
    try:
        now = leaf_time(trial, populated.facts.anchored) + 5_000
        scraper.at(now)
        assert one(scraper.scrape(), "gridledger_node_up") == 1
        proxy.cut()
        app.extensions["gridledger"].ledger.view.forget()  # past the remembered head, without waiting
        series = scraper.scrape()
        assert one(series, "gridledger_node_up") == 0
        assert "gridledger_chain_head_block_number" not in names(series)
        assert one(series, "gridledger_reads_closed", reason="chain-unreachable") == 1
        # Measured against the checkpoint the database recorded as anchored.
        assert one(series, "gridledger_log_checkpoint_events") == populated.facts.anchored
        assert one(series, "gridledger_log_unanchored_events") == populated.facts.size - populated.facts.anchored
        assert one(series, "gridledger_log_oldest_unanchored_age_seconds") == pytest.approx(5.0, abs=1e-3)
    finally:
        proxy.cut()
        app.extensions["gridledger"].close()


def test_a_node_down_at_the_first_scrape_is_said(trial: Ledger) -> None:
    app = create_app(trial.settings.with_(rpc_url=f"http://127.0.0.1:{free_port()}"), {"TESTING": True})
    try:
        assert Scraper(app).scrape() == {("gridledger_node_up", frozenset()): 0.0}
    finally:
        app.extensions["gridledger"].close()


def test_an_unsealed_integrity_run_is_not_trusted_and_none_is_overdue(trial: Ledger, scraper: Scraper) -> None:
    with trial.store.engine.begin() as db:  # an intruder's "clean" run, newer than the real one
        real = int(db.scalar(text("SELECT MAX(at) FROM verify_runs")) or 0)
        db.execute(insert(VerifyRun.__table__), {"at": real + 1_000, "exit_code": 0, "by": "cli", "summary": "{}"})
    scraper.at(real + 61_000)
    series = scraper.scrape()
    assert one(series, "gridledger_verify_last_run_trusted") == 0
    assert one(series, "gridledger_verify_last_run_age_seconds") == pytest.approx(60.0)

    with trial.store.engine.begin() as db:
        db.execute(text("DELETE FROM verify_runs"))
    series = scraper.scrape()
    assert one(series, "gridledger_verify_last_run_age_seconds") == math.inf
    assert not {"gridledger_verify_last_run_exit_code", "gridledger_verify_last_run_trusted"} & names(series)


def test_a_scrape_reads_no_large_table_in_full(
    trial: Ledger, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every statement on the outbox or the log is answered from an index (SQLite's plan says
    SEARCH, never SCAN), so a scrape costs the same however long they grow: those SQLAlchemy
    runs and those run on the driver itself (``Store.driver``; planned with null parameters)."""
    if backend.name != "sqlite":
        pytest.skip("PostgreSQL's planner scans tables this small whatever the indexes; the plans are SQLite's")
    add_outbox(trial, int(datetime.now(UTC).timestamp() * 1000), [("queued", 1), ("sent", 2), ("reverted", 3)])
    statements: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        statements.append((statement, parameters))

    as_driver = trial.store.driver_sql

    def driver_sql(sql: str) -> str:
        statements.append((sql, (None,) * sql.count("?")))
        return as_driver(sql)

    monkeypatch.setattr(trial.store, "driver_sql", driver_sql)

    event.listen(trial.store.engine, "before_cursor_execute", seen)
    try:
        collect(trial)
    finally:
        event.remove(trial.store.engine, "before_cursor_execute", seen)
    large = ("outbox", "access_log", "log_nodes", "chain_events", "log_head")
    checked = 0
    with trial.store.engine.connect() as db:
        for statement, parameters in statements:
            if not any(re.search(rf"\b{t}\b", statement) for t in large):
                continue
            plan = [row[3] for row in db.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
            assert all(not step.startswith("SCAN") for step in plan), (statement, plan)
            checked += 1
    assert checked >= 4 and len(statements) <= 10, statements


# -- who may scrape -----------------------------------------------------------------------------


def app_for(populated: Populated, **settings: Any) -> Flask:
    return create_app(populated.settings.with_(**settings), {"TESTING": True})


@pytest.fixture
def guarded(populated: Populated) -> Iterator[tuple[Flask, str]]:
    token = secrets.token_urlsafe(32)
    app = app_for(populated, metrics_token=token)
    yield app, token
    app.extensions["gridledger"].close()


def test_only_this_machine_scrapes_without_a_token(populated: Populated) -> None:
    app = app_for(populated)
    try:
        client = app.test_client()
        assert client.get("/metrics").status_code == 200  # the test client comes from 127.0.0.1
        assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
        away = client.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.7"})
        assert away.status_code == 403 and "GRIDLEDGER_METRICS_TOKEN" in away.get_data(as_text=True)
        # nginx on this machine passing on a request from outside: it arrives from 127.0.0.1 all the same
        for header in ("X-Forwarded-For", "X-Real-IP", "Forwarded"):
            assert client.get("/metrics", headers={header: "192.0.2.7"}).status_code == 403, header
        # a bearer token means nothing when none is configured
        assert client.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.7"},
                          headers={"Authorization": "Bearer anything-at-all-really"}).status_code == 403  # fmt: skip
    finally:
        app.extensions["gridledger"].close()


def test_a_token_lets_a_prometheus_elsewhere_scrape(guarded: tuple[Flask, str]) -> None:
    app, token = guarded
    client = app.test_client()
    away = {"REMOTE_ADDR": "192.0.2.7"}
    refused = client.get("/metrics", environ_base=away)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer ")
    assert client.get("/metrics", environ_base=away, headers={"Authorization": f"Bearer {token}x"}).status_code == 401
    assert client.get("/metrics", environ_base=away, headers={"Authorization": f"Basic {token}"}).status_code == 401
    allowed = client.get("/metrics", environ_base=away, headers={"Authorization": f"Bearer {token}"})
    assert allowed.status_code == 200 and "gridledger_node_up 1" in allowed.get_data(as_text=True)
    assert "Set-Cookie" not in allowed.headers  # no session for a scraper
    assert client.get("/metrics", headers={"X-Forwarded-For": "192.0.2.7",
                                           "Authorization": f"Bearer {token}"}).status_code == 200  # fmt: skip


def test_loopback_can_be_made_to_need_the_token_too(populated: Populated) -> None:
    token = secrets.token_urlsafe(32)
    app = app_for(populated, metrics_token=token, metrics_loopback=False)
    try:
        client = app.test_client()
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    finally:
        app.extensions["gridledger"].close()


def test_the_settings_of_metrics_come_from_the_environment() -> None:
    from ledger.errors import ConfigurationError

    base = {"GRIDLEDGER_VAR": "/nonexistent"}
    assert Settings.from_env(base).metrics_token is None and Settings.from_env(base).metrics_loopback
    made = Settings.from_env({**base, "GRIDLEDGER_METRICS_TOKEN": "t" * 32, "GRIDLEDGER_METRICS_LOOPBACK": "0"})
    assert made.metrics_token == "t" * 32 and not made.metrics_loopback and "t" * 32 not in repr(made)
    with pytest.raises(ConfigurationError, match="at least 16"):
        Settings.from_env({**base, "GRIDLEDGER_METRICS_TOKEN": "short"})
    with pytest.raises(ConfigurationError, match="1 or 0"):
        Settings.from_env({**base, "GRIDLEDGER_METRICS_LOOPBACK": "maybe"})


# -- the documented alerts ----------------------------------------------------------------------


def every_family() -> set[str]:
    """Every metric the exposition can have (all optional figures present)."""
    figures = Figures(
        at_ms=0, outbox_waiting={"queued": 0, "sent": 0}, outbox_oldest_seconds={"queued": 0.0, "sent": 0.0},
        outbox_failed={"reverted": 0, "dropped": 0}, log_events=0, unanchored_events=0,
        oldest_unanchored_seconds=0.0, checkpoint=Checkpoint(0, 0.0), fail_after_seconds=30.0, closed=None,
        node_up=True, head_block=1, head_age_seconds=0.0, verify=LastVerify(0, 0.0, 0, True),
    )  # fmt: skip
    return names(parse(render(families(figures))))


def test_the_documented_alert_rules_name_only_metrics_there_are() -> None:
    text_ = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text_, flags=re.S)
    rules = [yaml.safe_load(b) for b in blocks if "alert:" in b]
    assert len(rules) == 1, "one block of alerting rules in docs/operations.md"
    alerts = {r["alert"]: r for group in rules[0]["groups"] for r in group["rules"]}
    assert {"GridledgerOutboxStuck", "GridledgerOutboxFailed", "GridledgerAnchoringBehind", "GridledgerReadsClosed",
            "GridledgerVerifyFailed", "GridledgerVerifyOverdue", "GridledgerNodeUnreachable",
            "GridledgerDown"} <= set(alerts)  # fmt: skip
    known = every_family()
    for name, rule in alerts.items():
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, name
        assert rule["labels"]["severity"] in ("warning", "critical") and rule["annotations"]["summary"], name
        used = set(re.findall(r"\bgridledger_[a-z_]+\b", rule["expr"]))
        assert used <= known, (name, used - known)
        assert used or name == "GridledgerDown", name
    for reason in Closed:  # the reasons the rules' readers are told about are the ones there are
        assert str(reason) in text_
