"""``scripts/bench_readpath.py``: the pieces of one logged read, one at a time, on one private Anvil.

Each piece is called in a loop; a round times ``--calls`` calls with ``time.thread_time``
(the CPU this thread spent, what the web process pays) and ``time.perf_counter`` (wall),
and the figure is the median over ``--rounds`` rounds, per call:

* **leaf**: ``canonical_leaf`` of a typical read's leaf, beside ``rfc8785.dumps`` (the
  definition) and sorted ``json.dumps`` of the same leaf;
* **head refresh**: ``ChainView.head(newer_than=...)``, which always asks the node for the
  head (``eth_getBlockByNumber``, and ``eth_getLogs`` when it moved), as a web process does
  every ``HEAD_MAX_AGE``;
* **eth_call**: ``ChainView.member`` of an account with its answer forgotten first (one
  ``Membership.member`` call and its decoding);
* **health**: ``ledger.access.health`` with a checkpoint on chain and an event waiting for
  the next (the checkpoint remembered by the view, as it is between refreshes), and its database part alone
  (``health_against``: the log's size and its first leaf not anchored);
* **address**: ``Ledger.address_of`` of an address and ``ChainView.member`` of a remembered
  member (the checksumming on the read path);
* **read**: ``Access.read`` on duty by a committee member, and under the resident's grant by
  a department officer, end to end (log append included; its health reused as in production);
* **api**: the whole request, called on the WSGI app in this process (no server, no socket):
  the API's logged read ``POST /api/v1/department/records/<id>/read`` with the officer's
  token, beside the no-ledger baseline's ``POST /records/<id>/read``
  (:mod:`bench.baseline_app`, on its own SQLite file with the store's settings) and each
  app's ping, rounds alternating between them (what the app adds to the library's read, and
  what the baseline's request costs without a server).

Numbers only; nothing is written to docs. Timings belong here, never in tests.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rfc8785

from ledger.access import Access, health, health_against
from ledger.accesslog import Draft, canonical_leaf
from ledger.anchoring import Anchorer, designate_anchorer
from ledger.categories import Category
from ledger.consent import Consent, LegalBasis, Purpose
from ledger.context import Ledger
from ledger.membership import DepartmentKind, Role
from ledger.organisations import Organisations
from ledger.records import Records
from ledger.webusers import create_token

from .chain import private_chain

OFFICE, COMMITTEE, DEPARTMENT = "readpath-office", "readpath-cmte", "readpath-health"
ADMIN, MEMBER, GRID, RESIDENT = "readpath-admin", "readpath-member", "readpath-grid", "readpath-resident"
OFFICER = "readpath-officer"


@dataclass(frozen=True)
class Figure:
    name: str
    cpu_us: float  # median thread CPU per call, microseconds
    wall_us: float  # median wall time per call, microseconds


def measure(name: str, call: Callable[[], object], calls: int, rounds: int) -> Figure:
    """Median over ``rounds`` of the per-call thread CPU and wall time of ``calls`` calls."""
    call()  # warm
    cpu: list[float] = []
    wall: list[float] = []
    for _ in range(rounds):
        c0, w0 = time.thread_time(), time.perf_counter()
        for _ in range(calls):
            call()
        c1, w1 = time.thread_time(), time.perf_counter()
        cpu.append((c1 - c0) / calls * 1e6)
        wall.append((w1 - w0) / calls * 1e6)
    return Figure(name, statistics.median(cpu), statistics.median(wall))


def typical_leaf() -> dict[str, object]:
    return Draft(
        action="read", outcome="allowed", resident="0x" + "ab" * 20, accessor="0x" + "cd" * 20,
        time=1_763_700_000_000, record_id="0x" + "01" * 32, category="health", organisation="0x" + "02" * 32,
        basis="grant", grant_id="0x" + "03" * 32, purpose=2, block=123_456,
    ).leaf(1_000_000, 42)  # fmt: skip


def leaf_figures(calls: int, rounds: int) -> list[Figure]:
    leaf = typical_leaf()
    return [
        measure("leaf: canonical_leaf", lambda: canonical_leaf(leaf), calls, rounds),
        measure("leaf: rfc8785.dumps", lambda: rfc8785.dumps(leaf), calls, rounds),
        measure(
            "leaf: json.dumps sorted", lambda: json.dumps(leaf, sort_keys=True, separators=(",", ":")), calls, rounds
        ),
    ]


def build(ledger: Ledger) -> tuple[str, Anchorer]:
    """An office with the installation's anchorer, a committee with one member and a grid
    worker, a health department with an officer, a resident with one certified health record
    and a grant of it to the department; returns the record id."""
    orgs = Organisations(ledger)
    orgs.create_office(OFFICE, "Readpath office", ADMIN)
    anchorer, _tx = designate_anchorer(ledger, OFFICE, ADMIN)
    orgs.create_committee(COMMITTEE, "Readpath committee", OFFICE, [MEMBER], 1)
    orgs.add_member(GRID, COMMITTEE, Role.GRID_WORKER)
    orgs.add_member(RESIDENT, COMMITTEE, Role.RESIDENT, actor=GRID)
    records = Records(ledger)
    record_id, _tx = records.add(
        actor=GRID,
        subject=RESIDENT,
        category=Category.HEALTH,
        content={"blood_type": "O", "chronic_conditions": [], "allergies": []},
    )
    records.sign(record_id, signer=MEMBER)
    orgs.create_department(DEPARTMENT, "Readpath health", OFFICE, DepartmentKind.HEALTH)
    orgs.add_member(OFFICER, DEPARTMENT, Role.DEPARTMENT_OFFICER, actor=ADMIN)
    Consent(ledger).issue(
        resident=RESIDENT, department=DEPARTMENT, categories=[Category.HEALTH], purpose=Purpose.HEALTH_MANAGEMENT,
        legal_basis=LegalBasis.CONSENT, valid_until=int(time.time()) + 365 * 86_400,
    )  # fmt: skip
    ledger.outbox.pump()
    ledger.indexer().run_once()
    return record_id, Anchorer(ledger, anchorer)


def chain_figures(ledger: Ledger, record_id: str, anchorer: Anchorer, calls: int, rounds: int) -> list[Figure]:
    view = ledger.view
    member = ledger.address_of(MEMBER)
    officer = ledger.address_of(OFFICER)
    access = Access(ledger)
    access.read(record_id, accessor=officer)
    access.read(record_id, accessor=member)
    anchorer.run_until_anchored()  # a checkpoint on chain (the view remembers it) ...
    access.read(record_id, accessor=member)  # ... and an event waiting for the next (nobody anchors now)

    def refresh() -> None:
        view.head(newer_than=view.head()[0])

    def member_asked() -> None:
        with view._lock:  # the member's answer forgotten: the next question is an eth_call
            view._memo.get("member", {}).pop(member, None)
        view.member(member)

    limit = ledger.settings.anchor_fail_after
    reads = max(1, calls // 10)
    return [
        measure("head refresh", refresh, calls, rounds),
        measure("eth_call (member, decoded)", member_asked, calls, rounds),
        measure("health", lambda: health(ledger.log, view, limit), calls, rounds),
        measure("health: the database's part", lambda: health_against(ledger.log, 0, limit), calls, rounds),
        measure("address: Ledger.address_of", lambda: ledger.address_of(member), calls * 10, rounds),
        measure("address: ChainView.member (remembered)", lambda: view.member(member), calls * 10, rounds),
        measure("read: Access.read on duty", lambda: access.read(record_id, accessor=member), reads, rounds),
        measure("read: Access.read under a grant", lambda: access.read(record_id, accessor=officer), reads, rounds),
    ]


def _wsgi_call(app: Any, method: str, path: str, token: str, body: bytes = b"{}") -> None:
    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr, "wsgi.version": (1, 0), "wsgi.multithread": True,
        "wsgi.multiprocess": True, "wsgi.run_once": False, "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)), "HTTP_AUTHORIZATION": f"Bearer {token}", "HTTP_HOST": "127.0.0.1:8000",
        "REMOTE_ADDR": "127.0.0.1",
    }  # fmt: skip
    statuses: list[str] = []
    answer = app(environ, lambda status, _headers, _exc=None: statuses.append(status))
    b"".join(answer)
    if not statuses or not statuses[0].startswith("2"):
        raise RuntimeError(f"{method} {path} answered {statuses[:1]}")


def api_figures(ledger: Ledger, record_id: str, calls: int, rounds: int) -> list[Figure]:
    """The API's logged read and ping, and the baseline's, called on their WSGI apps in turn."""
    from webapp import create_app

    from . import baseline_app

    app = create_app(ledger.settings)
    token = create_token(ledger, ledger.address_of(OFFICER), "readpath").token
    read = f"/api/v1/department/records/{record_id}/read"
    _wsgi_call(app, "POST", read, token)
    with tempfile.TemporaryDirectory(prefix="gridledger-readpath-baseline-") as tmp:
        database = Path(tmp) / "baseline.db"
        client = app.test_client()
        document = client.post(read, json={}, headers={"Authorization": f"Bearer {token}"}).get_json()
        document.pop("access", None)
        baseline_app.populate(database, {"readpath-token": "officer"}, [(record_id, document)])
        baseline = baseline_app.create_app(database)
        pieces: list[tuple[str, Callable[[], object]]] = [
            ("api: logged read (WSGI, in process)", lambda: _wsgi_call(app, "POST", read, token)),
            ("api: baseline read (WSGI, in process)",
             lambda: _wsgi_call(baseline, "POST", f"/records/{record_id}/read", "readpath-token")),
            ("api: ping", lambda: _wsgi_call(app, "GET", "/api/v1/ping", token, b"")),
            ("api: baseline ping", lambda: _wsgi_call(baseline, "GET", "/ping", "readpath-token", b"")),
        ]  # fmt: skip
        cpu: dict[str, list[float]] = {name: [] for name, _ in pieces}
        wall: dict[str, list[float]] = {name: [] for name, _ in pieces}
        reads = max(1, calls // 2)
        for r in range(rounds):
            for name, call in pieces if r % 2 else pieces[::-1]:  # every other round the other way round
                c0, w0 = time.thread_time(), time.perf_counter()
                for _ in range(reads):
                    call()
                cpu[name].append((time.thread_time() - c0) / reads * 1e6)
                wall[name].append((time.perf_counter() - w0) / reads * 1e6)
    return [Figure(name, statistics.median(cpu[name]), statistics.median(wall[name])) for name, _ in pieces]


def table(figures: Sequence[Figure]) -> str:
    lines = ["| piece | thread CPU per call (µs, median) | wall per call (µs, median) |", "|---|---:|---:|"]
    lines += [f"| {f.name} | {f.cpu_us:,.1f} | {f.wall_us:,.1f} |" for f in figures]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=200, help="calls per round (leaf and address: ×10, read: ÷10)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--no-chain", action="store_true", help="only the pieces that need no node (the leaf)")
    parser.add_argument("--no-api", action="store_true", help="not the whole requests on the WSGI apps")
    options = parser.parse_args(argv)
    print(f"# read path pieces · {platform.python_version()} · load {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    figures = leaf_figures(options.calls * 10, options.rounds)
    if not options.no_chain:
        with private_chain("gridledger-readpath-") as ledger:
            record_id, anchorer = build(ledger)
            figures += chain_figures(ledger, record_id, anchorer, options.calls, options.rounds)
            if not options.no_api:
                figures += api_figures(ledger, record_id, options.calls, options.rounds)
    print(table(figures))
    print(f"load after: {os.getloadavg()[0]:.2f}")
    return figures
