"""``scripts/bench_audit.py``: the full audit against the incremental one, on one private Anvil.

The world and the load are ``scripts/bench/log.py``'s part 4 (200 residents, grants to one
health department issued on chain through the outbox, realistic events appended by
``AccessLog.append`` and anchored), on SQLite or (``--database postgresql``) a fresh PostgreSQL
schema. For each size in ``--sizes``:

1. the log is topped up to the size and anchored; an incremental audit run in full
   (``audit.incremental(full=True)``) seals a mark at the newest checkpoint;
2. one day's events (``--day``) are appended on top and anchored;
3. rounds alternate, so drift in the machine's load hits both: the **incremental** audit of
   that day (``audit.incremental(save=False)``: the same range each round) and the **full**
   audit (``audit.run`` with integrity: every event, the whole database against the chain).

With ``--profile`` the full audit of the first size runs once more under cProfile (not timed)
and its biggest costs are printed. Timings belong here, never in tests.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rich.console import Console

from ledger import audit
from ledger.anchoring import Anchorer
from ledger.context import Ledger

from .chain import add_database_option, describe_database, exit_when_unavailable, private_chain
from .log import DOC, Report, _commit, _grant_count, build_world, enqueue_grants, top_up_events, write_docs

BEGIN, END = "<!-- bench:audit:begin -->", "<!-- bench:audit:end -->"
SECTION = "## Audit: full and incremental (issue 14, goal 7)"


@dataclass
class Size:
    base: int  # events under the mark
    day: int  # events audited by the incremental audit
    grants: int
    full: list[float] = field(default_factory=list)  # seconds: audit.run with integrity, over base + day
    incremental: list[float] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)  # 1-minute load average after each round
    rows_read: int = 0
    full_rows: int = 0
    verify_seconds: list[float] = field(default_factory=list)  # of the full audit: the integrity check
    findings_full: dict[str, int] = field(default_factory=dict)
    findings_day: dict[str, int] = field(default_factory=dict)
    ok: bool = True
    setup: dict[str, float] = field(default_factory=dict)


@dataclass
class Results:
    sizes: list[Size] = field(default_factory=list)
    profile: str = ""
    commit: str = ""
    world: float = 0.0
    total: float = 0.0
    database: str = "SQLite (WAL, full sync)"  # as the report names it


def _anchor(ledger: Ledger, anchorer: Any, say: Report) -> float:
    began = time.perf_counter()
    Anchorer(ledger, anchorer, report=say).run_until_anchored(timeout=3_600)
    return time.perf_counter() - began


def measure(options: argparse.Namespace, report: Report) -> Results:
    results = Results(commit=_commit(own="scripts/bench/audit.py"))
    began = time.perf_counter()
    with private_chain("gridledger-bench-audit-", deployed=False, database=options.database) as ledger:
        results.database = describe_database(ledger.settings.db_url)
        step = time.perf_counter()
        world = build_world(ledger, options.residents, report)
        results.world = time.perf_counter() - step
        step = time.perf_counter()
        missing = options.grants - _grant_count(ledger)
        if missing > 0:
            enqueue_grants(ledger, [f"bench-resident-{i}" for i in range(options.residents)], missing, report)
        grants_seconds = time.perf_counter() - step
        for n, base in enumerate(options.sizes):
            size = Size(base=base, day=options.day, grants=_grant_count(ledger))
            if n == 0:
                size.setup["grants"] = grants_seconds
            _appended, size.setup["events"] = top_up_events(ledger, world, base, report)
            size.setup["anchor"] = _anchor(ledger, world.anchorer, report)
            step = time.perf_counter()
            marked = audit.incremental(ledger, full=True)
            size.setup["mark"] = time.perf_counter() - step
            if marked.mark is None:
                raise RuntimeError(f"the full audit at {base:,} events sealed no mark: {marked.integrity}")
            report(f"{base:,} events: marked at {marked.upto:,} in {size.setup['mark']:.1f} s")
            if options.profile and n == 0:
                profiler = cProfile.Profile()
                profiler.enable()
                audit.run(ledger, integrity=True)
                profiler.disable()
                out = io.StringIO()
                stats = pstats.Stats(profiler, stream=out)
                stats.sort_stats("tottime").print_stats(25)
                stats.sort_stats("cumulative").print_stats(40)
                results.profile = out.getvalue()
                report(results.profile)
            _appended, size.setup["day events"] = top_up_events(ledger, world, base + options.day, report)
            size.setup["day anchor"] = _anchor(ledger, world.anchorer, report)
            for r in range(options.rounds):
                day = audit.incremental(ledger, save=False)
                if day.full_because is not None:
                    raise RuntimeError(f"the incremental audit ran in full: {day.full_because}")
                size.incremental.append(day.seconds)
                size.rows_read = day.rows_read
                size.findings_day = dict(day.counts())
                size.ok = size.ok and day.integrity is not None and day.integrity.ok
                full = audit.run(ledger, integrity=True)
                size.full.append(full.seconds)
                size.full_rows = full.rows_read
                size.verify_seconds.append(full.integrity.seconds if full.integrity else float("nan"))
                size.findings_full = dict(full.counts())
                size.ok = size.ok and full.integrity is not None and full.integrity.ok
                size.loads.append(os.getloadavg()[0])
                report(f"{base:,} + {options.day:,}, round {r + 1}/{options.rounds}: incremental {day.seconds:.1f} s "
                       f"({day.rows_read:,} rows), full {full.seconds:.1f} s ({full.rows_read:,} rows); "
                       f"load {size.loads[-1]:.1f}")  # fmt: skip
            results.sizes.append(size)
    results.total = time.perf_counter() - began
    return results


def _rounds(values: Sequence[float]) -> str:
    return f"**{statistics.median(values):.1f}** ({', '.join(f'{v:.1f}' for v in values)})"


def render(results: Results, options: argparse.Namespace) -> str:
    loads = [x for s in results.sizes for x in s.loads]
    lines = [
        BEGIN,
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{results.database}, Anvil with 1 s interval mining; {options.residents} residents, grants to one health "
        f"department issued on chain through the outbox; events as in `scripts/bench/log.py` part 4 (85 % reads under "
        f"a grant, 8 % committee reads, 2 % emergencies, 5 % refusals), all anchored; {options.rounds} alternating "
        f"rounds per size; code at {results.commit}; the machine's 1-minute load average after the rounds "
        f"{min(loads):.1f}–{max(loads):.1f} (other work shares it); whole run {results.total / 60:.0f} min "
        f"(world {results.world:.0f} s).",
        "",
        "| log | grants | incremental audit of the day: seconds (rounds) | rows read | full audit, with integrity: "
        "seconds (rounds) | of which the integrity check | rows read |",
        "|---|---:|---|---:|---|---:|---:|",
    ]
    for s in results.sizes:
        lines.append(
            f"| {s.base:,} events + a day of {s.day:,} | {s.grants:,} | {_rounds(s.incremental)} | {s.rows_read:,} "
            f"| {_rounds(s.full)} | {statistics.median(s.verify_seconds):.1f} | {s.full_rows:,} |"
        )
    for s in results.sizes:
        day = ", ".join(f"{k} {v:,}" for k, v in sorted(s.findings_day.items())) or "none"
        full = ", ".join(f"{k} {v:,}" for k, v in sorted(s.findings_full.items())) or "none"
        setup = ", ".join(f"{k} {v:.0f} s" for k, v in s.setup.items())
        lines += [
            "",
            f"At {s.base:,} events: findings of the day {day}; of the full audit {full}; integrity "
            f"{'intact' if s.ok else 'NOT intact'}. Setup (not measured above): {setup}.",
        ]
    lines += [
        "",
        f"Re-run: `.venv/bin/python scripts/bench_audit.py --sizes {','.join(str(s) for s in options.sizes)} "
        f"--day {options.day} --grants {options.grants} --rounds {options.rounds}"
        + (" --write-docs`." if options.database == "sqlite" else f" --database {options.database}`."),
        END,
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> Results:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--residents", type=int, default=200)
    parser.add_argument("--grants", type=int, default=100_000)
    parser.add_argument("--sizes", default="1000000", help="events under the mark, comma-separated, growing")
    parser.add_argument("--day", type=int, default=100_000, help="events of the day the incremental audit covers")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="profile one full audit at the first size")
    parser.add_argument("--write-docs", action="store_true")
    add_database_option(parser)
    options = parser.parse_args(argv)
    if options.write_docs and options.database != "sqlite":
        parser.error("--write-docs writes the SQLite section; PostgreSQL's figures are not written there")
    options.sizes = [int(x) for x in options.sizes.split(",") if x.strip()]
    console = Console()

    def say(message: str) -> None:
        console.print(f"{datetime.now():%H:%M:%S} {message}", markup=False, highlight=False, soft_wrap=True)

    with exit_when_unavailable():
        results = measure(options, say)
    section = render(results, options)
    console.print(section, markup=False, highlight=False, soft_wrap=True)
    if options.write_docs:
        write_docs(section, BEGIN, END, SECTION)
        say(f"written to {DOC}")
    return results
