"""``scripts/bench_bulk.py``: bulk logged reads against the raw append ceiling (issue 14, goal 2).

One private Anvil (1 s interval mining) and one SQLite database (WAL, full sync) in a temporary
folder (``--database postgresql``: a fresh PostgreSQL schema, dropped afterwards); a world of residents each with a certified health record and an active grant to a
health department (:func:`bench.log.build_world`). The anchorer cycles every 0.1 s in a thread
of this process, as ``gridledger worker`` does, at the default anchor interval.

Two legs, in alternating rounds, each in ``--processes`` reader processes (each its own
interpreter, as gunicorn's workers are):

* **ceiling**: ``AccessLog.append`` of ``--batch`` drafts shaped like the bulk read's (same
  fields, same residents and grants), in a loop: the durable append alone, numbering, leaf
  encoding, sealing and one commit per batch.
* **bulk**: ``Access.read_many`` of ``--batch`` distinct random records by a department officer:
  each record's grant decided on its own (candidates from the index, ``isActive`` from the chain
  view), each content checked against its commitment, every read logged in one transaction.

Each bulk reader reads every record once before its window (a long-running process has the
chain's answers for them in its view already; a new one asks the chain first). Events/s is the
log's growth over the window (after a warm-up). After each window the run waits
until the anchorer has anchored every event of it, and reports how long that took: the events
are counted as *logged and anchored* only when that catch-up stays short.

Timings belong here, never in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.console import Console
from sqlalchemy import select

from ledger.access import Access, BulkStatus, now_ms
from ledger.accesslog import Draft
from ledger.consent import Purpose
from ledger.context import Ledger
from ledger.settings import Settings
from ledger.store.models import ChainGrant

from .chain import _env, add_database_option, describe_database, exit_when_unavailable, private_chain
from .log import AnchorWatch, _commit, anchoring, build_world, write_docs

BEGIN, END = "<!-- bench:bulk:begin -->", "<!-- bench:bulk:end -->"
SECTION = "## Bulk logged reads"
LEGS = ("ceiling", "bulk")


@dataclass
class Window:
    leg: str
    round: int
    events: int
    seconds: float
    calls: list[float]  # seconds per call (one batch), over every process
    refused: int
    errors: list[str]
    catch_up: float  # seconds from the window's end until every event of it was anchored
    load: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds


@dataclass
class Options:
    residents: int = 2_000
    batch: int = 1_000
    processes: int = 2
    seconds: float = 15.0
    warmup: float = 3.0
    rounds: int = 3
    write_docs: bool = False
    database: str = "sqlite"


@dataclass
class Results:
    options: Options
    commit: str
    windows: list[Window] = field(default_factory=list)
    setup: float = 0.0
    total: float = 0.0
    database: str = "SQLite (WAL, full sync)"  # as the report names it


# -- the reader processes ---------------------------------------------------------------------


def child_main() -> None:
    """One reader process: reads its spec (one JSON line), says ``ready``, runs its leg until
    a line arrives on standard input, then prints what it did (one JSON line)."""
    spec = json.loads(sys.stdin.readline())
    ledger = Ledger.open(Settings.from_env(spec["env"]))
    access = Access(ledger)
    rng = random.Random(spec["seed"])
    records: list[str] = spec["records"]
    facts = dict(zip(records, zip(spec["residents"], spec["grants"], strict=True), strict=True))
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
    calls: list[float] = []
    refused = 0
    errors: list[str] = []
    block = int(ledger.view.head()[0])
    if spec["leg"] == "bulk":  # a long-running process has the chain's answers in its view: so has this one
        for start in range(0, len(records), spec["batch"]):
            access.read_many(records[start : start + spec["batch"]], accessor=spec["officer"])
    print("ready", flush=True)
    while not stop.is_set():
        chosen = rng.sample(records, spec["batch"])
        began = time.perf_counter()
        try:
            if spec["leg"] == "bulk":
                got = access.read_many(chosen, accessor=spec["officer"])
                refused += sum(1 for one in got if one.status != BulkStatus.READ)
            else:
                stamp = now_ms()
                ledger.log.append([
                    Draft(action="read", outcome="allowed", resident=facts[rid][0], accessor=spec["officer"],
                          time=stamp, record_id=rid, category="health", organisation=spec["department"],
                          basis="grant", grant_id=facts[rid][1], purpose=int(Purpose.HEALTH_MANAGEMENT), block=block)
                    for rid in chosen
                ])  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - counted and shown: the run is then not valid
            errors.append(f"{type(exc).__name__}: {exc}")
            time.sleep(0.05)
            continue
        calls.append(time.perf_counter() - began)
    print(json.dumps({"calls": calls, "refused": refused, "errors": errors[:5]}), flush=True)
    ledger.close()


def _window(ledger: Ledger, spec: dict[str, Any], options: Options, watch: AnchorWatch, leg: str, round_no: int) -> Window:
    children = []
    for n in range(options.processes):
        child = subprocess.Popen(
            [sys.executable, __file__.replace("bench/bulk.py", "bench_bulk.py"), "--child"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(json.dumps({**spec, "leg": leg, "seed": round_no * 101 + n}) + "\n")
        child.stdin.flush()
        children.append(child)
    for child in children:
        assert child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError("a reader process did not start")
    time.sleep(options.warmup)
    size0, t0 = ledger.log.size(), time.perf_counter()
    time.sleep(options.seconds)
    size1, t1 = ledger.log.size(), time.perf_counter()
    calls: list[float] = []
    refused, errors = 0, []
    for child in children:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write("stop\n")
        child.stdin.flush()
    for child in children:
        assert child.stdout is not None
        done = json.loads(child.stdout.readline())
        child.wait(timeout=60)
        calls += done["calls"]
        refused += done["refused"]
        errors += done["errors"]
    last = ledger.log.size()
    ended = time.perf_counter()
    deadline = ended + 300
    while watch.covered() < last and time.perf_counter() < deadline:
        time.sleep(0.05)
    catch_up = time.perf_counter() - ended
    if watch.covered() < last:
        errors.append(f"not anchored within 300 s of the window's end ({watch.covered()} of {last})")
    return Window(leg, round_no, size1 - size0, t1 - t0, calls, refused, errors, catch_up, os.getloadavg()[0])


# -- the run ----------------------------------------------------------------------------------


def run(options: Options, console: Console | None = None) -> Results:
    console = console or Console()

    def say(message: str) -> None:
        console.print(f"{datetime.now():%H:%M:%S} {message}", markup=False, highlight=False, soft_wrap=True)

    results = Results(options, commit=_commit(own="scripts/bench/bulk.py"))
    began = time.perf_counter()
    with private_chain("gridledger-bench-bulk-", deployed=False, database=options.database) as ledger:
        results.database = describe_database(ledger.settings.db_url)
        world = build_world(ledger, options.residents, say)
        results.setup = time.perf_counter() - began
        with ledger.store.session() as session:
            grant_of = {resident: grant for resident, grant in session.execute(select(ChainGrant.resident, ChainGrant.grant_id))}
        spec = {
            "env": _env(ledger.settings), "batch": min(options.batch, len(world.records)),
            "records": world.records, "residents": world.residents,
            "grants": [grant_of[r] for r in world.residents],
            "officer": world.officers[0], "department": world.department,
        }  # fmt: skip
        watch = AnchorWatch(ledger)
        with anchoring(ledger, world, watch):
            for r in range(1, options.rounds + 1):
                for leg in LEGS if r % 2 else tuple(reversed(LEGS)):
                    window = _window(ledger, spec, options, watch, leg, r)
                    results.windows.append(window)
                    say(f"round {r}/{options.rounds}, {leg}: {window.rate:,.0f} events/s, call p50 "
                        f"{_median(window.calls) * 1000:.0f} ms; anchored {window.catch_up:.1f} s after the window; "
                        f"load {window.load:.1f}" + (f"; {window.refused} not read" if window.refused else "")
                        + (f"; ERRORS {window.errors[:2]}" if window.errors else ""))  # fmt: skip
    results.total = time.perf_counter() - began
    section = report(results)
    console.print(section, markup=False, highlight=False, soft_wrap=True)
    if options.write_docs:
        write_docs(section, BEGIN, END, SECTION)
        say("written to docs/benchmarks.md")
    return results


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(results: Results) -> str:
    o = results.options
    by_leg = {leg: [w for w in results.windows if w.leg == leg] for leg in LEGS}
    rates = {leg: _median([w.rate for w in ws]) for leg, ws in by_leg.items()}
    ratio = rates["bulk"] / rates["ceiling"] if rates["ceiling"] else float("nan")
    catch_up = max((w.catch_up for w in by_leg["bulk"]), default=float("nan"))
    valid = not any(w.errors or w.refused for w in by_leg["bulk"])
    met = rates["bulk"] >= 20_000 and ratio >= 0.5 and valid
    loads = [w.load for w in results.windows]
    lines = [
        BEGIN,
        f"Measured {datetime.now():%Y-%m-%d} on {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{results.database}, Anvil with 1 s interval mining, the anchorer cycling every 0.1 s in a thread of the "
        f"benchmark's own process at the default interval; {o.residents:,} residents with a certified health record "
        f"and an active grant each; {o.processes} reader processes, {o.batch:,} records per call; {o.rounds} rounds "
        f"of {o.seconds:g} s after {o.warmup:g} s of warm-up per leg, legs alternating; {results.commit}; the "
        f"machine's 1-minute load average at the end of the windows {min(loads):.1f}–{max(loads):.1f}; whole run "
        f"{results.total / 60:.0f} min (world {results.setup:.0f} s).",
        "",
        "| leg | events/s: median (rounds) | per call p50 | anchored after the window (max) |",
        "|---|---|---:|---:|",
    ]
    for leg, label in (("ceiling", "ceiling: `AccessLog.append`, 1 transaction per call"),
                       ("bulk", "bulk read: `Access.read_many`, each record decided and logged")):  # fmt: skip
        ws = by_leg[leg]
        rounds = ", ".join(f"{w.rate:,.0f}" for w in ws)
        calls = [c for w in ws for c in w.calls]
        lines.append(f"| {label} | **{rates[leg]:,.0f}** ({rounds}) | {_median(calls) * 1000:.0f} ms | "
                     f"{max(w.catch_up for w in ws):.1f} s |")  # fmt: skip
    lines += [
        "",
        f"Goal 2 (≥ 20,000 events/s logged and anchored, ≥ 50 % of the ceiling of the same run): bulk reads at "
        f"**{rates['bulk']:,.0f}** events/s, **{ratio:.0%}** of the ceiling's {rates['ceiling']:,.0f}; every event "
        f"anchored within {catch_up:.1f} s of the window's end: **{'met' if met else 'not met'}**."
        + ("" if valid else " (The run is not valid: some reads failed or were refused.)"),
        "",
        f"Re-run: `.venv/bin/python scripts/bench_bulk.py --residents {o.residents} --batch {o.batch} "
        f"--processes {o.processes} --seconds {o.seconds:g} --rounds {o.rounds}"
        + ("`." if o.database == "sqlite" else f" --database {o.database}`."),
        END,
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> Results | None:
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["--child"]:
        child_main()
        return None
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    d = Options()
    parser.add_argument("--residents", type=int, default=d.residents)
    parser.add_argument("--batch", type=int, default=d.batch, help="records per bulk read (at most 1,000)")
    parser.add_argument("--processes", type=int, default=d.processes)
    parser.add_argument("--seconds", type=float, default=d.seconds)
    parser.add_argument("--warmup", type=float, default=d.warmup)
    parser.add_argument("--rounds", type=int, default=d.rounds)
    parser.add_argument("--write-docs", action="store_true")
    add_database_option(parser)
    ns = parser.parse_args(args)
    if ns.write_docs and ns.database != "sqlite":
        parser.error("--write-docs writes the SQLite section; PostgreSQL's figures are not written there")
    with exit_when_unavailable():
        return run(
            Options(ns.residents, ns.batch, ns.processes, ns.seconds, ns.warmup, ns.rounds, ns.write_docs, ns.database)
        )
